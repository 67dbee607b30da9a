package workload

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/policy"
)

// Finding is one setting of a workload that a control refuses.
type Finding struct {
	// Control is the policy control's YAML name (limitContainerPrivileges);
	// Check is what in it was violated (privileged, hostNetwork, latestTag),
	// the control's name again when it checks one thing.
	Control string `json:"control"`
	Check   string `json:"check"`
	// Container is the container's name, empty for a pod-level setting.
	Container string `json:"container,omitempty"`
	// Field is the path of the offending field in the source document
	// ("spec.template.spec.containers[0].securityContext.privileged"), or
	// of where the missing setting belongs.
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (f Finding) String() string {
	s := f.Control + "/" + f.Check + ": " + f.Reason
	if f.Field != "" {
		s = f.Field + ": " + s
	}
	return s
}

// key identifies a finding regardless of the mode it was found in.
func (f Finding) key() string {
	return f.Control + "\x00" + f.Check + "\x00" + f.Container + "\x00" + f.Field + "\x00" + f.Reason
}

// Checker checks workloads against controls. Its zero value checks
// without an image store.
type Checker struct {
	// Images is the registered-images store; nil when there is none.
	Images Images
}

// Check returns every setting of spec that controls refuses, with no
// image store (see Checker).
func Check(spec *Spec, controls *policy.Controls) []Finding {
	return (&Checker{}).Check(spec, controls)
}

// Check returns every setting of spec that controls refuses: pod-level
// findings first, then each container's in order.
func (k *Checker) Check(spec *Spec, controls *policy.Controls) []Finding {
	out := k.pod(spec, controls)
	for i := range spec.Containers {
		out = append(out, k.container(spec, &spec.Containers[i], controls)...)
	}
	return out
}

// pod checks the settings shared by every container: host namespaces and
// volumes.
func (k *Checker) pod(s *Spec, ctl *policy.Controls) []Finding {
	var out []Finding
	if l := ctl.LimitContainerPrivileges; l.On() {
		for _, h := range []struct {
			on      bool
			block   string
			setting string
			what    string
		}{
			{s.HostNetwork, "hostNetwork", SpecHostNetwork, "shares the host's network namespace (hostNetwork: true): it sees every interface of the node and can bind its ports"},
			{s.HostPID, "hostPID", SpecHostPID, "shares the host's process namespace (hostPID: true): it sees and may signal every process of the node"},
			{s.HostIPC, "hostIPC", SpecHostIPC, "shares the host's IPC namespace (hostIPC: true): it can read the node's shared memory"},
			{s.HostUTS, "hostUTS", SpecHostUTS, "shares the host's UTS namespace: it can change the node's hostname"},
			{s.HostUsers == nil || *s.HostUsers, "hostUserNamespace", SpecHostUsers, "shares the host's user namespace (set hostUsers: false to give it its own): root in the container is root on the node"},
		} {
			if h.on && l.Blocks(h.block) {
				out = append(out, Finding{Control: "limitContainerPrivileges", Check: h.block, Field: s.field(h.setting), Reason: "the pod " + h.what})
			}
		}
	}
	d := &s.Defaults
	if l := ctl.LimitContainerPrivileges; l.On() && l.Blocks("runAsRoot") && d.RunAsUser != nil && *d.RunAsUser == 0 {
		out = append(out, Finding{Control: "limitContainerPrivileges", Check: "runAsRoot", Field: s.field(SpecRunAsUser),
			Reason: "the pod runs its containers as root by default (runAsUser: 0)"})
	}
	out = append(out, confinement(ctl, "the pod's default", d.Seccomp, d.AppArmor, d.SELinux,
		func(setting string) string { return s.field(setting) }, "")...)
	for _, v := range s.Volumes {
		if v.HostPath == "" {
			continue
		}
		field := v.Path
		if field == "" {
			field = s.field(SpecRoot)
		}
		if b := ctl.VolumesBlocklist; b.On() && b.Blocked(v.HostPath) {
			out = append(out, Finding{Control: "volumesBlocklist", Check: "volumesBlocklist", Field: field,
				Reason: fmt.Sprintf("volume %q mounts host path %s, which the volumes block list refuses", v.Name, v.HostPath)})
		}
		if h := ctl.HostPathVolumes; h.On() && !h.Allowed(v.HostPath) {
			out = append(out, Finding{Control: "hostPathVolumes", Check: "hostPathVolumes", Field: field,
				Reason: fmt.Sprintf("volume %q mounts host path %s; host paths are refused unless hostPathVolumes.allow lists them", v.Name, v.HostPath)})
		}
	}
	return out
}

// confinement checks one level's seccomp, AppArmor and SELinux settings
// (the pod's defaults or a container's own) against Prevent Override of
// Default Configurations; field maps SpecSeccomp, SpecAppArmor and
// SpecSELinux to the paths of that level's fields.
func confinement(ctl *policy.Controls, who, seccomp, apparmor string, se SELinux, field func(string) string, container string) []Finding {
	p := ctl.PreventDefaultOverride
	if !p.On() {
		return nil
	}
	var out []Finding
	add := func(check, setting, format string, args ...any) {
		out = append(out, Finding{Control: "preventDefaultOverride", Check: check, Container: container, Field: field(setting),
			Reason: who + " " + fmt.Sprintf(format, args...)})
	}
	if seccomp == "Unconfined" && p.Blocks("seccompUnconfined") {
		add("seccompUnconfined", SpecSeccomp, "seccomp profile is Unconfined: every system call is open to it")
	}
	if apparmor == "Unconfined" && p.Blocks("apparmorUnconfined") {
		add("apparmorUnconfined", SpecAppArmor, "AppArmor profile is Unconfined")
	}
	if p.Blocks("selinuxDisabled") {
		switch {
		case se.Disabled:
			add("selinuxDisabled", SpecSELinux, "has SELinux labelling disabled")
		case se.Type != "" && !slices.Contains(SELinuxContainerTypes, se.Type):
			out = append(out, Finding{Control: "preventDefaultOverride", Check: "selinuxDisabled", Container: container, Field: field(SpecSELinux) + ".type",
				Reason: fmt.Sprintf("%s SELinux type is %s, outside the types that confine containers (%s)", who, se.Type, strings.Join(SELinuxContainerTypes, ", "))})
		}
	}
	return out
}

// SELinuxContainerTypes are the SELinux types that confine a container;
// any other type set on a container (spc_t, unconfined_t) lifts the
// confinement.
var SELinuxContainerTypes = []string{"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

func (k *Checker) container(s *Spec, c *Container, ctl *policy.Controls) []Finding {
	var out []Finding
	add := func(control, check, field, format string, args ...any) {
		out = append(out, Finding{Control: control, Check: check, Container: c.Name, Field: field,
			Reason: fmt.Sprintf("%s %q ", c.kind(), c.Name) + fmt.Sprintf(format, args...)})
	}
	if l := ctl.LimitContainerPrivileges; l.On() {
		if c.Privileged && l.Blocks("privileged") {
			add("limitContainerPrivileges", "privileged", c.field(FieldPrivileged), "is privileged: it has every capability and every device of the node")
		}
		if l.Blocks("addedCapabilities") {
			for i, cp := range c.AddedCapabilities {
				name := strings.TrimPrefix(strings.ToUpper(cp), "CAP_")
				if !slices.Contains(l.AllowCapabilities, name) {
					add("limitContainerPrivileges", "addedCapabilities", c.field(FieldCapabilities)+"["+strconv.Itoa(i)+"]",
						"adds capability %s, which limitContainerPrivileges.allowCapabilities does not allow", name)
				}
			}
		}
		if l.Blocks("runAsRoot") {
			if field, why := k.root(s, c); why != "" {
				add("limitContainerPrivileges", "runAsRoot", field, "%s", why)
			}
		}
		if l.Blocks("lowPorts") {
			for _, p := range c.Ports {
				if p.ContainerPort > 0 && p.ContainerPort < 1024 {
					add("limitContainerPrivileges", "lowPorts", joinPath(p.Path, "containerPort"), "listens on port %d, below 1024 (a privileged port)", p.ContainerPort)
				}
				if p.HostPort > 0 && p.HostPort < 1024 {
					add("limitContainerPrivileges", "lowPorts", joinPath(p.Path, "hostPort"), "publishes host port %d, below 1024 (a privileged port of the node)", p.HostPort)
				}
			}
		}
	}
	out = append(out, confinement(ctl, fmt.Sprintf("%s %q's", c.kind(), c.Name), c.Seccomp, c.AppArmor, c.SELinux, func(setting string) string {
		switch setting {
		case SpecSeccomp:
			return c.field(FieldSeccomp)
		case SpecAppArmor:
			return c.field(FieldAppArmor)
		}
		return c.field(FieldSELinux)
	}, c.Name)...)
	if ctl.ReadOnlyRootFilesystem.On() && !c.ReadOnlyRootFilesystem {
		add("readOnlyRootFilesystem", "readOnlyRootFilesystem", c.field(FieldReadOnlyRootFilesystem), "has a writable root filesystem; set readOnlyRootFilesystem: true")
	}
	if ctl.BlockPrivilegeEscalation.On() {
		switch e := c.AllowPrivilegeEscalation; {
		case e == nil:
			add("blockPrivilegeEscalation", "allowPrivilegeEscalation", c.field(FieldAllowPrivilegeEscalation),
				"may gain privileges through set-user-ID programs; set allowPrivilegeEscalation: false")
		case *e:
			add("blockPrivilegeEscalation", "allowPrivilegeEscalation", c.field(FieldAllowPrivilegeEscalation),
				"allows privilege escalation (allowPrivilegeEscalation: true)")
		}
	}
	img := policy.ParseImageRef(c.Image)
	if r := ctl.ImageReferences; r.On() {
		if r.Blocks("latestTag") && (img.Tag == "latest" || img.Tag == "" && img.Digest == "") {
			why := "uses image " + strconv.Quote(c.Image) + " by the mutable tag latest"
			if img.Tag == "" {
				why = "uses image " + strconv.Quote(c.Image) + " without a tag, which means latest"
			}
			add("imageReferences", "latestTag", c.field(FieldImage), "%s; name a version and pin it by digest", why)
		}
		if r.Blocks("noDigest") && img.Digest == "" {
			add("imageReferences", "noDigest", c.field(FieldImage), "uses image %q without a digest, so what runs can change under the same name; pin it as name@sha256:...", c.Image)
		}
	}
	if img.Name != "" && img.Tag == "" && img.Digest == "" {
		img.Tag = "latest"
	}
	if b := ctl.BlockUnregisteredImages; b.On() {
		if !b.Registered(img) {
			add("blockUnregisteredImages", "blockUnregisteredImages", c.field(FieldImage), "uses image %q, which is not on the registered-images lists (%s)", c.Image, strings.Join(b.RegisteredImages, ", "))
		} else if k.Images != nil {
			if _, ok := k.lookup(c); !ok {
				add("blockUnregisteredImages", "blockUnregisteredImages", c.field(FieldImage), "uses image %q%s, which is not registered; register it with `mamori image register`", c.Image, c.content())
			}
		} else if len(b.RegisteredImages) == 0 {
			add("blockUnregisteredImages", "blockUnregisteredImages", c.field(FieldImage), "uses image %q, whose registration mamori cannot tell: no image store was given and the control names no registeredImages lists", c.Image)
		}
	}
	if ctl.BlockNonCompliantImages.On() {
		switch st, ok := k.lookup(c); {
		case k.Images == nil:
			add("blockNonCompliantImages", "blockNonCompliantImages", c.field(FieldImage), "uses image %q, whose compliance mamori cannot tell: no image store was given", c.Image)
		case !ok || !st.Scanned:
			add("blockNonCompliantImages", "blockNonCompliantImages", c.field(FieldImage), "uses image %q, which has no scan verdict; scan and register it first", c.Image)
		case !st.Compliant:
			why := "it failed its last scan"
			if len(st.Reasons) > 0 {
				why = strings.Join(st.Reasons, "; ")
			}
			add("blockNonCompliantImages", "blockNonCompliantImages", c.field(FieldImage), "uses image %q, which is not compliant: %s", c.Image, why)
		}
	}
	return out
}

// lookup finds the image container c runs in the image store: by its
// content (ImageID) when the runtime says what the reference resolved to,
// so that a name moved to other content does not pass for the registered
// image; else by the reference.
func (k *Checker) lookup(c *Container) (ImageStatus, bool) {
	if k.Images == nil {
		return ImageStatus{}, false
	}
	if c.ImageID != "" {
		return k.Images.Lookup(c.ImageID)
	}
	return k.Images.Lookup(c.Image)
}

// content says which content an image reference resolved to, when known.
func (c *Container) content() string {
	if c.ImageID == "" {
		return ""
	}
	return " (content " + c.ImageID + ")"
}

// root says whether the container runs (or may run) as root, with the
// field to fix; why is empty when it does not.
func (k *Checker) root(s *Spec, c *Container) (field, why string) {
	d := &s.Defaults
	switch {
	case c.RunAsUser != nil && *c.RunAsUser == 0:
		return c.field(FieldRunAsUser), "runs as root (runAsUser: 0)"
	case c.RunAsUser != nil || d.RunAsUser != nil:
		return "", "" // a non-zero user, or the pod's root default, reported for the pod
	case c.RunAsNonRoot != nil:
		if *c.RunAsNonRoot {
			return "", "" // the kubelet refuses to start it as root
		}
	case d.RunAsNonRoot != nil && *d.RunAsNonRoot:
		return "", ""
	}
	field = c.field(FieldRunAsNonRoot)
	if c.RunAsNonRoot == nil && d.RunAsNonRoot != nil {
		field = s.field(SpecRunAsNonRoot)
	}
	if st, ok := k.lookup(c); ok {
		if rootUser(st.User) {
			return field, fmt.Sprintf("runs as root: its image %s sets no non-root USER and the container sets neither runAsNonRoot: true nor runAsUser", c.Image)
		}
		return "", ""
	}
	return field, "may run as root: it sets neither runAsNonRoot: true nor a non-zero runAsUser, so the image's USER decides"
}

// rootUser reports whether an image config's USER ("", "0", "root",
// "0:0", "root:wheel") is root.
func rootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "" || name == "0" || name == "root"
}

func (c *Container) kind() string {
	switch c.Kind {
	case "initContainer":
		return "init container"
	case "ephemeralContainer":
		return "ephemeral container"
	}
	return "container"
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}
