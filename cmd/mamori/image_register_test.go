package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/imagestore"
)

// TestImageRegisterCommands: register records a non-compliant image with
// its verdict and exits 1, list shows it in a table and in JSON,
// unregister by image id removes it; usage errors exit 2, an image that
// cannot be read 3, and neither list nor unregister creates a database.
func TestImageRegisterCommands(t *testing.T) {
	dir := imageLayout(t) // the built-in policy refuses its PATH directory and ENV secret
	tmp := t.TempDir()
	db := filepath.Join(tmp, "state", "images.db")
	var out, errOut bytes.Buffer

	err := execute([]string{"image", "register", "oci:" + dir, "--image-db", db, "-o", "json"}, &out, &errOut)
	if exitCode(err) != exitNonCompliant || !strings.Contains(err.Error(), "registered but not compliant") {
		t.Fatalf("register: exit %d: %v\n%s", exitCode(err), err, errOut.String())
	}
	var recs []imagestore.Record
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
		t.Fatalf("register --format json: %v\n%s", err, out.String())
	}
	if len(recs) != 1 || recs[0].Compliant || len(recs[0].Reasons) != 2 || recs[0].Executables != 1 || !strings.HasPrefix(recs[0].ID, "sha256:") {
		t.Fatalf("registered %+v", recs)
	}
	id := recs[0].ID

	out.Reset()
	if err := execute([]string{"image", "list", "--image-db", db}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "NOT compliant (2 reasons)") || !strings.Contains(out.String(), shortID(id)) {
		t.Errorf("list:\n%s", out.String())
	}
	out.Reset()
	if err := execute([]string{"image", "list", "--image-db", db, "-o", "json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil || len(recs) != 1 || recs[0].ID != id {
		t.Errorf("list --format json: %v\n%s", err, out.String())
	}

	// Registered again under a lenient policy: compliant, exit 0.
	pol := filepath.Join(tmp, "lenient.yaml")
	os.WriteFile(pol, []byte("apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: lenient}\nspec:\n  scope: {image: {}}\n  rules: {blockMalware: true}\n"), 0o644)
	out.Reset()
	if err := execute([]string{"image", "register", "--image-db", db, "--policy", pol, "oci:" + dir}, &out, io.Discard); err != nil {
		t.Fatalf("register under a lenient policy: %v", err)
	}
	if !strings.Contains(out.String(), "VERDICT compliant with lenient") {
		t.Errorf("register table:\n%s", out.String())
	}

	out.Reset()
	if err := execute([]string{"image", "unregister", "--image-db", db, id}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "unregistered @sha256:") {
		t.Errorf("unregister %s: %v\n%s", id, err, out.String())
	}
	if err := execute([]string{"image", "unregister", id, "--image-db", db}, io.Discard, io.Discard); exitCode(err) != 1 || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("unregister again: exit %d: %v", exitCode(err), err)
	}
	out.Reset()
	execute([]string{"image", "list", "--image-db", db}, &out, io.Discard)
	if !strings.Contains(out.String(), "No images registered.") {
		t.Errorf("list after unregister:\n%s", out.String())
	}

	missing := filepath.Join(tmp, "none", "images.db")
	if err := execute([]string{"image", "list", "--image-db", missing}, io.Discard, io.Discard); err != nil {
		t.Errorf("list of a missing database: %v", err)
	}
	if err := execute([]string{"image", "unregister", "--image-db", missing, "nginx"}, io.Discard, io.Discard); exitCode(err) != 1 {
		t.Errorf("unregister from a missing database: exit %d: %v", exitCode(err), err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Error("list or unregister created a database")
	}

	for _, args := range [][]string{{"register", "--image-db", db}, {"register", "--image-db", db, "-o", "xml", "oci:" + dir},
		{"register", "--image-db", db, "--policy", filepath.Join(tmp, "none.yaml"), "oci:" + dir}, {"unregister", "--image-db", db}, {"list", "extra"}} {
		if err := execute(append([]string{"image"}, args...), io.Discard, io.Discard); exitCode(err) != 2 {
			t.Errorf("%v: exit %d: %v", args, exitCode(err), err)
		}
	}
	if err := execute([]string{"image", "register", "--image-db", db, "oci:" + filepath.Join(tmp, "missing")}, io.Discard, io.Discard); exitCode(err) != exitScanError {
		t.Errorf("missing layout: exit %d: %v", exitCode(err), err)
	}
}
