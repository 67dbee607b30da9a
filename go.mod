module github.com/mamori-dev/mamori

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	go.etcd.io/bbolt v1.4.3
	golang.org/x/sys v0.49.0
	gopkg.in/yaml.v3 v3.0.1
)

tool github.com/cilium/ebpf/cmd/bpf2go
