package sigma

import (
	"strings"
)

// logSource is a Sigma log source and how its fields map onto a Falco
// event source.
type logSource struct {
	product, service string
	source           string // the Falco event source
	// json is the prefix of the source's JSON pointer field:
	// <json>.value[/pointer] reads any value of the record.
	json string
	// keys are the top-level keys of a record, as the log's producer
	// documents them. A Sigma field outside them is reported, since it
	// can never match.
	keys map[string]bool
	// exact maps Sigma fields to Falco fields that read the same value at
	// the same path (a JSON null counting as absent). They print better
	// than a JSON pointer and are checked against real records in tests.
	exact map[string]string
	// lists maps Sigma fields whose value is an array to the Falco list
	// field holding its elements.
	lists map[string]string
	// output is the Falco output after the rule's title.
	output string
	tags   []string
}

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// cloudTrail is aws/cloudtrail: CloudTrail records, whose fields Sigma
// names by their JSON keys (eventName, requestParameters.bucketName).
func cloudTrail() *logSource {
	return &logSource{
		product: "aws", service: "cloudtrail",
		source: "aws_cloudtrail",
		json:   "json",
		// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
		keys: set("eventTime", "eventVersion", "userIdentity", "eventSource", "eventName",
			"awsRegion", "sourceIPAddress", "userAgent", "errorCode", "errorMessage",
			"requestParameters", "responseElements", "additionalEventData", "requestID",
			"eventID", "eventType", "apiVersion", "managementEvent", "readOnly", "resources",
			"recipientAccountId", "serviceEventDetails", "sharedEventID", "vpcEndpointId",
			"vpcEndpointAccountId", "eventCategory", "addendum", "sessionCredentialFromConsole",
			"edgeDeviceDetails", "tlsDetails", "insightDetails"),
		exact: map[string]string{
			"eventID":                             "ct.id",
			"errorCode":                           "ct.error",
			"errorMessage":                        "ct.errormessage",
			"eventTime":                           "ct.time",
			"eventSource":                         "ct.src",
			"eventName":                           "ct.name",
			"userIdentity.type":                   "ct.user.identitytype",
			"userIdentity.principalId":            "ct.user.principalid",
			"userIdentity.arn":                    "ct.user.arn",
			"awsRegion":                           "ct.region",
			"responseElements":                    "ct.response",
			"responseElements.subnetId":           "ct.response.subnetid",
			"responseElements.reservationId":      "ct.response.reservationid",
			"requestParameters":                   "ct.request",
			"requestParameters.availabilityZone":  "ct.request.availabilityzone",
			"requestParameters.cluster":           "ct.request.cluster",
			"requestParameters.functionName":      "ct.request.functionname",
			"requestParameters.groupName":         "ct.request.groupname",
			"requestParameters.Host":              "ct.request.host",
			"requestParameters.name":              "ct.request.name",
			"requestParameters.reason":            "ct.request.reason",
			"requestParameters.target":            "ct.request.target",
			"requestParameters.documentName":      "ct.request.documentname",
			"requestParameters.serialNumber":      "ct.request.serialnumber",
			"requestParameters.serviceName":       "ct.request.servicename",
			"requestParameters.subnetId":          "ct.request.subnetid",
			"requestParameters.taskDefinition":    "ct.request.taskdefinition",
			"requestParameters.userName":          "ct.request.username",
			"requestParameters.bucketName":        "s3.bucket",
			"requestParameters.key":               "s3.key",
			"requestParameters.repositoryName":    "ecr.repository",
			"requestParameters.imageTag":          "ecr.imagetag",
			"requestParameters.roleName":          "iam.role",
			"requestParameters.policyName":        "iam.policy",
			"sourceIPAddress":                     "ct.srcip",
			"userAgent":                           "ct.useragent",
			"managementEvent":                     "ct.managementevent",
			"readOnly":                            "ct.readonly",
			"requestID":                           "ct.requestid",
			"eventType":                           "ct.eventtype",
			"apiVersion":                          "ct.apiversion",
			"recipientAccountId":                  "ct.recipientaccountid",
			"serviceEventDetails":                 "ct.serviceeventdetails",
			"sharedEventID":                       "ct.sharedeventid",
			"vpcEndpointId":                       "ct.vpcendpointid",
			"eventCategory":                       "ct.eventcategory",
			"addendum.reason":                     "ct.addendum.reason",
			"addendum.updatedFields":              "ct.addendum.updatedfields",
			"addendum.originalRequestID":          "ct.addendum.originalrequestid",
			"addendum.originalEventID":            "ct.addendum.originaleventid",
			"sessionCredentialFromConsole":        "ct.sessioncredentialfromconsole",
			"edgeDeviceDetails":                   "ct.edgedevicedetails",
			"tlsDetails.tlsVersion":               "ct.tlsdetails.tlsversion",
			"tlsDetails.cipherSuite":              "ct.tlsdetails.ciphersuite",
			"tlsDetails.clientProvidedHostHeader": "ct.tlsdetails.clientprovidedhostheader",
			"additionalEventData":                 "ct.additionaleventdata",
		},
		output: "event=%ct.name source=%ct.src user=%ct.user arn=%ct.user.arn ip=%ct.srcip region=%ct.region error=%ct.error",
		tags:   []string{"cloud", "aws", "aws_cloudtrail"},
	}
}

