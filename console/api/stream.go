package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/event"
)

// Hub fans stored alerts out to the open live streams. A client too slow
// to keep up loses alerts, and is told how many in an "dropped" event: a
// live view must not hold back the console.
type Hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
	dropped atomic.Uint64
}

type client struct {
	f       store.Filter
	ch      chan []byte
	dropped atomic.Uint64
}

func NewHub() *Hub { return &Hub{clients: map[*client]struct{}{}} }

// Publish hands one alert's JSON to every stream whose filter it passes.
func (h *Hub) Publish(raw []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) == 0 {
		return
	}
	var a event.Alert
	if json.Unmarshal(raw, &a) != nil {
		return
	}
	for c := range h.clients {
		if !c.f.Match(&a) {
			continue
		}
		select {
		case c.ch <- raw:
		default:
			c.dropped.Add(1)
			h.dropped.Add(1)
		}
	}
}

// Listening says whether any stream is open.
func (h *Hub) Listening() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients) > 0
}

func (h *Hub) add(c *client) {
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// stream serves GET /api/v1/stream: each alert as an SSE "alert" event
// with its JSON as data, and a comment every 15 s to keep proxies from
// closing the connection.
func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok || s.cfg.Live == nil {
		httpError(w, http.StatusNotImplemented, "no live stream here")
		return
	}
	c := &client{f: f, ch: make(chan []byte, 256)}
	s.cfg.Live.add(c)
	defer s.cfg.Live.remove(c)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	fmt.Fprint(w, ": mamori live alerts\n\n")
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	var told uint64
	for {
		select {
		case <-r.Context().Done():
			return
		case raw := <-c.ch:
			if d := c.dropped.Load(); d != told {
				fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", d)
				told = d
			}
			fmt.Fprintf(w, "event: alert\ndata: %s\n\n", raw)
			fl.Flush()
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}
