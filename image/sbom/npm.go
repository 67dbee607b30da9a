package sbom

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/package-url/packageurl-go"
)

// npmPackages gathers npm packages from installed node_modules trees and
// from package-lock.json files, so that a project whose lockfile and
// node_modules both describe a package lists it once (from node_modules,
// which is what is really installed).
type npmPackages struct {
	installed []Package
	locked    []Package
}

// inNodeModules says whether p is the package.json at the top of an
// installed package: node_modules/NAME/package.json or
// node_modules/@SCOPE/NAME/package.json.
func inNodeModules(p string) bool {
	dir := path.Dir(path.Dir(p))
	if path.Base(dir) == "node_modules" {
		return true
	}
	return strings.HasPrefix(path.Base(dir), "@") && path.Base(path.Dir(dir)) == "node_modules"
}

func (n *npmPackages) readPackageJSON(fsys fs.FS, p string, errs *fileErrors) {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		errs.add(p, err)
		return
	}
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		errs.add(p, fmt.Errorf("npm package.json: %w", err))
		return
	}
	if m.Name == "" || m.Version == "" {
		return // a package.json used for tooling, not a published package
	}
	n.installed = append(n.installed, npmPackage(m.Name, m.Version, "/"+p))
}

// npmLock is the part of package-lock.json (lockfileVersion 1, 2 and 3)
// that lists the dependency tree.
type npmLock struct {
	// Packages (lockfileVersion 2 and 3) maps install paths such as
	// "node_modules/a/node_modules/b" to packages; "" is the project.
	Packages map[string]struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Link    bool   `json:"link"`
	} `json:"packages"`
	// Dependencies (lockfileVersion 1, kept in 2 for old clients) nests
	// packages by name.
	Dependencies map[string]npmLockV1 `json:"dependencies"`
}

type npmLockV1 struct {
	Version      string               `json:"version"`
	Dependencies map[string]npmLockV1 `json:"dependencies"`
}

func (n *npmPackages) readLockfile(fsys fs.FS, p string, errs *fileErrors) {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		errs.add(p, err)
		return
	}
	var lock npmLock
	if err := json.Unmarshal(b, &lock); err != nil {
		errs.add(p, fmt.Errorf("npm package-lock.json: %w", err))
		return
	}
	loc := "/" + p
	if len(lock.Packages) > 0 {
		for key, e := range lock.Packages {
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 || e.Link || e.Version == "" {
				continue // the project itself, a workspace link, or a bundled path
			}
			name := e.Name
			if name == "" {
				name = key[i+len("node_modules/"):]
			}
			n.locked = append(n.locked, npmPackage(name, e.Version, loc))
		}
		return
	}
	var walk func(deps map[string]npmLockV1)
	walk = func(deps map[string]npmLockV1) {
		for name, d := range deps {
			// Version may be a URL or "file:" for non-registry packages;
			// they are still listed, with what the lockfile says.
			if d.Version != "" {
				n.locked = append(n.locked, npmPackage(name, d.Version, loc))
			}
			walk(d.Dependencies)
		}
	}
	walk(lock.Dependencies)
}

// packages is every installed package, and every locked package that its
// project's node_modules does not also hold; the same name and version
// locked twice in one lockfile (nested installs) is listed once.
func (n *npmPackages) packages() []Package {
	type key struct{ root, name, version string }
	seen := map[key]bool{}
	var out []Package
	for _, p := range n.installed {
		root, _, _ := strings.Cut(p.Location, "/node_modules/")
		seen[key{root, p.Name, p.Version}] = true
		out = append(out, p)
	}
	for _, p := range n.locked {
		k := key{path.Dir(p.Location), p.Name, p.Version}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	return out
}

func npmPackage(name, version, location string) Package {
	ns, short := "", name
	if strings.HasPrefix(name, "@") {
		if s, n, ok := strings.Cut(name, "/"); ok {
			ns, short = s, n
		}
	}
	return Package{
		Name:      name,
		Version:   version,
		Type:      NPM,
		Ecosystem: "npm",
		PURL:      packageurl.NewPackageURL(packageurl.TypeNPM, ns, short, version, nil, "").ToString(),
		Location:  location,
	}
}
