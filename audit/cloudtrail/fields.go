package cloudtrail

import (
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/rules"
)

// Source is the Falco event source of CloudTrail records.
const Source = "aws_cloudtrail"

// Catalog is the aws_cloudtrail source's field catalogue, after the Falco
// cloudtrail plugin (0.17) and the json plugin. It is read-only and may be
// shared. Its extractors take a *Record.
type Catalog struct {
	fields []rules.Field
}

// NewCatalog returns the catalogue.
func NewCatalog() *Catalog { return &Catalog{fields: fieldTable()} }

// Source returns "aws_cloudtrail".
func (c *Catalog) Source() string { return Source }

// StatefulRules says that rules of this source may be stateful: a Detector
// keeps their Memory (see rules.Stateful).
func (c *Catalog) StatefulRules() {}

// Fields returns every field, provided or not.
func (c *Catalog) Fields() []rules.Field { return c.fields }

func str(name, desc string, fn func(*Record) (string, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Desc: desc,
		ExtractString: func(evt any, _ rules.Arg) (string, bool) { return fn(asRecord(evt)) }}
}

func num(name, desc string, fn func(*Record) (int64, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeNumber, Desc: desc,
		ExtractNumber: func(evt any, _ rules.Arg) (int64, bool) { return fn(asRecord(evt)) }}
}

// path is a string field read from the record's keys; a value that is not
// a string reads as its JSON text.
func path(name, desc string, keys ...string) rules.Field {
	return str(name, desc, func(r *Record) (string, bool) { return r.str(keys...) })
}

// unprovided is a field Falco has that mamori cannot feed from a record.
func unprovided(name, why string) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Desc: "[not provided: " + why + "]"}
}

