//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/image"
	"github.com/mamori-dev/mamori/imagestore"
)

const imageRegisterHelp = `register scans each image as mamori image scan does (REF is written the
same way: podman:NAME, containerd:NAME, oci:DIR, archive:FILE,
registry:REF or a bare name), judges it against the image assurance
policies (--policy; the built-in default otherwise), and records it in
mamori's image store (--image-db): its image id and manifest digest, the
name:tag it was scanned by, the verdict with every reason, a summary of
its findings and its executables baseline. A non-compliant image is
registered too, with its verdict: the runtime controls
blockUnregisteredImages and blockNonCompliantImages read the store, on the
node (mamori agent --image-db, through the OCI hook) and at admission
(mamori admission serve --image-db). Registering an image again replaces
its verdict, and the next container created from it is judged by the new
one: re-register when a new advisory or a stricter policy may change it.

A workload names an image as "nginx:1.27", "docker.io/library/nginx:1.27",
"registry/app@sha256:..." or by image id; the store normalises names as
Docker and podman do (nginx means docker.io/library/nginx:latest) and finds
an image by any of its digests whatever the name. A name:tag points at one
image: registering another image under it moves it there.

list prints the registered images with their verdicts. unregister removes
the image a reference points at, with all its names and digests.

Exit codes of register:
  0  every image registered and compliant
  1  an image registered but not compliant
  2  usage error
  3  an image could not be found or read, or the store not written
`

// imageStoreFlag adds --image-db (the name the agent, check and admission
// serve give the same store; --db before) to a subcommand of the store.
func imageStoreFlag(cmd *cobra.Command) *string {
	db := cmd.Flags().String("image-db", imagestore.DefaultPath, "mamori's image store, a SQLite database (created with its directory when missing)")
	renamed(cmd.Flags(), "db", "image-db")
	return db
}

func newImageRegisterCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "register [flags] REF...",
		Short:   "scan images and record their digests, baselines and verdicts in the image store",
		Long:    imageRegisterHelp,
		Example: "  sudo mamori image register podman:localhost/shop:1.4\n  mamori image register --image-db ./images.db --policy policies/ oci:./layout",
		Args:    needArgs("name the images to register, e.g. mamori image register podman:localhost/app:1.2"),
	}
	db := imageStoreFlag(cmd)
	out.add(cmd, "table", "json")
	out.addFormatAlias(cmd)
	sf := addImageScanFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, refs []string) error {
		format := out.format("table")
		return runImageRegister(cmd, *db, format, sf, refs)
	}
	return cmd
}

func runImageRegister(cmd *cobra.Command, db, format string, sf *imageScanFlags, refs []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	aps, err := sf.assurancePolicies(cmd.InOrStdin())
	if err != nil {
		return err
	}
	store, err := imagestore.Open(db, imagestore.Options{})
	if err != nil {
		return exitError{exitScanError, fmt.Errorf("%w (give another path with --image-db)", err)}
	}
	defer store.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts, err := sf.options(ctx, stderr)
	if err != nil {
		return err
	}
	if sf.an.osvDB == "" {
		fmt.Fprintln(stderr, "no vulnerability matching: give an OSV database with --osv-db")
	}
	var recs []*imagestore.Record
	var failed, nonCompliant []string
	for _, ref := range refs {
		rep, err := image.Scan(ctx, ref, opts)
		if err != nil {
			fmt.Fprintf(stderr, "not registered: %v\n", err)
			failed = append(failed, ref)
			continue
		}
		image.Judge(rep, aps)
		rec, err := store.Register(ctx, rep.Scanned())
		if err != nil {
			fmt.Fprintf(stderr, "not registered: %v\n", err)
			failed = append(failed, ref)
			continue
		}
		recs = append(recs, rec)
		if !rec.Compliant {
			nonCompliant = append(nonCompliant, ref)
		}
		if format == "table" {
			printRegistered(stdout, rec)
		}
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if recs == nil {
			recs = []*imagestore.Record{}
		}
		if err := enc.Encode(recs); err != nil {
			return exitError{exitScanError, err}
		}
	}
	switch {
	case len(failed) > 0:
		return exitError{exitScanError, fmt.Errorf("%s not registered (see above)", imageList(failed))}
	case len(nonCompliant) > 0:
		return exitError{exitNonCompliant, fmt.Errorf("%s registered but not compliant: containers from it are refused where blockNonCompliantImages applies", imageList(nonCompliant))}
	}
	return nil
}

func imageList(refs []string) string {
	if len(refs) == 1 {
		return refs[0]
	}
	return fmt.Sprintf("%d images (%s)", len(refs), strings.Join(refs, ", "))
}

