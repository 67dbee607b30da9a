package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/guard"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/runtimehook"
	"github.com/mamori-dev/mamori/workload"
)

// judgeCreate answers the OCI hook about a container being created: its
// configuration is checked against the creation controls of the policies
// whose scope covers it (limitContainerPrivileges, preventDefaultOverride,
// volumesBlocklist, readOnlyRootFilesystem, the image controls, ...), with
// the same checks as Kubernetes admission. Each finding raises an alert;
// an enforced one refuses the container.
func (a *Agent) judgeCreate(_ context.Context, st runtimehook.State) (runtimehook.Answer, error) {
	cfg, err := runtimehook.ReadConfig(st.Bundle)
	if err != nil {
		return runtimehook.Answer{}, fmt.Errorf("container %s: %w", st.ID, err)
	}
	runtime := container.Containerd
	if st.Annotations["io.container.manager"] == "libpod" {
		runtime = container.Podman
	}
	ctr, err := a.containers.Describe(runtime, st.ID)
	if err != nil {
		a.log.Warn("container being created: its runtime metadata is incomplete; policies are matched on what is known",
			"id", st.ID, "err", err)
	}
	who := runtimehook.Who{Name: ctr.Name, Image: ctr.Image, Labels: ctr.Labels, Privileged: ctr.Privileged}
	if ctr.ImageID != "" {
		who.ImageID = "sha256:" + strings.TrimPrefix(ctr.ImageID, "sha256:")
	}
	if ctr.Pod != nil {
		who.Pod, who.Namespace = ctr.Pod.Name, ctr.Pod.Namespace
	}
	spec := runtimehook.Spec(st, cfg, who, a.hostNS)
	if ctr.Name == "" {
		ctr.Name = spec.Name
	}
	if ctr.Image == "" && len(spec.Containers) > 0 {
		ctr.Image = spec.Containers[0].Image
	}
	// Described as the runtime guard describes it (the environment's
	// names and the image config read from the runtime's own files, the
	// node's facts): a policy covers the container now exactly when it
	// will cover it at run time.
	t := a.guard.Target(ctr)
	checker := workload.Checker{Images: a.cfg.Images}
	v := checker.Evaluate(spec, fixedTarget{a.cfg.Policies.Current(), t})

	var ans runtimehook.Answer
	ans.Allow = !v.Denied()
	now := time.Now()
	for _, r := range v.Results {
		msg := r.Finding.Reason
		action, priority := event.Audited, "Warning"
		if r.Mode == policy.Enforce {
			action, priority = event.Blocked, "Critical"
			ans.Reasons = append(ans.Reasons, r.Finding.String())
		} else {
			ans.Warnings = append(ans.Warnings, r.Finding.String())
		}
		verb := map[string]string{event.Blocked: "refused", event.Audited: "reported"}[action]
		out := fmt.Sprintf("Container %s (image %s) %s at creation: %s [%s]", ctr.Name, ctr.Image, verb, msg, r.Finding.Field)
		a.writeAlert(&event.Alert{
			Kind:     "alert",
			Time:     now,
			Rule:     guard.RuleName(r.Finding.Control),
			Priority: priority,
			Output:   now.Format("15:04:05.000000000") + ": " + priority + " " + out,
			OutputFields: map[string]any{
				"container.id": ctr.ID, "container.name": ctr.Name, "container.image": ctr.Image,
				"check": r.Finding.Check, "field": r.Finding.Field,
			},
			Source:    "runtime",
			Tags:      []string{"container", "creation"},
			Hostname:  a.cfg.Node,
			Action:    action,
			Policy:    strings.Join(r.Policies, ","),
			Control:   r.Finding.Control,
			Container: ctr,
		})
	}
	a.hookJudged.Add(1)
	if ans.Allow && a.protect != nil && st.PID > 0 {
		// Placed as soon as its init is inside its own root, before the
		// runtime starts the entrypoint: the hook runs before pivot_root,
		// and the runtime waits for `start` after it.
		go a.protect.created(ctr, uint32(st.PID))
	}
	return ans, nil
}

// fixedTarget evaluates every policy scope against one target: the
// container the hook asks about, described as the runtime guard describes
// it, so that a policy covers a container at creation exactly when it
// covers it at run time.
type fixedTarget struct {
	set *policy.Set
	t   *policy.Target
}

func (f fixedTarget) Effective(*policy.Target) *policy.Effective { return f.set.Effective(f.t) }
