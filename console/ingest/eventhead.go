package ingest

import (
	"encoding/json"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// eventHead is what ingest reads of an event: the store's columns. The
// rest (the process's members and ancestors, the file, the network, the
// arguments) is checked as JSON but not decoded: the stored JSON keeps it.
type eventHead struct {
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time"`
	Node    string    `json:"node"`
	Cluster string    `json:"cluster"`
	Type    string    `json:"event"`
	Process struct {
		ID       string `json:"id"`
		ParentID string `json:"parent_id"`
	} `json:"process"`
	Container *struct {
		ID string `json:"id"`
	} `json:"container"`
}

// event is the head as an event.Event, with what the store reads of one.
func (h *eventHead) event() *event.Event {
	e := &event.Event{Kind: h.Kind, Time: h.Time, Node: h.Node, Cluster: h.Cluster, Type: event.Type(h.Type),
		Process: event.Process{ID: h.Process.ID, ParentID: h.Process.ParentID}}
	if h.Container != nil {
		e.Container = &event.Container{ID: h.Container.ID}
	}
	return e
}

// readEventHead reads an event's eventHead and checks that the whole
// record is JSON, in one pass as readAlertHead does for alerts (an event
// decoded whole by encoding/json cost the console more than storing it);
// anything the scanner does not read exactly as json.Unmarshal would goes
// to json.Unmarshal, whose answer is then the answer (FuzzEventHead).
func readEventHead(data []byte) (eventHead, error) {
	if h, ok := scanEventHead(data); ok {
		return h, nil
	}
	var h eventHead
	err := json.Unmarshal(data, &h)
	return h, err
}

var (
	eventKeys          = []string{"kind", "time", "node", "cluster", "event", "process", "container"}
	eventProcessKeys   = []string{"id", "parent_id"}
	eventContainerKeys = []string{"id"}
)

// scanEventHead is readEventHead's fast path; ok is false when it leaves
// the record to json.Unmarshal.
func scanEventHead(data []byte) (h eventHead, ok bool) {
	s := scanner{b: data}
	s.ws()
	ok = s.object(eventKeys, 1, func(key string) bool {
		switch key {
		case "kind":
			return s.strTo(&h.Kind)
		case "node":
			return s.strTo(&h.Node)
		case "cluster":
			return s.strTo(&h.Cluster)
		case "event":
			return s.strTo(&h.Type)
		case "time":
			return s.time(&h.Time)
		case "process":
			return s.object(eventProcessKeys, 2, func(key string) bool {
				if key == "id" {
					return s.strTo(&h.Process.ID)
				}
				return s.strTo(&h.Process.ParentID)
			})
		case "container":
			if s.word("null") { // a host process's
				return true
			}
			h.Container = &struct {
				ID string `json:"id"`
			}{}
			return s.object(eventContainerKeys, 2, func(string) bool { return s.strTo(&h.Container.ID) })
		}
		return false
	})
	s.ws()
	return h, ok && s.i == len(s.b)
}
