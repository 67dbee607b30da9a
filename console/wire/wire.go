// Package wire is the protocol between agents and the console: the NATS
// subjects records travel on, the JetStream streams that hold them, the
// message headers and the size limit. Payloads are the records of package
// event as JSON. Both sides import this package and nothing else of each
// other; it must not import NATS, a store or anything of the agent.
//
// Subjects name the record's kind, cluster and node:
//
//	mamori.alert.<cluster>.<node>               alerts        stream MAMORI_ALERTS
//	mamori.event.<cluster>.<node>               events        stream MAMORI_EVENTS
//	mamori.heartbeat.<cluster>.<node>           heartbeats    stream MAMORI_STATE
//	mamori.container.<cluster>.<node>.<id>      containers    stream MAMORI_STATE
//	mamori.observation.<cluster>.<node>         observations  stream MAMORI_LEARN
//
// so that a node's credential can allow publishing on its own subjects only.
// Every alert and event is published with the JetStream header Nats-Msg-Id
// set to the record's stable id (the alert's uuid; a batch's is BatchID):
// JetStream drops a copy published again within the streams' duplicate
// window, and the store ignores a uuid it already has, so a replay is never
// stored twice.
//
// Alerts and events may travel several to a message (a batch, see
// AppendBatch) when the console says it reads them: every message costs
// JetStream a store, a delivery, an acknowledgement and a removal whatever
// its size, which was most of the console's work per alert.
package wire

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Record kinds, the second token of a subject.
const (
	Alert     = "alert"
	Event     = "event"
	Heartbeat = "heartbeat"
	Container = "container"
	// Observation is what an agent learnt of its workloads' behaviour
	// (event.Observation), for the profiles.
	Observation = "observation"
)

// Stream names.
const (
	AlertStream = "MAMORI_ALERTS"
	EventStream = "MAMORI_EVENTS"
	StateStream = "MAMORI_STATE"
	LearnStream = "MAMORI_LEARN"
)

// PolicyBucket is the JetStream KV bucket of central runtime policies: one
// key per policy file (its name, e.g. restrict-web.yaml), the file's YAML
// as value, the key's revision its version. Agents watch it.
const PolicyBucket = "mamori_policies"

// PolicyStream is the JetStream stream that holds PolicyBucket: the one
// stream an agent may ask about (its metadata says what the console
// reads, ReadsBatchesKey).
const PolicyStream = "KV_" + PolicyBucket

// MaxRecord is the largest record an agent publishes and the console
// accepts, in bytes; larger ones are refused on both sides and counted.
const MaxRecord = 1 << 20

// IDsHeader is the header of a batch: the ids of its records, in order,
// separated by single spaces. A message without it holds one record.
const IDsHeader = "Mamori-Ids"

// Batch limits: an agent packs at most MaxBatchRecords records of one
// subject into a message of at most MaxBatchBytes (a larger record goes
// alone), well under NATS's default 1 MiB payload.
const (
	MaxBatchRecords = 256
	MaxBatchBytes   = 256 << 10
)

// ReadsBatchesKey is the key of the policy bucket's metadata (the one
// stream an agent's credential may read about) by which the console says
// it reads batches; its value is ReadsBatches. An agent sends batches only
// to a console that says so: an older one would refuse them as malformed.
const (
	ReadsBatchesKey = "mamori.reads-batches"
	ReadsBatches    = "alert,event"
)

// Batchable says whether records of kind may travel in batches: alerts and
// events, the streams that are read in order and in bulk. Heartbeats and
// container states keep one record per message (the latest per subject
// is what their stream keeps), observations too (each is merged alone).
func Batchable(kind string) bool { return kind == Alert || kind == Event }

// CanBatch says whether a record with this id and JSON may go in a batch:
// the id must not contain the separator, nor the record a newline (JSON
// as encoding/json writes it never does).
func CanBatch(id string, data []byte) bool {
	return id != "" && !strings.ContainsAny(id, " \t\r\n") && len(data) > 0 && bytes.IndexByte(data, '\n') < 0
}

// AppendBatch appends a record to a batch's payload: its JSON and a
// newline.
func AppendBatch(payload, data []byte) []byte {
	return append(append(payload, data...), '\n')
}

// BatchID is the message id of a batch of n records, the first with id
// first: the same batch replayed is dropped by JetStream, and a record
// replayed in another batch (or alone) by the store, which knows it by its
// time and id.
func BatchID(first string, n int) string {
	return first + "+" + strconv.Itoa(n)
}

