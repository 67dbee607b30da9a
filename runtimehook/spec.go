package runtimehook

import (
	"os"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mamori-dev/mamori/workload"
)

// Annotations that runtimes put on a container's configuration and state.
const (
	annPodmanPrivileged = "io.podman.annotations.privileged"
	annCRIContainerName = "io.kubernetes.cri.container-name"
	annCRIImageName     = "io.kubernetes.cri.image-name"
	annCRISandboxName   = "io.kubernetes.cri.sandbox-name"
	annCRINamespace     = "io.kubernetes.cri.sandbox-namespace"
	annCRIOName         = "io.kubernetes.container.name"
	annCRIOImage        = "io.kubernetes.cri-o.ImageName"
	annCRIOPodName      = "io.kubernetes.pod.name"
	annCRIOPodNamespace = "io.kubernetes.pod.namespace"
)

// DefaultCapabilities are the capabilities container runtimes grant when a
// container asks for none (podman's, containerd's and CRI-O's default set
// agree on these); any other capability in the bounding set was added.
var DefaultCapabilities = []string{
	"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
	// containerd and older podman also grant these three.
	"AUDIT_WRITE", "MKNOD", "NET_RAW",
}

// runtimeDirs hold the files runtimes bind into every container
// (/etc/hosts, /etc/resolv.conf, /dev/shm, secrets): such mounts are not
// volumes the user asked for.
var runtimeDirs = []string{
	"/var/lib/containers/", "/run/containers/", "/var/run/containers/", "/run/libpod/",
	"/var/lib/containerd/", "/run/containerd/", "/var/run/containerd/",
	"/var/lib/kubelet/pods/", "/run/crio/", "/var/run/crio/",
}

// Who is what the runtime's own state says about the container, beyond
// its configuration: its name and image, and the Kubernetes pod it
// belongs to, when known.
type Who struct {
	// ImageID is the image content the runtime resolved the name to
	// ("sha256:..."), when known.
	ImageID        string
	Name, Image    string
	Labels         map[string]string
	Pod, Namespace string
	Privileged     bool
}

