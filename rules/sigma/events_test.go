package sigma

import (
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/audit/k8saudit"
	"github.com/mamori-dev/mamori/event"
)

// The AssumeRole Misuse rule (any call by an assumed role issued by a
// role) fires on every Stratus detonation made through a role.
const assumeRole = "AWS STS AssumeRole Misuse"

// stratusExpected are the translated Sigma rules each Stratus Red Team
// detonation raises. Where a Sigma rule's documented technique matches the
// Stratus technique, the pair is noted; a file not listed raises nothing.
var stratusExpected = map[string]string{
	// T1685.002 trail tampering: StopLogging, DeleteTrail.
	"aws.defense-evasion.cloudtrail-delete.json": "AWS CloudTrail Important Change",
	"aws.defense-evasion.cloudtrail-stop.json":   "AWS CloudTrail Important Change",
	// Flow logs deleted.
	"aws.defense-evasion.vpc-remove-flow-logs.json": "AWS VPC Flow Logs Deleted",
	// SSM SendCommand that succeeded.
	"aws.execution.ssm-send-command.json":                       "Potential Malicious Usage of CloudTrail System Manager",
	"aws.credential-access.ec2-steal-instance-credentials.json": assumeRole + "; Potential Malicious Usage of CloudTrail System Manager",
	// Security group ingress opened.
	"aws.exfiltration.ec2-security-group-open-port-22-ingress.json": "Ingress/Egress Security Group Modification",
	// Snapshot shared with another account.
	"aws.exfiltration.ec2-share-ebs-snapshot.json": "AWS Snapshot Backup Exfiltration",
	// Console login without MFA.
	"aws.initial-access.console-login-without-mfa.json": "AWS Successful Console Login Without MFA",
	// An access key created for another user. The Sigma rule's filter
	// compares the caller's ARN with the literal text
	// "responseElements.accessKey.userName" (it lacks fieldref), so it
	// never filters anything: every CreateAccessKey raises it.
	"aws.persistence.iam-backdoor-user.json":     "AWS IAM Backdoor Users Keys",
	"aws.persistence.iam-create-admin-user.json": "AWS IAM Backdoor Users Keys",
	// A Lambda layer attached to a function.
	"aws.persistence.lambda-layer-extension.json": "AWS New Lambda Layer Attached",
	// Another user's login profile updated (fieldref).
	"aws.privilege-escalation.iam-update-user-login-profile.json": "AWS User Login Profile Was Modified",

	// Counted events, translated onto stateful rules: thirty
	// GetPasswordData within ten minutes (more than 5 "backup
	// enumeration" calls), fifteen reads of user data within thirty
	// (more than 10).
	"aws.credential-access.ec2-get-password-data.json": assumeRole + "; Potential Backup Enumeration on AWS",
	"aws.discovery.ec2-download-user-data.json":        "AWS EC2 Download Userdata; " + assumeRole,

	// Calls made through an assumed role, and nothing else: the Sigma
	// rules for these techniques expect another record shape
	// (ec2-user-data: Sigma wants requestParameters.attribute = userData,
	// the detonation's ModifyInstanceAttribute carries
	// requestParameters.userData).
	"aws.defense-evasion.organizations-leave.json":                     assumeRole,
	"aws.execution.ec2-launch-unusual-instances.json":                  assumeRole,
	"aws.impact.bedrock-invoke-model.json":                             assumeRole,
	"aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json": assumeRole,
}

// TestStratus runs the translated corpus over the Stratus Red Team
// detonations, every rule evaluated on every record, each detonation
// through a Detector of its own (its own account's history: the
// translated aggregations count there).
func TestStratus(t *testing.T) {
	rs := corpusRules(t)
	dir := corpora(t, "cloudtrail", "stratus-red-team")
	got := map[string][]string{}
	for _, f := range listDir(t, dir) {
		d := cloudtrail.NewDetector(rs, cloudtrail.DetectorConfig{All: true})
		var rd cloudtrail.Reader
		rd.ReadPaths([]string{filepath.Join(dir, f)}, func(r *cloudtrail.Record) {
			d.Detect(r, func(a *event.Alert) { got[f] = append(got[f], a.Rule) })
		}, func(e *cloudtrail.Error) { t.Errorf("bad record: %v", e) })
	}
	for _, f := range listDir(t, dir) {
		if g, want := sortedSet(got[f]), stratusExpected[f]; g != want {
			t.Errorf("%s raised %q, want %q", f, g, want)
		}
	}
}

// k8sExpected are the translated Sigma rules each of Falco's Kubernetes
// audit trace files raises; a file not listed raises nothing.
var k8sExpected = map[string]string{
	"exec_pod.json":                                    "Potential Remote Command Execution In Pod Container",
	"delete_deployment.json":                           "Deployment Deleted From Kubernetes Cluster",
	"create_pod_kube_system_namespace.json":            "Creation Of Pod In System Namespace",
	"create_serviceaccount.json":                       "New Kubernetes Service Account Created",
	"create_serviceaccount_kube_public_namespace.json": "New Kubernetes Service Account Created",
	"create_serviceaccount_kube_system_namespace.json": "New Kubernetes Service Account Created",
	"create_secret.json":                               "Kubernetes Secrets Modified or Deleted",
	"create_kube_system_secret.json":                   "Kubernetes Secrets Modified or Deleted",
	"create_service_account_token_secret.json":         "Kubernetes Secrets Modified or Deleted",
	"delete_secret.json":                               "Kubernetes Secrets Modified or Deleted",
	"create_clusterrolebinding.json":                   "Kubernetes Rolebinding Modification",
	"delete_clusterrolebinding.json":                   "Kubernetes Rolebinding Modification",
	"attach_cluster_admin_role.json":                   "Kubernetes Rolebinding Modification",
}

// TestKubernetesTraces runs the translated corpus over Falco's Kubernetes
// audit trace files. Among those raising nothing: attach_pod.json (pods/attach,
// not exec), create_pod_kube_public_namespace.json (not kube-system), and
// anonymous_creates_namespace_foo.json (the request was allowed).
func TestKubernetesTraces(t *testing.T) {
	rs := corpusRules(t)
	dir := corpora(t, "k8saudit", "falco-test-trace-files", "trace_files")
	got := map[string][]string{}
	var rd k8saudit.Reader
	rd.ReadPaths([]string{dir}, func(e *k8saudit.Event) {
		for _, m := range rs.MatchAll(k8saudit.Source, "", e, nil) {
			got[filepath.Base(e.File)] = append(got[filepath.Base(e.File)], m.Name)
		}
	}, func(e *k8saudit.Error) {
		if filepath.Base(e.File) != "fal_01_003.json" { // {"kind": 0}, malformed on purpose
			t.Errorf("bad event: %v", e)
		}
	})
	for _, f := range listDir(t, dir) {
		if g, want := sortedSet(got[f]), k8sExpected[f]; g != want {
			t.Errorf("%s raised %q, want %q", f, g, want)
		}
	}
}
