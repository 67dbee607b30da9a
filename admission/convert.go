package admission

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/mamori-dev/mamori/workload"
)

// Kinds are the object kinds whose pods mamori checks.
var Kinds = []string{"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}

// Object is a Kubernetes object decoded far enough to reach its pod.
type Object struct {
	Kind      string
	Name      string
	Namespace string
	// PodMeta is the pod's metadata (the object's own for a Pod, the
	// template's otherwise) and PodSpec its spec.
	PodMeta *metav1.ObjectMeta
	PodSpec *corev1.PodSpec
	// MetaPath and SpecPath are the paths of PodMeta and PodSpec in the
	// object ("spec.template.metadata", "spec.template.spec").
	MetaPath, SpecPath string
}

// Decode decodes the JSON of an object of the given kind, as the API
// server does (field names are case-sensitive). It returns false when the
// kind holds no pod.
func Decode(kind string, raw []byte) (*Object, bool, error) { return decode(kind, raw, unmarshal) }

// DecodeStrict is Decode that also returns the paths of the fields the
// object's kind does not have ("spec.containers[0].imagee"), as kubectl's
// strict field validation refuses them: a misspelt field is otherwise
// dropped, and what is checked is not what was meant.
func DecodeStrict(kind string, raw []byte) (*Object, bool, []string, error) {
	var unknown []string
	obj, ok, err := decode(kind, raw, func(raw []byte, v any) error {
		strict, err := sigsjson.UnmarshalStrict(raw, v, sigsjson.DisallowUnknownFields)
		for _, e := range strict {
			if fe, ok := e.(interface{ FieldPath() string }); ok {
				unknown = append(unknown, fe.FieldPath())
			}
		}
		return err
	})
	return obj, ok, unknown, err
}

func decode(kind string, raw []byte, u func([]byte, any) error) (*Object, bool, error) {
	o := &Object{Kind: kind}
	var meta *metav1.ObjectMeta
	var tmpl *corev1.PodTemplateSpec
	tp := "spec.template"
	switch kind {
	case "Pod":
		var v corev1.Pod
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, o.PodMeta, o.PodSpec, o.MetaPath, o.SpecPath = &v.ObjectMeta, &v.ObjectMeta, &v.Spec, "metadata", "spec"
	case "Deployment":
		var v appsv1.Deployment
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, tmpl = &v.ObjectMeta, &v.Spec.Template
	case "StatefulSet":
		var v appsv1.StatefulSet
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, tmpl = &v.ObjectMeta, &v.Spec.Template
	case "DaemonSet":
		var v appsv1.DaemonSet
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, tmpl = &v.ObjectMeta, &v.Spec.Template
	case "ReplicaSet":
		var v appsv1.ReplicaSet
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, tmpl = &v.ObjectMeta, &v.Spec.Template
	case "ReplicationController":
		var v corev1.ReplicationController
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, tmpl = &v.ObjectMeta, v.Spec.Template
		if tmpl == nil {
			tmpl = &corev1.PodTemplateSpec{}
		}
	case "Job":
		var v batchv1.Job
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, tmpl = &v.ObjectMeta, &v.Spec.Template
	case "CronJob":
		var v batchv1.CronJob
		if err := u(raw, &v); err != nil {
			return nil, true, err
		}
		meta, tmpl, tp = &v.ObjectMeta, &v.Spec.JobTemplate.Spec.Template, "spec.jobTemplate.spec.template"
	default:
		return nil, false, nil
	}
	if tmpl != nil {
		o.PodMeta, o.PodSpec, o.MetaPath, o.SpecPath = &tmpl.ObjectMeta, &tmpl.Spec, tp+".metadata", tp+".spec"
	}
	o.Name, o.Namespace = meta.Name, meta.Namespace
	if o.Name == "" {
		o.Name = meta.GenerateName
	}
	return o, true, nil
}

// unmarshal decodes as the API server does: field names are
// case-sensitive, and unknown fields are dropped (the server warns about
// them; they cannot change what runs).
func unmarshal(raw []byte, v any) error { return sigsjson.UnmarshalCaseSensitivePreserveInts(raw, v) }

// Spec converts the object's pod into a workload.Spec with the path of
// every field it read. namespace is used when the object names none (the
// request's namespace, or kubectl's default).
func (o *Object) Spec(namespace string) *workload.Spec {
	ps := o.PodSpec
	p := o.SpecPath
	s := &workload.Spec{
		Kind: o.Kind, Name: o.Name, Namespace: o.Namespace, Labels: o.PodMeta.Labels,
		HostNetwork: ps.HostNetwork, HostPID: ps.HostPID, HostIPC: ps.HostIPC, HostUsers: ps.HostUsers,
		Paths: map[string]string{
			workload.SpecRoot:         p,
			workload.SpecHostNetwork:  p + ".hostNetwork",
			workload.SpecHostPID:      p + ".hostPID",
			workload.SpecHostIPC:      p + ".hostIPC",
			workload.SpecHostUsers:    p + ".hostUsers",
			workload.SpecRunAsUser:    p + ".securityContext.runAsUser",
			workload.SpecRunAsNonRoot: p + ".securityContext.runAsNonRoot",
			workload.SpecSeccomp:      p + ".securityContext.seccompProfile.type",
			workload.SpecAppArmor:     p + ".securityContext.appArmorProfile.type",
			workload.SpecSELinux:      p + ".securityContext.seLinuxOptions",
		},
	}
	if s.Namespace == "" {
		s.Namespace = namespace
	}
	if psc := ps.SecurityContext; psc != nil {
		d := &s.Defaults
		d.RunAsUser, d.RunAsNonRoot = psc.RunAsUser, psc.RunAsNonRoot
		if psc.SeccompProfile != nil {
			d.Seccomp = string(psc.SeccompProfile.Type)
		}
		if psc.AppArmorProfile != nil {
			d.AppArmor = string(psc.AppArmorProfile.Type)
		}
		if psc.SELinuxOptions != nil {
			d.SELinux = seLinux(psc.SELinuxOptions)
		}
	}

	if o.Kind == "Pod" {
		s.Pod = o.Name
	}
	for i, v := range ps.Volumes {
		vol := workload.Volume{Name: v.Name, Type: volumeType(&v.VolumeSource), Path: p + ".volumes[" + strconv.Itoa(i) + "]"}
		if v.HostPath != nil {
			vol.HostPath, vol.Path = v.HostPath.Path, vol.Path+".hostPath.path"
		}
		s.Volumes = append(s.Volumes, vol)
	}
	for i := range ps.InitContainers {
		s.Containers = append(s.Containers, o.container("initContainer", &ps.InitContainers[i], fmt.Sprintf("%s.initContainers[%d]", p, i)))
	}
	for i := range ps.Containers {
		s.Containers = append(s.Containers, o.container("container", &ps.Containers[i], fmt.Sprintf("%s.containers[%d]", p, i)))
	}
	for i := range ps.EphemeralContainers {
		c := corev1.Container(ps.EphemeralContainers[i].EphemeralContainerCommon)
		s.Containers = append(s.Containers, o.container("ephemeralContainer", &c, fmt.Sprintf("%s.ephemeralContainers[%d]", p, i)))
	}
	return s
}

// container converts one container's own settings (the pod's defaults are
// in Spec.Defaults) and records where each is, or would be, written.
func (o *Object) container(kind string, c *corev1.Container, path string) workload.Container {
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	scp := path + ".securityContext"
	w := workload.Container{
		Name: c.Name, Kind: kind, Image: c.Image,
		AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation,
		Paths: map[string]string{
			workload.FieldRoot:                     path,
			workload.FieldImage:                    path + ".image",
			workload.FieldPrivileged:               scp + ".privileged",
			workload.FieldAllowPrivilegeEscalation: scp + ".allowPrivilegeEscalation",
			workload.FieldCapabilities:             scp + ".capabilities.add",
			workload.FieldReadOnlyRootFilesystem:   scp + ".readOnlyRootFilesystem",
			workload.FieldRunAsUser:                scp + ".runAsUser",
			workload.FieldRunAsNonRoot:             scp + ".runAsNonRoot",
			workload.FieldSeccomp:                  scp + ".seccompProfile",
			workload.FieldAppArmor:                 scp + ".appArmorProfile",
			workload.FieldSELinux:                  scp + ".seLinuxOptions",
		},
	}
	w.Privileged = sc.Privileged != nil && *sc.Privileged
	w.ReadOnlyRootFilesystem = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	if sc.Capabilities != nil {
		for _, cp := range sc.Capabilities.Add {
			w.AddedCapabilities = append(w.AddedCapabilities, string(cp))
		}
	}
	w.RunAsUser, w.RunAsNonRoot = sc.RunAsUser, sc.RunAsNonRoot
	if sc.SeccompProfile != nil {
		w.Seccomp = string(sc.SeccompProfile.Type)
		w.Paths[workload.FieldSeccomp] += ".type"
	}
	switch ann := o.PodMeta.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+c.Name]; {
	case sc.AppArmorProfile != nil:
		w.AppArmor = string(sc.AppArmorProfile.Type)
		w.Paths[workload.FieldAppArmor] += ".type"
	case ann != "":
		w.AppArmor, w.Paths[workload.FieldAppArmor] = appArmorAnnotation(ann), o.MetaPath+".annotations"
	}
	if sc.SELinuxOptions != nil {
		w.SELinux = seLinux(sc.SELinuxOptions)
	}
	for j, pt := range c.Ports {
		w.Ports = append(w.Ports, workload.Port{ContainerPort: pt.ContainerPort, HostPort: pt.HostPort,
			Protocol: string(pt.Protocol), Path: path + ".ports[" + strconv.Itoa(j) + "]"})
	}
	for _, e := range c.Env {
		w.Env = append(w.Env, e.Name)
	}
	return w
}

