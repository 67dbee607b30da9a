package sensor

// The BPF object is generated with clang and committed, so that building
// mamori needs no clang. Regenerate with `go generate ./sensor` (or
// `make generate`); CI fails when the committed output is stale.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -fdebug-prefix-map=$PWD=." -target amd64 -type header -type exec_body -type fork_body -type exit_body -type cgroup_move_body -type drops -type blind_window -type syscall_body -type sock_info -type file_info -type comm_key -type dns_body -type syscall_spec -type path_key sensor sensor.bpf.c -- -I../bpf/include