// kubernetesAudit is kubernetes/audit: audit.k8s.io/v1 Events, whose
// fields Sigma names by their JSON keys (verb, objectRef.resource).
func kubernetesAudit() *logSource {
	return &logSource{
		product: "kubernetes", service: "audit",
		source: "k8s_audit",
		json:   "jevt",
		// https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/#audit-k8s-io-v1-Event
		keys: set("kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
			"impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus",
			"requestObject", "responseObject", "requestReceivedTimestamp", "stageTimestamp",
			"annotations"),
		exact: map[string]string{
			"auditID":                      "ka.auditid",
			"stage":                        "ka.stage",
			"user.username":                "ka.user.name",
			"impersonatedUser.username":    "ka.impuser.name",
			"verb":                         "ka.verb",
			"requestURI":                   "ka.uri",
			"objectRef.name":               "ka.target.name",
			"objectRef.namespace":          "ka.target.namespace",
			"objectRef.resource":           "ka.target.resource",
			"objectRef.subresource":        "ka.target.subresource",
			"responseObject.metadata.name": "ka.resp.name",
			"responseStatus.code":          "ka.response.code",
			"responseStatus.reason":        "ka.response.reason",
			"userAgent":                    "ka.useragent",
		},
		lists: map[string]string{
			"user.groups": "ka.user.groups",
			"sourceIPs":   "ka.sourceips",
		},
		output: "verb=%ka.verb resource=%ka.target.resource subresource=%ka.target.subresource namespace=%ka.target.namespace name=%ka.target.name user=%ka.user.name uri=%ka.uri code=%ka.response.code",
		tags:   []string{"k8s"},
	}
}

// logSources are the Sigma log sources this package translates.
func logSources() []*logSource { return []*logSource{cloudTrail(), kubernetesAudit()} }

// findLogSource returns the log source a Sigma logsource names.
func findLogSource(sources []*logSource, product, service string) *logSource {
	for _, ls := range sources {
		if strings.EqualFold(ls.product, product) && strings.EqualFold(ls.service, service) {
			return ls
		}
	}
	return nil
}

// fieldRef is a Sigma field as Falco reads it.
type fieldRef struct {
	sigma   string
	exact   string // a Falco field reading the same value, or ""
	list    string // a Falco list field of the array's elements, or ""
	pointer string // <json>.value[/pointer]: always set
}

// field maps a Sigma field name onto the log source's Falco fields.
func (ls *logSource) field(name string) (fieldRef, *problem) {
	if name == "" {
		return fieldRef{}, fail(ReasonKeywords, "a value without a field searches the whole event")
	}
	parts := strings.Split(name, ".")
	if !ls.keys[parts[0]] {
		return fieldRef{}, fail(ReasonField, "%q is not a field of %s/%s events: they have no top-level key %q",
			name, ls.product, ls.service, parts[0])
	}
	var p strings.Builder
	for _, part := range parts {
		if part == "" {
			return fieldRef{}, fail(ReasonInvalid, "field %q has an empty component", name)
		}
		p.WriteByte('/')
		p.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(part))
	}
	return fieldRef{
		sigma:   name,
		exact:   ls.exact[name],
		list:    ls.lists[name],
		pointer: ls.json + ".value[" + fieldArg(p.String()) + "]",
	}, nil
}

// fieldArg writes a field argument, quoted when a bare one cannot hold it.
func fieldArg(s string) string {
	if s == "" || strings.ContainsAny(s, " \b\t\n\r[]\"'") {
		return quote(s)
	}
	return s
}
