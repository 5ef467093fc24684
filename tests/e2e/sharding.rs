//! Sharding over replicas (`azop run --shards 3`): three real `azop run` processes on one API
//! server and one armsim share a dozen AzureClusters in one subscription, one shard Lease
//! each; one is SIGKILLed while its clusters' VMs are being created, the others take its
//! shard over within a lease period and finish its clusters; everything is deleted and
//! nothing is left. Replicas started with another shard count (`--shards 2`, and the single
//! leader of `--shards 1`) take nothing while the shards of 3 are held.
//!
//! "Never two owners" is checked on what the replicas did, not on what they say they hold:
//! every ARM write of every replica (its JSON log, each write in the reconcile span of the
//! object it served) must fall inside an interval in which that replica held the object's
//! shard, and the intervals of two replicas for one shard never overlap; armsim's request log
//! shows each resource PUT once across all replicas.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use azop_armsim::{LatencyPreset, SimConfig};
use azop_controllers::shard::shard_of;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::{Operator, World, metric_value};
use azop_testenv::{Check, wait_for};
use chrono::{DateTime, Utc};
use kube::api::DeleteParams;
use serde_json::Value;

const SHARDS: u32 = 3;
const CLUSTERS: usize = 12;
/// The lease duration `World::start_operator` passes; the retry period is 1 s.
const LEASE_SECONDS: u64 = 4;

fn rg(i: usize) -> String {
    format!("rg-e2e-shard-{i}")
}

