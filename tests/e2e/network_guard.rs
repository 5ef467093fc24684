//! Nothing leaves the machine: the test environment, azop-armsim, the operator and the test
//! itself run in a network namespace of their own whose only route off loopback goes to a
//! veth interface, which counts every packet sent to it. An AzureCluster is created, becomes
//! Ready (the operator surveys its API endpoint) and is deleted; then the veth must have sent
//! nothing. A connection to any address off loopback — a "public" IP armsim hands out, a real
//! Azure endpoint, a DNS server — is a packet (an ARP request at least) on the veth and fails
//! the test.
//!
//! The test re-runs itself inside `unshare -n` (we are root in CI and here); the inner run is
//! told by `AZOP_NETNS_GUARD=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use azop_armsim::SimConfig;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use kube::api::DeleteParams;

const INNER: &str = "AZOP_NETNS_GUARD";
const DUMMY: &str = "guard0";

/// Packets the guard interface has sent (`/proc/net/dev` is the namespace's own).
fn dummy_tx_packets() -> u64 {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let line = dev
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{DUMMY}:")))
        .unwrap_or_else(|| panic!("no {DUMMY} in /proc/net/dev:\n{dev}"));
    let fields: Vec<&str> = line
        .split_once(':')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets
    fields[9].parse().unwrap()
}

fn sh(script: &str) {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespace's network: `lo`, and one end of a veth pair holding the default route (the
/// kernel here has no `dummy` module), IPv6 off on both ends so they send nothing of their own.
fn set_up_network() {
    sh("ip link set lo up");
    sh(&format!("ip link add {DUMMY} type veth peer name {DUMMY}p"));
    for dev in [DUMMY.to_string(), format!("{DUMMY}p")] {
        sh(&format!(
            "echo 1 > /proc/sys/net/ipv6/conf/{dev}/disable_ipv6"
        ));
        sh(&format!("ip link set {dev} up"));
    }
    sh(&format!("ip addr add 10.254.254.1/32 dev {DUMMY}"));
    sh(&format!("ip route add default dev {DUMMY}"));
}

async fn scenario() {
    set_up_network();
    // armsim's default configuration: its public pool is on loopback (127.50.0.0/16), and this
    // test is what catches a default that hands out addresses off the machine again.
    let world = World::new("netguard", SimConfig::default()).await.unwrap();
    let op = world.start_operator("a", &[]).unwrap();
    create(&world, cluster("guard", "rg-guard", 1))
        .await
        .unwrap();
    or_dump(wait_ready(&world, "guard").await, &[&op]);
    api(&world)
        .delete("guard", &DeleteParams::default())
        .await
        .unwrap();
    or_dump(wait_gone(&world, "guard").await, &[&op]);
    let sent = dummy_tx_packets();
    assert_eq!(
        sent,
        0,
        "{sent} packet(s) left loopback; operator log:\n{}",
        op.logs()
    );
}

#[test]
fn nothing_connects_off_loopback() {
    if std::env::var(INNER).as_deref() == Ok("1") {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(scenario());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(&exe)
        .args(["--exact", "nothing_connects_off_loopback", "--nocapture"])
        .env(INNER, "1")
        .status()
        .expect("run unshare (util-linux; needs root)");
    assert!(
        status.success(),
        "the run inside the network namespace failed: {status}"
    );
}
