package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

// The VMs are shared: a storm measured while another session's agent is
// loaded, or its tests run, measures them too. Before each run the
// benchmark waits (a while) for a quiet machine and records what it found.

const clkTck = 100 // USER_HZ

// systemBusy is the CPU time, in seconds, the machine has spent busy since boot.
func systemBusy() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var busy float64
	for i, v := range strings.Fields(line)[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is counted in user
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / clkTck
}

// sensorPrograms counts the loaded BPF programs named like the sensor's
// syscall hook: one per mamori agent (or like tool) on the machine.
func sensorPrograms() int {
	n := 0
	var id ebpf.ProgramID
	for {
		var err error
		if id, err = ebpf.ProgramGetNextID(id); errors.Is(err, os.ErrNotExist) || err != nil {
			return n
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && info.Name == "sys_enter" {
			n++
		}
		p.Close()
	}
}

// waitQuiet waits up to max until the machine used at most cpus CPUs over
// a second and no sensor is loaded; it returns what it last saw.
func waitQuiet(ctx context.Context, cpus float64, max time.Duration) (busy float64, sensors int, quiet bool) {
	deadline := time.Now().Add(max)
	for {
		b0 := systemBusy()
		select {
		case <-ctx.Done():
			return busy, sensors, false
		case <-time.After(time.Second):
		}
		busy, sensors = systemBusy()-b0, sensorPrograms()
		if busy <= cpus && sensors == 0 {
			return busy, sensors, true
		}
		if time.Now().After(deadline) {
			return busy, sensors, false
		}
	}
}