// appArmorAnnotation maps the deprecated annotation's value to the
// profile type of the securityContext field.
func appArmorAnnotation(v string) string {
	switch {
	case v == corev1.DeprecatedAppArmorBetaProfileNameUnconfined:
		return string(corev1.AppArmorProfileTypeUnconfined)
	case v == corev1.DeprecatedAppArmorBetaProfileRuntimeDefault:
		return string(corev1.AppArmorProfileTypeRuntimeDefault)
	case strings.HasPrefix(v, corev1.DeprecatedAppArmorBetaProfileNamePrefix):
		return string(corev1.AppArmorProfileTypeLocalhost)
	}
	return v
}

func seLinux(o *corev1.SELinuxOptions) workload.SELinux {
	return workload.SELinux{User: o.User, Role: o.Role, Type: o.Type, Level: o.Level}
}

// volumeType names the kind of a volume's source, as its JSON key.
func volumeType(v *corev1.VolumeSource) string {
	switch {
	case v.HostPath != nil:
		return "hostPath"
	case v.EmptyDir != nil:
		return "emptyDir"
	case v.ConfigMap != nil:
		return "configMap"
	case v.Secret != nil:
		return "secret"
	case v.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case v.Projected != nil:
		return "projected"
	case v.DownwardAPI != nil:
		return "downwardAPI"
	case v.Ephemeral != nil:
		return "ephemeral"
	case v.CSI != nil:
		return "csi"
	case v.NFS != nil:
		return "nfs"
	case v.Image != nil:
		return "image"
	}
	return "other"
}