func fieldTable() []rules.Field {
	req := func(name, key string) rules.Field {
		return path(name, "requestParameters."+key+" of the request", "requestParameters", key)
	}
	fs := []rules.Field{
		path("ct.id", "the unique ID of the event (eventID)", "eventID"),
		path("ct.error", "the error code (errorCode); absent when the call succeeded", "errorCode"),
		path("ct.errormessage", "the error's description (errorMessage)", "errorMessage"),
		path("ct.time", "the event's timestamp (eventTime)", "eventTime"),
		path("ct.src", "the service of the event (eventSource)", "eventSource"),
		str("ct.shortsrc", "eventSource without .amazonaws.com", func(r *Record) (string, bool) {
			s, ok := r.str("eventSource")
			return strings.TrimSuffix(s, ".amazonaws.com"), ok
		}),
		path("ct.name", "the name of the event (eventName)", "eventName"),
		str("ct.user", "the user: userName for Root and IAMUser, invokedBy for AWSService, the role for AssumedRole", user),
		str("ct.originaluser", "the user name as CloudTrail shows it; for AssumedRole the session name", originalUser),
		str("ct.user.accountid", "userIdentity.accountId, else recipientAccountId", func(r *Record) (string, bool) {
			if s, ok := r.str("userIdentity", "accountId"); ok {
				return s, true
			}
			return r.str("recipientAccountId")
		}),
		path("ct.user.identitytype", "the kind of identity (userIdentity.type)", "userIdentity", "type"),
		path("ct.user.principalid", "userIdentity.principalId", "userIdentity", "principalId"),
		path("ct.user.arn", "userIdentity.arn", "userIdentity", "arn"),
		path("ct.region", "the region (awsRegion)", "awsRegion"),
		path("ct.response.subnetid", "responseElements.subnetId", "responseElements", "subnetId"),
		path("ct.response.reservationid", "responseElements.reservationId", "responseElements", "reservationId"),
		path("ct.response", "responseElements as JSON", "responseElements"),
		req("ct.request.availabilityzone", "availabilityZone"),
		req("ct.request.cluster", "cluster"),
		req("ct.request.functionname", "functionName"),
		req("ct.request.groupname", "groupName"),
		req("ct.request.host", "Host"),
		req("ct.request.name", "name"),
		str("ct.request.policy", "requestParameters.policy, or bucketPolicy as in PutBucketPolicy", func(r *Record) (string, bool) {
			if s, ok := r.str("requestParameters", "policy"); ok {
				return s, true
			}
			return r.str("requestParameters", "bucketPolicy")
		}),
		req("ct.request.reason", "reason"),
		req("ct.request.target", "target"),
		req("ct.request.documentname", "documentName"),
		req("ct.request.serialnumber", "serialNumber"),
		req("ct.request.servicename", "serviceName"),
		req("ct.request.subnetid", "subnetId"),
		req("ct.request.taskdefinition", "taskDefinition"),
		req("ct.request.username", "userName"),
		path("ct.request", "requestParameters as JSON", "requestParameters"),
		path("ct.srcip", "the caller's address (sourceIPAddress)", "sourceIPAddress"),
		path("ct.useragent", "the caller's user agent (userAgent)", "userAgent"),
		str("ct.info", "a summary: user, address, direction and event name", info),
		path("ct.managementevent", "managementEvent: true or false", "managementEvent"),
		path("ct.readonly", "readOnly: true or false", "readOnly"),
		path("ct.requestid", "requestID", "requestID"),
		path("ct.eventtype", "eventType", "eventType"),
		path("ct.apiversion", "apiVersion", "apiVersion"),
		str("ct.resources", "the resources, as JSON, comma-separated", func(r *Record) (string, bool) {
			v, _ := r.lookup("resources")
			l, ok := v.([]any)
			if !ok || len(l) == 0 {
				return "", false
			}
			parts := make([]string, len(l))
			for i, x := range l {
				parts[i] = text(x)
			}
			return strings.Join(parts, ","), true
		}),
		path("ct.recipientaccountid", "recipientAccountId", "recipientAccountId"),
		path("ct.serviceeventdetails", "serviceEventDetails", "serviceEventDetails"),
		path("ct.sharedeventid", "sharedEventID", "sharedEventID"),
		path("ct.vpcendpointid", "vpcEndpointId", "vpcEndpointId"),
		path("ct.eventcategory", "eventCategory", "eventCategory"),
		path("ct.addendum.reason", "addendum.reason", "addendum", "reason"),
		path("ct.addendum.updatedfields", "addendum.updatedFields", "addendum", "updatedFields"),
		path("ct.addendum.originalrequestid", "addendum.originalRequestID", "addendum", "originalRequestID"),
		path("ct.addendum.originaleventid", "addendum.originalEventID", "addendum", "originalEventID"),
		path("ct.sessioncredentialfromconsole", "sessionCredentialFromConsole", "sessionCredentialFromConsole"),
		path("ct.edgedevicedetails", "edgeDeviceDetails", "edgeDeviceDetails"),
		path("ct.tlsdetails.tlsversion", "tlsDetails.tlsVersion", "tlsDetails", "tlsVersion"),
		path("ct.tlsdetails.ciphersuite", "tlsDetails.cipherSuite", "tlsDetails", "cipherSuite"),
		path("ct.tlsdetails.clientprovidedhostheader", "tlsDetails.clientProvidedHostHeader", "tlsDetails", "clientProvidedHostHeader"),
		path("ct.additionaleventdata", "additionalEventData as JSON", "additionalEventData"),

		str("s3.uri", "s3://bucket/key", s3URI),
		path("s3.bucket", "requestParameters.bucketName", "requestParameters", "bucketName"),
		path("s3.key", "requestParameters.key", "requestParameters", "key"),
		num("s3.bytes", "bytes transferred in and out", func(r *Record) (int64, bool) {
			in, ok1 := r.number("additionalEventData", "bytesTransferredIn")
			out, ok2 := r.number("additionalEventData", "bytesTransferredOut")
			return in + out, ok1 || ok2
		}),
		num("s3.bytes.in", "additionalEventData.bytesTransferredIn", func(r *Record) (int64, bool) {
			return r.number("additionalEventData", "bytesTransferredIn")
		}),
		num("s3.bytes.out", "additionalEventData.bytesTransferredOut", func(r *Record) (int64, bool) {
			return r.number("additionalEventData", "bytesTransferredOut")
		}),
		num("s3.cnt.get", "1 for GetObject", func(r *Record) (int64, bool) { return nameCount(r, "GetObject") }),
		num("s3.cnt.put", "1 for PutObject", func(r *Record) (int64, bool) { return nameCount(r, "PutObject") }),
		num("s3.cnt.other", "1 for events other than GetObject and PutObject, else 0", func(r *Record) (int64, bool) {
			n, _ := r.str("eventName")
			if n == "GetObject" || n == "PutObject" {
				return 0, true
			}
			return 1, true
		}),

		str("ec2.name", "the Name tag of the instances in the request", ec2Name),
		str("ec2.imageid", "the first of ec2.imageids", func(r *Record) (string, bool) {
			ids := imageIDs(r)
			if len(ids) == 0 {
				return "", false
			}
			return ids[0], true
		}),
		{Name: "ec2.imageids", Type: rules.TypeStringList, Arg: rules.IndexArg,
			Desc: "the image IDs of the instances involved",
			ExtractStrings: func(evt any, a rules.Arg) ([]string, bool) {
				ids := imageIDs(asRecord(evt))
				if a.Set {
					if a.Index >= len(ids) {
						return nil, false
					}
					return ids[a.Index : a.Index+1], true
				}
				return ids, len(ids) > 0
			}},
		path("ecr.repository", "requestParameters.repositoryName", "requestParameters", "repositoryName"),
		path("ecr.imagetag", "requestParameters.imageTag", "requestParameters", "imageTag"),
		path("iam.role", "requestParameters.roleName", "requestParameters", "roleName"),
		path("iam.policy", "requestParameters.policyName", "requestParameters", "policyName"),
	}
	fs = append(fs, mamoriFields()...)
	fs = append(fs, exposureFields()...)
	fs = append(fs, jsonFields("json")...)
	fs = append(fs, jsonFields("jevt")...)
	return append(fs, evtFields()...)
}

