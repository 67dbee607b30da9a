#!/bin/bash
# k8s-build.sh builds the Kubernetes binaries the cluster tests run, from
# the Go module proxy, into a cache that outlives the checkout:
#
#   kube-apiserver kubelet kubectl   k8s.io/kubernetes $K8S_VERSION, in a scratch
#                                    module that replaces each of its staging
#                                    modules (k8s.io/api, ...) by the published
#                                    v0.x.y of the same name
#   etcd                             a small program around go.etcd.io/etcd/server/v3/embed
#                                    (the source is k8s/testdata/etcd/main.go)
#   helm                             helm.sh/helm/v4's cmd/helm, to render the chart
#
# The binaries are never committed. A second run finds them and does
# nothing. The cache is $MAMORI_K8S_CACHE, else /var/cache/mamori-k8s.
# It prints the bin directory on its last line.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
export GOFLAGS=-mod=mod

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16
HELM_VERSION=v4.3.2

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${MAMORI_K8S_CACHE:-/var/cache/mamori-k8s}
bin=$cache/bin-$K8S_VERSION
mkdir -p "$bin" "$cache/src"
# Test binaries of several packages may ask at once: one builds, the
# others wait for it and find the cache.
exec 9>"$cache/.lock"
flock 9

log() { echo "k8s-build: $*" >&2; }

build_kubernetes() {
	local src=$cache/src/kubernetes-$K8S_VERSION
	mkdir -p "$src"
	local mod
	mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
	{
		echo "module mamori.test/kubernetes"
		echo
		echo "go 1.26"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		# k8s.io/kubernetes points its staging modules at ./staging/...,
		# which a module download does not carry: the same code is
		# published as k8s.io/<name> $STAGING_VERSION.
		grep -E '=> \./staging/' "$mod" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
	} >"$src/go.mod"
	local cmds="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl"
	(cd "$src" && go get $cmds >&2 && go build -trimpath -ldflags=-s -o "$bin/" $cmds)
}

build_etcd() {
	local src=$cache/src/etcd-$ETCD_VERSION
	mkdir -p "$src"
	cp "$here/k8s/testdata/etcd/main.go" "$src/main.go"
	printf 'module mamori.test/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$src/go.mod"
	(cd "$src" && go mod tidy >&2 && go build -trimpath -ldflags=-s -o "$bin/etcd" .)
}

build_helm() {
	local src=$cache/src/helm-$HELM_VERSION
	mkdir -p "$src"
	printf 'module mamori.test/helm\n\ngo 1.26\n\nrequire helm.sh/helm/v4 %s\n' "$HELM_VERSION" >"$src/go.mod"
	(cd "$src" && go get helm.sh/helm/v4/cmd/helm >&2 && go build -trimpath -ldflags=-s -o "$bin/helm" helm.sh/helm/v4/cmd/helm)
}

want=${*:-kubernetes etcd helm}
for w in $want; do
	case $w in
	kubernetes)
		if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kubelet" ] || [ ! -x "$bin/kubectl" ]; then
			log "building kube-apiserver, kubelet, kubectl $K8S_VERSION (minutes, once)"
			build_kubernetes
		fi
		;;
	etcd)
		[ -x "$bin/etcd" ] || { log "building etcd $ETCD_VERSION"; build_etcd; }
		;;
	helm)
		[ -x "$bin/helm" ] || { log "building helm $HELM_VERSION"; build_helm; }
		;;
	*)
		log "unknown part $w (kubernetes, etcd, helm)"
		exit 2
		;;
	esac
done
echo "$bin"
