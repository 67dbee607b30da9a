// Package image owns image assurance: opening an image wherever it is kept
// (a registry, an OCI layout directory, an OCI or docker archive, podman's
// or containerd's local storage), walking its layers with whiteouts applied
// while remembering which layer added, modified or deleted each file,
// recording every executable as the image's Baseline (what Drift Prevention
// compares a running container against), checking the image configuration
// for misconfigurations, running the analyzers the caller plugs in (SBOM,
// vulnerabilities, malware, secrets), and judging the result against
// image assurance policies into a Verdict.
//
// The entry point is Scan; Judge turns a Report into a Verdict;
// WriteSARIF and the Report's and Baseline's JSON are the machine-readable
// outputs.
//
// It must not run containers, talk to a container runtime's API (local
// storage is read from disk, never changed), store results (the
// registered-images store does that) or print: it returns reports and
// errors, and only draws a progress bar on the writer it is given.
// Analyzers plug in through the small interfaces in analyzer.go and work
// over io/fs.FS and io.Reader, so that their packages need not import this
// one.
package image
