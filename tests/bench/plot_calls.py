"""Plot azop-bench's one-subscription CSV: ARM calls per second by class against ARM's budget.

usage: plot_calls.py CSV PNG [--title TITLE] [--read-refill 25] [--write-refill 10]

The CSV (tests/bench/calls.rs) has one row per second of the run: second, phase, reads,
writes, deletes, throttled_reads, throttled_writes, throttled_deletes, ready_clusters.
Top panel: reads ARM served and reads it refused (429) against the read refill; bottom
panel: writes and deletes, and their 429s, against their refill. Phases are shaded.
"""

import argparse
import csv
import sys

import matplotlib.pyplot as plt

COLUMNS = [
    "second",
    "phase",
    "reads",
    "writes",
    "deletes",
    "throttled_reads",
    "throttled_writes",
    "throttled_deletes",
    "ready_clusters",
]
PHASE_COLOURS = {
    "creating": "#dbe9f6",
    "settling": "#f2f2f2",
    "steady": "#e5f5e0",
    "drift": "#fde0c5",
    "takeover": "#e3d7f2",
    "deleting": "#f6dbe4",
}


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}: not an azop-bench calls CSV (missing columns {missing})")
        rows = list(reader)
    if not rows:
        sys.exit(f"{path}: no rows")
    return rows


def phase_spans(seconds, phases):
    """Contiguous runs of one phase: (start, end, name)."""
    spans = []
    for s, p in zip(seconds, phases):
        if spans and spans[-1][2] == p:
            spans[-1][1] = s + 1
        else:
            spans.append([s, s + 1, p])
    return spans


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--title", default="azop: ARM calls per second in one subscription")
    ap.add_argument("--read-refill", type=float, default=25.0)
    ap.add_argument("--write-refill", type=float, default=10.0)
    args = ap.parse_args()

    rows = read_rows(args.csv)
    col = {c: [int(r[c]) for r in rows] for c in COLUMNS if c != "phase"}
    phases = [r["phase"] for r in rows]
    t = col["second"]

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, constrained_layout=True)
    spans = phase_spans(t, phases)
    for ax in (top, bottom):
        for start, end, name in spans:
            ax.axvspan(start, end, color=PHASE_COLOURS.get(name, "#ffffff"), lw=0, zorder=0)
    labelled = set()
    for start, end, name in spans:
        if name and name not in labelled and end - start >= 0.02 * len(t):
            top.text((start + end) / 2, 1.01, name, transform=top.get_xaxis_transform(),
                     ha="center", va="bottom", fontsize=9)
            labelled.add(name)

    top.plot(t, col["reads"], color="#1f77b4", lw=0.8, label="reads served /s")
    top.plot(t, col["throttled_reads"], color="#d62728", lw=0.8, label="reads refused (429) /s")
    top.axhline(args.read_refill, color="#1f77b4", ls="--", lw=1,
                label=f"read refill {args.read_refill:g}/s")
    top.set_ylabel("reads per second")
    top.set_ylim(bottom=0)
    ready = top.twinx()
    ready.plot(t, col["ready_clusters"], color="#555555", lw=1.2, label="clusters Ready")
    ready.set_ylabel("clusters Ready")
    ready.set_ylim(bottom=0)
    lines = top.get_legend_handles_labels()
    more = ready.get_legend_handles_labels()
    top.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)

    bottom.plot(t, col["writes"], color="#2ca02c", lw=0.8, label="writes served /s")
    bottom.plot(t, col["deletes"], color="#9467bd", lw=0.8, label="deletes served /s")
    refused = [w + d for w, d in zip(col["throttled_writes"], col["throttled_deletes"])]
    bottom.plot(t, refused, color="#d62728", lw=0.8, label="writes + deletes refused (429) /s")
    bottom.axhline(args.write_refill, color="#2ca02c", ls="--", lw=1,
                   label=f"write / delete refill {args.write_refill:g}/s")
    bottom.set_ylabel("writes, deletes per second")
    bottom.set_xlabel("seconds since the first apply")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="upper right", fontsize=8)
    bottom.set_xlim(0, len(t))

    fig.suptitle(args.title)
    fig.savefig(args.png, dpi=100)
    print(
        f"{args.png}: {len(t)} s; {sum(col['reads'])} reads, {sum(col['writes'])} writes, "
        f"{sum(col['deletes'])} deletes served; "
        f"{sum(col['throttled_reads']) + sum(refused)} refused (429)"
    )


if __name__ == "__main__":
    main()
