package container

import (
	"errors"
	"fmt"
	"strings"
)

// criSandboxID is the annotation with which containerd's CRI plugin names
// a Kubernetes container's pod sandbox.
const criSandboxID = "io.kubernetes.cri.sandbox-id"

// imageConfig reads the image config from the content store: the image id
// containerd reports (c.ImageID) is the config's digest.
func (s *containerdStore) imageConfig(configDigest string) (ImageConfig, error) {
	var cfg imageConfigJSON
	if err := s.readBlob(configDigest, &cfg); err != nil {
		return ImageConfig{}, err
	}
	return cfg.facts(), nil
}

// sandboxLabels returns the labels of a Kubernetes pod, which containerd's
// CRI plugin keeps on the pod's sandbox container (the kubelet gives the
// sandbox the pod's labels), not on the pod's containers. Containerd adds
// the sandbox image's labels to them, and its own bookkeeping
// (io.kubernetes.*, io.cri-containerd.*, io.containerd.*): those are left
// out, and so is a pod label equal to one of the sandbox image's.
func (s *containerdStore) sandboxLabels(ns, sandboxID string) (map[string]string, error) {
	s.mu.Lock()
	var (
		md  containerdMeta
		err = errors.New("no copy of containerd's metadata yet")
	)
	if s.snap != nil {
		md, err = s.readMeta(ns, sandboxID)
	}
	if err != nil {
		if err = s.refresh(); err == nil {
			md, err = s.readMeta(ns, sandboxID)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var image ImageConfig
	if md.imageID != "" {
		if image, err = s.imageConfig(md.imageID); err != nil {
			return nil, fmt.Errorf("image of pod sandbox %s: %w", sandboxID, err)
		}
	}
	pod := map[string]string{}
	for k, v := range md.labels {
		if strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "io.cri-containerd.") ||
			strings.HasPrefix(k, "io.containerd.") {
			continue
		}
		if iv, ok := image.Labels[k]; ok && iv == v {
			continue
		}
		pod[k] = v
	}
	return pod, nil
}
