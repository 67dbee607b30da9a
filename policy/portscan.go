package policy

import "time"

// PortScanDetection notices a container that connects to many distinct
// ports (on one host) or many distinct hosts within a window. In enforce
// mode the container's new connections are then refused for the cool-down;
// in audit mode one alert is raised and repeats are held back for the
// cool-down.
type PortScanDetection struct {
	Switch        `yaml:",inline"`
	DistinctPorts int      `yaml:"distinctPorts" json:"distinctPorts,omitempty"`
	DistinctHosts int      `yaml:"distinctHosts" json:"distinctHosts,omitempty"`
	Window        Duration `yaml:"window" json:"window"`
	CoolDown      Duration `yaml:"coolDown" json:"coolDown"`
}

// Defaults for the durations a policy leaves out.
const (
	DefaultScanWindow   = Duration(10 * time.Second)
	DefaultScanCoolDown = Duration(5 * time.Minute)
	maxScanDuration     = Duration(24 * time.Hour)
)

func (s *PortScanDetection) validate(v *validator, path string) {
	v.checkf(s.DistinctPorts == 0 && s.DistinctHosts == 0 && !v.set(path+".distinctPorts") && !v.set(path+".distinctHosts"), path,
		"portScanDetection needs distinctPorts, distinctHosts or both: how many distinct ports or hosts within the window count as a scan")
	v.checkf(v.set(path+".distinctPorts") && (s.DistinctPorts < 2 || s.DistinctPorts > 65535), path+".distinctPorts",
		"distinctPorts %d is out of range; use a number from 2 to 65535", s.DistinctPorts)
	v.checkf(v.set(path+".distinctHosts") && (s.DistinctHosts < 2 || s.DistinctHosts > 1<<24), path+".distinctHosts",
		"distinctHosts %d is out of range; use a number from 2 to %d", s.DistinctHosts, 1<<24)
	if !v.set(path + ".window") {
		s.Window = DefaultScanWindow
	} else if s.Window <= 0 || s.Window > maxScanDuration {
		v.errorf(path+".window", "window %s is out of range; use a positive duration up to 24h, such as \"10s\"", s.Window)
	}
	if !v.set(path + ".coolDown") {
		s.CoolDown = DefaultScanCoolDown
	} else if s.CoolDown < 0 || s.CoolDown > maxScanDuration {
		v.errorf(path+".coolDown", "coolDown %s is out of range; use a duration from 0s to 24h, such as \"5m\"", s.CoolDown)
	}
}

// merge: fewer ports or hosts, a longer window and a longer cool-down are
// stricter (each catches or holds more).
func (s *PortScanDetection) merge(m *merger, src control, path string) {
	o := src.(*PortScanDetection)
	m.minInt(path+".distinctPorts", &s.DistinctPorts, o.DistinctPorts)
	m.minInt(path+".distinctHosts", &s.DistinctHosts, o.DistinctHosts)
	m.maxDuration(path+".window", &s.Window, o.Window)
	m.maxDuration(path+".coolDown", &s.CoolDown, o.CoolDown)
}

// On reports whether the control is set and on; it is safe on nil.
func (c *PortScanDetection) On() bool { return c != nil && c.Switch.On() }
