package sbom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	rpmdb "github.com/erikvarga/go-rpmdb/pkg"
	"github.com/package-url/packageurl-go"

	// The SQLite driver rpmdb needs for rpm 4.16+'s rpmdb.sqlite
	// (Fedora 33+, RHEL 9 and its rebuilds), in pure Go.
	_ "modernc.org/sqlite"
)

// rpmDatabases are the rpm database files, newest format first: SQLite
// (rpm 4.16+), NDB (SUSE) and Berkeley DB (RHEL 8 and older), in rpm's
// old and new (/usr/lib/sysimage) locations.
var rpmDatabases = []string{
	"var/lib/rpm/rpmdb.sqlite",
	"usr/lib/sysimage/rpm/rpmdb.sqlite",
	"var/lib/rpm/Packages.db",
	"usr/lib/sysimage/rpm/Packages.db",
	"var/lib/rpm/Packages",
	"usr/lib/sysimage/rpm/Packages",
}

// extractRPM reads the first rpm database found. The reader needs a file
// on disk, so the database (with its SQLite write-ahead log, which holds
// transactions not yet checkpointed) is copied to a temporary directory.
func extractRPM(ctx context.Context, fsys fs.FS, d distro, errs *fileErrors) []Package {
	for _, p := range rpmDatabases {
		if _, err := fs.Stat(fsys, p); err != nil {
			continue
		}
		pkgs, err := readRPMDB(ctx, fsys, p, d)
		if err != nil {
			errs.add(p, err)
		}
		return pkgs
	}
	return nil
}

func readRPMDB(ctx context.Context, fsys fs.FS, p string, d distro) ([]Package, error) {
	tmp, err := os.MkdirTemp("", "mamori-rpmdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, path.Base(p))
	if err := copyOut(fsys, p, local); err != nil {
		return nil, err
	}
	if strings.HasSuffix(p, ".sqlite") {
		if err := copyOut(fsys, p+"-wal", local+"-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	db, err := rpmdb.Open(local)
	if err != nil {
		return nil, fmt.Errorf("open rpm database: %w", err)
	}
	defer db.Close()
	infos, err := db.ListPackagesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read rpm database: %w", err)
	}
	ns := d.ID
	if ns == "" {
		ns = "rpm"
	}
	var pkgs []Package
	for _, in := range infos {
		if in.Name == "gpg-pubkey" {
			continue // imported signing keys, not software
		}
		version := in.Version + "-" + in.Release
		q := packageurl.Qualifiers{}
		if in.Arch != "" {
			q = append(q, packageurl.Qualifier{Key: "arch", Value: in.Arch})
		}
		if in.Epoch != nil && *in.Epoch != 0 {
			version = strconv.Itoa(*in.Epoch) + ":" + version
			q = append(q, packageurl.Qualifier{Key: "epoch", Value: strconv.Itoa(*in.Epoch)})
		}
		if dist := d.purlDistro(); dist != "" {
			q = append(q, packageurl.Qualifier{Key: "distro", Value: dist})
		}
		pkg := Package{
			Name:      in.Name,
			Version:   version,
			Type:      RPM,
			Ecosystem: d.ecosystem(),
			Location:  "/" + p,
			Arch:      in.Arch,
		}
		pkg.SourceName, pkg.SourceVersion = sourceRPM(in.SourceRpm)
		pkg.PURL = packageurl.NewPackageURL(packageurl.TypeRPM, ns, in.Name, in.Version+"-"+in.Release, q, "").ToString()
		pkgs = append(pkgs, pkg)
	}
	return pkgs, nil
}

// sourceRPM splits a source RPM file name, NAME-VERSION-RELEASE.src.rpm,
// into the source package's name and VERSION-RELEASE.
func sourceRPM(file string) (name, version string) {
	base, ok := strings.CutSuffix(file, ".src.rpm")
	if !ok {
		return "", ""
	}
	i := strings.LastIndex(base, "-")
	if i <= 0 {
		return "", ""
	}
	j := strings.LastIndex(base[:i], "-")
	if j <= 0 {
		return "", ""
	}
	return base[:j], base[j+1:]
}

func copyOut(fsys fs.FS, from, to string) error {
	in, err := fsys.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
