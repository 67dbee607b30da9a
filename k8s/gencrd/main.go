// Command gencrd writes mamori's CustomResourceDefinitions, one file per
// kind, into the directory it is given (the Helm chart's crds/). Run it
// with `go generate ./k8s`; TestCRDFiles fails when the committed files
// differ from what it writes.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mamori-dev/mamori/k8s"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencrd DIR")
		os.Exit(2)
	}
	for _, r := range k8s.Resources {
		b, err := k8s.CRDFile(r)
		if err == nil {
			err = os.WriteFile(filepath.Join(os.Args[1], r.Plural+".yaml"), b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
