//! `azop-bench`: the operator part of `make bench` (results in docs/benchmarks.md).
//!
//! ```text
//! azop-bench [--latency-scale F] [--clusters N] [--resync-seconds S] [--skip-scale]
//!            [--scale-resync-seconds S] [--steady-resyncs K] [--scale-shards N [--scale-kill-while-creating]] [--budget-scale K]
//!            [--out-dir DIR]
//!            [--subscription-per-cluster] [--only-scale]
//!            [--webhook-rate R] [--webhook-api-rate A] [--webhook-seconds S] [--only-webhook]
//! ```
//!
//! Starts its own etcd + kube-apiserver (azop-testenv, stopped on exit) and in-process
//! azop-armsim instances, runs the release `azop` binary as its ServiceAccount, and measures:
//!
//! 1. one AzureCluster (3 control-plane + 3 workers) under the `realistic` latency preset ×
//!    F: apply → Ready against the critical path of the resource graph computed from the same
//!    latencies; ARM calls to create it by method; GETs per steady-state resync; delete time;
//! 2. one AksCluster (a System pool created with the cluster, two User pools after it) under
//!    the same preset: apply → Ready against its critical path (resource group, managed
//!    cluster, then the slowest pool — the pools go in parallel); ARM calls to create it;
//!    GETs per steady-state resync; delete time;
//! 3. N AzureClusters in ONE subscription of a zero-latency simulator with ARM's throttling
//!    on (one_subscription.rs): apply → all Ready against the write-budget floor, 429s,
//!    steady reads/s against the read refill, drift correction, delete → gone against the
//!    delete floor, operator memory, and a CSV of calls per second by class;
//!    `--subscription-per-cluster` gives each cluster its own subscription instead (the
//!    memory run of before issue 24);
//! 4. the ProxyConfig webhook under R admissions/s (open loop) for S seconds: latency p50/p99
//!    of `/mutate-pods` called directly over TLS, and of dry-run pod creation through the API
//!    server (A/s) with and without the webhook on the path; operator memory before and after.
//!
//! Every process it starts is stopped when it ends, on error and on Ctrl-C / SIGTERM.

#[allow(dead_code)] // shared with the demo; each binary uses part of it
#[path = "../demo/kit.rs"]
mod kit;

mod calls;
mod graph;
mod one_subscription;
mod process;
mod webhook;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use azop_armsim::store::OpKind;
use azop_armsim::{LatencyPreset, RequestFilter, RequestRecord, RunningSim, SimConfig};
use azop_testenv::{TestEnv, TestEnvOptions};
use clap::Parser;
use kube::api::{DeleteParams, ListParams};
use serde_json::{Value, json};

use process::{Memory, Operator, OperatorOptions};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SUBSCRIPTION: &str = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const SECRET: &str = "azure-credentials";
/// The client id in the bench's credentials Secret: the operator's principal at ARM, whose
/// buckets its calls spend.
const OPERATOR_PRINCIPAL: &str = "azop-bench";

