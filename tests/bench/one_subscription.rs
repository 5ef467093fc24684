//! The scale run in ONE subscription (issue 24; docs/benchmarks.md, docs/scale.md).
//!
//! N AzureClusters (3 control-plane + 3 workers each) in one subscription of a zero-latency
//! armsim with ARM's token buckets on (reads 250 / 25 s⁻¹, writes 200 / 10 s⁻¹, deletes
//! 200 / 10 s⁻¹ per subscription and principal), one operator. Phases, each timed from the
//! apply of the first cluster:
//!
//! 1. creating: apply all N → all Ready, against the write-budget floor computed from the
//!    run (distinct resources written, less the 200 burst, at 10/s);
//! 2. settling: one resync, so every object has left its creation passes behind;
//! 3. steady: `steady_resyncs` resyncs: reads/s against the 25/s refill, writes, 429s;
//! 4. drift: another principal removes the API server rule of one cluster's NSG (as someone
//!    in the portal would); the time until armsim holds the rule again;
//! 5. takeover (with shards only): the replica holding cluster c0000's shard is SIGKILLed
//!    while that cluster drifts as in 4; the time until the survivors hold every shard, and
//!    until the cluster's new owner has put the rule back. With `kill_while_creating` the
//!    kill happens in 1 instead, halfway through the write floor, and this phase is skipped;
//! 6. deleting: every cluster deleted → all gone, against the delete-budget floor; what is
//!    left in armsim.
//!
//! Every figure about ARM calls comes from armsim's request log, restricted to the operator's
//! principal (its budget at ARM); the CSV of calls per second by class is written from the
//! same log. The client-side gate's own counters come from the operator's /metrics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use azop_armsim::config::BucketSize;
use azop_armsim::{RequestFilter, RunningSim, SimConfig};
use azop_controllers::shard::shard_of;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, ListParams};
use serde_json::{Value, json};

use crate::calls::{self, Call, ReadKind, Window};
use crate::process::{Memory, Operator, OperatorOptions, Replicas};
use crate::{Bench, OPERATOR_PRINCIPAL, SUBSCRIPTION, TENANT, cluster, kit, print_memory};

/// Who makes the drift: another principal (its own buckets at ARM), as a person would.
const OUTSIDER: &str = "azop-bench-outsider";
/// The operator's default resync: steady-state figures are given at it.
const DEFAULT_RESYNC_SECONDS: f64 = 300.0;
/// The target is stated for this many clusters in one subscription.
const TARGET_CLUSTERS: usize = 1000;
/// Every call of the run is kept (the default log keeps 10,000): the CSV and the figures
/// are computed from it. About 0.5 KiB per GET; a PUT also keeps its body.
const LOG_CAPACITY: usize = 4_000_000;
const NSG_API_VERSION: &str = "2024-03-01";
const API_SERVER_RULE: &str = "allow-apiserver";
/// The replicas' Lease name (`--lease-name`); shard i's Lease is `<LEASE>-shard-<i>`.
const LEASE: &str = "azop-bench-onesub";
/// `azop run --lease-duration-seconds`, left at its default: what a replica's crash costs
/// before the survivors may take its shards.
const LEASE_DURATION_SECONDS: u64 = 15;
/// Applies in flight at once while creating (`kubectl apply` would send them one by one;
/// Argo CD syncs a wave's objects concurrently).
const APPLY_IN_FLIGHT: usize = 16;

pub struct Options {
    pub clusters: usize,
    pub resync_seconds: u64,
    pub steady_resyncs: u32,
    pub out_dir: PathBuf,
    /// Operator replicas, each with `--shards <shards>` when more than 1.
    pub shards: u32,
    /// With shards: kill a replica while creating rather than at steady state.
    pub kill_while_creating: bool,
    /// ARM's refill rates multiplied by this in armsim and in the operator's gate
    /// (`--arm-budget-scale`): the run goes this many times faster than it would at ARM's
    /// rates; ratios to the floors keep their meaning, seconds are the run's.
    pub budget_scale: f64,
}