// Spec maps a container's OCI configuration, the state its runtime handed
// the hook and what the runtime's metadata says (who) onto the workload
// the checks judge. Fields name the config.json keys a finding is about.
// host tells a namespace joined by path that is the host's from one that
// is not (a pod's, a network's); with nil, every namespace joined by path
// counts as the host's.
func Spec(st State, cfg *specs.Spec, who Who, host HostNamespaces) *workload.Spec {
	ann := func(k string) string {
		if v := st.Annotations[k]; v != "" {
			return v
		}
		return cfg.Annotations[k]
	}
	if who.Name == "" {
		who.Name = firstOf(ann(annCRIContainerName), ann(annCRIOName))
	}
	if who.Image == "" {
		who.Image = firstOf(ann(annCRIImageName), ann(annCRIOImage))
	}
	if who.Pod == "" {
		who.Pod = firstOf(ann(annCRISandboxName), ann(annCRIOPodName))
	}
	if who.Namespace == "" {
		who.Namespace = firstOf(ann(annCRINamespace), ann(annCRIOPodNamespace))
	}
	s := &workload.Spec{
		Kind:      "Container",
		Name:      who.Name,
		Namespace: who.Namespace,
		Pod:       who.Pod,
		Labels:    who.Labels,
		Paths: map[string]string{
			workload.SpecRoot:        "linux.namespaces",
			workload.SpecHostNetwork: "linux.namespaces",
			workload.SpecHostPID:     "linux.namespaces",
			workload.SpecHostIPC:     "linux.namespaces",
			workload.SpecHostUTS:     "linux.namespaces",
			workload.SpecHostUsers:   "linux.namespaces",
		},
	}
	c := workload.Container{
		Name:    firstOf(who.Name, st.ID),
		Kind:    "container",
		Image:   who.Image,
		ImageID: who.ImageID,
		Paths: map[string]string{
			workload.FieldRoot:                     "",
			workload.FieldImage:                    "annotations",
			workload.FieldPrivileged:               "annotations[" + annPodmanPrivileged + "]",
			workload.FieldAllowPrivilegeEscalation: "process.noNewPrivileges",
			workload.FieldCapabilities:             "process.capabilities.bounding",
			workload.FieldRunAsUser:                "process.user.uid",
			workload.FieldRunAsNonRoot:             "process.user.uid",
			workload.FieldReadOnlyRootFilesystem:   "root.readonly",
			workload.FieldSeccomp:                  "linux.seccomp",
			workload.FieldAppArmor:                 "process.apparmorProfile",
			workload.FieldSELinux:                  "process.selinuxLabel",
		},
	}
	if l := cfg.Linux; l != nil {
		s.HostNetwork = host.shared(l.Namespaces, specs.NetworkNamespace)
		s.HostPID = host.shared(l.Namespaces, specs.PIDNamespace)
		s.HostIPC = host.shared(l.Namespaces, specs.IPCNamespace)
		s.HostUTS = host.shared(l.Namespaces, specs.UTSNamespace)
		hostUsers := host.shared(l.Namespaces, specs.UserNamespace)
		s.HostUsers = &hostUsers
		if l.Seccomp == nil {
			c.Seccomp = "Unconfined"
		} else {
			c.Seccomp = "RuntimeDefault"
		}
	}
	if p := cfg.Process; p != nil {
		uid := int64(p.User.UID)
		c.RunAsUser = &uid
		nonRoot := uid != 0
		c.RunAsNonRoot = &nonRoot
		escalate := !p.NoNewPrivileges
		c.AllowPrivilegeEscalation = &escalate
		if p.Capabilities != nil {
			for _, cap := range p.Capabilities.Bounding {
				cap = strings.TrimPrefix(cap, "CAP_")
				if !slices.Contains(DefaultCapabilities, cap) {
					c.AddedCapabilities = append(c.AddedCapabilities, cap)
				}
			}
		}
		switch p.ApparmorProfile {
		case "unconfined":
			c.AppArmor = "Unconfined"
		case "":
			if appArmorEnabled() {
				c.AppArmor = "Unconfined"
			}
		default:
			c.AppArmor = "Localhost"
		}
		if p.SelinuxLabel == "" && seLinuxEnabled() {
			c.SELinux.Disabled = true
		}
		for _, kv := range p.Env {
			name, _, _ := strings.Cut(kv, "=")
			c.Env = append(c.Env, name)
		}
	}
	if cfg.Root != nil {
		c.ReadOnlyRootFilesystem = cfg.Root.Readonly
	}
	// Podman says privileged in an annotation; otherwise a container with
	// every capability and no seccomp profile is privileged in effect.
	c.Privileged = who.Privileged || strings.EqualFold(ann(annPodmanPrivileged), "true") ||
		len(c.AddedCapabilities) > 0 && slices.Contains(c.AddedCapabilities, "SYS_ADMIN") && c.Seccomp == "Unconfined" && len(cfg.Linux.MaskedPaths) == 0
	for i, m := range cfg.Mounts {
		if !isBind(m) || underRuntime(m.Source) {
			continue
		}
		s.Volumes = append(s.Volumes, workload.Volume{
			Name:     m.Destination,
			Type:     "hostPath",
			HostPath: m.Source,
			Path:     "mounts[" + strconv.Itoa(i) + "]",
		})
	}
	s.Containers = []workload.Container{c}
	return s
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	return slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

func underRuntime(src string) bool {
	for _, d := range runtimeDirs {
		if strings.HasPrefix(src, d) {
			return true
		}
	}
	return false
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// appArmorEnabled reports whether the kernel enforces AppArmor, so that a
// container without a profile runs unconfined.
func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

// seLinuxEnabled reports whether SELinux is on, so that a container
// without a label has had it disabled.
func seLinuxEnabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}
