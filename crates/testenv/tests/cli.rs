//! The `azop-testenv` binary: `up` starts a usable, detached environment quickly; `down`
//! leaves no process behind.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use azop_testenv::process::{is_running, live_group_members};

const BIN: &str = env!("CARGO_BIN_EXE_azop-testenv");

#[test]
fn up_then_down_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("env");
    let t0 = Instant::now();
    let out = Command::new(BIN)
        .args(["up", "--dir"])
        .arg(&dir)
        .arg("--azurite")
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert!(
        out.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = dir.canonicalize().unwrap();
    assert!(
        stdout.contains(&format!("KUBECONFIG={}", dir.join("kubeconfig").display())),
        "stdout: {stdout}"
    );
    // Generous bound for a loaded CI machine; docs/testing.md has the measured figure.
    assert!(took < Duration::from_secs(20), "up took {took:?}");
    for f in [
        "kubeconfig",
        "kubeconfig-alice",
        "kubeconfig-bob",
        "env.json",
        "azurite.env",
        "azurite.json",
        "tokens.csv",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let pids: Vec<i32> = ["etcd", "kube-apiserver", "azurite"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(dir.join(format!("{n}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    // Detached: still running after `up` returned.
    for &p in &pids {
        assert!(is_running(p), "pid {p} not running after up");
    }
    // A second `up` on the same dir is refused while the first runs.
    let again = Command::new(BIN)
        .args(["up", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let down = Command::new(BIN)
        .args(["down", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "down failed: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    for &p in &pids {
        assert!(!is_running(p), "pid {p} still running after down");
        assert!(
            live_group_members(p).is_empty(),
            "process group {p} not empty after down"
        );
    }
    assert!(!dir.exists(), "state dir not removed");
}

#[test]
fn down_refuses_a_directory_it_did_not_create() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["down", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not created by azop-testenv"));
    assert!(tmp.path().exists());
}
