#!/usr/bin/env bash
# Plots azop-bench's one-subscription CSV (calls per second by class) against ARM's budget.
#   bash tests/bench/plot.sh CSV [PNG] [extra plot_calls.py arguments, e.g. --title "..."]
# PNG defaults to CSV with .png. matplotlib comes from a venv made once at
# ~/.cache/azop/venv-plot-<hash of requirements.txt> (PyPI through pip).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
csv="${1:?usage: plot.sh CSV [PNG] [--title TITLE]}"
png="${2:-${csv%.csv}.png}"
shift $(( $# >= 2 ? 2 : 1 ))
hash="$(sha256sum "$here/requirements.txt" | cut -c1-12)"
venv="${AZOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azop}/venv-plot-$hash"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  touch "$venv/.complete"
fi
MPLBACKEND=Agg MPLCONFIGDIR="$venv/mplconfig" "$venv/bin/python" "$here/plot_calls.py" "$csv" "$png" "$@"
