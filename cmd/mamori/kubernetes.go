package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/k8s"
	"github.com/mamori-dev/mamori/policy"
)

// kubePolicyFlags take the policies from the cluster's RuntimePolicy
// objects, for the agent and the admission webhook.
type kubePolicyFlags struct {
	on, owners                bool
	dir, kubeconfig, reporter string
	sync                      *k8s.PolicySync
}

func addKubePolicyFlags(fs *pflag.FlagSet, reporterHelp string) *kubePolicyFlags {
	k := &kubePolicyFlags{}
	fs.BoolVar(&k.on, "kubernetes-policies", false, "also apply the cluster's RuntimePolicy objects, watched through the API server (needs mamori's\n"+
		"CustomResourceDefinitions and read access to them; docs/kubernetes.md); each object's status says what this "+reporterHelp+" made of it")
	fs.StringVar(&k.dir, "kubernetes-policy-dir", "/run/mamori/kubernetes-policies", "where --kubernetes-policies writes the objects as policy files, which are loaded with --policy's")
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "the kubeconfig for --kubernetes-policies; default: the pod's service account (in-cluster)")
	if reporterHelp == "node's agent" {
		fs.BoolVar(&k.owners, "kubernetes-owners", false, "name the workload that owns each pod (Deployment, DaemonSet, CronJob...) in events, from the API server:\n"+
			"the agent watches its node's pods (--node names the node; needs read access to pods, replicasets and jobs)")
	}
	fs.StringVar(&k.reporter, "kubernetes-reporter", "", "the name this "+reporterHelp+" reports under in the objects' status (default: $MAMORI_REPORTER, else the host name)")
	return k
}

// addPolicyPath, with --kubernetes-policies, writes the objects in force
// now into the policy directory and adds it to paths, so that the first
// load already holds them; the directory may be empty (no object yet).
func (k *kubePolicyFlags) addPolicyPath(ctx context.Context, paths *listFlag, log *slog.Logger) error {
	if !k.on {
		return nil
	}
	cfg, err := k.config()
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	reporter := k.reporter
	if reporter == "" {
		reporter = os.Getenv("MAMORI_REPORTER")
	}
	if reporter == "" {
		if reporter, err = os.Hostname(); err != nil {
			return err
		}
	}
	k.sync = &k8s.PolicySync{Dir: k.dir, Reporter: reporter, Client: client, Log: log.With("part", "kubernetes-policies")}
	if err := k.sync.Prime(ctx); err != nil {
		return fmt.Errorf("--kubernetes-policies: %w", err)
	}
	*paths = append(*paths, k.dir)
	return nil
}

// podOwners, with --kubernetes-owners, watches the node's pods and
// returns the lookup the container resolver names owners with.
func (k *kubePolicyFlags) podOwners(ctx context.Context, node string, log *slog.Logger) (func(string) (*event.Owner, error), error) {
	if !k.owners {
		return nil, nil
	}
	cfg, err := k.config()
	if err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if node == "" {
		if node, err = os.Hostname(); err != nil {
			return nil, err
		}
	}
	o := &k8s.PodOwners{Client: client, Node: node, Log: log.With("part", "kubernetes-owners")}
	if err := o.Start(ctx, 30*time.Second); err != nil {
		return nil, fmt.Errorf("--kubernetes-owners: %w", err)
	}
	return o.Owner, nil
}

func (k *kubePolicyFlags) config() (*rest.Config, error) {
	if k.kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("--kubernetes-policies outside a pod needs --kubeconfig: %w", err)
	}
	return cfg, nil
}

// start keeps the policy files in step with the objects until ctx ends,
// loading each change into store and reporting it in the objects' status.
func (k *kubePolicyFlags) start(ctx context.Context, store *policy.Store, log *slog.Logger) {
	if k.sync == nil {
		return
	}
	k.sync.Load = func() (map[string]policy.Mode, error) {
		if err := store.Reload(); err != nil {
			return nil, err
		}
		modes := map[string]policy.Mode{}
		for _, p := range store.Current().Policies() {
			modes[p.Name()] = p.Mode()
		}
		return modes, nil
	}
	go func() {
		if err := k.sync.Run(ctx); err != nil {
			log.Error("kubernetes policies: no longer watched; the last ones stay in force", "err", err)
		}
	}()
}
