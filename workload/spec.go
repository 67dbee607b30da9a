package workload

// Spec is one workload about to run: a Kubernetes pod (or the pod
// template of a Deployment, Job, ...) or a single container created by a
// runtime. Booleans are what the workload asks for; a pointer is nil when
// the source leaves the setting out, so that the check can tell "false"
// from "the default".
type Spec struct {
	// Kind and Name identify the object the spec came from ("Deployment",
	// "web"); Namespace is its Kubernetes namespace, empty outside
	// Kubernetes.
	Kind      string            `json:"kind,omitempty"`
	Name      string            `json:"name,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"` // the pod's labels
	// Pod is the pod's name when known; Deployment the owning
	// Deployment's.
	Pod        string `json:"pod,omitempty"`
	Deployment string `json:"deployment,omitempty"`

	HostNetwork bool `json:"hostNetwork,omitempty"`
	HostPID     bool `json:"hostPID,omitempty"`
	HostIPC     bool `json:"hostIPC,omitempty"`
	HostUTS     bool `json:"hostUTS,omitempty"`
	// HostUsers says whether the workload shares the host's user
	// namespace; nil is the source's default (in Kubernetes, true).
	HostUsers *bool `json:"hostUsers,omitempty"`

	// Defaults are the pod-level security settings, which apply to every
	// container that sets none of its own (including ephemeral containers
	// added later).
	Defaults Defaults `json:"defaults,omitzero"`

	Containers []Container `json:"containers"`
	Volumes    []Volume    `json:"volumes,omitempty"`

	// Paths maps a pod-level setting (SpecHostNetwork, ...) to the path of
	// the field in the source document that sets it, or where it would be
	// set ("spec.template.spec").
	Paths map[string]string `json:"paths,omitempty"`
}

// Pod-level settings, the keys of Spec.Paths.
const (
	SpecHostNetwork = "hostNetwork"
	SpecHostPID     = "hostPID"
	SpecHostIPC     = "hostIPC"
	SpecHostUTS     = "hostUTS"
	SpecHostUsers   = "hostUsers"
	// The pod-level security defaults.
	SpecRunAsUser    = "runAsUser"
	SpecRunAsNonRoot = "runAsNonRoot"
	SpecSeccomp      = "seccompProfile"
	SpecAppArmor     = "appArmorProfile"
	SpecSELinux      = "seLinuxOptions"
	// SpecRoot is the pod spec itself, the fallback for every setting.
	SpecRoot = ""
)

// Defaults are pod-level security settings; a container's own setting
// wins over them. Outside Kubernetes they are empty.
type Defaults struct {
	RunAsUser    *int64  `json:"runAsUser,omitempty"`
	RunAsNonRoot *bool   `json:"runAsNonRoot,omitempty"`
	Seccomp      string  `json:"seccomp,omitempty"`
	AppArmor     string  `json:"appArmor,omitempty"`
	SELinux      SELinux `json:"seLinux,omitzero"`
}

// Container is one container of a workload with the security settings
// it sets itself; the pod's Defaults fill in what it leaves out.
type Container struct {
	Name string `json:"name"`
	// Kind is "container", "initContainer" or "ephemeralContainer".
	Kind  string `json:"kind,omitempty"`
	Image string `json:"image"`
	// ImageID is the content the runtime resolved Image to
	// ("sha256:<config digest>"), when known: on a node, what will really
	// run. The image store is asked by it rather than by the name.
	ImageID string `json:"imageID,omitempty"`

	Privileged               bool     `json:"privileged,omitempty"`
	AllowPrivilegeEscalation *bool    `json:"allowPrivilegeEscalation,omitempty"`
	AddedCapabilities        []string `json:"addedCapabilities,omitempty"`
	// RunAsUser is the user id the container runs as; nil leaves it to the
	// pod's default, and then to the image's USER.
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	RunAsNonRoot *bool  `json:"runAsNonRoot,omitempty"`

	ReadOnlyRootFilesystem bool `json:"readOnlyRootFilesystem,omitempty"`

	// Seccomp is the seccomp profile type: "RuntimeDefault", "Localhost",
	// "Unconfined", or "" when unset (the runtime's default applies).
	Seccomp string `json:"seccomp,omitempty"`
	// AppArmor is the AppArmor profile: "RuntimeDefault", "Localhost",
	// "Unconfined", or "" when unset.
	AppArmor string  `json:"appArmor,omitempty"`
	SELinux  SELinux `json:"seLinux,omitzero"`

	Ports []Port   `json:"ports,omitempty"`
	Env   []string `json:"env,omitempty"` // environment variable names, never values

	// Paths maps a container setting (FieldImage, ...) to the path of the
	// field in the source document that sets it, or where it would be set.
	// FieldRoot is the container itself.
	Paths map[string]string `json:"paths,omitempty"`
}

// Container settings, the keys of Container.Paths.
const (
	FieldRoot                     = ""
	FieldImage                    = "image"
	FieldPrivileged               = "privileged"
	FieldAllowPrivilegeEscalation = "allowPrivilegeEscalation"
	// FieldCapabilities is the list of added capabilities; a finding about
	// the i-th appends "[i]".
	FieldCapabilities           = "capabilities.add"
	FieldRunAsUser              = "runAsUser"
	FieldRunAsNonRoot           = "runAsNonRoot"
	FieldReadOnlyRootFilesystem = "readOnlyRootFilesystem"
	FieldSeccomp                = "seccompProfile"
	FieldAppArmor               = "appArmorProfile"
	FieldSELinux                = "seLinuxOptions"
)

// SELinux is the container's SELinux label. Disabled is an OCI runtime's
// label=disable; Kubernetes has no such setting.
type SELinux struct {
	User     string `json:"user,omitempty"`
	Role     string `json:"role,omitempty"`
	Type     string `json:"type,omitempty"`
	Level    string `json:"level,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
}

// Port is a port the container declares; HostPort is 0 unless it is
// published on the node.
type Port struct {
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
	// Path is the port's entry in the source ("spec.containers[0].ports[1]").
	Path string `json:"path,omitempty"`
}

// Volume is a volume of the workload. HostPath is the host path it
// mounts, empty for volumes that are not the host's (emptyDir, configMap,
// a persistent volume claim, ...).
type Volume struct {
	Name     string `json:"name"`
	Type     string `json:"type"` // the source's kind: "hostPath", "emptyDir", "bind", ...
	HostPath string `json:"hostPath,omitempty"`
	Path     string `json:"path,omitempty"` // the volume's entry in the source
}

// field returns where the container's setting is, falling back to the
// container and then to "".
func (c *Container) field(setting string) string {
	if p, ok := c.Paths[setting]; ok {
		return p
	}
	return c.Paths[FieldRoot]
}

func (s *Spec) field(setting string) string {
	if p, ok := s.Paths[setting]; ok {
		return p
	}
	return s.Paths[SpecRoot]
}
