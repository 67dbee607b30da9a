// Package record holds what the image store keeps of a scanned and judged
// image: its findings, the verdict and the baseline of its executables.
// Package image scans and judges, and names these types as its own; the
// store, which the node agent opens, needs only them, so the agent links
// none of the scanners.
package record