// printRegistered says what was recorded and the verdict, with every
// reason.
func printRegistered(w io.Writer, r *imagestore.Record) {
	what := r.Ref
	if len(r.Names) > 0 && r.Names[0] != r.Ref {
		what += " (" + strings.Join(r.Names, ", ") + ")"
	}
	fmt.Fprintf(w, "registered %s\n  id %s", what, r.ID)
	if r.Digest != "" {
		fmt.Fprintf(w, ", digest %s", r.Digest)
	}
	fmt.Fprintf(w, "\n  %d executables in the baseline; findings: %s\n", r.Executables, findingsSummary(r.Findings))
	if r.Compliant {
		fmt.Fprintf(w, "  VERDICT compliant with %s\n", strings.Join(r.Policies, ", "))
		return
	}
	fmt.Fprintf(w, "  VERDICT NOT compliant with %s: %s\n", strings.Join(r.Policies, ", "), imagePlural(len(r.Reasons), "reason"))
	for _, reason := range r.Reasons {
		fmt.Fprintf(w, "    - %s: %s (%s, %s)\n", reason.Rule, reason.Message, reason.Policy, reason.Where)
	}
}

// findingsSummary reads "1 high, 2 medium" from most to least severe.
func findingsSummary(s imagestore.Summary) string {
	if s.Total == 0 {
		return "none"
	}
	var parts []string
	for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
		if n := s.BySeverity[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	return strings.Join(parts, ", ")
}

func newImageListCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "list the registered images with their verdicts",
		Long:  imageRegisterHelp,
		Args:  noArgs,
	}
	db := imageStoreFlag(cmd)
	out.add(cmd, "table", "json")
	out.addFormatAlias(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		format := out.format("table")
		return runImageList(cmd.OutOrStdout(), cmd.ErrOrStderr(), *db, format)
	}
	return cmd
}

func runImageList(stdout, stderr io.Writer, dbPath, format string) error {
	db := &dbPath
	store, err := imagestore.Open(*db, imagestore.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	recs, err := store.List(context.Background())
	if err != nil {
		return err
	}
	if format == "json" {
		if recs == nil {
			recs = []imagestore.Record{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(recs)
	}
	if len(recs) == 0 {
		if !store.Exists() {
			fmt.Fprintf(stderr, "no image store at %s yet: register images with mamori image register\n", *db)
		}
		fmt.Fprintln(stdout, "No images registered.")
		return nil
	}
	sort.SliceStable(recs, func(i, j int) bool { return imageLabel(&recs[i]) < imageLabel(&recs[j]) })
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tID\tVERDICT\tFINDINGS\tEXECUTABLES\tSCANNED")
	for i := range recs {
		r := &recs[i]
		verdict := "compliant"
		if !r.Compliant {
			verdict = "NOT compliant (" + imagePlural(len(r.Reasons), "reason") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", imageLabel(r), shortID(r.ID), verdict, findingsSummary(r.Findings),
			r.Executables, r.Scanned.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// imageLabel names a record in the list: its names, else its digest.
func imageLabel(r *imagestore.Record) string {
	switch {
	case len(r.Names) > 0:
		return strings.Join(r.Names, ", ")
	case r.Digest != "":
		return "@" + r.Digest
	}
	return r.Ref
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func newImageUnregisterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unregister [flags] REF...",
		Short: "remove images from the image store, with all their names and digests",
		Long:  imageRegisterHelp,
		Args:  needArgs("name the images to unregister: a name:tag, name@digest or image id, as mamori image list shows"),
	}
	db := imageStoreFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, refs []string) error { return runImageUnregister(cmd.OutOrStdout(), *db, refs) }
	return cmd
}

func runImageUnregister(stdout io.Writer, dbPath string, refs []string) error {
	db := &dbPath
	if _, err := os.Stat(*db); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no image store at %s: nothing is registered", *db)
	}
	store, err := imagestore.Open(*db, imagestore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	var missing []string
	for _, ref := range refs {
		rec, ok, err := store.Remove(context.Background(), storeRef(ref))
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, ref)
			continue
		}
		fmt.Fprintf(stdout, "unregistered %s (id %s)\n", imageLabel(rec), rec.ID)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not registered in %s (mamori image list shows what is)", imageList(missing), *db)
	}
	return nil
}

// storeRef drops a transport that names where an image is kept
// (podman:, containerd:, registry:), which the store does not record.
func storeRef(ref string) string {
	r, err := image.ParseRef(ref)
	if err != nil {
		return ref
	}
	switch r.Transport {
	case image.Podman, image.Containerd, image.Registry:
		return r.Name
	}
	return ref
}
