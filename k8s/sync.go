package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/policy"
)

// The states a reporter gives a policy object.
const (
	StateEnforcing = "Enforcing"
	StateAuditing  = "Auditing"
	StateValid     = "Valid"
	StateError     = "Error"
)

// PolicySync keeps the policy files in Dir equal to the RuntimePolicy and
// ImageAssurancePolicy objects of the API server, and reports in each
// object's status what Reporter made of it.
type PolicySync struct {
	// Dir receives one file per object (runtimepolicies-NAME.yaml, ...);
	// other files there are left alone. The caller's policy store reads it.
	Dir string
	// Reporter names this node or pod in the objects' status.
	Reporter string
	Client   dynamic.Interface
	Log      *slog.Logger
	// Load loads the files just written, as the caller's policy store
	// does, and returns the mode of each runtime policy in force by name,
	// or why the files did not load (the previous policies then stay in
	// force). Nil: the files are only checked one object at a time.
	Load func() (map[string]policy.Mode, error)
}

// Prime writes the policy files of the objects there are now, without
// loading or reporting them: a caller that opens its policy store next
// starts with them in force. It fails when the CustomResourceDefinitions
// are not installed.
func (s *PolicySync) Prime(ctx context.Context) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	var objs []*object
	for _, r := range Resources {
		list, err := s.Client.Resource(r.GVR()).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("the API server has no %s.%s: install mamori's CustomResourceDefinitions (docs/kubernetes.md)", r.Plural, Group)
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", r.Plural, err)
		}
		for i := range list.Items {
			objs = append(objs, s.document(r, &list.Items[i]))
		}
	}
	return s.write(objs)
}

// Run watches the policy objects until ctx ends, writing their files,
// loading them (Load) and reporting each object's state in its status.
// It returns at once with an error when the CustomResourceDefinitions are
// not installed.
func (s *PolicySync) Run(ctx context.Context) error {
	if err := s.Prime(ctx); err != nil {
		return err
	}
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	// Informers over the dynamic client, made here rather than with
	// client-go's dynamicinformer, which links every built-in API group
	// into the binary (some 20 MB) for nothing these objects need.
	stores := map[string]cache.Store{}
	var synced []cache.InformerSynced
	for _, r := range Resources {
		res := s.Client.Resource(r.GVR())
		lw := &cache.ListWatch{
			ListWithContextFunc:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return res.List(ctx, o) },
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return res.Watch(ctx, o) },
		}
		inf := cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 10*time.Minute, cache.Indexers{})
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
		stores[r.Kind] = inf.GetStore()
		synced = append(synced, inf.HasSynced)
		go inf.RunWithContext(ctx)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("watch policy objects: %w", context.Cause(ctx))
	}
	s.Log.Info("watching policy objects", "reporter", s.Reporter, "dir", s.Dir)
	poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
		// Changes come in bursts (kubectl apply -f DIR): take them as one.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		select {
		case <-kick:
		default:
		}
		if err := s.sync(ctx, stores); err != nil {
			s.Log.Warn("policy objects not synced", "err", err)
		}
	}
}

// object is one policy object and what became of it.
type object struct {
	r     Resource
	u     *unstructured.Unstructured
	file  string
	data  []byte
	state string
	msg   string
}