// SplitBatch splits a batch into its records and their ids. It fails when
// the ids and the records do not pair up; the records themselves are not
// checked.
func SplitBatch(payload []byte, ids string) ([][]byte, []string, error) {
	idList := strings.Split(ids, " ")
	if len(payload) == 0 || payload[len(payload)-1] != '\n' {
		return nil, nil, fmt.Errorf("batch of %d ids does not end with a newline", len(idList))
	}
	recs := bytes.Split(payload[:len(payload)-1], []byte{'\n'})
	if len(recs) != len(idList) {
		return nil, nil, fmt.Errorf("batch of %d records has %d ids", len(recs), len(idList))
	}
	if len(recs) > MaxBatchRecords {
		return nil, nil, fmt.Errorf("batch of %d records, the limit is %d", len(recs), MaxBatchRecords)
	}
	for i, id := range idList {
		if id == "" {
			return nil, nil, fmt.Errorf("record %d of the batch has no id", i+1)
		}
	}
	return recs, idList, nil
}

// DuplicateWindow is how long JetStream remembers message ids. A replay
// after longer is still stored once: the store ignores known uuids.
const DuplicateWindow = 10 * time.Minute

// Subject returns the subject a record of kind from node in cluster is
// published on.
func Subject(kind, cluster, node string) string {
	return "mamori." + kind + "." + Token(cluster) + "." + Token(node)
}

// ContainerSubject returns the subject of one container's state.
func ContainerSubject(cluster, node, id string) string {
	return Subject(Container, cluster, node) + "." + Token(id)
}

// Filter returns the subjects of every record of kind, for a stream or a
// consumer.
func Filter(kind string) string {
	if kind == Container {
		return "mamori." + kind + ".*.*.*"
	}
	return "mamori." + kind + ".*.*"
}

// NodeSubjects are the subjects the agent of node in cluster may publish
// on, for its credential's permissions.
func NodeSubjects(cluster, node string) []string {
	c, n := Token(cluster), Token(node)
	return []string{
		"mamori." + Alert + "." + c + "." + n,
		"mamori." + Event + "." + c + "." + n,
		"mamori." + Heartbeat + "." + c + "." + n,
		"mamori." + Container + "." + c + "." + n + ".*",
		"mamori." + Observation + "." + c + "." + n,
	}
}

// Token makes s usable as one subject token: the characters NATS gives a
// meaning to (. * > and white space) become '_'. Names are kept as they are
// in the payload; the token only routes.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
}

// Parse splits a subject into its kind, cluster and node tokens.
func Parse(subject string) (kind, cluster, node string, err error) {
	parts := strings.Split(subject, ".")
	if slices.Contains(parts, "") {
		return "", "", "", fmt.Errorf("subject %q has an empty token", subject)
	}
	if len(parts) < 4 || parts[0] != "mamori" {
		return "", "", "", fmt.Errorf("subject %q is not mamori.<kind>.<cluster>.<node>", subject)
	}
	want := 4
	if parts[1] == Container {
		want = 5
	}
	if len(parts) != want {
		return "", "", "", fmt.Errorf("subject %q: want %d tokens for %s", subject, want, parts[1])
	}
	return parts[1], parts[2], parts[3], nil
}

// InboxPrefix is the prefix of a node's reply subjects (JetStream's
// acknowledgements, the policy watch): its credential may subscribe there
// and nowhere else, so it cannot read another node's replies.
func InboxPrefix(cluster, node string) string {
	return "_INBOX.mamori." + Token(cluster) + "." + Token(node)
}

// AgentPermissions are what a node's credential may publish on and
// subscribe to: its own records, reading the policy bucket, and its own
// inbox. Everything else is refused by the server.
func AgentPermissions(cluster, node string) (publish, subscribe []string) {
	kv := PolicyStream
	publish = append(NodeSubjects(cluster, node),
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO."+kv,
		"$JS.API.CONSUMER.CREATE."+kv+".>",
		"$JS.API.CONSUMER.DELETE."+kv+".>",
		"$JS.API.CONSUMER.INFO."+kv+".>",
		"$JS.API.CONSUMER.MSG.NEXT."+kv+".>",
		"$JS.API.DIRECT.GET."+kv+".>",
		"$JS.FC."+kv+".>",
	)
	return publish, []string{InboxPrefix(cluster, node) + ".>"}
}

// Credential is what an agent is given to join a console: its identity,
// its NKEY seed and the console's CA certificate (PEM). `mamori console
// agent add` writes it; `mamori agent --console-creds FILE` reads it.
type Credential struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Seed    string `json:"seed"`
	CA      string `json:"ca"`
}