/// Seconds since the apply of the first cluster at which each phase began, and the
/// clusters-Ready samples, for the CSV.
#[derive(Default)]
struct Timeline {
    phases: Vec<(f64, &'static str)>,
    ready: Vec<(f64, usize)>,
}

impl Timeline {
    fn phase(&mut self, at: f64, name: &'static str) {
        self.phases.push((at, name));
    }
    fn ready(&mut self, at: f64, count: usize) {
        if self.ready.last().map(|(_, c)| *c) != Some(count) {
            self.ready.push((at, count));
        }
    }
}

/// The NSG the outsider changed, and how it reads it back.
struct OutsideNsg {
    name: String,
    url: String,
    token: String,
}

/// The replica killed: who, and what it held.
struct Killed {
    holder: String,
    shard: u32,
    /// Clusters in its shard.
    in_shard: usize,
}

/// The takeover phase, in the run's seconds: the kill, the survivors holding every shard,
/// the drifted cluster corrected by its new owner.
struct Takeover {
    killed: f64,
    taken: f64,
    corrected: f64,
    who: Killed,
}

/// A kill while creating, in the run's seconds: when, with how many clusters Ready, and
/// when the survivors held every shard (if before all were Ready).
struct KilledCreating {
    at: f64,
    ready: usize,
    taken: Option<f64>,
    who: Killed,
}

/// Memory of each replica, and their sum when there are several.
fn print_memories(when: &str, each: &[Memory]) {
    if let [one] = each {
        return print_memory(when, *one);
    }
    for (i, m) in each.iter().enumerate() {
        print_memory(&format!("{when}, replica {i}"), *m);
    }
    let sum = each.iter().fold(Memory::default(), |a, m| a.plus(*m));
    print_memory(&format!("{when}, all {} replicas", each.len()), sum);
}

/// The heap each replica reports (`azop_heap_*_bytes`): what is live, against what the
/// allocator keeps resident.
fn print_heaps(when: &str, each: &[Option<(f64, f64)>]) {
    for (i, heap) in each.iter().enumerate() {
        let Some((allocated, resident)) = heap else {
            continue;
        };
        let who = if each.len() > 1 {
            format!(", replica {i}")
        } else {
            String::new()
        };
        println!(
            "operator heap, {when}{who}: allocated {allocated:.1} MiB, resident {resident:.1} MiB"
        );
    }
}

fn cluster_name(i: usize) -> String {
    format!("c{i:04}")
}

fn has_rule(nsg: &Value, rule: &str) -> bool {
    nsg["properties"]["securityRules"]
        .as_array()
        .is_some_and(|rs| rs.iter().any(|r| r["name"] == rule))
}

fn succeeded(v: &Value) -> bool {
    v.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .is_none_or(|s| s == "Succeeded")
}

/// GET `url` as the holder of `token`; the body of a 2xx answer.
async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Result<Value> {
    let r = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = r.status();
    let v: Value = r.json().await.with_context(|| format!("GET {url}: body"))?;
    ensure!(status.is_success(), "GET {url}: {status}: {v}");
    Ok(v)
}

/// (objects, of which Ready).
fn ready_count(items: &[DynamicObject]) -> (usize, usize) {
    (
        items.len(),
        items.iter().filter(|o| kit::is_ready(o)).count(),
    )
}

/// `waited X, rejected Y, server_429 Z` between two snapshots of the gate's counters.
fn gate_delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    ["waited", "rejected", "server_429"]
        .iter()
        .map(|k| {
            let d = after
                .get(*k)
                .copied()
                .unwrap_or(0)
                .saturating_sub(before.get(*k).copied().unwrap_or(0));
            format!("{k} {d}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn show_reads(w: &Window) -> String {
    format!(
        "{} reads ({} list pages, {} operation polls, {} resource GETs of which {} answered 404)",
        w.reads, w.list_pages, w.operation_polls, w.resource_gets, w.not_found_reads
    )
}

fn show_429s(w: &Window) -> String {
    format!(
        "{} (reads {}, writes {}, deletes {})",
        w.throttled(),
        w.throttled_reads,
        w.throttled_writes,
        w.throttled_deletes
    )
}

fn ratio(actual: f64, floor: Duration) -> String {
    if floor.is_zero() {
        "n/a (within the burst)".to_string()
    } else {
        format!("{:.2}x the floor", actual / floor.as_secs_f64())
    }
}

/// A generous bound for a phase ARM's bucket paces: five times its floor for `calls` calls,
/// plus ten minutes, or the bench's `--timeout-seconds` when larger.
fn bound(base: Duration, needed: usize, size: BucketSize) -> Duration {
    base.max(
        calls::budget_floor(needed, size.capacity, size.refill_per_sec) * 5
            + Duration::from_secs(600),
    )
}

impl Bench {
    pub async fn one_subscription(&self, o: &Options) -> Result<()> {
        let n = o.clusters;
        ensure!(n > 0, "--clusters must be at least 1");
        ensure!(o.steady_resyncs > 0, "--steady-resyncs must be at least 1");
        let resync = Duration::from_secs(o.resync_seconds);
        ensure!(
            o.budget_scale.is_finite() && o.budget_scale > 0.0,
            "--budget-scale must be above 0"
        );
        let mut config = SimConfig {
            request_log_capacity: LOG_CAPACITY,
            ..SimConfig::default()
        };
        for b in [
            &mut config.throttle.reads,
            &mut config.throttle.writes,
            &mut config.throttle.deletes,
        ] {
            b.refill_per_sec *= o.budget_scale;
        }
        let limits = config.throttle.clone();
        ensure!(
            limits.enabled,
            "armsim's throttling must be on for this run"
        );
        let sim = azop_armsim::start(config).await.context("start armsim")?;
        let ns = self.namespace_with_secret("bench-onesub").await?;
        let mut op = self.replicas(&sim, &ns, o)?;
        op.wait_ready(&self.http, Duration::from_secs(60)).await?;
        let api = kit::azure_clusters(&self.client, &ns);

        println!();
        println!(
            "## {n} AzureClusters in ONE subscription (3 control-plane + 3 workers each), armsim throttling on \
             (reads {}/{} s-1, writes {}/{} s-1, deletes {}/{} s-1), zero latency, resync {} s, {}",
            limits.reads.capacity,
            limits.reads.refill_per_sec,
            limits.writes.capacity,
            limits.writes.refill_per_sec,
            limits.deletes.capacity,
            limits.deletes.refill_per_sec,
            o.resync_seconds,
            if o.shards > 1 {
                format!("{} replicas sharing {} shards", o.shards, o.shards)
            } else {
                "one replica".to_string()
            }
        );
        if o.budget_scale != 1.0 {
            println!(
                "refill rates are ARM's x{}: seconds below are the run's (x{} at ARM's rates); \
                 ratios to the floors and shares of the refill are the same at either",
                o.budget_scale, o.budget_scale
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        print_memories("idle, no cluster", &op.memory()?);

        let t0 = Utc::now();
        let clock = Instant::now();
        let at = || clock.elapsed().as_secs_f64();
        let mut tl = Timeline::default();
        tl.phase(0.0, "creating");
        let gate_start = self.gate(&op).await?;

        // 1. creating. The clusters are applied APPLY_IN_FLIGHT at a time, as a GitOps sync
        // applies a repository's objects: one by one, 1,000 applies through the API server's
        // admission (CEL) take a minute or more on these 2 cores, and the operator could
        // create no faster than the bench applies.
        let applies = futures::stream::iter(0..n).map(|i| {
            let (client, ns) = (&self.client, &ns);
            async move { kit::apply(client, ns, &cluster(&cluster_name(i), SUBSCRIPTION)).await }
        });
        let applied_objects: Vec<DynamicObject> = applies
            .buffer_unordered(APPLY_IN_FLIGHT)
            .try_collect()
            .await?;
        ensure!(
            applied_objects.len() == n,
            "applied {} of {n}",
            applied_objects.len()
        );
        let applied = at();
        let limit = bound(self.timeout, 20 * n, limits.writes);
        // Halfway through the writes the creation needs (20 per cluster) at the write budget:
        // every replica has passes in flight, creates answered and creates not yet sent.
        let kill_at = (o.kill_while_creating && o.shards > 1).then(|| {
            calls::budget_floor(20 * n, limits.writes.capacity, limits.writes.refill_per_sec)
                .as_secs_f64()
                / 2.0
        });
        let mut killed_creating: Option<KilledCreating> = None;
        let t_ready = loop {
            // A failed list (a loaded API server) is looked at again a second later.
            if let Ok(list) = api.list(&ListParams::default()).await {
                let (total, ready) = ready_count(&list.items);
                let t = at();
                tl.ready(t, ready);
                if total == n && ready == n {
                    break t;
                }
                if kill_at.is_some_and(|k| t >= k) && killed_creating.is_none() {
                    let who = self.kill_holder(&mut op, &applied_objects, o).await?;
                    tl.phase(t, "takeover");
                    killed_creating = Some(KilledCreating {
                        at: t,
                        ready,
                        taken: None,
                        who,
                    });
                }
            }
            if let Some(k) = killed_creating.as_mut()
                && k.taken.is_none()
                && op
                    .shards_held(&self.http)
                    .await
                    .is_ok_and(|h| h == i64::from(o.shards))
            {
                let t = at();
                k.taken = Some(t);
                tl.phase(t, "creating");
            }
            if clock.elapsed() > limit {
                bail!(
                    "not all {n} clusters Ready after {} s (operator log: {})",
                    limit.as_secs(),
                    op.logs()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let gate_ready = self.gate(&op).await?;
        println!("applied {n} in {applied:.1} s; all Ready after {t_ready:.1} s");
        print_memories(&format!("{n} clusters Ready"), &op.memory()?);
        print_heaps(&format!("{n} clusters Ready"), &op.heap(&self.http).await?);

        // 2. settling, 3. steady
        tl.phase(t_ready, "settling");
        tokio::time::sleep(resync).await;
        let t_steady = at();
        tl.phase(t_steady, "steady");
        let gate_steady0 = self.gate(&op).await?;
        let r0 = op.reconciles(&self.http).await?;
        tokio::time::sleep(resync * o.steady_resyncs).await;
        let t_steady_end = at();
        let r1 = op.reconciles(&self.http).await?;
        let gate_steady1 = self.gate(&op).await?;
        print_memories(
            &format!("{n} clusters Ready, after {} resyncs", o.steady_resyncs + 1),
            &op.memory()?,
        );
        print_heaps(
            &format!("{n} clusters Ready, after {} resyncs", o.steady_resyncs + 1),
            &op.heap(&self.http).await?,
        );

        // 4. drift
        let (t_drift, t_corrected) = self.drift(&sim, resync, &at).await?;
        tl.phase(t_drift, "drift");
        tl.phase(t_corrected, "steady");

        // 5. takeover
        let takeover = if o.shards > 1 && killed_creating.is_none() {
            let t = self
                .takeover(&sim, &mut op, &applied_objects, o, &at)
                .await?;
            tl.phase(t.killed, "takeover");
            tl.phase(t.corrected, "steady");
            // The survivors' next resync passes over the taken objects, then deletion.
            tokio::time::sleep(resync).await;
            Some(t)
        } else {
            None
        };

        // 6. deleting
        let t_delete = at();
        tl.phase(t_delete, "deleting");
        let gate_delete0 = self.gate(&op).await?;
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .context("delete every cluster")?;
        let limit = bound(self.timeout, 20 * n, limits.deletes);
        let t_gone = loop {
            if let Ok(list) = api.list(&ListParams::default()).await {
                let (total, ready) = ready_count(&list.items);
                let t = at();
                tl.ready(t, ready);
                if total == 0 {
                    break t;
                }
            }
            if clock
                .elapsed()
                .saturating_sub(Duration::from_secs_f64(t_delete))
                > limit
            {
                bail!(
                    "clusters still there {} s after the delete (operator log: {})",
                    limit.as_secs(),
                    op.logs()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let gate_gone = self.gate(&op).await?;
        let left = sim.inventory().len();
        print_memories("after deleting them all", &op.memory()?);
        let end = at() + 1.0;

        // The figures, from the request log.
        let logged = sim.requests(&RequestFilter::default()).len();
        ensure!(
            logged < LOG_CAPACITY,
            "armsim's request log reached its capacity ({LOG_CAPACITY}): the oldest calls are gone, the figures would be wrong"
        );
        let ours: Vec<Call> = sim
            .requests(&RequestFilter {
                principal: Some(OPERATOR_PRINCIPAL.to_string()),
                ..RequestFilter::default()
            })
            .iter()
            .filter_map(|r| Call::from_record(r, t0))
            .collect();
        let create = calls::summarize(&ours, 0.0, t_ready);
        let steady = calls::summarize(&ours, t_steady, t_steady_end);
        // Up to a second after the rule was seen back: the corrective PUT's log record is
        // written as its answer leaves, which can trail the look that saw its effect.
        let drift = calls::summarize(&ours, t_drift, t_corrected + 1.0);
        let delete = calls::summarize(&ours, t_delete, end);
        let taken_over = takeover
            .as_ref()
            .map(|t| calls::summarize(&ours, t.killed, t.corrected + 1.0));

        println!();
        let write_floor = calls::budget_floor(
            create.distinct_writes,
            limits.writes.capacity,
            limits.writes.refill_per_sec,
        );
        println!(
            "creating: apply -> all Ready {t_ready:.1} s; write-budget floor {:.1} s ({} resources written, less the {} burst, at {}/s): {}",
            write_floor.as_secs_f64(),
            create.distinct_writes,
            limits.writes.capacity,
            limits.writes.refill_per_sec,
            ratio(t_ready, write_floor)
        );
        if let Some(k) = &killed_creating {
            println!(
                "creating: the holder of shard {} of {} ({} clusters) SIGKILLed at {:.1} s with {} of {n} Ready; \
                 survivors held every shard {}",
                k.who.shard,
                o.shards,
                k.who.in_shard,
                k.at,
                k.ready,
                k.taken.map_or_else(
                    || "only after all were Ready".to_string(),
                    |t| format!("after {:.1} s", t - k.at)
                )
            );
        }
        println!(
            "creating: {} writes sent ({} to a resource already written; {} conditional creates answered 412), {}; 429s {}; client-side gate: {}",
            create.writes,
            create.writes.saturating_sub(create.distinct_writes),
            create.precondition_failed_writes,
            show_reads(&create),
            show_429s(&create),
            gate_delta(&gate_start, &gate_ready)
        );
        println!(
            "creating: reads {:.1}/s on average against the {}/s refill",
            create.reads_per_second(),
            limits.reads.refill_per_sec
        );

        let resyncs = o.steady_resyncs as f64;
        let rps = steady.reads_per_second();
        let at_default = rps * o.resync_seconds as f64 / DEFAULT_RESYNC_SECONDS;
        let at_target = at_default * TARGET_CLUSTERS as f64 / n as f64;
        let refill = limits.reads.refill_per_sec;
        // The default resync is 300 s of ARM's time, against ARM's own refill.
        let arm_refill = refill / o.budget_scale;
        println!(
            "steady ({:.0} s = {} resyncs of {} s): {} ({:.1} per cluster per resync); {} writes, {} deletes; 429s {}; {} reconciles; client-side gate: {}",
            steady.seconds,
            o.steady_resyncs,
            o.resync_seconds,
            show_reads(&steady),
            steady.reads as f64 / resyncs / n as f64,
            steady.writes,
            steady.deletes,
            show_429s(&steady),
            r1.saturating_sub(r0),
            gate_delta(&gate_steady0, &gate_steady1)
        );
        let top: Vec<String> = calls::reads_by_collection(&ours, t_steady, t_steady_end)
            .into_iter()
            .take(12)
            .map(|(kind, coll, count)| {
                let kind = match kind {
                    ReadKind::ListPage => "list",
                    ReadKind::OperationPoll => "poll",
                    ReadKind::Resource => "GET",
                };
                format!("{kind} {coll} {count}")
            })
            .collect();
        println!("steady reads by collection: {}", top.join(", "));
        println!(
            "steady reads: {rps:.2}/s at a {} s resync = {:.1} % of the {refill}/s refill; \
             at the default {DEFAULT_RESYNC_SECONDS} s resync {at_default:.2}/s ({:.1} %); \
             extrapolated to {TARGET_CLUSTERS} clusters {at_target:.2}/s ({:.1} %; target <= 10 %)",
            o.resync_seconds,
            100.0 * rps / refill,
            100.0 * at_default / arm_refill,
            100.0 * at_target / arm_refill
        );
        println!(
            "drift (outside PUT of c0000-controlplane-nsg without its {API_SERVER_RULE} rule) corrected after {:.1} s \
             (resync {} s); operator calls meanwhile: {} writes, {}",
            t_corrected - t_drift,
            o.resync_seconds,
            drift.writes,
            show_reads(&drift)
        );
        if let (Some(t), Some(w)) = (&takeover, &taken_over) {
            println!(
                "takeover (the holder of shard {} of {}, {} clusters, SIGKILLed while c0000 drifted): \
                 survivors held every shard after {:.1} s (lease {LEASE_DURATION_SECONDS} s); \
                 c0000's rule put back by its new owner after {:.1} s; operator calls meanwhile: \
                 {} writes ({} to a resource already written), {}; 429s {}",
                t.who.shard,
                o.shards,
                t.who.in_shard,
                t.taken - t.killed,
                t.corrected - t.killed,
                w.writes,
                w.writes.saturating_sub(w.distinct_writes),
                show_reads(w),
                show_429s(w)
            );
        }
        let delete_floor = calls::budget_floor(
            delete.distinct_deletes,
            limits.deletes.capacity,
            limits.deletes.refill_per_sec,
        );
        let to_gone = t_gone - t_delete;
        println!(
            "deleting: delete -> all gone {to_gone:.1} s; delete-budget floor {:.1} s ({} resources deleted, less the {} burst, at {}/s): {}",
            delete_floor.as_secs_f64(),
            delete.distinct_deletes,
            limits.deletes.capacity,
            limits.deletes.refill_per_sec,
            ratio(to_gone, delete_floor)
        );
        println!(
            "deleting: {} deletes sent, {} writes, {}; 429s {}; client-side gate: {}; left in armsim: {left}",
            delete.deletes,
            delete.writes,
            show_reads(&delete),
            show_429s(&delete),
            gate_delta(&gate_delete0, &gate_gone)
        );

        let rows = calls::per_second(&ours, end, &tl.phases, &tl.ready);
        std::fs::create_dir_all(&o.out_dir)
            .with_context(|| format!("create {}", o.out_dir.display()))?;
        // Every call of the operator's principal, for looking into a figure (which cluster
        // waited on what): seconds since the first apply, method, status, path.
        let stem = if o.shards > 1 {
            format!("one-subscription-{}-shards", o.shards)
        } else {
            "one-subscription".to_string()
        };
        let log = o.out_dir.join(format!("{stem}-requests.csv"));
        std::fs::write(&log, calls::requests_csv(&ours))
            .with_context(|| format!("write {}", log.display()))?;
        let csv = o.out_dir.join(format!("{stem}-calls.csv"));
        std::fs::write(&csv, calls::to_csv(&rows))
            .with_context(|| format!("write {}", csv.display()))?;
        println!(
            "calls per second by class: {} ({} rows; plot: bash tests/bench/plot.sh {})",
            csv.display(),
            rows.len(),
            csv.display()
        );
        op.stop();
        sim.shutdown().await;
        if left > 0 {
            bail!("{left} resources left in armsim after every cluster was deleted");
        }
        Ok(())
    }

    async fn gate(&self, op: &Replicas) -> Result<BTreeMap<String, u64>> {
        op.throttle_events(&self.http).await
    }

    /// One replica, or `o.shards` replicas of `azop run --shards <o.shards>`, each with its
    /// own log and /metrics.
    fn replicas(&self, sim: &RunningSim, ns: &str, o: &Options) -> Result<Replicas> {
        let count = o.shards.max(1);
        let mut out = Vec::new();
        for i in 0..count {
            let mut extra_args = vec!["--arm-budget-scale".to_string(), o.budget_scale.to_string()];
            if count > 1 {
                extra_args.extend(["--shards".to_string(), count.to_string()]);
            }
            out.push(Operator::spawn(OperatorOptions {
                binary: &self.azop,
                kubeconfig: &self.kubeconfig,
                sim_url: sim.url(),
                namespace: ns,
                lease: LEASE,
                resync_seconds: o.resync_seconds,
                log: self.env.dir().join(format!("operator-{ns}-{i}.log")),
                extra_args,
                identity: (count > 1).then(|| format!("bench-replica-{i}")),
            })?);
        }
        Ok(Replicas::new(out))
    }

    /// Removes the API server rule from cluster c0000's control-plane NSG as another principal
    /// would (a PUT of the NSG without it), and waits for the rule to be back. Returns when
    /// the outside PUT was answered and when the rule was seen again, in the run's seconds.
    async fn drift(
        &self,
        sim: &RunningSim,
        resync: Duration,
        at: &impl Fn() -> f64,
    ) -> Result<(f64, f64)> {
        let nsg = self.remove_rule(sim).await?;
        let t_drift = at();
        let limit = resync * 2 + Duration::from_secs(120);
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if self.rule_back(&nsg).await {
                return Ok((t_drift, at()));
            }
            if started.elapsed() > limit {
                bail!(
                    "the {API_SERVER_RULE} rule of {} was not restored within {} s",
                    nsg.name,
                    limit.as_secs()
                );
            }
        }
    }

    /// PUTs cluster c0000's control-plane NSG without its rules, as the outsider.
    async fn remove_rule(&self, sim: &RunningSim) -> Result<OutsideNsg> {
        let cluster = cluster_name(0);
        let name = format!("{cluster}-controlplane-nsg");
        let url = format!(
            "{}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-{cluster}/providers/Microsoft.Network/networkSecurityGroups/{name}?api-version={NSG_API_VERSION}",
            sim.url().trim_end_matches('/')
        );
        let token = sim.token(TENANT, OUTSIDER);
        let nsg = get_json(&self.http, &url, &token).await?;
        ensure!(
            has_rule(&nsg, API_SERVER_RULE),
            "{name} has no {API_SERVER_RULE} rule before the drift: {nsg}"
        );
        let r = self
            .http
            .put(&url)
            .bearer_auth(&token)
            .json(&json!({
                "location": nsg["location"],
                "tags": nsg["tags"],
                "properties": {"securityRules": []},
            }))
            .send()
            .await
            .context("PUT the NSG without its rules")?;
        ensure!(
            r.status().is_success(),
            "PUT the NSG without its rules: {}",
            r.status()
        );
        Ok(OutsideNsg { name, url, token })
    }

    /// Whether the NSG holds the API server rule again, its update ended.
    async fn rule_back(&self, nsg: &OutsideNsg) -> bool {
        get_json(&self.http, &nsg.url, &nsg.token)
            .await
            .is_ok_and(|v| has_rule(&v, API_SERVER_RULE) && succeeded(&v))
    }

    /// SIGKILLs the replica holding the Lease of cluster c0000's shard (a crash: it releases
    /// no Lease), as the operator maps objects to shards (`shard_of` its uid).
    async fn kill_holder(
        &self,
        op: &mut Replicas,
        objects: &[DynamicObject],
        o: &Options,
    ) -> Result<Killed> {
        let uid = |obj: &DynamicObject| obj.metadata.uid.clone().unwrap_or_default();
        let first = objects
            .iter()
            .find(|obj| obj.metadata.name.as_deref() == Some(cluster_name(0).as_str()))
            .context("cluster c0000 was not applied")?;
        let shard = shard_of(&uid(first), o.shards);
        let in_shard = objects
            .iter()
            .filter(|obj| shard_of(&uid(obj), o.shards) == shard)
            .count();
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), kit::OPERATOR_NAMESPACE);
        let lease = format!("{LEASE}-shard-{shard}");
        let holder = leases
            .get(&lease)
            .await
            .with_context(|| format!("read Lease {lease}"))?
            .spec
            .and_then(|s| s.holder_identity)
            .with_context(|| format!("Lease {lease} has no holder"))?;
        let log = op.kill(&self.http, &holder).await?;
        println!(
            "SIGKILLed {holder}, the holder of shard {shard} of {} ({in_shard} clusters; log {})",
            o.shards,
            log.display()
        );
        Ok(Killed {
            holder,
            shard,
            in_shard,
        })
    }

    /// A replica crashes (SIGKILL: it releases no Lease) while the cluster it reconciles
    /// drifts. Kills the replica holding cluster c0000's shard, removes that cluster's API
    /// server rule at the same moment, and waits until the survivors hold every shard and
    /// the rule is back: the takeover of the killed replica's objects, and the first of
    /// them to need a write getting it from its new owner.
    async fn takeover(
        &self,
        sim: &RunningSim,
        op: &mut Replicas,
        objects: &[DynamicObject],
        o: &Options,
        at: &impl Fn() -> f64,
    ) -> Result<Takeover> {
        let who = self.kill_holder(op, objects, o).await?;
        let killed = at();
        let nsg = self.remove_rule(sim).await?;
        println!(
            "takeover: removed the {API_SERVER_RULE} rule of {} as {} was killed",
            nsg.name, who.holder
        );
        let limit = Duration::from_secs(LEASE_DURATION_SECONDS * 2)
            + Duration::from_secs(o.resync_seconds * 2)
            + Duration::from_secs(120);
        let started = Instant::now();
        let (mut taken, mut corrected) = (None, None);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if taken.is_none()
                && op
                    .shards_held(&self.http)
                    .await
                    .is_ok_and(|h| h == i64::from(o.shards))
            {
                taken = Some(at());
            }
            if corrected.is_none() && self.rule_back(&nsg).await {
                corrected = Some(at());
            }
            if let (Some(taken), Some(corrected)) = (taken, corrected) {
                return Ok(Takeover {
                    killed,
                    taken,
                    corrected,
                    who,
                });
            }
            if started.elapsed() > limit {
                bail!(
                    "{} s after {} was killed: survivors hold every shard: {}; rule back: {} (logs: {})",
                    limit.as_secs(),
                    who.holder,
                    taken.is_some(),
                    corrected.is_some(),
                    op.logs()
                );
            }
        }
    }
}