// jsonFields are the json plugin's fields, under prefix json or jevt.
func jsonFields(prefix string) []rules.Field {
	return []rules.Field{
		{Name: prefix + ".value", Type: rules.TypeString, Arg: rules.KeyArg, ArgRequired: true,
			Desc: "the value at an RFC 6901 JSON pointer: a string as itself, anything else as JSON",
			ExtractString: func(evt any, a rules.Arg) (string, bool) {
				v, ok := asRecord(evt).pointer(a.Key)
				if !ok {
					return "", false
				}
				return text(v), true
			}},
		str(prefix+".obj", "the whole record as JSON, keys sorted", func(r *Record) (string, bool) { return text(r.Fields()), true }),
		num(prefix+".rawtime", "the record's time in nanoseconds since the epoch", rawTime),
	}
}

func rawTime(r *Record) (int64, bool) {
	t := r.Time()
	return t.UnixNano(), !t.IsZero()
}

func evtFields() []rules.Field {
	timeStr := func(name, desc, layout string) rules.Field {
		return str(name, desc, func(r *Record) (string, bool) {
			t := r.Time()
			return t.UTC().Format(layout), !t.IsZero()
		})
	}
	timeNum := func(name, desc string, div int64) rules.Field {
		return num(name, desc, func(r *Record) (int64, bool) {
			n, ok := rawTime(r)
			return n / div, ok
		})
	}
	return []rules.Field{
		num("evt.num", "the record's position among those read, from 1", func(r *Record) (int64, bool) { return int64(r.Num), true }),
		timeStr("evt.time", "the record's time of day, with nanoseconds", "15:04:05.000000000"),
		timeStr("evt.time.s", "the record's time of day", "15:04:05"),
		timeStr("evt.time.iso8601", "the record's time in ISO 8601", "2006-01-02T15:04:05.000000000Z"),
		timeStr("evt.datetime", "the record's date and time", "2006-01-02 15:04:05.000000000"),
		timeStr("evt.datetime.s", "the record's date and time, to the second", "2006-01-02 15:04:05"),
		timeNum("evt.rawtime", "the record's time in nanoseconds since the epoch", 1),
		timeNum("evt.rawtime.s", "the record's time in seconds since the epoch", 1e9),
		num("evt.rawtime.ns", "the nanoseconds of the record's time", func(r *Record) (int64, bool) {
			n, ok := rawTime(r)
			return n % 1e9, ok
		}),
		str("evt.plugininfo", "the plugin's summary of the event: ct.info", info),
		str("evt.pluginname", "the plugin that read the event: cloudtrail", func(*Record) (string, bool) { return "cloudtrail", true }),
		str("evt.source", "the event source: aws_cloudtrail", func(*Record) (string, bool) { return Source, true }),
		unprovided("evt.hostname", "records are read from files, not on a host"),
		unprovided("evt.reltime", "a record has no capture start to be relative to"),
	}
}

// number reads a JSON number at keys, truncated to an integer.
func (r *Record) number(keys ...string) (int64, bool) {
	v, ok := r.lookup(keys...)
	if !ok {
		return 0, false
	}
	return auditlog.Int(v)
}

