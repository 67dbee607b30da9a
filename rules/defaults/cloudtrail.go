package defaults

import (
	_ "embed"

	"github.com/mamori-dev/mamori/rules"
)

// The CloudTrail rules are mamori's own too, for source aws_cloudtrail:
// `mamori cloudtrail scan` runs them unless told not to. They need the
// mamori.* fields of package audit/cloudtrail's catalogue.

//go:embed mamori_cloudtrail_rules.yaml
var cloudTrailText []byte

// CloudTrailName is how the embedded CloudTrail rules file is named in
// positions and messages.
const CloudTrailName = "mamori_cloudtrail_rules.yaml (built in)"

// CloudTrailFile returns the embedded CloudTrail rules file.
func CloudTrailFile() rules.File {
	return rules.File{Name: CloudTrailName, Data: append([]byte(nil), cloudTrailText...)}
}
