package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/syscalls"
	"github.com/mamori-dev/mamori/sensor"
)

// auditCapture is auditd's configuration for the capture mamori's sensor
// makes for a set of rules files (none: mamori's built-in rules): a
// syscall rule for execve and for every other call the rules need, and a
// watch for every path prefix and directory of the opens, removes, renames
// and mkdirs they need (writes, removes, renames, mkdirs "w", attribute
// changes "a", reads "r"). What auditd cannot express is left out, in
// its favour, and listed in skipped: endings, substrings and process
// names of paths, "in a container", the directory "/" (a watch on it
// would be every file of the node), and paths this node does not have.
func auditCapture(files []string) (args [][]string, skipped []string, err error) {
	var fs []rules.File
	if len(files) == 0 {
		fs = append(fs, defaults.File())
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		fs = append(fs, rules.File{Name: filepath.Base(f), Data: data})
	}
	if o, ok, err := defaults.RuntimeOverrides(fs); err != nil {
		return nil, nil, err
	} else if ok {
		fs = append(fs, o)
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{syscalls.New()}}, fs...)
	if err != nil {
		return nil, nil, err
	}
	n := detect.NeedsOf(rs)
	// Removes, renames and mkdirs the sensor keys on their paths are
	// watched as auditd can (a watch's "w" covers them) rather than
	// audited on every call; a kind some rule wants whole stays a
	// syscall rule.
	watched := map[event.Type]bool{
		event.Unlink: !n.Removes.All, event.Rmdir: !n.Removes.All,
		event.Rename: !n.Renames.From.All && !n.Renames.To.All, event.Mkdir: !n.Mkdirs.All,
	}
	calls := []string{"execve", "execveat"}
	for _, t := range n.Types {
		if t == event.Open || t == event.Exec || watched[t] {
			continue
		}
		calls = append(calls, sensor.SyscallNames(t)...)
	}
	rule := []string{"-a", "always,exit", "-F", "arch=b64"}
	for _, c := range calls {
		rule = append(rule, "-S", c)
	}
	args = append(args, append(rule, "-k", "mamori-equiv"))

	perms := map[string]string{}
	watch := func(keys detect.PathKeys, perm string) {
		for _, p := range slices.Concat(keys.Prefixes, keys.Dirs) {
			if p == "/" {
				skipped = append(skipped, "the directory / ("+perm+")")
				continue
			}
			p = strings.TrimSuffix(p, "/")
			if !strings.Contains(perms[p], perm) {
				perms[p] += perm
			}
		}
		if keys.All {
			skipped = append(skipped, "every call ("+perm+")")
		}
		if keys.Containers {
			skipped = append(skipped, "every call in a container ("+perm+")")
		}
		for _, s := range slices.Concat(keys.Suffixes, keys.Contains, keys.Comms) {
			skipped = append(skipped, fmt.Sprintf("%q (%s)", s, perm))
		}
	}
	watch(n.Writes, "wa")
	watch(n.ReadWrites, "wa")
	watch(n.Reads, "r")
	if watched[event.Unlink] && slices.Contains(n.Types, event.Unlink) || watched[event.Rmdir] && slices.Contains(n.Types, event.Rmdir) {
		watch(n.Removes, "w")
	}
	if watched[event.Rename] && slices.Contains(n.Types, event.Rename) {
		watch(n.Renames.From, "w")
		watch(n.Renames.To, "w")
	}
	if watched[event.Mkdir] && slices.Contains(n.Types, event.Mkdir) {
		watch(n.Mkdirs, "w")
	}
	paths := make([]string, 0, len(perms))
	for p := range perms {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			// auditctl refuses a watch on a path that is not there.
			skipped = append(skipped, p+" (not on this node)")
			continue
		}
		args = append(args, []string{"-w", p, "-p", perms[p], "-k", "mamori-equiv"})
	}
	return args, skipped, nil
}