func nameCount(r *Record, name string) (int64, bool) {
	if n, _ := r.str("eventName"); n == name {
		return 1, true
	}
	return 0, false
}

// user is ct.user, as the plugin defines it by identity type.
func user(r *Record) (string, bool) {
	typ, _ := r.str("userIdentity", "type")
	switch typ {
	case "Root", "IAMUser":
		return r.str("userIdentity", "userName")
	case "AWSService":
		return r.str("userIdentity", "invokedBy")
	case "AssumedRole":
		if s, ok := r.str("userIdentity", "sessionContext", "sessionIssuer", "userName"); ok {
			return s, true
		}
		return "AssumedRole", true
	case "AWSAccount", "FederatedUser":
		return typ, true
	}
	return "", false
}

// originalUser is ct.originaluser: for an assumed role, the session name.
func originalUser(r *Record) (string, bool) {
	typ, _ := r.str("userIdentity", "type")
	if typ != "AssumedRole" {
		return r.str("userIdentity", "userName")
	}
	if arn, ok := r.str("userIdentity", "arn"); ok {
		if parts := strings.Split(arn, "/"); len(parts) == 3 {
			return parts[2], true
		}
	}
	if p, ok := r.str("userIdentity", "principalId"); ok {
		if _, s, ok := strings.Cut(p, ":"); ok {
			return s, true
		}
	}
	return "", false
}

func s3URI(r *Record) (string, bool) {
	b, ok1 := r.str("requestParameters", "bucketName")
	k, ok2 := r.str("requestParameters", "key")
	return "s3://" + b + "/" + k, ok1 && ok2
}

// info is ct.info: "<user> via <address> <arrow> <event>", the arrow
// pointing right for a call that changes state and prefixed with "!" for a
// failed one, then the S3 object or host involved.
func info(r *Record) (string, bool) {
	var b strings.Builder
	u, _ := user(r)
	ip, _ := r.str("sourceIPAddress")
	name, _ := r.str("eventName")
	b.WriteString(u + " via " + ip + " ")
	if _, failed := r.lookup("errorCode"); failed {
		b.WriteByte('!')
	}
	if ro, _ := r.lookup("readOnly"); ro == false {
		b.WriteString("→ ")
	} else {
		b.WriteString("← ")
	}
	b.WriteString(name)
	if n, ok := r.number("additionalEventData", "bytesTransferredIn"); ok && n > 0 {
		b.WriteString(" Size=" + strconv.FormatInt(n, 10))
	} else if n, ok := r.number("additionalEventData", "bytesTransferredOut"); ok && n > 0 {
		b.WriteString(" Size=" + strconv.FormatInt(n, 10))
	}
	if uri, ok := s3URI(r); ok {
		b.WriteString(" URI=" + uri)
	} else if bucket, ok := r.str("requestParameters", "bucketName"); ok {
		b.WriteString(" Bucket=" + bucket)
	} else if key, ok := r.str("requestParameters", "key"); ok {
		b.WriteString(" Key=" + key)
	}
	if host, ok := r.str("requestParameters", "Host"); ok {
		b.WriteString(" Host=" + host)
	}
	return b.String(), true
}

// ec2Name is the Name tag of the instances a RunInstances request creates.
func ec2Name(r *Record) (string, bool) {
	v, _ := r.lookup("requestParameters", "tagSpecificationSet", "items")
	items, _ := v.([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m["resourceType"] != "instance" {
			continue
		}
		tags, _ := m["tags"].([]any)
		for _, t := range tags {
			tm, _ := t.(map[string]any)
			if tm["key"] == "Name" {
				if s, ok := tm["value"].(string); ok {
					return s, true
				}
			}
		}
	}
	return "", false
}

// imageIDs are the image IDs of the instances in the response, else the
// image the request names.
func imageIDs(r *Record) []string {
	v, _ := r.lookup("responseElements", "instancesSet", "items")
	if items, ok := v.([]any); ok && len(items) > 0 {
		var ids []string
		for _, it := range items {
			m, _ := it.(map[string]any)
			if s, ok := m["imageId"].(string); ok {
				ids = append(ids, s)
			}
		}
		return ids
	}
	for _, keys := range [][]string{
		{"requestParameters", "imageId"},
		{"requestParameters", "DescribeFastLaunchImagesRequest", "ImageId", "content"},
		{"requestParameters", "launchSpecification", "imageId"},
	} {
		if s, ok := r.str(keys...); ok {
			return []string{s}
		}
	}
	return nil
}
