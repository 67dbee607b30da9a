package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/mamori-dev/mamori/event"
)

// PodOwners knows the workload that owns each pod of one node: it watches
// the node's pods (a field selector on spec.nodeName, so a node holds only
// its own), and follows a ReplicaSet up to its Deployment and a Job up to
// its CronJob, as a user names them. The container resolver asks it once
// per container; nothing here runs per event.
type PodOwners struct {
	Client dynamic.Interface
	Node   string
	Log    *slog.Logger

	store cache.Store
	mu    sync.Mutex
	// parents caches the owner of a ReplicaSet or Job (namespace/kind/name);
	// they do not change owners.
	parents map[string]*event.Owner
}

var (
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	replicaSetsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	jobsGVR        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// Start watches the node's pods until ctx ends, and returns once the first
// list is in, or with an error after wait.
func (o *PodOwners) Start(ctx context.Context, wait time.Duration) error {
	res := o.Client.Resource(podsGVR).Namespace(metav1.NamespaceAll)
	selector := "spec.nodeName=" + o.Node
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return res.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return res.Watch(ctx, opts)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 10*time.Minute,
		cache.Indexers{"uid": func(obj any) ([]string, error) {
			return []string{string(obj.(*unstructured.Unstructured).GetUID())}, nil
		}})
	o.store = inf.GetIndexer()
	o.parents = map[string]*event.Owner{}
	go inf.RunWithContext(ctx)
	synced, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if !cache.WaitForCacheSync(synced.Done(), inf.HasSynced) {
		return fmt.Errorf("watch the pods of node %s: not listed within %s: %w", o.Node, wait, context.Cause(synced))
	}
	return nil
}

// Owner returns the workload that owns the pod with uid, nil for a pod no
// workload owns, and an error for a pod not seen yet.
func (o *PodOwners) Owner(uid string) (*event.Owner, error) {
	objs, err := o.store.(cache.Indexer).ByIndex("uid", uid)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("pod %s not seen on node %s yet", uid, o.Node)
	}
	pod := objs[0].(*unstructured.Unstructured)
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return nil, nil
	}
	owner := &event.Owner{Kind: ref.Kind, Name: ref.Name}
	var gvr schema.GroupVersionResource
	switch ref.Kind {
	case "ReplicaSet":
		gvr = replicaSetsGVR
	case "Job":
		gvr = jobsGVR
	default:
		return owner, nil
	}
	return o.parent(pod.GetNamespace(), gvr, ref.Kind, ref.Name, ref.UID, owner), nil
}

// parent is the controller of a ReplicaSet or Job, or the object itself
// when it has none (or cannot be read: the nearer owner is still true).
func (o *PodOwners) parent(ns string, gvr schema.GroupVersionResource, kind, name string, uid types.UID, self *event.Owner) *event.Owner {
	key := ns + "/" + kind + "/" + name + "/" + string(uid)
	o.mu.Lock()
	p, ok := o.parents[key]
	o.mu.Unlock()
	if ok {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	obj, err := o.Client.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		o.Log.Warn("the owner of a pod's owner cannot be read; naming the nearer one", "kind", kind, "namespace", ns, "name", name, "err", err)
		return self
	}
	p = self
	if ref := metav1.GetControllerOf(obj); ref != nil {
		p = &event.Owner{Kind: ref.Kind, Name: ref.Name}
	}
	o.mu.Lock()
	o.parents[key] = p
	o.mu.Unlock()
	return p
}
