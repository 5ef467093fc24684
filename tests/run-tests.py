#!/usr/bin/env python3
"""Run every test binary of the workspace, a few at a time, then the doctests.

`cargo test --workspace` runs one test binary after another; most of azop's are end-to-end
tests that spend their time waiting on an API server, armsim or Azurite, so two binaries at a
time finish in a little over half the time on two cores. Each binary still runs its own tests
with its usual threads, so tests that share one world within a binary keep sharing it.

Every binary's output goes to a log; a failing binary's log is printed in full at the end.
The slowest binaries (by the durations this script recorded last time, under
$AZOP_CACHE/test-durations.json) start first, so the run is not left waiting on one long
binary at the end. Exit status: non-zero when any binary (or a doctest) failed.

Usage: run-tests.py [--jobs N] [--logs DIR] [-- ARGS passed to every test binary]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def test_binaries(cargo, repo):
    """(package/target, executable, package dir, package name) of every test target, built if
    needed."""
    out = subprocess.run(
        [cargo, "test", "--workspace", "--no-run", "--message-format=json"],
        cwd=repo, stdout=subprocess.PIPE, text=True, check=True,
    ).stdout
    found = []
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        pkg_dir = os.path.dirname(msg["manifest_path"])
        pkg = package_name(pkg_dir)
        kind = "bin " if msg["target"]["kind"] == ["bin"] else ""
        found.append((f"{pkg}/{kind}{msg['target']['name']}", msg["executable"], pkg_dir, pkg))
    return found


def package_name(manifest_dir):
    """The package's name from its Cargo.toml (for CARGO_PKG_NAME, as cargo sets it)."""
    try:
        import tomllib
        with open(os.path.join(manifest_dir, "Cargo.toml"), "rb") as f:
            return tomllib.load(f)["package"]["name"]
    except (OSError, KeyError, ValueError):
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("AZOP_TEST_JOBS", "2")))
    ap.add_argument("--logs", default=None)
    ap.add_argument("rest", nargs="*")
    args = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cargo = os.environ.get("CARGO", "cargo")
    cache = os.environ.get("AZOP_CACHE", os.path.expanduser("~/.cache/azop"))
    durations_file = os.path.join(cache, "test-durations.json")
    logs = args.logs or os.path.join(cache, "test-logs")
    os.makedirs(logs, exist_ok=True)

    try:
        with open(durations_file) as f:
            durations = json.load(f)
    except (OSError, ValueError):
        durations = {}
    bins = test_binaries(cargo, repo)
    # Unknown binaries count as slow: better started early than left for last.
    bins.sort(key=lambda b: -durations.get(b[0], 1e9))

    def run(b):
        name, exe, pkg_dir, pkg = b
        # What cargo sets when it runs a test binary.
        env = dict(os.environ, CARGO_MANIFEST_DIR=pkg_dir, CARGO_PKG_NAME=pkg)
        log = os.path.join(logs, name.replace("/", "__").replace(" ", "_") + ".log")
        start = time.monotonic()
        with open(log, "w") as f:
            rc = subprocess.run([exe, *args.rest], cwd=pkg_dir, env=env,
                                stdout=f, stderr=subprocess.STDOUT).returncode
        took = time.monotonic() - start
        print(f"{'ok    ' if rc == 0 else 'FAILED'} {name} ({took:.0f} s)", flush=True)
        return name, rc, took, log

    print(f"running {len(bins)} test binaries, {args.jobs} at a time (logs: {logs})", flush=True)
    start = time.monotonic()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(run, bins))
    failed = [r for r in results if r[1] != 0]

    for name, _, took, _ in results:
        durations[name] = round(took, 1)
    try:
        with open(durations_file, "w") as f:
            json.dump(durations, f, indent=1, sort_keys=True)
    except OSError:
        pass

    for name, rc, _, log in failed:
        print(f"\n===== {name} failed (exit {rc}); its output =====", flush=True)
        with open(log, errors="replace") as f:
            sys.stdout.write(f.read())
    print(f"\n{len(results) - len(failed)} of {len(results)} test binaries passed "
          f"in {time.monotonic() - start:.0f} s", flush=True)

    doc = subprocess.run([cargo, "test", "--workspace", "--doc"], cwd=repo).returncode
    if failed or doc != 0:
        names = ", ".join(r[0] for r in failed) + (" doctests" if doc != 0 else "")
        print(f"failed: {names}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