#[derive(Parser)]
#[command(
    name = "azop-bench",
    about = "Operator benchmarks (docs/benchmarks.md)"
)]
struct Cli {
    /// Multiplier of the realistic preset for the one-cluster run.
    #[arg(long, default_value_t = 0.25)]
    latency_scale: f64,
    /// AzureClusters in the scale run.
    #[arg(long, default_value_t = 100)]
    clusters: usize,
    /// The scale run's resync, in seconds (the operator's default is 300; a shorter one
    /// shortens the run, and the steady figures are scaled to 300 s in the output).
    #[arg(long, default_value_t = 300)]
    scale_resync_seconds: u64,
    /// Resyncs the scale run's steady-state window lasts (after one resync of settling).
    #[arg(long, default_value_t = 2)]
    steady_resyncs: u32,
    /// Where the scale run writes one-subscription-calls.csv.
    #[arg(long, default_value = "target/azop-bench")]
    out_dir: PathBuf,
    /// Operator replicas of the one-subscription run: with N > 1, N replicas of
    /// `azop run --shards N` share the clusters (docs/scale.md, "Sharding over replicas"),
    /// and one of them is killed before the deletion (the takeover phase).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    scale_shards: u32,
    /// With `--scale-shards` > 1: kill the holder of cluster c0000's shard while the
    /// clusters are being created (halfway through the write-budget floor) instead of at
    /// steady state.
    #[arg(long)]
    scale_kill_while_creating: bool,
    /// The one-subscription run with ARM's refill rates multiplied by this, in armsim and in
    /// the operator (`azop run --arm-budget-scale`): a 1,000-cluster run in a quarter of the
    /// time at 4. Ratios to the floors keep their meaning; fixed delays (polls, requeues,
    /// the API server) weigh this much more against the budget, so the run is no easier.
    #[arg(long, default_value_t = 1.0)]
    budget_scale: f64,
    /// The scale run gives each cluster its own subscription (no shared ARM budget; the
    /// memory figures of before issue 24) instead of putting them all in one.
    #[arg(long)]
    subscription_per_cluster: bool,
    /// Only the scale run (not the one-cluster, AKS and webhook runs).
    #[arg(long, conflicts_with_all = ["skip_scale", "only_webhook"])]
    only_scale: bool,
    /// Resync interval of the one-cluster run (the steady-state window is 3 of them).
    #[arg(long, default_value_t = 5)]
    resync_seconds: u64,
    /// Retry-After the simulator suggests for its operations, in seconds (its default is
    /// 0.02; real ARM says 10–600; azop polls no faster than every 0.5 s).
    #[arg(long, default_value_t = 0.02)]
    retry_after_seconds: f64,
    /// Only the one-cluster run.
    #[arg(long)]
    skip_scale: bool,
    /// Admissions per second offered to the webhook (run 3).
    #[arg(long, default_value_t = 300)]
    webhook_rate: u32,
    /// Dry-run pod creations per second through the API server (run 3).
    #[arg(long, default_value_t = 100)]
    webhook_api_rate: u32,
    /// Seconds of load on the webhook.
    #[arg(long, default_value_t = 20)]
    webhook_seconds: u64,
    /// Only the webhook run.
    #[arg(long)]
    only_webhook: bool,
    /// Limit for each wait (Ready, gone).
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = tokio::select! {
        r = run(cli) => r,
        _ = interrupted() => Err(anyhow::anyhow!("interrupted")),
    };
    // Leaving the select dropped `run`'s future: the operator is killed and the test
    // environment stopped by their Drop impls.
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azop-bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The `azop` binary next to this one (both built by `make bench` in the same profile).
fn azop_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("AZOP_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let bin = exe.with_file_name("azop");
    if !bin.exists() {
        bail!(
            "{} does not exist: build it in the same profile (make bench does)",
            bin.display()
        );
    }
    Ok(bin)
}

struct Bench {
    env: TestEnv,
    client: kube::Client,
    http: reqwest::Client,
    kubeconfig: PathBuf,
    azop: PathBuf,
    timeout: Duration,
}

async fn run(cli: Cli) -> Result<()> {
    let azop = azop_binary()?;
    println!(
        "# azop-bench ({})",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("machine: {} cores, {}", cores(), memory_total());
    println!("operator binary: {}", azop.display());
    let env = TestEnv::start(TestEnvOptions::default())
        .await
        .context("start etcd and kube-apiserver")?;
    let kubeconfig = env.dir().join("kubeconfig-azop-operator");
    kit::install_operator_access(&env, &kubeconfig).await?;
    let bench = Bench {
        client: env.client()?,
        env,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        kubeconfig,
        azop,
        timeout: Duration::from_secs(cli.timeout_seconds),
    };
    if !cli.only_webhook && !cli.only_scale {
        bench
            .one_cluster(
                cli.latency_scale,
                cli.retry_after_seconds,
                cli.resync_seconds,
            )
            .await?;
        bench
            .one_aks(
                cli.latency_scale,
                cli.retry_after_seconds,
                cli.resync_seconds,
            )
            .await?;
    }
    if !cli.only_webhook && !cli.skip_scale {
        if cli.subscription_per_cluster {
            bench.many_clusters(cli.clusters).await?;
        } else {
            bench
                .one_subscription(&one_subscription::Options {
                    clusters: cli.clusters,
                    resync_seconds: cli.scale_resync_seconds,
                    steady_resyncs: cli.steady_resyncs,
                    out_dir: cli.out_dir.clone(),
                    shards: cli.scale_shards,
                    kill_while_creating: cli.scale_kill_while_creating,
                    budget_scale: cli.budget_scale,
                })
                .await?;
        }
    }
    if !cli.only_scale {
        bench
            .webhook(cli.webhook_rate, cli.webhook_api_rate, cli.webhook_seconds)
            .await?;
    }
    Ok(())
}

/// An AzureCluster with 3 control-plane machines over three zones and 3 workers.
fn cluster(name: &str, subscription: &str) -> Value {
    json!({
        "apiVersion": "azop.dev/v1alpha1",
        "kind": "AzureCluster",
        "metadata": {"name": name},
        "spec": {
            "credentialsRef": {"name": SECRET},
            "subscriptionId": subscription,
            "location": "westeurope",
            "resourceGroup": format!("rg-{name}"),
            "createResourceGroup": true,
            "kubernetesVersion": "1.36",
            "controlPlane": {"replicas": 3, "vmSize": "Standard_D4s_v5", "zones": ["1", "2", "3"]},
            "workerPools": [{"name": "general", "replicas": 3, "vmSize": "Standard_D8s_v5", "zones": ["1", "2", "3"]}],
            "image": {"marketplace": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}},
            "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvS3qkQ8qk3m0n1y6K2c5a8yZ9jv3d9sQ0mL6n4yXw1 bench@example.com",
        }
    })
}

/// An AksCluster: a System pool (created with the cluster) and two User pools (after it, in
/// parallel), in a resource group azop creates.
fn aks_cluster(name: &str) -> Value {
    json!({
        "apiVersion": "azop.dev/v1alpha1",
        "kind": "AksCluster",
        "metadata": {"name": name},
        "spec": {
            "credentialsRef": {"name": SECRET},
            "subscriptionId": SUBSCRIPTION,
            "location": "westeurope",
            "resourceGroup": format!("rg-{name}"),
            "createResourceGroup": true,
            "kubernetesVersion": "1.36",
            "managedControlPlane": {"sku": "Standard", "autoUpgradeProfile": {"upgradeChannel": "patch"}},
            "nodePools": [
                {"name": "system", "mode": "System", "vmSize": "Standard_D4s_v5", "count": 3, "zones": ["1", "2", "3"]},
                {"name": "apps", "mode": "User", "vmSize": "Standard_D8s_v5", "autoscale": {"min": 2, "max": 10}},
                {"name": "batch", "mode": "User", "vmSize": "Standard_D8s_v5", "count": 2}
            ],
        }
    })
}

/// ARM calls of a slice of the request log: by method, token calls apart.
fn by_method(reqs: &[RequestRecord]) -> (BTreeMap<String, usize>, usize) {
    let mut m = BTreeMap::new();
    let mut token = 0;
    for r in reqs {
        if r.path.contains("/oauth2/") {
            token += 1;
        } else {
            *m.entry(r.method.clone()).or_insert(0) += 1;
        }
    }
    (m, token)
}

fn show_methods(m: &BTreeMap<String, usize>) -> String {
    let total: usize = m.values().sum();
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("{total} ({})", parts.join(", "))
}

/// The operation latency the simulator applies to `arm_type` (create or delete).
fn sim_latency(config: &SimConfig, arm_type: &str, kind: OpKind) -> Duration {
    let typical = azop_armsim::types::registry()
        .get(arm_type)
        .map(|t| t.typical_latency(kind))
        .unwrap_or_default();
    config.latency_for(arm_type, typical)
}

impl Bench {
    async fn namespace_with_secret(&self, prefix: &str) -> Result<String> {
        let ns = self.env.new_namespace(prefix).await?;
        kit::apply(
            &self.client,
            &ns,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET},
                    "stringData": {"tenantId": TENANT, "clientId": OPERATOR_PRINCIPAL, "clientSecret": "bench"}}),
        )
        .await?;
        Ok(ns)
    }

    fn operator(
        &self,
        sim: &RunningSim,
        ns: &str,
        lease: &str,
        resync_seconds: u64,
    ) -> Result<Operator> {
        Operator::spawn(OperatorOptions {
            binary: &self.azop,
            kubeconfig: &self.kubeconfig,
            sim_url: sim.url(),
            namespace: ns,
            lease,
            resync_seconds,
            log: self.env.dir().join(format!("operator-{ns}.log")),
            extra_args: Vec::new(),
            identity: None,
        })
    }

    async fn one_cluster(&self, scale: f64, retry_after: f64, resync_seconds: u64) -> Result<()> {
        let config = SimConfig::new()
            .latency_preset(LatencyPreset::Realistic)
            .latency_scale(scale)
            .retry_after(Duration::from_secs_f64(retry_after.max(0.0)));
        let g = graph::cluster_graph(3, 3);
        let (create_path, create_keys) =
            graph::critical_path(&g, false, |t| sim_latency(&config, t, OpKind::Create));
        let (delete_path, delete_keys) =
            graph::critical_path(&g, true, |t| sim_latency(&config, t, OpKind::Delete));
        let sim = azop_armsim::start(config).await.context("start armsim")?;
        let ns = self.namespace_with_secret("bench-one").await?;
        let mut op = self.operator(&sim, &ns, "azop-bench-one", resync_seconds)?;
        op.wait_ready(&self.http, Duration::from_secs(60)).await?;
        let api = kit::azure_clusters(&self.client, &ns);
        let all = RequestFilter::default();

        println!();
        println!(
            "## one AzureCluster (3 control-plane + 3 workers), realistic latencies x {scale}"
        );
        let before = sim.requests(&all).len();
        let start = Instant::now();
        kit::apply(&self.client, &ns, &cluster("one", SUBSCRIPTION)).await?;
        self.wait(&format!("{ns}/one Ready"), || async {
            Ok(api.get("one").await.is_ok_and(|o| kit::is_ready(&o)))
        })
        .await?;
        let to_ready = start.elapsed();
        let reqs = sim.requests(&all);
        let (create_calls, create_tokens) = by_method(&reqs[before..]);
        println!(
            "critical path (create): {:.1} s via {}",
            create_path.as_secs_f64(),
            create_keys.join(" -> ")
        );
        println!(
            "apply -> Ready: {:.1} s; overhead {:.1} s ({:+.0}%)",
            to_ready.as_secs_f64(),
            to_ready.as_secs_f64() - create_path.as_secs_f64(),
            100.0 * (to_ready.as_secs_f64() / create_path.as_secs_f64() - 1.0)
        );
        println!(
            "ARM calls to create: {}; token requests {create_tokens}",
            show_methods(&create_calls)
        );

        self.steady_state(&sim, &op, resync_seconds).await?;
        let mem = op.memory()?;
        println!(
            "operator memory with one cluster: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
            mem.rss_mib(),
            mem.hwm_mib()
        );

        let before = sim.requests(&all).len();
        let start = Instant::now();
        api.delete("one", &DeleteParams::default()).await?;
        self.wait(&format!("{ns}/one gone"), || async {
            Ok(api.get_opt("one").await?.is_none())
        })
        .await?;
        let to_gone = start.elapsed();
        let reqs = sim.requests(&all);
        let (delete_calls, _) = by_method(&reqs[before..]);
        println!(
            "critical path (delete): {:.1} s via {}",
            delete_path.as_secs_f64(),
            delete_keys.join(" -> ")
        );
        println!(
            "delete -> gone: {:.1} s; overhead {:.1} s; ARM calls {}; left in the simulator: {}",
            to_gone.as_secs_f64(),
            to_gone.as_secs_f64() - delete_path.as_secs_f64(),
            show_methods(&delete_calls),
            sim.inventory().len()
        );
        op.stop();
        sim.shutdown().await;
        Ok(())
    }

    async fn one_aks(&self, scale: f64, retry_after: f64, resync_seconds: u64) -> Result<()> {
        use azop_armsim::types::containerservice::{CLUSTER, POOL};
        let config = SimConfig::new()
            .latency_preset(LatencyPreset::Realistic)
            .latency_scale(scale)
            .retry_after(Duration::from_secs_f64(retry_after.max(0.0)));
        let rg = "Microsoft.Resources/resourceGroups";
        let create_path = sim_latency(&config, rg, OpKind::Create)
            + sim_latency(&config, CLUSTER, OpKind::Create)
            + sim_latency(&config, POOL, OpKind::Create);
        let delete_path = sim_latency(&config, CLUSTER, OpKind::Delete)
            + sim_latency(&config, rg, OpKind::Delete);
        let sim = azop_armsim::start(config).await.context("start armsim")?;
        let ns = self.namespace_with_secret("bench-aks").await?;
        let mut op = self.operator(&sim, &ns, "azop-bench-aks", resync_seconds)?;
        op.wait_ready(&self.http, Duration::from_secs(60)).await?;
        let ar = kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("azop.dev", "v1alpha1", "AksCluster"),
            "aksclusters",
        );
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::namespaced_with(self.client.clone(), &ns, &ar);
        let all = RequestFilter::default();

        println!();
        println!("## one AksCluster (System pool + 2 User pools), realistic latencies x {scale}");
        let before = sim.requests(&all).len();
        let start = Instant::now();
        kit::apply(&self.client, &ns, &aks_cluster("aks")).await?;
        self.wait(&format!("{ns}/aks Ready"), || async {
            Ok(api.get("aks").await.is_ok_and(|o| kit::is_ready(&o)))
        })
        .await?;
        let to_ready = start.elapsed();
        let reqs = sim.requests(&all);
        let (create_calls, _) = by_method(&reqs[before..]);
        println!(
            "critical path (create): {:.1} s via resource group -> managed cluster (with the System pool) -> User pools (in parallel)",
            create_path.as_secs_f64()
        );
        println!(
            "apply -> Ready: {:.1} s; overhead {:.1} s ({:+.0}%)",
            to_ready.as_secs_f64(),
            to_ready.as_secs_f64() - create_path.as_secs_f64(),
            100.0 * (to_ready.as_secs_f64() / create_path.as_secs_f64() - 1.0)
        );
        println!("ARM calls to create: {}", show_methods(&create_calls));

        self.steady_state(&sim, &op, resync_seconds).await?;

        let before = sim.requests(&all).len();
        let start = Instant::now();
        api.delete("aks", &DeleteParams::default()).await?;
        self.wait(&format!("{ns}/aks gone"), || async {
            Ok(api.get_opt("aks").await?.is_none())
        })
        .await?;
        let to_gone = start.elapsed();
        let reqs = sim.requests(&all);
        let (delete_calls, _) = by_method(&reqs[before..]);
        println!(
            "critical path (delete): {:.1} s via managed cluster (its pools go with it) -> resource group",
            delete_path.as_secs_f64()
        );
        println!(
            "delete -> gone: {:.1} s; overhead {:.1} s; ARM calls {}; left in the simulator: {}",
            to_gone.as_secs_f64(),
            to_gone.as_secs_f64() - delete_path.as_secs_f64(),
            show_methods(&delete_calls),
            sim.inventory().len()
        );
        op.stop();
        sim.shutdown().await;
        Ok(())
    }

    /// Steady state: lets the last status write settle, then watches three resyncs and prints
    /// the reconciles, GETs and writes they made.
    async fn steady_state(
        &self,
        sim: &RunningSim,
        op: &Operator,
        resync_seconds: u64,
    ) -> Result<()> {
        let all = RequestFilter::default();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let from = sim.requests(&all).len();
        let r0 = op.reconciles(&self.http).await?;
        tokio::time::sleep(Duration::from_secs(resync_seconds * 3 + 1)).await;
        let reqs = sim.requests(&all);
        let r1 = op.reconciles(&self.http).await?;
        let (steady, _) = by_method(&reqs[from..]);
        let gets = steady.get("GET").copied().unwrap_or(0);
        let writes: usize = steady
            .iter()
            .filter(|(m, _)| m.as_str() != "GET")
            .map(|(_, v)| v)
            .sum();
        let resyncs = r1.saturating_sub(r0);
        println!(
            "steady state over {} s (resync every {resync_seconds} s): {resyncs} reconciles, {gets} GETs, {writes} writes; {} GETs per resync",
            resync_seconds * 3 + 1,
            if resyncs == 0 {
                "n/a".to_string()
            } else {
                format!("{:.1}", gets as f64 / resyncs as f64)
            }
        );
        Ok(())
    }

    async fn many_clusters(&self, n: usize) -> Result<()> {
        // One subscription per cluster (`--subscription-per-cluster`): no shared ARM budget,
        // so this measures the operator's memory and pace alone; one_subscription.rs measures
        // them against the budget.
        let sim = azop_armsim::start(SimConfig::default())
            .await
            .context("start armsim")?;
        let ns = self.namespace_with_secret("bench-many").await?;
        let mut op = self.operator(&sim, &ns, "azop-bench-many", 300)?;
        op.wait_ready(&self.http, Duration::from_secs(60)).await?;
        let api = kit::azure_clusters(&self.client, &ns);
        println!();
        println!(
            "## {n} AzureClusters (3 control-plane + 3 workers each, one subscription each), zero latency"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = op.memory()?;
        print_memory("idle, no cluster", idle);

        let start = Instant::now();
        for i in 0..n {
            let sub = format!(
                "{:08x}-0000-4000-8000-{:012x}",
                0xbe0c_0000_u32 + i as u32,
                i
            );
            kit::apply(&self.client, &ns, &cluster(&format!("c{i:03}"), &sub)).await?;
        }
        let applied = start.elapsed();
        self.wait(&format!("{n} clusters Ready"), || async {
            let list = api.list(&ListParams::default()).await?;
            Ok(list.items.len() == n && list.items.iter().all(kit::is_ready))
        })
        .await?;
        let all_ready = start.elapsed();
        println!(
            "applied {n} in {:.1} s; all Ready after {:.1} s; {} resources in the simulator",
            applied.as_secs_f64(),
            all_ready.as_secs_f64(),
            sim.inventory().len()
        );
        print_memory(&format!("{n} clusters Ready"), op.memory()?);
        tokio::time::sleep(Duration::from_secs(10)).await;
        print_memory(&format!("{n} clusters Ready, 10 s later"), op.memory()?);

        let start = Instant::now();
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .context("delete every cluster")?;
        self.wait(&format!("{n} clusters gone"), || async {
            Ok(api.list(&ListParams::default()).await?.items.is_empty())
        })
        .await?;
        println!(
            "all {n} deleted after {:.1} s; left in the simulator: {}",
            start.elapsed().as_secs_f64(),
            sim.inventory().len()
        );
        print_memory("after deleting them all", op.memory()?);
        op.stop();
        sim.shutdown().await;
        Ok(())
    }

    /// Polls `check` every 50 ms until it says done, for at most the bench's timeout.
    async fn wait<F, Fut>(&self, what: &str, check: F) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let start = Instant::now();
        loop {
            if check().await.unwrap_or(false) {
                return Ok(());
            }
            if start.elapsed() > self.timeout {
                bail!(
                    "{what}: not reached within {} s (operator logs in {})",
                    self.timeout.as_secs(),
                    self.env.dir().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn print_memory(when: &str, m: Memory) {
    println!(
        "operator memory, {when}: VmRSS {:.1} MiB (RssAnon {:.1}, RssFile {:.1}), VmHWM {:.1} MiB",
        m.rss_mib(),
        m.anon_mib(),
        m.file_mib(),
        m.hwm_mib()
    );
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0)
}

fn memory_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB RAM", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "RAM unknown".to_string())
}