/// Waits until every named replica exports `azop_arm_budget_share` = its expected part of
/// ARM's budget (k of the 3 shards it holds, 1 for the single leader's side).
async fn shares_settle(ops: &[(&str, &Operator, f64)]) -> anyhow::Result<()> {
    wait_for("ARM budget shares", Duration::from_secs(30), || async {
        let mut seen = Vec::new();
        for (name, op, want) in ops {
            let got = match op.metrics().await {
                Ok(m) => metric_value(&m, "azop_arm_budget_share"),
                Err(_) => None,
            };
            if !got.is_some_and(|g| (g - want).abs() < 1e-9) {
                seen.push(format!("{name}: {got:?}, want {want}"));
            }
        }
        if seen.is_empty() {
            Check::Done(())
        } else {
            Check::Pending(seen.join("; "))
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

/// When a replica held a shard: `[start, end]`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// One line of an operator's JSON log.
struct Line {
    at: DateTime<Utc>,
    message: String,
    fields: Value,
    /// The uid of the object whose reconcile span the line was logged in.
    uid: Option<String>,
}

fn lines(op: &Operator) -> Vec<Line> {
    op.logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let at = DateTime::parse_from_rfc3339(v["timestamp"].as_str()?)
                .ok()?
                .with_timezone(&Utc);
            let uid = v["spans"].as_array().and_then(|spans| {
                spans
                    .iter()
                    .find_map(|s| s["uid"].as_str().map(str::to_string))
            });
            Some(Line {
                at,
                message: v["fields"]["message"].as_str()?.to_string(),
                fields: v["fields"].clone(),
                uid,
            })
        })
        .collect()
}

/// `[start, end]` intervals in which a replica held each shard, from its "shard held" /
/// "shard no longer held" lines; one still open ends at `end` (the kill, or now).
fn held_intervals(lines: &[Line], end: DateTime<Utc>) -> BTreeMap<u32, Vec<Span>> {
    let mut open: BTreeMap<u32, DateTime<Utc>> = BTreeMap::new();
    let mut out: BTreeMap<u32, Vec<_>> = BTreeMap::new();
    for l in lines {
        let Some(shard) = l.fields["shard"].as_u64().map(|s| s as u32) else {
            continue;
        };
        match l.message.as_str() {
            "shard held" => {
                open.insert(shard, l.at);
            }
            "shard no longer held" => {
                let start = open.remove(&shard).expect("dropped a shard never held");
                out.entry(shard).or_default().push((start, l.at));
            }
            _ => {}
        }
    }
    for (shard, start) in open {
        out.entry(shard).or_default().push((start, end));
    }
    out
}

/// ARM writes the replica logged: `(time, uid of the object served, method)`.
fn writes(lines: &[Line]) -> Vec<(DateTime<Utc>, Option<String>, String)> {
    lines
        .iter()
        .filter(|l| l.message == "arm call")
        .filter_map(|l| {
            let method = l.fields["method"].as_str()?.to_string();
            (method != "GET").then(|| (l.at, l.uid.clone(), method))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_share_the_clusters_and_take_over_a_killed_replica() {
    let world = World::new(
        "azc-shard",
        SimConfig::default()
            .latency_preset(LatencyPreset::Realistic)
            .latency_scale(0.05),
    )
    .await
    .unwrap();
    let args = ["--shards", "3", "--log-format", "json"];
    let mut ops: BTreeMap<&str, Operator> = BTreeMap::new();
    for name in ["a", "b", "c"] {
        ops.insert(name, world.start_operator(name, &args).unwrap());
    }

    // Each replica ends with one shard of three.
    let settled = wait_for("one shard per replica", Duration::from_secs(30), || async {
        let h = shard_holders(&world, SHARDS).await;
        let distinct: BTreeSet<_> = h.iter().flatten().cloned().collect();
        if distinct.len() == 3 && h.iter().all(Option::is_some) {
            Check::Done(h)
        } else {
            Check::Pending(format!("{h:?}"))
        }
    })
    .await;
    let refs: Vec<&Operator> = ops.values().collect();
    let settled = or_dump(settled.map_err(anyhow::Error::from), &refs);
    eprintln!("shard holders: {settled:?}");
    // Each spends a third of the subscription's ARM budget.
    let third = 1.0 / f64::from(SHARDS);
    let each: Vec<(&str, &Operator, f64)> = ops.iter().map(|(n, o)| (*n, o, third)).collect();
    or_dump(shares_settle(&each).await, &refs);

    // Replicas of another shard count: they must take nothing while the shards of 3 are held.
    let d = world
        .start_operator("d", &["--shards", "2", "--log-format", "json"])
        .unwrap();
    let e = world
        .start_operator("e", &["--log-format", "json"])
        .unwrap();

    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..CLUSTERS {
        let obj = create(&world, one_machine_each(&format!("s{i}"), &rg(i)))
            .await
            .unwrap();
        uids.insert(format!("s{i}"), obj.metadata.uid.unwrap());
    }
    let shard_of_cluster = |name: &str| {
        shard_of(
            uids.get(name).map(String::as_str).unwrap_or_default(),
            SHARDS,
        )
    };

    // Mid-way: a VM in creation; its cluster's shard holder is the victim.
    let inv = or_dump(
        wait_inventory(&world, "a VM in creation", TIMEOUT, |inv| {
            by_type(inv, VM_TYPE)
                .iter()
                .any(|v| v["properties"]["provisioningState"] != "Succeeded")
        })
        .await,
        &refs,
    );
    let busy = by_type(&inv, VM_TYPE)
        .into_iter()
        .find(|v| v["properties"]["provisioningState"] != "Succeeded")
        .and_then(|v| v["name"].as_str())
        .and_then(|n| n.split('-').next())
        .unwrap()
        .to_string();
    let victim_shard = shard_of_cluster(&busy);
    let victim = shard_holders(&world, SHARDS).await[victim_shard as usize]
        .clone()
        .expect("the busy cluster's shard is held");
    let victims_clusters: Vec<String> = uids
        .keys()
        .filter(|n| shard_of_cluster(n) == victim_shard)
        .cloned()
        .collect();
    let not_ready: Vec<&String> = {
        let mut v = Vec::new();
        for n in &victims_clusters {
            let o = api(&world).get(n).await.unwrap();
            if condition(&o, "Ready").is_none_or(|c| c.0 != "True") {
                v.push(n);
            }
        }
        v
    };
    eprintln!(
        "killing {victim} (shard {victim_shard}: {victims_clusters:?}, not Ready yet: {not_ready:?}) while {busy}'s VM is created"
    );
    assert!(!not_ready.is_empty(), "the victim has work under way");
    drop(refs);
    let killed_at = Utc::now();
    let before_kill = Instant::now();
    ops.get_mut(victim.as_str()).unwrap().kill();

    // Its shard is taken over within a lease period (4 s after its last renewal, at most a
    // retry period before the kill, plus a retry period and slack for a busy machine).
    let survivors: Vec<&str> = ops.keys().copied().filter(|n| *n != victim).collect();
    let successor = wait_for("the victim's shard taken over", TIMEOUT, || async {
        match shard_holders(&world, SHARDS).await[victim_shard as usize].clone() {
            Some(h) if h != victim => Check::Done(h),
            h => Check::Pending(format!("{h:?}")),
        }
    })
    .await
    .unwrap();
    let took = before_kill.elapsed();
    eprintln!("shard {victim_shard} taken by {successor} {took:?} after SIGKILL");
    assert!(
        survivors.contains(&successor.as_str()),
        "taken by {successor}, not a survivor"
    );
    assert!(
        took <= Duration::from_secs(LEASE_SECONDS + 3),
        "takeover took {took:?}"
    );
    // The successor now spends two thirds of the budget, the other survivor still one: the
    // killed replica's third went with its shard.
    let after: Vec<(&str, &Operator, f64)> = survivors
        .iter()
        .map(|n| {
            (
                *n,
                &ops[n],
                if *n == successor { 2.0 * third } else { third },
            )
        })
        .collect();
    or_dump(shares_settle(&after).await, &[&ops[successor.as_str()]]);
    assert!(
        ops[successor.as_str()]
            .logs()
            .lines()
            .any(|l| l.contains("ARM budget share") && l.contains("\"share\":\"2/3\"")),
        "{}: the raised share is not logged",
        ops[successor.as_str()].log.display()
    );

    // Every cluster finishes, the victim's too.
    for i in 0..CLUSTERS {
        let refs: Vec<&Operator> = ops.values().chain([&d, &e]).collect();
        or_dump(wait_ready(&world, &format!("s{i}")).await, &refs);
    }
    let mut expected = Vec::new();
    for i in 0..CLUSTERS {
        expected.extend(expected_inventory_with(
            &format!("s{i}"),
            &rg(i),
            1,
            &["general-0"],
        ));
    }
    expected.sort();
    assert_eq!(top_level_inventory(&world), expected);
    // Every resource PUT once across all replicas, the kill included: the successor's
    // listing of the subscription was walked before the killed replica made some of its
    // clusters' resources, and its first pass reads those by GET — each one a GET found
    // making its dependents' absence worth a GET too — before it creates anything. (A
    // second PUT would be either that re-PUT or two owners at once.) PUTs refused and sent
    // again (429, a conflict) are not writes that took.
    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    for (m, p, status) in operator_requests(&world) {
        if m == "PUT" && (200..300).contains(&status) {
            *written.entry(p).or_insert(0) += 1;
        }
    }
    let twice: BTreeMap<&String, &usize> = written.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "resources PUT more than once (the killed replica's shard: {victims_clusters:?}, killed at {killed_at}): {twice:?}"
    );

    // The other shard counts held nothing and called ARM for nothing; the replica of 2
    // shards holds no part of the budget, the single leader's side keeps its whole (it
    // would spend it only while leading, and never leads while shards are held).
    or_dump(
        shares_settle(&[("d", &d, 0.0), ("e", &e, 1.0)]).await,
        &[&d, &e],
    );
    for (op, blocked) in [
        (&d, "a Lease of another shard count is held"),
        (&e, "replicas running with --shards hold shard Leases"),
    ] {
        let log = op.logs();
        assert!(
            log.contains(blocked),
            "{}: no {blocked:?}",
            op.log.display()
        );
        assert!(
            !log.contains("\"shard held\""),
            "{} took a shard",
            op.log.display()
        );
        assert!(!log.contains("became leader"), "{} led", op.log.display());
        assert!(!log.contains("arm call"), "{} called ARM", op.log.display());
    }

    // Delete everything; the owners clean up.
    for i in 0..CLUSTERS {
        api(&world)
            .delete(&format!("s{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    for i in 0..CLUSTERS {
        let refs: Vec<&Operator> = ops.values().collect();
        or_dump(wait_gone(&world, &format!("s{i}")).await, &refs);
    }
    assert!(
        world.sim.inventory().is_empty(),
        "leaked: {:?}",
        world.inventory()
    );

    // Never two owners, from what each replica did.
    let now = Utc::now();
    let mut intervals: BTreeMap<u32, Vec<(&str, Span)>> = BTreeMap::new();
    let mut served: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut checked = 0;
    for (name, op) in &ops {
        let end = if *name == victim { killed_at } else { now };
        let log = lines(op);
        let held = held_intervals(&log, end);
        for (shard, spans) in &held {
            for (s, e) in spans {
                intervals.entry(*shard).or_default().push((*name, (*s, *e)));
            }
        }
        for (at, uid, method) in writes(&log) {
            let uid =
                uid.unwrap_or_else(|| panic!("{name}: {method} at {at} outside any reconcile"));
            let shard = shard_of(&uid, SHARDS);
            // A pass stops when its shard is dropped; allow it the moment to notice.
            let inside = held.get(&shard).is_some_and(|spans| {
                spans
                    .iter()
                    .any(|(s, e)| *s <= at && at <= *e + chrono::Duration::milliseconds(250))
            });
            assert!(
                inside,
                "{name} wrote ({method}) for {uid} (shard {shard}) at {at} without holding it: {held:?}"
            );
            served.entry(uid).or_default().insert(*name);
            checked += 1;
        }
    }
    for (shard, spans) in &mut intervals {
        spans.sort_by_key(|(_, (s, _))| *s);
        for pair in spans.windows(2) {
            let ((a, (_, a_end)), (b, (b_start, _))) = (pair[0], pair[1]);
            assert!(
                a == b || a_end < b_start,
                "shard {shard} held by {a} until {a_end} and by {b} from {b_start}"
            );
        }
    }
    eprintln!("{checked} ARM writes checked; replicas per object: {served:?}");
    // At least the 12 PUTs of each cluster's creation (its OS disks come with the VMs).
    assert!(checked >= CLUSTERS * 12, "too few writes logged: {checked}");
    let victim_uids: BTreeSet<&String> = victims_clusters.iter().map(|n| &uids[n]).collect();
    assert!(
        served
            .iter()
            .any(|(uid, by)| victim_uids.contains(uid) && by.contains(victim.as_str())),
        "the victim wrote nothing before it was killed"
    );
    for op in ops.values().chain([&d, &e]) {
        assert_secret_not_logged(op);
    }
}
