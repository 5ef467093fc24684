#!/usr/bin/env bash
# make demo: azop reconciling an AzureCluster end to end on this machine.
#
# Starts a real etcd + kube-apiserver (azop-testenv), the ARM simulator (azop-armsim) with
# realistic per-type latencies scaled down, installs the CRDs and the operator's RBAC, runs
# `azop run` as its ServiceAccount (the least-privilege role from config/rbac/), applies
# config/samples/azurecluster-demo.yaml, shows it converge, shows `kubectl azop plan` of a
# change to it and `kubectl azop drift` of a tag changed by hand in Azure (DetectOnly, then
# corrected under Manage), deletes it and shows it go.
# Every process started here is stopped on exit, on Ctrl-C and on SIGTERM.
#
# Knobs (environment): AZOP_DEMO_LATENCY_SCALE (default 0.3: about 35 s to Ready and 25 s to
# delete), AZOP_DEMO_SAMPLE, AZOP_DEMO_KEEP_LOGS=1 (keep the work dir with the logs).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
scale="${AZOP_DEMO_LATENCY_SCALE:-0.3}"
# How often the operator reads Azure again: drift made by hand is seen within this.
resync=10
sample="${AZOP_DEMO_SAMPLE:-config/samples/azurecluster-demo.yaml}"
cargo="${CARGO:-cargo}"

step() { printf '\n==> %s\n' "$*"; }

# Every binary this script runs, named: `--bin` filters the selected packages down to the
# binaries it names, so each one must be listed (a warm target dir once hid a missing one).
bins=(azop kubectl-azop azop-armsim azop-testenv azop-demo)
step "building ${bins[*]} (debug build; the first build of the workspace takes several minutes)"
"$cargo" build -q -p azop -p azop-cli -p azop-armsim -p azop-testenv -p azop-e2e "${bins[@]/#/--bin=}"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
for b in "${bins[@]}"; do
	[[ -x "$bin/$b" ]] || { echo "the build did not produce $bin/$b" >&2; exit 1; }
done

step "installing the test environment if needed (into ${AZOP_CACHE:-$HOME/.cache/azop})"
echo "    the first run builds Kubernetes, etcd and helm from their Go modules: about 30 minutes on 2 cores, once"
bash crates/testenv/scripts/install.sh

work="$(mktemp -d "${TMPDIR:-/tmp}/azop-demo.XXXXXX")"
env_dir="$work/env"
sim_pid=""
op_pid=""
env_up=0
status_file="$work/ok"

# Stops what this script started, newest first; runs once, whatever ended the script.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$op_pid" ]] && kill -0 "$op_pid" 2>/dev/null; then
		kill -TERM "$op_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$op_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$op_pid" 2>/dev/null || true
		wait "$op_pid" 2>/dev/null || true
	fi
	if [[ -n "$sim_pid" ]] && kill -0 "$sim_pid" 2>/dev/null; then
		kill -TERM "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	if [[ "$env_up" == 1 ]]; then
		"$bin/azop-testenv" down --dir "$env_dir" >/dev/null 2>&1 || true
	fi
	if [[ ! -e "$status_file" ]]; then
		if [[ -s "$work/operator.log" ]]; then
			echo "--- last 40 lines of the operator log ($work/operator.log) ---" >&2
			tail -n 40 "$work/operator.log" >&2 || true
		fi
		echo "azop demo failed; logs kept in $work" >&2
		exit $((rc == 0 ? 1 : rc))
	fi
	if [[ "${AZOP_DEMO_KEEP_LOGS:-0}" == 1 ]]; then
		echo "logs kept in $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "starting etcd, kube-apiserver and kube-controller-manager (azop-testenv up)"
env_up=1
"$bin/azop-testenv" up --dir "$env_dir" 2>"$work/testenv.log" >/dev/null || {
	cat "$work/testenv.log" >&2
	exit 1
}
echo "    $(grep -m1 'api server' "$work/testenv.log" | sed 's/^ *//')"

step "starting azop-armsim with realistic Azure latencies x $scale"
"$bin/azop-armsim" serve --addr 127.0.0.1:0 --latency-preset realistic \
	--latency-scale "$scale" >"$work/armsim.out" 2>"$work/armsim.log" &
sim_pid=$!
sim_url=""
for _ in $(seq 100); do
	sim_url="$(head -n1 "$work/armsim.out" 2>/dev/null || true)"
	[[ -n "$sim_url" ]] && break
	kill -0 "$sim_pid" 2>/dev/null || { cat "$work/armsim.log" >&2; exit 1; }
	sleep 0.1
done
[[ -n "$sim_url" ]] || { echo "azop-armsim printed no URL" >&2; exit 1; }
echo "    ARM at $sim_url (VM create $(awk "BEGIN{print 90*$scale}") s, NAT gateway $(awk "BEGIN{print 15*$scale}") s, VNet $(awk "BEGIN{print 7*$scale}") s, …)"

step "installing the CRDs and config/rbac/; the operator runs as ServiceAccount azop-system/azop"
"$bin/azop-demo" prepare --env-dir "$env_dir" --kubeconfig-out "$work/operator.kubeconfig"

step "starting the operator (azop run; log: $work/operator.log)"
KUBECONFIG="$work/operator.kubeconfig" RUST_LOG="${RUST_LOG:-info}" \
	"$bin/azop" run --arm-endpoint "$sim_url" --authority-host "$sim_url" \
	--leader-election-namespace azop-system --lease-name azop-demo \
	--metrics-addr 127.0.0.1:0 --resync-seconds "$resync" >"$work/operator.log" 2>&1 &
op_pid=$!
sleep 1
kill -0 "$op_pid" 2>/dev/null || { echo "the operator exited at start-up" >&2; exit 1; }

cols=100 lines=24
if [[ -t 1 ]]; then
	cols="$(tput cols 2>/dev/null || echo 100)"
	lines="$(tput lines 2>/dev/null || echo 24)"
fi
step "applying $sample"
COLUMNS="$cols" LINES="$lines" "$bin/azop-demo" show --env-dir "$env_dir" --sim "$sim_url" \
	--sample "$sample" --sim-note "armsim latencies: realistic x $scale" --resync-seconds "$resync"

touch "$status_file"
step "stopping the operator, azop-armsim and the API server"
