//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/admission"
	"github.com/mamori-dev/mamori/imagestore"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

const admissionHelp = `serve runs a Kubernetes validating admission webhook: the API server sends
an AdmissionReview (admission.k8s.io/v1) over HTTPS to POST /validate for
every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job and CronJob created or updated, and mamori
answers with the verdict of the runtime policies (--policy, the same
RuntimePolicy documents the agent reads; scopes match the namespace, the
pod's labels and each container's image):

  enforce  the request is refused, with every reason in the message
  audit    the request is allowed, with every reason as a warning

Without --policy the built-in admission default applies: every check in
enforce mode (see docs/admission.md). Policies are reloaded when their
files change; a broken file keeps the ones in force. The certificate and
key are read again when they change. GET /healthz answers 200 with the
policies in force. docs/admission.md and deploy/ show how to install it.
`

func newAdmissionCmd() *cobra.Command {
	return group("admission", "serve the Kubernetes admission webhook that refuses what breaks policy",
		"admission serves the Kubernetes validating admission webhook; docs/admission.md shows how to install it.",
		newAdmissionServeCmd())
}

// admissionFlags are admission serve's flags.
type admissionFlags struct {
	listen, cert, key, imageDB, logLevel string
	policies                             listFlag
	verbose                              bool
	kube                                 *kubePolicyFlags
}

func newAdmissionServeCmd() *cobra.Command {
	f := &admissionFlags{}
	cmd := &cobra.Command{
		Use:     "serve --tls-cert FILE --tls-key FILE [flags]",
		Short:   "answer AdmissionReviews with the verdict of the runtime policies",
		Long:    admissionHelp,
		Example: "  mamori admission serve --tls-cert tls.crt --tls-key tls.key --policy /etc/mamori/policies",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runAdmissionServe(cmd, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", ":8443", "address to serve HTTPS on")
	fs.StringVar(&f.cert, "tls-cert", "", "the serving certificate (PEM), valid for the webhook Service's DNS name")
	fs.StringVar(&f.key, "tls-key", "", "the certificate's private key (PEM)")
	fs.Var(&f.policies, "policy", "a RuntimePolicy file or directory (repeatable); default: the built-in admission policy")
	fs.StringVar(&f.imageDB, "image-db", imagestore.DefaultPath, "the registered-images store (mamori image register) that blockUnregisteredImages and\n"+
		"blockNonCompliantImages read; a missing one means no image is registered yet; empty to use none")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug (every review), info (refused and audited ones), warn or error")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log every review (--log-level debug)")
	fs.MarkDeprecated("verbose", "use --log-level debug")
	f.kube = addKubePolicyFlags(fs, "webhook replica")
	return cmd
}

func runAdmissionServe(cmd *cobra.Command, f *admissionFlags) error {
	stderr := cmd.ErrOrStderr()
	if f.cert == "" || f.key == "" {
		return usageError{"--tls-cert and --tls-key are required: the API server only calls webhooks over HTTPS (docs/admission.md shows how to make a certificate)"}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageError{"--log-level: " + err.Error()}
	}
	if f.verbose {
		lvl = slog.LevelDebug
	}
	paths := f.policies
	if slices.Contains(paths, "-") {
		return usageError{"admission serve reloads its policies from their files: - (standard input) cannot be read again; name files"}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	userPaths := slices.Clone(paths)
	if err := f.kube.addPolicyPath(ctx, &paths, log); err != nil {
		return err
	}
	src, store, err := admission.OpenPolicies(log, paths...)
	if err == nil && store != nil {
		err = store.Current().RequireDocuments(userPaths...)
	}
	if err != nil {
		return fmt.Errorf("policies do not load:\n%w", err)
	}
	images, err := openImageStore(f.imageDB, log)
	if err != nil {
		return err
	}
	var imageStatus workload.Images
	if images != nil {
		defer images.Close()
		imageStatus = images
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	if store != nil {
		go store.Watch(ctx, 0)
		f.kube.start(ctx, store, log)
	}
	n := "the built-in admission default"
	if store != nil {
		n = fmt.Sprintf("%s from %v", policyPlural(len(store.Current().Policies()), "runtime"), []string(paths))
	}
	err = admission.Serve(ctx, ln, admission.ServerConfig{
		CertFile: f.cert, KeyFile: f.key, Log: log,
		Serving: func() {
			log.Info("admission webhook serving", "addr", ln.Addr().String(), "path", admission.ValidatePath, "policies", n)
		},
		Reviewer: admission.NewReviewer(admission.Config{Policies: src, Images: imageStatus, Log: log}),
		Health:   admissionHealth(store),
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("admission webhook stopped")
	return nil
}

// admissionHealth reports the policies in force and the last reload
// error; a failed reload is not unhealthy: the previous policies serve.
func admissionHealth(store *policy.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h := map[string]any{"status": "ok", "policies": "built-in admission default"}
		if store != nil {
			set := store.Current()
			var names []string
			for _, p := range set.Policies() {
				names = append(names, p.Name())
			}
			h["policies"], h["digest"] = names, set.Digest()
			if err := store.Err(); err != nil {
				h["reloadError"] = err.Error()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(h)
	}
}
