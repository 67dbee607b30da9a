#!/usr/bin/env bash
# What `mamori hostlogin check` adds to a login; see docs/benchmarks.md
# ("Host logins").
#
#   sudo bench/hostlogin.sh [runs]        (default 200 per command)
#
# Builds mamori, writes a policy directory (the hostLogins policy plus the
# examples of docs/policies.md's shape: five policies), adds a user and two
# PAM services of its own (removed on exit), and times with hyperfine:
#   pam-bare     pamtester's account phase with pam_permit only
#   pam-mamori   the same with mamori's pam_exec line first
#   check        `mamori hostlogin check` alone, PAM_* set as pam_exec sets them
#   version      `mamori version`: the binary's start-up, the floor of check
# pam-mamori minus pam-bare is the cost of the check in a login.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
runs=${1:-200}
[ "$(id -u)" = 0 ] || { echo "hostlogin.sh: must run as root (useradd, /etc/pam.d)" >&2; exit 1; }
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
command -v pamtester >/dev/null || apt-get install -y -qq pamtester >/dev/null
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/mamori-hlbench.XXXXXX)
id=$(basename "$work" | tr -dc 'a-z0-9' | tail -c 6)
user=mmb$id
bare=/etc/pam.d/mamori-bench-$id-bare
guarded=/etc/pam.d/mamori-bench-$id
cleanup() { rm -rf "$work" "$bare" "$guarded"; userdel "$user" 2>/dev/null || true; }
trap cleanup EXIT

(cd "$repo" && go build -o "$work/mamori" ./cmd/mamori)
useradd -M -U -s /usr/sbin/nologin "$user"
mkdir "$work/policies"
policy() { # name mode scope controls
	printf 'apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: %s}\nspec:\n  mode: %s\n  scope: %s\n  controls:\n%s\n---\n' "$@"
}
{
	policy host-logins enforce '{not: {container: {}}}' '    hostLogins: {allowGroups: [root, "mmb*"], blockUsers: [guest, "test*"]}'
	policy host-logins-trial audit '{host: {group: prod}}' '    hostLogins: {blockGroups: [contractors]}'
	policy shop enforce '{kubernetes: {namespace: [shop, "shop-*"]}}' '    driftPrevention: {}
    forkGuard: {maxProcesses: 500}'
	policy no-tools enforce '{container: {}}' '    executableBlocklist: {names: [nc, ncat, socat, nmap]}'
	policy forensics audit '{container: {}}' '    forensics: {events: 50}'
} >"$work/policies/policies.yaml"
"$work/mamori" policy validate "$work/policies" >/dev/null

printf 'auth required pam_permit.so\naccount required pam_permit.so\n' >"$bare"
printf 'auth required pam_permit.so\naccount required pam_exec.so quiet stdout %s hostlogin check --policy %s --alerts-output %s\naccount required pam_permit.so\n' \
	"$work/mamori" "$work/policies" "$work/alerts.jsonl" >"$guarded"
pamtester "$(basename "$guarded")" "$user" acct_mgmt >/dev/null
pamtester "$(basename "$guarded")" root acct_mgmt >/dev/null

echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $runs runs each"
hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/h.json" \
	-n pam-bare "pamtester $(basename "$bare") $user acct_mgmt" \
	-n pam-mamori "pamtester $(basename "$guarded") $user acct_mgmt" \
	-n check "env PAM_USER=$user PAM_SERVICE=sshd PAM_TYPE=account $work/mamori hostlogin check --policy $work/policies --alerts-output $work/alerts.jsonl" \
	-n version "$work/mamori version"
python3 - "$work/h.json" <<'PY'
import json, sys, statistics as st
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda v: v * 1000
print("%-11s %8s %8s %8s %8s %8s" % ("command", "median", "p90", "min", "user", "sys"))
for n, x in r.items():
    t = sorted(x["times"])
    print("%-11s %7.1fms %7.1fms %7.1fms %7.1fms %7.1fms" % (n, ms(st.median(t)), ms(t[int(len(t) * 0.9)]), ms(t[0]), ms(x["user"]), ms(x["system"])))
d = st.median(r["pam-mamori"]["times"]) - st.median(r["pam-bare"]["times"])
print("the check adds %.1f ms (median) to a login's account phase" % ms(d))
PY
