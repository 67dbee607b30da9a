#!/bin/bash
# install-deps.sh installs what mamori needs on a fresh Debian 12 machine of
# the project's kind (root, Go already at /usr/local/go), then makes rootful
# podman usable. Idempotent: it installs only what is missing.
#
#   clang llvm libbpf-dev bpftool  regenerate the committed BPF object (CI checks it)
#   iproute2 openssh-client python3  test hosts in network namespaces, and real
#                                  tools that upstream Falco rules look for
#   libpam-modules pamtester       a real PAM stack for the host-login tests (pam_exec)
#   podman runc ... containerd     real containers for the tests (setup-podman.sh)
#   containernetworking-plugins    the CNI bridge of the Kubernetes tests' node (the
#                                  kubelet, kube-apiserver and etcd themselves are
#                                  built from the Go module proxy: scripts/k8s-build.sh)
#   clamav-daemon clamav yara      malware scanning: the tests start their own
#                                  clamd on a signature database they write
#   rpm                            rpm and rpmbuild: the SBOM tests build real RPM databases
#   postgresql                     the console's PostgreSQL store: tests start their own server
#                                  (initdb + pg_ctl in a temporary directory, internal/pgtest)
#   chromium                       the web console's tests drive Debian's headless Chromium
#   nodejs npm                     rebuild the web console's committed assets (console/web),
#                                  which CI checks; only when node/npm are not there already
#
# Building and running the agent needs none of these: the BPF object is
# committed, so `go build` needs no clang.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: must run as root (it uses apt-get)" >&2
	exit 1
fi
export PATH=$PATH:/usr/local/go/bin
export DEBIAN_FRONTEND=noninteractive

pkgs="clang llvm libbpf-dev bpftool iproute2 openssh-client python3 libpam-modules pamtester clamav-daemon clamav yara rpm postgresql chromium containernetworking-plugins"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A node of another origin (e.g. a nodejs package with npm inside) serves as
# well; Debian's are installed only when there is none.
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"
if [ -n "$missing" ]; then
	echo "install-deps.sh: installing$missing" >&2
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

here=$(cd "$(dirname "$0")" && pwd)
"$here/setup-podman.sh"
command -v go >/dev/null || { echo "install-deps.sh: Go is not on PATH (expected /usr/local/go/bin)" >&2; exit 1; }
