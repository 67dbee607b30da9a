package image

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// defaultPath is the PATH a runtime gives a container whose image sets
// none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// imagePath returns the image's PATH directories.
func imagePath(cfg *v1.ConfigFile) []string {
	p := defaultPath
	for _, kv := range cfg.Config.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	var dirs []string
	for _, d := range strings.Split(p, ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// specialBitFindings reports setuid and setgid files of the final
// filesystem: a way to root for anyone who runs code in the container.
func specialBitFindings(t *tree) []Finding {
	var out []Finding
	t.each(func(p string, n *node) {
		if n.typ != tar.TypeReg {
			return
		}
		if n.mode&fs.ModeSetuid != 0 {
			owner := fmt.Sprintf("uid %d", n.uid)
			sev := Medium
			if n.uid == 0 {
				owner, sev = "root", High
			}
			out = append(out, fileFinding(RuleSetuid, sev, p, n.layer, fmt.Sprintf("setuid %s file %s (%s)", owner, p, octalMode(n.mode)),
				"it runs with its owner's privileges whoever starts it; remove the bit (chmod u-s) unless the image needs it, and run containers with no-new-privileges"))
		}
		if n.mode&fs.ModeSetgid != 0 {
			out = append(out, fileFinding(RuleSetgid, Low, p, n.layer, fmt.Sprintf("setgid file %s (gid %d, %s)", p, n.gid, octalMode(n.mode)),
				"it runs with its group's privileges whoever starts it; remove the bit (chmod g-s) unless the image needs it"))
		}
	})
	return out
}

func fileFinding(rule string, sev Severity, p string, layer int, title, detail string) Finding {
	return Finding{Category: Misconfiguration, Rule: rule, Severity: sev, Title: title, Detail: detail, Path: p, Layer: layer, Analyzer: "files"}
}

// pathFindings reports directories on PATH that anyone may write to:
// whoever writes there chooses what `ls` or `sh` means.
func pathFindings(t *tree, cfg *v1.ConfigFile) []Finding {
	var out []Finding
	for _, d := range imagePath(cfg) {
		n := t.lookup(cleanName(d), true)
		if n == nil || !n.isDir() || n.mode&0o002 == 0 {
			continue
		}
		sticky := ""
		if n.mode&fs.ModeSticky != 0 {
			sticky = " (the sticky bit stops deleting others' files, not adding new ones)"
		}
		out = append(out, fileFinding(RuleWorldWritablePath, High, d, n.layer,
			fmt.Sprintf("PATH directory %s is world-writable (%s)", d, octalMode(n.mode)),
			"any user in the container can plant a program that others run by name"+sticky+"; chmod o-w it or take it off PATH"))
	}
	return out
}

// packageManagers maps a program name to the package manager it is.
var packageManagers = []struct{ manager, program string }{
	{"apt", "apt-get"}, {"apt", "apt"}, {"dpkg", "dpkg"},
	{"apk", "apk"},
	{"dnf", "dnf"}, {"dnf", "dnf5"}, {"dnf", "microdnf"}, {"yum", "yum"}, {"rpm", "rpm"},
	{"zypper", "zypper"}, {"pacman", "pacman"},
	{"pip", "pip"}, {"pip", "pip3"}, {"pip", "pip2"},
	{"npm", "npm"}, {"yarn", "yarn"}, {"pnpm", "pnpm"},
	{"gem", "gem"}, {"conda", "conda"},
}

// packageManagerFindings reports package managers left in the image:
// they let an intruder install tools, and a production image needs none.
// One finding per manager, at the first program found for it.
func packageManagerFindings(t *tree, cfg *v1.ConfigFile) []Finding {
	dirs := imagePath(cfg)
	for _, d := range strings.Split(defaultPath, ":") {
		dirs = append(dirs, d)
	}
	var out []Finding
	seen := map[string]bool{}
	for _, pm := range packageManagers {
		if seen[pm.manager] {
			continue
		}
		for _, d := range dirs {
			p := path.Join(d, pm.program)
			n := t.lookup(cleanName(p), true)
			if n == nil || n.typ != tar.TypeReg || n.mode&0o111 == 0 {
				continue
			}
			seen[pm.manager] = true
			out = append(out, fileFinding(RulePackageManager, Low, p, n.layer,
				fmt.Sprintf("package manager %s left in the image (%s)", pm.manager, p),
				"an intruder can install tools with it; build in one stage and copy only what runs into a final image without it"))
			break
		}
	}
	return out
}
