package wire

import (
	"fmt"
	"strings"
	"testing"
)

func TestSubjectsRoundTrip(t *testing.T) {
	for _, c := range []struct{ cluster, node string }{{"prod", "web-1"}, {"eu.west", "ip-10-0-0-1.ec2.internal"}, {"", "n"}, {"a b", "*>"}} {
		kind, cl, n, err := Parse(Subject(Alert, c.cluster, c.node))
		if err != nil || kind != Alert || cl != Token(c.cluster) || n != Token(c.node) {
			t.Errorf("%q/%q: %s %s %s %v", c.cluster, c.node, kind, cl, n, err)
		}
		if strings.ContainsAny(cl+n, ".*> ") {
			t.Errorf("%q/%q: tokens %q %q route on their own", c.cluster, c.node, cl, n)
		}
	}
	if _, _, _, err := Parse("mamori.container.c.n"); err == nil {
		t.Error("a container subject without its id parsed")
	}
	if k, _, _, err := Parse(ContainerSubject("c", "n", "abc")); err != nil || k != Container {
		t.Errorf("container subject: %s %v", k, err)
	}
}

func TestAgentPermissionsAreItsOwn(t *testing.T) {
	pub, sub := AgentPermissions("c", "n1")
	for _, p := range pub {
		if strings.HasPrefix(p, "mamori.") && !strings.Contains(p, ".c.n1") {
			t.Errorf("n1 may publish on %s", p)
		}
		if strings.Contains(p, "$KV") || strings.Contains(p, "MAMORI_") {
			t.Errorf("n1 may publish on %s", p)
		}
	}
	if len(sub) != 1 || sub[0] != InboxPrefix("c", "n1")+".>" {
		t.Errorf("n1 may subscribe to %v", sub)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"mamori.alert.c.n", "mamori.container.c.n.id", "", "mamori", "x.y.z.w", "mamori..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, c, n, err := Parse(s)
		if err == nil && (kind == "" || strings.Contains(c+n, ".")) {
			t.Fatalf("%q parsed as %q %q %q", s, kind, c, n)
		}
	})
}

func TestBatchRoundTrip(t *testing.T) {
	recs := []string{`{"kind":"alert","uuid":"a"}`, `{"kind":"alert","uuid":"b","output":"x\ny"}`, `{}`}
	ids := []string{"a", "b", "c"}
	var payload []byte
	for i, r := range recs {
		if !CanBatch(ids[i], []byte(r)) {
			t.Fatalf("record %d cannot be batched", i)
		}
		payload = AppendBatch(payload, []byte(r))
	}
	got, gotIDs, err := SplitBatch(payload, strings.Join(ids, " "))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if string(got[i]) != recs[i] || gotIDs[i] != ids[i] {
			t.Errorf("record %d: %q %q, want %q %q", i, got[i], gotIDs[i], recs[i], ids[i])
		}
	}
	if BatchID("a", 3) == BatchID("a", 2) || BatchID("a", 3) == "a" {
		t.Error("batch ids of different batches (or of the first record alone) are the same")
	}
}

func TestBatchesThatDoNotPairUp(t *testing.T) {
	if CanBatch("a b", []byte(`{}`)) || CanBatch("a", []byte("{\n}")) || CanBatch("", []byte(`{}`)) || CanBatch("a", nil) {
		t.Error("a record that would break its batch may be batched")
	}
	for _, c := range []struct{ payload, ids string }{
		{"{}\n{}\n", "a"},     // more records than ids
		{"{}\n", "a b"},       // more ids than records
		{"{}", "a"},           // no final newline
		{"", "a"},             // empty
		{"{}\n{}\n", "a  b"},  // an empty id
		{"{}\n\n{}\n", "a b"}, // an empty line is a record without an id
	} {
		if _, _, err := SplitBatch([]byte(c.payload), c.ids); err == nil {
			t.Errorf("%q with ids %q split", c.payload, c.ids)
		}
	}
	var many []byte
	var ids []string
	for i := range MaxBatchRecords + 1 {
		many = AppendBatch(many, []byte(`{}`))
		ids = append(ids, fmt.Sprint(i))
	}
	if _, _, err := SplitBatch(many, strings.Join(ids, " ")); err == nil {
		t.Errorf("a batch of %d records split", MaxBatchRecords+1)
	}
}
