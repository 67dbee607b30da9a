package guard

import (
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

func bind(c *event.Container, proto string, port uint16, result int64) *event.Event {
	return &event.Event{Kind: "event", Time: t0, Node: "n", Type: event.Bind, Container: c, Result: result,
		Process: event.Process{PID: 12, Name: "nc", Exe: "/bin/busybox"},
		Network: &event.Network{Family: "inet", Protocol: proto, SrcIP: "0.0.0.0", SrcPort: port}}
}

// A bind to a port off the list is reported from the sensor's bind event
// unless an enforcer refuses the control (it reports its refusals
// itself); a listed port, port 0, a failed bind and a raw socket are not.
func TestListeningPortsAudited(t *testing.T) {
	const doc = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: ports}
spec:
  mode: audit
  scope: {container: {labels: {app: web}}}
  controls:
    listeningPorts: {allow: [8080/tcp, 53/udp]}
`
	for _, tc := range []struct {
		ev   *event.Event
		want string
	}{
		{bind(web, "tcp", 9090, 0), "Bind to port 9090/tcp (address 0.0.0.0) by /bin/busybox, not on the listening ports allow list, in container web"},
		{bind(web, "udp", 8080, 0), "port 8080/udp"},
		{bind(web, "proto_262", 9090, 0), "port 9090/tcp"}, // Multipath TCP
		{bind(web, "tcp", 8080, 0), ""},
		{bind(web, "udp", 53, 0), ""},
		{bind(web, "tcp", 0, 0), ""},
		{bind(web, "tcp", 9090, -98), ""}, // EADDRINUSE: no port taken
		{bind(web, "raw", 9090, 0), ""},
		{bind(batch, "tcp", 9090, 0), ""}, // out of scope
	} {
		g, _ := newGuard(t, map[string]string{"p.yaml": doc})
		var got []*event.Alert
		g.Observe(tc.ev, func(a *event.Alert) { got = append(got, a) })
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s %d: alert %s", tc.ev.Network.Protocol, tc.ev.Network.SrcPort, got[0].Output)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0].Output, tc.want) || got[0].Action != Audited || got[0].Control != "listeningPorts"):
			t.Errorf("%s %d: alerts %+v, want one audited containing %q", tc.ev.Network.Protocol, tc.ev.Network.SrcPort, got, tc.want)
		}
	}
	// Enforced by the kernel: its verdicts are the alerts, not the events.
	g, _ := newGuard(t, map[string]string{"p.yaml": strings.Replace(doc, "mode: audit", "mode: enforce", 1)}, "listeningPorts")
	g.Observe(bind(web, "tcp", 9090, 0), func(a *event.Alert) { t.Errorf("enforced, yet alerted from the event: %s", a.Output) })
}
