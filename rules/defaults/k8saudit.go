package defaults

import (
	_ "embed"

	"github.com/mamori-dev/mamori/rules"
)

//go:embed mamori_k8saudit_rules.yaml
var k8sAuditText []byte

// K8sAuditName is how the embedded Kubernetes audit rules file is named in
// positions and messages.
const K8sAuditName = "mamori_k8saudit_rules.yaml (built in)"

// K8sAuditFile returns the embedded rules for Kubernetes audit events
// (source k8s_audit), which `mamori k8saudit` loads before any --rules
// file.
func K8sAuditFile() rules.File {
	return rules.File{Name: K8sAuditName, Data: append([]byte(nil), k8sAuditText...)}
}
