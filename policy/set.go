package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Set is a loaded, validated and immutable collection of policies with
// the list files they name. Reloading builds a new Set; nothing changes a
// Set once Load returns it, so any number of goroutines may read one.
type Set struct {
	paths    []string
	policies []*Policy
	files    []string // every file read, policies and lists
	digest   string
	src      *files // where "-" was read from, for RequireDocuments
}

// Load reads policies from files and directories (a directory's *.yaml
// and *.yml files, sorted by name, not recursing; names starting with '.'
// are skipped, as are Kubernetes ConfigMap internals), reads the IP lists
// and registered-images lists they name, and returns them after the
// built-in default. Every problem in every file is reported, each as an
// *Error with its file:line:col; on any problem Load returns no Set.
//
// A path with no policy in it loads as no policy: commands that read
// paths a user named refuse that with RequireDocuments.
func Load(paths ...string) (*Set, error) { return LoadFrom(nil, paths...) }

// LoadFrom is Load where the path "-" reads stdin (once), its positions
// named "<stdin>".
func LoadFrom(stdin io.Reader, paths ...string) (*Set, error) {
	src := &files{stdin: stdin}
	s, _, err := load(paths, src)
	if err != nil {
		return nil, err
	}
	s.src = src
	return s, nil
}

// RequireDocuments refuses each of paths (paths the Set was loaded from,
// as a user named them) that holds no RuntimePolicy document, saying what
// it holds instead: an image assurance policy given to the agent, an empty
// directory, are mistakes, not "no policies". A library that loads paths
// it made (the console's central policies, which may all be removed) does
// not call it.
func (s *Set) RequireDocuments(paths ...string) error {
	return requireKind(paths, s.src, Kind, func(file string) bool {
		return slices.ContainsFunc(s.policies, func(p *Policy) bool { return p.Source.File == file })
	})
}

// StdinName names the policies read from standard input ("-").
const StdinName = "<stdin>"

// files reads the files of policy paths: from disk, and for "-" from
// stdin, read once however often it is asked for.
type files struct {
	stdin io.Reader
	data  []byte
	err   error
	done  bool
	// watched: the files are a Store's, read again whenever they change,
	// so a blank one is most likely caught mid-write.
	watched bool
}

// list expands one --policy argument (see policyFiles); "-" is stdin.
func (f *files) list(p string) ([]string, error) {
	if p == "-" {
		return []string{StdinName}, nil
	}
	return policyFiles(p)
}

// read reads one file a list named.
func (f *files) read(name string) ([]byte, error) {
	if name != StdinName || f == nil {
		return os.ReadFile(name)
	}
	if !f.done {
		f.done = true
		if f.stdin == nil {
			f.err = errors.New("no standard input here")
		} else {
			f.data, f.err = io.ReadAll(io.LimitReader(f.stdin, 16<<20))
		}
	}
	return f.data, f.err
}

