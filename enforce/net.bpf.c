//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// Network refusal for IP Reputation and Network Egress: cgroup-BPF programs
// on connect() and on sendmsg() with an address, attached once at the root
// of the cgroup v2 hierarchy. A task whose cgroup has a rule is refused
// (EPERM) a destination on its block list, or off its allow list; every
// other task passes after one hash lookup. For Listening Ports, programs on
// bind() refuse a port off the cgroup's port list and report each refusal.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct net_rule {
	__u32 block; /* list id of the block list, 0 for none */
	__u32 allow; /* list id of the allow list, 0 for none: all allowed */
	__u32 ports; /* list id of the ports bind() may take, 0 for none: all */
};

/* A port range is a prefix of the 24 bits protocol, port (network byte
 * order), after the 32 bits of list id. */
struct port_key {
	__u32 prefixlen;
	__u32 list;
	__u8 proto;
	__u8 port[2];
};

/* One refused bind(), for the agent's alert. */
struct bind_verdict {
	__u64 cgroup;
	__u32 pid; /* thread group id */
	__u16 port; /* host byte order */
	__u8 proto;
	__u8 family; /* 4 or 6 */
	__u8 addr[16]; /* the address it asked for */
	__u8 comm[16];
};
const struct bind_verdict *unused_bind_verdict __attribute__((unused));

/* Addresses are IPv6, IPv4 mapped into ::ffff:0:0/96. prefixlen counts the
 * 32 bits of list first. */
struct lpm_key {
	__u32 prefixlen;
	__u32 list;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct net_rule);
} rules SEC(".maps");

/* Connections refused per cgroup. Apart from rules, so that replacing a
 * cgroup's rule (one map update) loses no count. User space creates the
 * entry with the cgroup's first rule. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, __u64);
} refused SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__type(key, struct lpm_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, __u64);
} binds_refused SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct port_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} bind_verdicts SEC(".maps");

/* Bind verdicts the ring buffer had no room for; index 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bind_lost SEC(".maps");

static __always_inline int listed(__u32 list, struct lpm_key *k)
{
	k->prefixlen = 32 + 128;
	k->list = list;
	return bpf_map_lookup_elem(&prefixes, k) != NULL;
}

static __always_inline int loopback(struct lpm_key *k)
{
	int v4 = 1;
	for (int i = 0; i < 10; i++)
		v4 &= k->addr[i] == 0;
	if (v4 && k->addr[10] == 0xff && k->addr[11] == 0xff)
		return k->addr[12] == 127;
	int one = k->addr[15] == 1;
	for (int i = 0; i < 15; i++)
		one &= k->addr[i] == 0;
	return one;
}

static __always_inline int decide(struct lpm_key *k)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct net_rule *r = bpf_map_lookup_elem(&rules, &cg);
	if (!r || loopback(k))
		return 1;
	if ((r->block && listed(r->block, k)) || (r->allow && !listed(r->allow, k))) {
		__u64 *n = bpf_map_lookup_elem(&refused, &cg);
		if (n)
			__sync_fetch_and_add(n, 1);
		return 0; /* EPERM */
	}
	return 1;
}

static __always_inline int v4(struct bpf_sock_addr *ctx)
{
	struct lpm_key k = {};
	__u32 ip = ctx->user_ip4;
	k.addr[10] = 0xff;
	k.addr[11] = 0xff;
	__builtin_memcpy(&k.addr[12], &ip, 4);
	return decide(&k);
}

static __always_inline int v6(struct bpf_sock_addr *ctx)
{
	struct lpm_key k = {};
	__u32 w;
	w = ctx->user_ip6[0];
	__builtin_memcpy(&k.addr[0], &w, 4);
	w = ctx->user_ip6[1];
	__builtin_memcpy(&k.addr[4], &w, 4);
	w = ctx->user_ip6[2];
	__builtin_memcpy(&k.addr[8], &w, 4);
	w = ctx->user_ip6[3];
	__builtin_memcpy(&k.addr[12], &w, 4);
	return decide(&k);
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx) { return v4(ctx); }

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx) { return v6(ctx); }

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx) { return v4(ctx); }

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx) { return v6(ctx); }

#define IPPROTO_UDPLITE_ 136

/* bind(): port 0 asks the kernel for a free port, which clients do and
 * which takes no port of the list's; any other port must be on the
 * cgroup's list. Autobinds (an unbound socket that connects or sends)
 * never come here. */
static __always_inline int bind_decide(struct bpf_sock_addr *ctx, __u8 family, __u8 *addr)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct net_rule *r = bpf_map_lookup_elem(&rules, &cg);
	if (!r || !r->ports)
		return 1;
	__u16 port = (__u16)ctx->user_port; /* network byte order */
	if (port == 0)
		return 1;
	__u32 proto = ctx->protocol;
	if (proto == IPPROTO_UDPLITE_)
		proto = IPPROTO_UDP;
	struct port_key k = {.prefixlen = 32 + 8 + 16, .list = r->ports, .proto = (__u8)proto};
	__builtin_memcpy(k.port, &port, 2);
	/* A protocol that does not fit the key is on no list. */
	if (proto <= 255 && bpf_map_lookup_elem(&ports, &k))
		return 1;
	__u64 *n = bpf_map_lookup_elem(&binds_refused, &cg);
	if (n)
		__sync_fetch_and_add(n, 1);
	struct bind_verdict *v = bpf_ringbuf_reserve(&bind_verdicts, sizeof(*v), 0);
	if (!v) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&bind_lost, &zero);
		if (lost)
			*lost += 1;
		return 0;
	}
	v->cgroup = cg;
	v->pid = bpf_get_current_pid_tgid() >> 32;
	v->port = __builtin_bswap16(port);
	v->proto = proto <= 255 ? (__u8)proto : 255;
	v->family = family;
	__builtin_memcpy(v->addr, addr, 16);
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	bpf_ringbuf_submit(v, 0);
	return 0; /* EPERM */
}

SEC("cgroup/bind4")
int bind4(struct bpf_sock_addr *ctx)
{
	__u8 addr[16] = {};
	__u32 ip = ctx->user_ip4;
	__builtin_memcpy(addr, &ip, 4);
	return bind_decide(ctx, 4, addr);
}

SEC("cgroup/bind6")
int bind6(struct bpf_sock_addr *ctx)
{
	__u8 addr[16];
	__u32 w;
	w = ctx->user_ip6[0];
	__builtin_memcpy(&addr[0], &w, 4);
	w = ctx->user_ip6[1];
	__builtin_memcpy(&addr[4], &w, 4);
	w = ctx->user_ip6[2];
	__builtin_memcpy(&addr[8], &w, 4);
	w = ctx->user_ip6[3];
	__builtin_memcpy(&addr[12], &w, 4);
	return bind_decide(ctx, 6, addr);
}
