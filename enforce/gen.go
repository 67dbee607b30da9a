package enforce

// The BPF object is generated with clang and committed, so that building
// mamori needs no clang. Regenerate with `go generate ./enforce`; CI fails
// when the committed output is stale.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -fdebug-prefix-map=$PWD=." -target amd64 -type verdict -type policy -type allow_key -type mount_key -type ns_owner drift drift.bpf.c -- -I../bpf/include
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -fdebug-prefix-map=$PWD=." -target amd64 -type net_rule -type lpm_key -type port_key -type bind_verdict net net.bpf.c -- -I../bpf/include
