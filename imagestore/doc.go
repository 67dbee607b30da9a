// Package imagestore owns mamori's registered images: the images an
// operator has scanned and registered with `mamori image register`, kept in
// an embedded SQLite database (by default /var/lib/mamori/images.db). Each
// record holds the image's identity (its image id, the config digest that
// podman and containerd show; its manifest digest; the names that point at
// it), when it was registered and scanned, the verdict of the image
// assurance policies that judged it (compliant, or every reason why not),
// a summary of the scan's findings by severity and category, and the
// executables baseline that Drift Prevention compares a running container
// against.
//
// Store implements workload.Images: the admission webhook and the node
// agent's OCI hook ask it whether the image a workload names is registered
// and compliant. Every lookup reads the database, so a re-scan that turns
// an image non-compliant refuses the next container at once; nothing is
// cached beyond SQLite's own page cache, which SQLite keeps coherent.
// Readers (the agent) and the writer (`mamori image register`) may run at
// the same time: the database is in WAL mode, readers never block the
// writer, and a writer waits for another one up to a busy timeout.
//
// The driver is modernc.org/sqlite, SQLite's C source translated to Go:
// no cgo, so the single static binary stays. It was measured against
// github.com/ncruces/go-sqlite3 (SQLite compiled to WebAssembly, also
// without cgo) on cmd/mamori: modernc added 6.1 MB to the 27.4 MB binary,
// ncruces 9.4 MB; and image/sbom already links modernc.org/sqlite to read
// RPM databases, so the store costs the binary almost nothing more.
//
// It must not scan images (package image does), decide what a verdict
// means for a workload (package workload does), or print: it returns
// records and errors, and logs only lookup failures, which its
// workload.Images method cannot return.
package imagestore
