package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// startsAndStops starts and stops n containers, four at a time: every
// other one on podman's default bridge network (through its network
// plugins) and the others without a network; every fourth detached and
// stopped by podman stop. It returns the containers' ids.
func startsAndStops(t *testing.T, n int) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("mamori-starts-%d-%d", os.Getpid(), i)
			args := []string{"run", "--name", name}
			if i%2 == 1 {
				args = append(args, "--network", "none")
			}
			detached := i%4 == 0
			if detached {
				args = append(args, "-d", podmantest.Image, "sleep", "30")
			} else {
				args = append(args, podmantest.Image, "sh", "-c", "echo started")
			}
			out, err := exec.Command("podman", args...).CombinedOutput()
			if err != nil {
				t.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if detached {
				if out, err := exec.Command("podman", "stop", "-t", "0", name).CombinedOutput(); err != nil {
					t.Errorf("podman stop %s: %v\n%s", name, err, out)
				}
			}
			id, _ := exec.Command("podman", "inspect", "-f", "{{.Id}}", name).Output()
			exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
			mu.Lock()
			ids = append(ids, strings.TrimSpace(string(id)))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ids
}

// startAlerts keeps the alerts raised by starting and stopping the
// containers of ids: those of the containers themselves, and those of host
// processes that act for them: a process, or an ancestor, whose command
// line names one of the containers (podman run --name, conmon -c ID, runc
// ... ID, podman's cleanup). Other agents and tests may be at work on the
// machine, with their own containers.
func startAlerts(alerts []event.Alert, ids []string) []event.Alert {
	ours := func(args []string) bool {
		line := strings.Join(args, " ")
		if strings.Contains(line, fmt.Sprintf("mamori-starts-%d-", os.Getpid())) {
			return true
		}
		return slices.ContainsFunc(ids, func(id string) bool { return id != "" && strings.Contains(line, id) })
	}
	var out []event.Alert
	for _, al := range alerts {
		if c := al.Container; c != nil && c.ID != "" && c.ID != "host" {
			if slices.Contains(ids, c.ID) {
				out = append(out, al)
			}
			continue
		}
		p := al.Process
		if p == nil {
			continue
		}
		procs := append([]event.Process{*p}, p.Ancestors...)
		if slices.ContainsFunc(procs, func(q event.Process) bool { return ours(q.Args) }) {
			out = append(out, al)
		}
	}
	return out
}

// TestPodmanStartsRaiseNoAlert starts and stops containers with podman
// under the agent running the three upstream syscall files as they are:
// no alert. MAMORI_PODMAN_STARTS sets how many (100 by default). The same
// starts without mamori's runtime overrides raise Write below etc and
// Change thread namespace (podman's network lock, setns by podman and the
// network plugins), which is what the overrides are for.
func TestPodmanStartsRaiseNoAlert(t *testing.T) {
	var files []string
	for _, n := range upstreamSyscallFiles {
		files = append(files, "--rules", upstreamRules(t, n))
	}
	podmantest.Require(t)
	n := 100
	if v := os.Getenv("MAMORI_PODMAN_STARTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}

	t.Run("without the overrides", func(t *testing.T) {
		a := startAlertingAgent(t, append(files, "--match-all", "--runtime-overrides=false")...)
		// Four starts on podman's bridge network: one of two, under a
		// loaded machine, once raised no Write below etc.
		ids := startsAndStops(t, 8)
		alerts := startAlerts(a.stop(t), ids)
		for _, rule := range []string{"Write below etc", "Change thread namespace"} {
			if !slices.ContainsFunc(alerts, func(al event.Alert) bool { return al.Rule == rule }) {
				t.Errorf("no %q alert: the starts no longer need the override for it", rule)
			}
		}
	})

	a := startAlertingAgent(t, append(files, "--match-all")...)
	ids := startsAndStops(t, n)
	alerts := startAlerts(a.stop(t), ids)
	for _, al := range alerts {
		t.Errorf("%d starts raised %s: %s (process %q)", n, al.Rule, al.Output, al.Process.Args)
	}
	t.Logf("%d containers started and stopped, %d alerts", len(ids), len(alerts))
}
