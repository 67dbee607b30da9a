package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/console/store"
)

// TestAnnouncements: stored alerts announced several to a message come
// out whole and in order, whatever whitespace their JSON holds, and a
// message of one alert (as replicas sent before) is one alert.
func TestAnnouncements(t *testing.T) {
	var alerts []store.AlertIn
	var want []string
	for i := range 50 {
		raw := fmt.Sprintf(`{"kind":"alert","uuid":"u%d","output":"%s"}`, i, strings.Repeat("x", i*10))
		if i%7 == 0 {
			raw = fmt.Sprintf("{\n  \"kind\": \"alert\",\n  \"uuid\": \"u%d\"\n}\n", i)
		}
		alerts = append(alerts, store.AlertIn{Raw: []byte(raw)})
		want = append(want, strings.TrimSpace(raw))
	}
	msgs := announcements(alerts, 1000)
	if len(msgs) < 5 {
		t.Fatalf("%d messages for 50 alerts of up to 500 bytes in messages of 1000: want them split", len(msgs))
	}
	var got []string
	for _, m := range msgs {
		if len(m) > 1000 {
			t.Errorf("a message of %d bytes", len(m))
		}
		for _, raw := range Announced(m) {
			got = append(got, string(raw))
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("announced\n%v\nwant\n%v", got, want)
	}
	big := store.AlertIn{Raw: []byte(`{"uuid":"big","output":"` + strings.Repeat("y", 2000) + `"}`)}
	if msgs := announcements([]store.AlertIn{alerts[1], big, alerts[2]}, 1000); len(msgs) != 3 || len(Announced(msgs[1])) != 1 {
		t.Errorf("an alert larger than a message: %d messages", len(msgs))
	}
	if a := Announced([]byte(`{"kind":"alert","uuid":"one"}`)); len(a) != 1 {
		t.Errorf("one alert's message: %d alerts", len(a))
	}
}
