package ingest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// DropRule names the alert the console raises when a heartbeat reports
// lost records: a loss is shown where analysts look, not only in a log.
const DropRule = "Agent lost records"

// dropAlert turns a heartbeat's drops into an alert. Its uuid is derived
// from the heartbeat, so a redelivered heartbeat does not raise it twice.
func dropAlert(hb *event.Heartbeat, now time.Time) store.AlertIn {
	sum := sha256.Sum256([]byte(hb.Cluster + "\x00" + hb.Node + "\x00" + hb.Time.Format(time.RFC3339Nano)))
	h := fmt.Sprintf("%x", sum[:16])
	uuid := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	a := &event.Alert{
		Kind: event.KindAlert, UUID: uuid, Cluster: hb.Cluster, Time: hb.Time, Rule: DropRule, Priority: "Error",
		Output: fmt.Sprintf("%s: Error agent on %s lost records: %s", hb.Time.Format("15:04:05.000000000"), hb.Node,
			strings.Join(hb.Drops, "; ")),
		OutputFields: map[string]any{"node": hb.Node, "drops": hb.Drops},
		Source:       "mamori", Tags: []string{"mamori", "data_loss"}, Hostname: hb.Node, Action: event.Detected,
	}
	raw, _ := json.Marshal(a)
	return store.AlertIn{Alert: a, Raw: raw, Received: now}
}
