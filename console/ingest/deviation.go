package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// DeviationRule is the rule name of the alerts a stable or enforced
// profile raises for what it had not seen.
const DeviationRule = "Behaviour profile deviation"

// deviationAlert is the alert for a deviation, with the profile's evidence:
// its state and since when, what it learnt and on which nodes, and the
// new item's own first sighting.
func deviationAlert(d store.Deviation, now time.Time) store.AlertIn {
	p, it := d.Profile, d.Item
	w := p.Workload
	what := map[string]string{
		event.ItemExec:    "new executable " + it.Path,
		event.ItemEgress:  "new destination " + dest(it),
		event.ItemIngress: fmt.Sprintf("new inbound connection from %s to port %d/%s", it.IP, it.Port, it.Protocol),
		event.ItemListen:  fmt.Sprintf("new listening port %d/%s", it.Port, it.Protocol),
		event.ItemFile:    "new directory written " + it.Path,
	}[it.Kind]
	if what == "" {
		what = "new " + it.Kind + " " + it.Key
	}
	name := w.Name
	if w.Namespace != "" {
		name = w.Namespace + "/" + w.Name
	}
	learnt := 0
	for k, n := range p.Counts {
		if strings.HasSuffix(k, "/"+store.ItemLearned) {
			learnt += n
		}
	}
	priority := "Warning"
	if p.State == store.Enforced {
		priority = "Error"
	}
	out := fmt.Sprintf("%s: %s in workload %s (image %s) on node %s; the profile %s is %s since %s, learnt %d items on %s",
		DeviationRule, what, name, w.Image, d.Node, p.ID, p.State, p.StateSince.Format(time.RFC3339), learnt, strings.Join(p.Nodes, ", "))
	a := &event.Alert{Kind: event.KindAlert, UUID: event.NewUUID(), Cluster: w.Cluster, Time: d.Observation, Rule: DeviationRule,
		Priority: priority, Output: out, Source: "profile", Tags: []string{"profile", "deviation", "mitre_execution"},
		Hostname: d.Node, Action: event.Detected,
		OutputFields: map[string]any{
			"profile.id": p.ID, "profile.state": p.State, "profile.state_since": p.StateSince, "profile.learning_since": p.Created,
			"profile.last_new": p.LastNew, "profile.nodes": p.Nodes, "profile.items": p.Counts, "profile.max_processes": p.MaxProcesses,
			"item.kind": it.Kind, "item.key": it.Key, "item.first_seen": it.First, "item.last_seen": it.Last, "item.count": it.Count,
			"item.nodes": it.Nodes, "item.digests": it.Digests, "item.parents": it.Parents, "item.names": it.Names,
		},
	}
	if it.Kind == event.ItemExec {
		a.Event = event.Exec
	} else if it.Kind == event.ItemEgress {
		a.Event = event.Connect
	}
	c := &event.Container{Image: w.Image, ImageDigest: w.ImageDigest, Name: w.Name}
	if len(d.Containers) > 0 {
		c.ID = d.Containers[0]
	}
	if w.Namespace != "" {
		c.Pod = &event.Pod{Namespace: w.Namespace, Name: w.Owner}
	}
	a.Container = c
	if a.Time.IsZero() {
		a.Time = now
	}
	raw, _ := json.Marshal(a)
	return store.AlertIn{Alert: a, Raw: raw, Received: now}
}

func dest(it store.ProfileItem) string {
	s := fmt.Sprintf("%s port %d/%s", it.IP, it.Port, it.Protocol)
	if len(it.Names) > 0 {
		s = it.Names[0] + " (" + s + ")"
	}
	return s
}
