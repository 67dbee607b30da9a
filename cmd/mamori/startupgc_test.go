package main

import (
	"runtime/debug"
	"testing"
)

// TestStartupGC: start-up collects at GOGC 25 and gives the collector back
// as it was; a GOGC the user set is left alone.
func TestStartupGC(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	restore := startupGC()
	if got := debug.SetGCPercent(-1); got != startupGOGC {
		t.Fatalf("GOGC during start-up: %d, want %d", got, startupGOGC)
	}
	debug.SetGCPercent(startupGOGC)
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC after start-up: %d, want 100 back", got)
	}

	t.Setenv("GOGC", "400")
	debug.SetGCPercent(400)
	restore = startupGC()
	if got := debug.SetGCPercent(400); got != 400 {
		t.Fatalf("GOGC=400 set by the user became %d during start-up", got)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 400 {
		t.Fatalf("GOGC=400 set by the user became %d after start-up", got)
	}
}