// load also returns every path it looked at, so that a Store can notice
// when a missing or broken file appears or changes.
func load(paths []string, src *files) (*Set, []string, error) {
	var errs errorList
	var watched []string
	h := sha256.New()
	read := func(name string) ([]byte, error) {
		watched = append(watched, name)
		b, err := src.read(name)
		if err == nil {
			fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
			h.Write(b)
		}
		return b, err
	}

	policies := Builtin()
	var files []string
	for _, p := range paths {
		watched = append(watched, p)
		fs, err := src.list(p)
		if err != nil {
			errs.addf(Position{File: p}, "%v", err)
			continue
		}
		files = append(files, fs...)
	}
	for _, f := range files {
		b, err := read(f)
		if err != nil {
			errs.addf(Position{File: f}, "cannot read the policy file: %v", unwrapPath(err))
			continue
		}
		if src != nil && src.watched && blankYAML(b) {
			// Most often a file caught between its truncation and its
			// write (cp over it, an editor saving in place): taking it for
			// "no policies" would lift them until the write lands.
			errs.addf(Position{File: f}, "holds no YAML document: an empty policy file is taken for one being written; remove the file to remove its policies")
			continue
		}
		ps, err := Parse(f, b)
		for _, e := range Errors(err) {
			errs.add(e)
		}
		policies = append(policies, ps...)
	}

	seen := map[string]*Policy{}
	for _, p := range policies {
		if q := seen[p.Name()]; q != nil {
			errs.addf(p.At("metadata.name"), "policy %q is already defined at %s; give each policy a unique name", p.Name(), q.At("metadata.name"))
			continue
		}
		seen[p.Name()] = p
	}

	ipLists := map[string]*IPList{}
	imageLists := map[string]*ImageList{}
	for _, p := range policies {
		c := &p.Spec.Controls
		if r := c.IPReputation; r != nil {
			var sets []*IPList
			for i, name := range r.Lists {
				l, ok := ipLists[name]
				if !ok {
					l = loadList(read, name, p.At("spec.controls.ipReputation.lists["+itoa(i)+"]"), &errs, ParseIPList)
					ipLists[name] = l
				}
				if l != nil {
					sets = append(sets, l)
				}
			}
			r.sets = append(sets, r.sets...)
		}
		if b := c.BlockUnregisteredImages; b != nil {
			for i, name := range b.RegisteredImages {
				l, ok := imageLists[name]
				if !ok {
					l = loadList(read, name, p.At("spec.controls.blockUnregisteredImages.registeredImages["+itoa(i)+"]"), &errs, ParseImageList)
					imageLists[name] = l
				}
				if l != nil {
					b.lists = append(b.lists, l)
				}
			}
		}
	}
	if err := errs.err(); err != nil {
		return nil, watched, err
	}
	return &Set{
		paths:    slices.Clone(paths),
		policies: policies,
		files:    slices.Clone(watched),
		digest:   "sha256:" + hex.EncodeToString(h.Sum(nil)),
	}, watched, nil
}

// loadList reads a list file a policy names; problems are reported both
// where the policy names the file and inside the file.
func loadList[L any](read func(string) ([]byte, error), name string, ref Position, errs *errorList,
	parse func(string, []byte) (*L, error)) *L {
	b, err := read(name)
	if err != nil {
		errs.addf(ref, "cannot read list file %s: %v; check the path (relative paths are relative to the policy file)", name, unwrapPath(err))
		return nil
	}
	l, err := parse(name, b)
	if err != nil {
		for _, e := range Errors(err) {
			errs.add(&Error{Pos: e.Pos, Msg: e.Msg + " (list named at " + ref.String() + ")"})
		}
		return nil
	}
	return l
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// policyFiles expands one --policy argument.
func policyFiles(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("cannot open the policy path: %v; check --policy", unwrapPath(err))
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("cannot list the policy directory: %v", unwrapPath(err))
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		full := filepath.Join(p, name)
		if fi, err := os.Stat(full); err != nil || fi.IsDir() {
			continue // a dangling ConfigMap symlink mid-update, or a directory
		}
		out = append(out, full)
	}
	return out, nil // os.ReadDir sorts by name
}

// Paths returns the files and directories the Set was loaded from.
func (s *Set) Paths() []string { return s.paths }

// Files returns every path the Set depends on: the paths it was given,
// the policy files found in them, and the list files policies name.
func (s *Set) Files() []string { return s.files }

// Policies returns every policy, the built-in default first, then in the
// order of the paths and of the documents in each file.
func (s *Set) Policies() []*Policy { return s.policies }

// Policy returns the policy with the given name, or nil.
func (s *Set) Policy(name string) *Policy {
	for _, p := range s.policies {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Digest identifies the content of every file the Set read.
func (s *Set) Digest() string { return s.digest }

// Effective merges every policy of the Set that applies to t.
func (s *Set) Effective(t *Target) *Effective { return Merge(t, s.policies) }

// blankYAML reports whether b holds no YAML document: only blank lines,
// comments and document markers.
func blankYAML(b []byte) bool {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && line != "..." && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}
