package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A --policy path that holds no document of the kind its reader takes is
// a mistake (an image assurance policy given to the agent, a runtime
// policy to the image scanner, a directory that is not the one meant),
// and never silently "no policies". These checks run on the first load;
// a reload of a directory whose last policy was removed is not refused
// here (the Store's reload keeps its own rules).

// requireKind returns an error naming each path none of whose documents
// is of kind want; found says which files' documents were taken.
func requireKind(paths []string, src *files, want string, found func(file string) bool) error {
	var errs errorList
	for _, p := range paths {
		files, err := src.list(p)
		if err != nil {
			continue // reported by the load itself
		}
		if slices.ContainsFunc(files, found) {
			continue
		}
		errs.add(noDocument(p, files, src, want))
	}
	return errs.err()
}

// noDocument says that path holds no document of kind want, what it
// holds instead, and where that belongs.
func noDocument(path string, files []string, src *files, want string) *Error {
	use := map[string]string{
		Kind:          "mamori agent, admission serve, check and hostlogin take --policy with RuntimePolicy documents (docs/policies.md)",
		AssuranceKind: "mamori image scan and image register take --policy with ImageAssurancePolicy documents (docs/images.md)",
	}
	if len(files) == 0 {
		return errorf(Position{File: path}, "holds no *.yaml or *.yml file, so no %s document; name the file or directory that holds them", want)
	}
	kinds := kindsIn(files, src)
	if len(kinds) == 0 {
		return errorf(Position{File: path}, "holds no %s document (no document at all); %s", want, use[want])
	}
	var held []string
	other := ""
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		held = append(held, countDocuments(kinds[k], k))
		if k != want && use[k] != "" {
			other = k
		}
	}
	msg := fmt.Sprintf("holds no %s document but %s", want, strings.Join(held, " and "))
	if other != "" {
		msg += "; " + use[other] + ", " + strings.ToLower(use[want][:1]) + use[want][1:]
	} else {
		msg += "; " + use[want]
	}
	return &Error{Pos: Position{File: path}, Msg: msg}
}

// kindsIn counts the documents of each kind in files ("no kind" for a
// document that names none); unreadable files and documents are left to
// the loader that reports them.
func kindsIn(names []string, src *files) map[string]int {
	kinds := map[string]int{}
	for _, f := range names {
		data, err := src.read(f)
		if err != nil {
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				if !errors.Is(err, io.EOF) {
					kinds["unreadable YAML"]++
				}
				break
			}
			if len(doc.Content) == 0 || isNull(doc.Content[0]) {
				continue
			}
			k := docKind(doc.Content[0])
			if k == "" {
				k = "no kind"
			}
			kinds[k]++
		}
	}
	return kinds
}

// countDocuments says "1 RuntimePolicy document" or "3 RuntimePolicy documents".
func countDocuments(n int, kind string) string {
	switch kind {
	case "no kind":
		kind = "document without a kind"
	case "unreadable YAML":
		kind = "document of unreadable YAML"
	default:
		kind += " document"
	}
	if n == 1 {
		return "1 " + kind
	}
	return fmt.Sprintf("%d %ss", n, kind)
}

// LoadAny reads both kinds of policy document from paths, as `mamori
// policy validate` checks them: the runtime policies as Load does and the
// image assurance policies as LoadAssurance does, every problem of either
// reported. A path that holds neither kind is an error.
func LoadAny(stdin io.Reader, paths ...string) (*Set, []*AssurancePolicy, error) {
	src := &files{stdin: stdin}
	set, _, err := load(paths, src)
	var errs errorList
	for _, e := range Errors(err) {
		errs.add(e)
	}
	aps, aerr := loadAssurance(paths, src)
	for _, e := range Errors(aerr) {
		errs.add(e)
	}
	if err := errs.err(); err != nil {
		return nil, nil, err
	}
	for _, p := range paths {
		files, _ := src.list(p)
		has := func(file string) bool {
			return slices.ContainsFunc(set.policies, func(q *Policy) bool { return q.Source.File == file }) ||
				slices.ContainsFunc(aps, func(q *AssurancePolicy) bool { return q.Source.File == file })
		}
		if !slices.ContainsFunc(files, has) {
			e := noDocument(p, files, src, Kind)
			e.Msg = strings.Replace(e.Msg, "no "+Kind+" document", "no policy document (RuntimePolicy or ImageAssurancePolicy)", 1)
			errs.add(e)
		}
	}
	if err := errs.err(); err != nil {
		return nil, nil, err
	}
	return set, aps, nil
}
