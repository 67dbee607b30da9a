package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/link"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// TestProcessTreeAndIncident: events sent with an alert rebuild the
// process tree by their ids; the alert opens an incident, whose
// acknowledgement survives a console restart.
func TestProcessTreeAndIncident(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, NATSListen: freePort(t), HTTPListen: freePort(t)}
	c := start(t, cfg)
	l, err := link.New(link.Config{URL: c.NATSURL(), Cluster: "test", Node: "n1", Events: true, SpoolDir: filepath.Join(dir, "spool")}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, node{"n1"}); close(done) }()
	defer func() { cancel(); <-done }()

	now := time.Now().UTC()
	ctr := &event.Container{ID: "c0ffee", Name: "web"}
	shell := event.Process{PID: 100, PPID: 1, Name: "sh", StartTime: now.Add(-time.Minute),
		Ancestors: []event.Process{{PID: 1, Name: "init", StartTime: now.Add(-time.Hour)}}}
	child := func(pid uint32, name string) event.Process {
		return event.Process{PID: pid, PPID: 100, Name: name, StartTime: now.Add(time.Duration(pid) * time.Millisecond * 20),
			Ancestors: []event.Process{shell, shell.Ancestors[0]}}
	}
	for i, p := range []event.Process{shell, child(101, "curl"), child(102, "cat")} {
		p.Ancestors = append([]event.Process(nil), p.Ancestors...)
		l.Event(&event.Event{Kind: "event", Time: now.Add(time.Duration(i) * time.Second), Node: "n1", Type: event.Exec, Process: p, Container: ctr})
	}
	cat := child(102, "cat")
	al := alertFrom("n1", 0)
	al.Process = &cat
	l.Alert(al)
	waitAlerts(t, cfg.HTTPListen, 1, 10*time.Second)

	shellID := event.ProcessID(link.BootID(), 100, shell.StartTime)
	var tree api.ProcessTree
	for deadline := time.Now().Add(10 * time.Second); len(tree.Children) < 2 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + cfg.HTTPListen + "/api/v1/processes/" + shellID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&tree)
		resp.Body.Close()
	}
	if tree.Process == nil || tree.Process.Name != "sh" || len(tree.Children) != 2 || len(tree.Ancestors) != 1 || tree.Ancestors[0].Name != "init" {
		t.Fatalf("process tree of sh: %+v", tree)
	}
	if tree.Children[1] != al.Process.ID {
		t.Errorf("children %v: want the alert's process %s second", tree.Children, al.Process.ID)
	}

	var incidents store.IncidentPage
	getJSON(t, "http://"+cfg.HTTPListen+"/api/v1/incidents?status=open", &incidents)
	if len(incidents.Incidents) != 1 || incidents.Incidents[0].Workload != "container/test/n1/web" {
		t.Fatalf("incidents: %+v", incidents)
	}
	id := incidents.Incidents[0].ID
	body, _ := json.Marshal(map[string]string{"status": "acknowledged", "note": "on it"})
	resp, err := http.Post("http://"+cfg.HTTPListen+"/api/v1/incidents/"+id, "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("acknowledge: %v %v", resp.Status, err)
	}
	resp.Body.Close()

	c.stop()
	c = start(t, cfg)
	var d store.IncidentDetail
	getJSON(t, "http://"+cfg.HTTPListen+"/api/v1/incidents/"+id, &d)
	if d.Incident.Status != "acknowledged" || d.Incident.Note != "on it" || len(d.Alerts) != 1 {
		t.Errorf("after a restart: %+v", d)
	}
}