func (s *PolicySync) sync(ctx context.Context, stores map[string]cache.Store) error {
	var objs []*object
	for _, r := range Resources {
		for _, o := range stores[r.Kind].List() {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			objs = append(objs, s.document(r, u))
		}
	}
	if err := s.write(objs); err != nil {
		return err
	}
	var inForce map[string]policy.Mode
	var loadErr error
	if s.Load != nil {
		inForce, loadErr = s.Load()
	}
	for _, o := range objs {
		switch {
		case o.state == StateError:
		case loadErr != nil:
			o.state, o.msg = StateError, "not in force: the policies did not load together: "+messages(loadErr)
		case o.r.Kind == policy.AssuranceKind:
			o.state = StateValid
		case s.Load == nil:
			o.state = StateValid
		default:
			switch mode, ok := inForce[o.u.GetName()]; {
			case !ok:
				o.state, o.msg = StateError, "not in force on this reporter"
			case mode == policy.Enforce:
				o.state = StateEnforcing
			default:
				o.state = StateAuditing
			}
		}
	}
	var errs []error
	for _, o := range objs {
		if err := s.report(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// document turns an object into a policy document: the object as the user
// wrote it, less what the API server added, checked on its own.
func (s *PolicySync) document(r Resource, u *unstructured.Unstructured) *object {
	o := &object{r: r, u: u, file: r.Plural + "-" + u.GetName() + ".yaml"}
	meta := map[string]any{"name": u.GetName()}
	if l := u.GetLabels(); len(l) > 0 {
		meta["labels"] = l
	}
	doc := map[string]any{"apiVersion": policy.APIVersion, "kind": r.Kind, "metadata": meta, "spec": u.Object["spec"]}
	data, err := yaml.Marshal(doc)
	if err != nil {
		o.state, o.msg = StateError, err.Error()
		return o
	}
	header := fmt.Sprintf("# %s %s, generation %d, written by mamori from the API server\n", r.Kind, u.GetName(), u.GetGeneration())
	o.data = append([]byte(header), data...)
	if r.Kind == policy.AssuranceKind {
		_, err = policy.ParseAssurance(o.file, o.data)
	} else {
		_, err = policy.Parse(o.file, o.data)
	}
	if err != nil {
		o.state, o.msg, o.data = StateError, messages(err), nil
		if old, err := os.ReadFile(filepath.Join(s.Dir, o.file)); err == nil {
			if _, prev, ok := strings.Cut(string(old), "generation "); ok {
				prev, _, _ = strings.Cut(prev, ",")
				o.msg += "; generation " + prev + " stays in force"
			}
		}
	}
	return o
}

// messages are a policy error's messages without the positions, which
// name lines of the file written here, not of anything the user wrote.
func messages(err error) string {
	var out []string
	for _, e := range policy.Errors(err) {
		out = append(out, e.Msg)
	}
	if len(out) == 0 {
		return err.Error()
	}
	return strings.Join(out, "; ")
}

// write makes Dir hold exactly the valid objects' files. Each file is
// written whole and renamed into place, so the store never reads half of
// one.
func (s *PolicySync) write(objs []*object) error {
	want := map[string]bool{}
	for _, o := range objs {
		// An edit that does not load leaves the last version that did
		// in force: its file stays (removing it would lift the policy).
		want[o.file] = true
		if o.data == nil {
			continue
		}
		path := filepath.Join(s.Dir, o.file)
		if old, err := os.ReadFile(path); err == nil && string(old) == string(o.data) {
			continue
		}
		tmp := filepath.Join(s.Dir, "."+o.file+".tmp")
		if err := os.WriteFile(tmp, o.data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		ours := slices.ContainsFunc(Resources, func(r Resource) bool { return strings.HasPrefix(n, r.Plural+"-") })
		if ours && strings.HasSuffix(n, ".yaml") && !want[n] {
			if err := os.Remove(filepath.Join(s.Dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// report writes this reporter's entry of the object's status, with
// server-side apply under a field manager of its own, so that reporters
// never overwrite each other's entries; an entry that has not changed is
// not written again.
func (s *PolicySync) report(ctx context.Context, o *object) error {
	gen := o.u.GetGeneration()
	entry := map[string]any{"name": s.Reporter, "state": o.state, "observedGeneration": gen}
	if o.msg != "" {
		entry["message"] = o.msg
	}
	now := time.Now().UTC().Format(time.RFC3339)
	if old := s.entry(o.u); old != nil {
		same := old["state"] == o.state && fmt.Sprint(old["observedGeneration"]) == fmt.Sprint(gen) && fmt.Sprint(old["message"]) == fmt.Sprint(entry["message"])
		if same {
			return nil
		}
		if old["state"] == o.state {
			if t, ok := old["lastTransitionTime"].(string); ok {
				now = t
			}
		}
	}
	entry["lastTransitionTime"] = now
	patch := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Group + "/v1",
		"kind":       o.r.Kind,
		"metadata":   map[string]any{"name": o.u.GetName()},
		"status":     map[string]any{"reporters": []any{entry}},
	}}
	_, err := s.Client.Resource(o.r.GVR()).ApplyStatus(ctx, o.u.GetName(), patch, metav1.ApplyOptions{FieldManager: "mamori-" + s.Reporter, Force: true})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("status of %s %s: %w", o.r.Kind, o.u.GetName(), err)
	}
	if o.state == StateError {
		s.Log.Warn("policy object not in force", "kind", o.r.Kind, "name", o.u.GetName(), "generation", gen, "reason", o.msg)
	} else {
		s.Log.Info("policy object synced", "kind", o.r.Kind, "name", o.u.GetName(), "generation", gen, "state", o.state)
	}
	return nil
}

// entry is this reporter's entry in the object's status, or nil.
func (s *PolicySync) entry(u *unstructured.Unstructured) map[string]any {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "reporters")
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["name"] == s.Reporter {
			return m
		}
	}
	return nil
}
