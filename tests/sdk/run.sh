#!/usr/bin/env bash
# Drives azop-armsim with Microsoft's Python SDKs (see requirements.txt).
# Creates (once) a venv at ~/.cache/azop/venv-<hash of requirements.txt>, builds the
# simulator, starts `azop-armsim serve --tls`, runs pytest, stops the simulator.
# Exit code = pytest's. Extra arguments go to pytest (e.g. -k storage).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
hash="$(sha256sum "$here/requirements.txt" | cut -c1-12)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/azop/venv-$hash"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  touch "$venv/.complete"
fi

(cd "$root" && cargo build --quiet -p azop-armsim)
workdir="$(mktemp -d)"
out="$workdir/stdout"
"${CARGO_TARGET_DIR:-$root/target}/debug/azop-armsim" serve --addr 127.0.0.1:0 --tls --tls-cert "$workdir/ca.pem" \
  --retry-after 0.02 --page-size 10 >"$out" 2>"$workdir/stderr" &
sim_pid=$!
cleanup() { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; rm -rf "$workdir"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  [ -s "$out" ] && break
  sleep 0.1
done
url="$(head -n1 "$out")"
if [ -z "$url" ]; then
  echo "azop-armsim did not start:" >&2; cat "$workdir/stderr" >&2; exit 1
fi
set +e
ARMSIM_URL="$url" ARMSIM_CA="$workdir/ca.pem" REQUESTS_CA_BUNDLE="$workdir/ca.pem" \
  "$venv/bin/pytest" -q -p no:cacheprovider "$here" "$@"
rc=$?
set -e
exit $rc
