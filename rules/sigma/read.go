package sigma

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/rules"
)

// IsSigma reports whether data holds Sigma documents rather than a Falco
// rules file: its first document is a mapping with a logsource,
// detection, correlation or action key. A Falco rules file is a list.
func IsSigma(data []byte) bool {
	var n yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&n); err != nil {
		return false
	}
	root := &n
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	for _, k := range []string{"logsource", "detection", "correlation", "action"} {
		if valueAt(root, k) != nil {
			return true
		}
	}
	return false
}

// ReadFiles reads rules files as rules.ReadFiles does, in order, and
// translates those holding Sigma rules (see IsSigma) into Falco rules
// files. A directory is read recursively for *.yml and *.yaml files, in
// name order. It returns the files, ready for rules.Load, and the Sigma
// rules that could not be translated; the error is for files that
// cannot be read.
func ReadFiles(cfg Config, paths ...string) ([]rules.File, []Untranslated, error) {
	t := NewTranslator(cfg)
	var files []rules.File
	var report []Untranslated
	for _, p := range paths {
		if p == "-" {
			f, err := readStdin(cfg.Stdin)
			if err != nil {
				return nil, nil, err
			}
			if IsSigma(f.Data) {
				tr := t.Translate(f)
				f = tr.File
				report = append(report, tr.Untranslated...)
			}
			files = append(files, f)
			continue
		}
		names, err := expand(p)
		if err != nil {
			return nil, nil, err
		}
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, nil, fmt.Errorf("read rules file: %w", err)
			}
			f := rules.File{Name: name, Data: b}
			if IsSigma(b) {
				tr := t.Translate(f)
				f = tr.File
				report = append(report, tr.Untranslated...)
			}
			files = append(files, f)
		}
	}
	return files, report, nil
}

// StdinName names the rules read from standard input in positions.
const StdinName = "<stdin>"

// readStdin reads rules given as "-".
func readStdin(r io.Reader) (rules.File, error) {
	if r == nil {
		return rules.File{}, fmt.Errorf("read rules file -: no standard input here")
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return rules.File{}, fmt.Errorf("read rules from standard input: %w", err)
	}
	return rules.File{Name: StdinName, Data: b}, nil
}

// expand lists the rules files a path names: itself, or for a directory
// the YAML files under it.
func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var names []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := strings.ToLower(filepath.Ext(path)); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rules directory %s: %w", p, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("rules directory %s holds no *.yml or *.yaml file", p)
	}
	sort.Strings(names)
	return names, nil
}
