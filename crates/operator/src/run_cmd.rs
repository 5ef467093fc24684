//! `azop run`: the controllers, behind leader election, with metrics and health endpoints.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use anyhow::Context as _;
use azop_controllers::shard::ShardGate;
use azop_controllers::{ControllerKind, KindSettings, Settings};
use azop_provider::{EndpointOverrides, Provider, ProviderConfig, ProviderMetrics};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{error, info};

use crate::{budget_share, health, leader, shards, walk_share};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Azure Resource Manager endpoint for every cloud (for azop-armsim); default: the cloud's.
    #[arg(long, env = "AZOP_ARM_ENDPOINT")]
    arm_endpoint: Option<url::Url>,
    /// Entra ID (AAD) authority host for every cloud (for azop-armsim); default: the cloud's.
    #[arg(long, env = "AZOP_AUTHORITY_HOST")]
    authority_host: Option<url::Url>,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Log format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Controllers to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "azurecluster,akscluster,storagebinding,proxyconfig"
    )]
    controllers: Vec<ControllerKind>,
    /// Concurrent reconciles per controller.
    #[arg(long, default_value_t = 4)]
    concurrency: u16,
    /// Steady-state resync interval in seconds (reads only).
    #[arg(long, default_value_t = 300)]
    resync_seconds: u64,
    /// Multiplies the refill rates of ARM's request buckets that the client-side gate assumes
    /// (reads 25/s, writes and deletes 10/s per subscription): for a subscription whose
    /// limits Microsoft raised, or a simulator run faster than ARM (`azop-bench
    /// --budget-scale`). The bucket sizes stay; ARM's remaining-count headers still correct
    /// the gate either way.
    #[arg(long, default_value_t = 1.0, env = "AZOP_ARM_BUDGET_SCALE", value_parser = positive_factor)]
    arm_budget_scale: f64,
    /// Lifetime in seconds of the kubeadm bootstrap tokens azop makes for AzureCluster
    /// machines (default 24 h, kubeadm's). A machine created after a token expired gets a
    /// fresh one, written into the workload cluster first.
    #[arg(
        long,
        default_value_t = 86400,
        env = "AZOP_BOOTSTRAP_TOKEN_TTL_SECONDS"
    )]
    bootstrap_token_ttl_seconds: u64,
    /// Seconds an ARM operation is polled before it is dropped and its resource re-read
    /// instead (an operation Azure lost, or one that never ends): nothing is polled forever.
    #[arg(long, default_value_t = 3600, env = "AZOP_OPERATION_DEADLINE_SECONDS")]
    operation_deadline_seconds: u64,
    /// How long, in seconds, an AzureCluster machine may take from VM creation to a Ready
    /// node before azop reads its serial console (boot diagnostics) into the cluster's
    /// condition (default 20 minutes, Azure's own provisioning timeout).
    #[arg(
        long,
        default_value_t = 1200,
        env = "AZOP_MACHINE_JOIN_DEADLINE_SECONDS"
    )]
    machine_join_deadline_seconds: u64,
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "AZOP_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Take part in leader election (disable only when exactly one replica runs).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the leader-election Lease. Default: the pod's namespace in a cluster
    /// (POD_NAMESPACE, else the service account's), else the kubeconfig context's namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the leader-election Lease; with --shards N > 1, the shard Leases are
    /// `<name>-shard-0` … `<name>-shard-<N-1>`.
    #[arg(long, default_value = "azop-leader")]
    lease_name: String,
    /// Spread the objects over N shards, one Lease each, so that several replicas share the
    /// work (docs/scale.md): each replica reconciles the objects of the shards it holds.
    /// 1 (the default): one leader reconciles everything. Every replica must run with the
    /// same N; replicas of another N wait until the last one of the old N is gone.
    #[arg(long, default_value_t = 1, env = "AZOP_SHARDS",
          value_parser = clap::value_parser!(u32).range(1..=MAX_SHARDS))]
    shards: u32,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// This replica's identity in the Lease (default: POD_NAME, else hostname + pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// PEM file of CAs to trust for ARM and Entra ID besides the public roots (a
    /// TLS-inspecting egress proxy's CA). Egress proxies themselves come from HTTPS_PROXY,
    /// HTTP_PROXY and NO_PROXY in the environment.
    #[arg(long, env = "AZOP_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    webhook: crate::webhook::WebhookArgs,
}

/// More shards than this is more Lease writes than any fleet of replicas needs.
const MAX_SHARDS: i64 = 256;

fn read_ca_file(path: &std::path::Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).with_context(|| format!("read --ca-file {}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("--ca-file {} is not a PEM bundle", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("--ca-file {} holds no certificate", path.display());
    }
    Ok(certs)
}

pub fn init_logging(format: &str) {
    // kube-rs logs every failed request at ERROR from its client layer, the expected ones too
    // (a workload cluster whose API is not up yet answers nothing for minutes); azop reports
    // the failures that matter itself, with what it was doing.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,kube_client::client::builder=off")
    });
    // Colour only on a terminal: a container's log (kubectl logs, a file) gets plain text,
    // not escape codes around every field.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "azop".into());
    format!("{host}-{}", std::process::id())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops azop");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    crate::allocator::start_purging();
    if args.shards > 1 {
        if !args.leader_election {
            anyhow::bail!(
                "--shards {} needs Leases to share the work: leave --leader-election on (the \
                 default), or run one replica with --shards 1 --leader-election=false",
                args.shards
            );
        }
        shards::check_group_name(&args.lease_name).map_err(anyhow::Error::msg)?;
    }
    let mut kube_config = kube::Config::infer()
        .await
        .context("failed to load KUBECONFIG or the in-cluster config")?;
    // HTTPS_PROXY in the environment is for Azure egress. kube-client takes it as the API
    // server's proxy when loading a kubeconfig (not in-cluster), and then fails to build a
    // client: its http-proxy feature is off. The API server is reached directly; a
    // kubeconfig `proxy-url` different from the environment's is still honoured.
    let env_proxy = ["HTTPS_PROXY", "https_proxy"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    if let (Some(p), Some(env)) = (&kube_config.proxy_url, env_proxy)
        && env.parse::<http::Uri>().ok().as_ref() == Some(p)
    {
        kube_config.proxy_url = None;
    }
    let client = kube::Client::try_from(kube_config)
        .context("failed to build a Kubernetes client from KUBECONFIG or the in-cluster config")?;

    let mut registry = Registry::default();
    let provider_metrics = ProviderMetrics::default();
    provider_metrics.register(&mut registry);
    let controller_metrics = azop_controllers::metrics::ControllerMetrics::default();
    controller_metrics.register(&mut registry);
    let heap = crate::allocator::HeapGauges::default();
    heap.register(&mut registry);
    tokio::spawn(heap.refresh_every(Duration::from_secs(10)));

    let provider = Provider::new(ProviderConfig {
        overrides: EndpointOverrides {
            arm_endpoint: args.arm_endpoint.clone(),
            authority_host: args.authority_host.clone(),
        },
        metrics: provider_metrics,
        listing: azop_provider::ListingConfig {
            // Replicas hand each other their walks (crate::walk_share).
            share_walks: args.shards > 1,
            ..azop_provider::ListingConfig::for_resync(Duration::from_secs(args.resync_seconds))
        },
        extra_root_certificates: match &args.ca_file {
            Some(p) => read_ca_file(p)?,
            None => Vec::new(),
        },
        lro: azop_provider::LroConfig {
            default_deadline: Duration::from_secs(args.operation_deadline_seconds.max(1)),
            ..azop_provider::LroConfig::default()
        },
        throttle_limits: azop_provider::ThrottleLimits::default()
            .refill_scaled(args.arm_budget_scale),
        ..ProviderConfig::default()
    });
    // The operator's namespace (the Leases' and the shared walks'): kube's default namespace
    // is the service account's namespace in a pod and the current context's namespace (or
    // "default") from a kubeconfig.
    let own_namespace = args
        .leader_election_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    if args.shards > 1 {
        let counters = walk_share::Counters::default();
        registry.register(
            "azop_shared_walks",
            "Subscription walks handed to the other replicas (published), theirs compared with this replica's listings (compared), and of those the ones that served as this replica's walk (complete); azop run --shards N > 1",
            counters.clone(),
        );
        let sharing = walk_share::Sharing {
            api: kube::Api::namespaced(client.clone(), &own_namespace),
            group: args.lease_name.clone(),
            identity: identity.clone(),
            counters,
        };
        tokio::spawn(walk_share::publish(
            sharing.clone(),
            provider.listings().clone(),
        ));
        tokio::spawn(walk_share::follow(sharing, provider.listings().clone()));
    }
    // The shards this replica holds, as the shard manager publishes them (--shards > 1).
    let (held_tx, held_rx) = watch::channel(BTreeSet::new());
    let shards_held = Gauge::<i64, AtomicI64>::default();
    registry.register(
        "azop_shards_held",
        "Shards whose objects this replica reconciles now (azop run --shards N > 1; 0 otherwise)",
        shards_held.clone(),
    );
    // The part of ARM's budget this replica spends: all of it alone or as the single
    // leader, k/N while it holds k of N shards (crate::budget_share follows them).
    let share_gauge = budget_share::ShareGauge::default();
    registry.register(
        "azop_arm_budget_share",
        "Part of each subscription's ARM read, write and delete budgets this replica spends: k/N while it holds k of N shards (azop run --shards N), 1 otherwise",
        share_gauge.clone(),
    );
    if args.shards > 1 {
        tokio::spawn(budget_share::follow(
            held_rx.clone(),
            args.shards,
            provider.throttle().clone(),
            share_gauge,
        ));
    } else {
        budget_share::apply(
            provider.throttle(),
            &share_gauge,
            azop_provider::BudgetShare::WHOLE,
        );
    }
    let settings = Settings {
        resync: Duration::from_secs(args.resync_seconds),
        concurrency: args.concurrency,
        namespace: args.namespace.clone(),
        shards: if args.shards > 1 {
            ShardGate::sharded(args.shards, held_rx)
        } else {
            ShardGate::all()
        },
        ..Settings::default()
    };
    let kind_settings = KindSettings {
        bootstrap_token_ttl: Duration::from_secs(args.bootstrap_token_ttl_seconds),
        machine_join_deadline: Duration::from_secs(args.machine_join_deadline_seconds),
    };
    let ctx =
        azop_controllers::Context::new(client.clone(), provider, controller_metrics, settings);
    // Events remembered for aggregation expire after six minutes; publishing forgets them,
    // and this forgets them when nothing is published (a quiet operator after a wave).
    tokio::spawn({
        let ctx = ctx.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                ctx.recorder.forget_expired();
                ctx.metrics
                    .record_state("events", "", ctx.recorder.remembered());
            }
        }
    });

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = watch::channel(false);
    let health = tokio::spawn(health::serve(
        args.metrics_addr,
        Arc::new(registry),
        ready_rx,
        shutdown_rx.clone(),
    ));
    tokio::spawn({
        let shutdown_tx = shutdown_tx.clone();
        async move {
            shutdown_signal().await;
            info!("shutting down");
            shutdown_tx.send_replace(true);
        }
    });

    // The webhook runs on every replica, leader or not.
    let webhook = args.webhook.webhook_addr.map(|addr| {
        let serve = crate::webhook::serve(
            args.webhook.clone(),
            addr,
            client.clone(),
            // The operator's namespace: where the certificate Secret lives, never injected.
            args.leader_election_namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_string()),
            args.namespace.clone(),
            shutdown_rx.clone(),
        );
        let shutdown_tx = shutdown_tx.clone();
        tokio::spawn(async move {
            let result = serve.await;
            if let Err(e) = &result {
                // A replica whose webhook cannot serve must not look healthy: stop it, so
                // the Deployment restarts it and the failure is visible.
                error!(error = %format!("{e:#}"), "webhook failed; shutting down");
                shutdown_tx.send_replace(true);
            }
            result
        })
    });

    let lease_cfg = leader::LeaderConfig {
        namespace: own_namespace,
        lease_name: args.lease_name.clone(),
        identity,
        lease_duration: Duration::from_secs(args.lease_duration_seconds),
        retry_period: Duration::from_secs((args.lease_duration_seconds / 5).max(1)),
    };
    let election = if args.shards > 1 {
        run_sharded(
            &args,
            client.clone(),
            ctx,
            &kind_settings,
            shards::ShardConfig {
                lease: lease_cfg,
                count: args.shards,
            },
            (held_tx, shards_held),
            (&shutdown_tx, shutdown_rx.clone(), &ready_tx),
        )
        .await?
    } else {
        run_leader(
            &args,
            client.clone(),
            ctx,
            &kind_settings,
            lease_cfg,
            (&shutdown_tx, shutdown_rx.clone(), &ready_tx),
        )
        .await?
    };
    shutdown_tx.send_replace(true);
    let election_result = match election {
        Some(e) => e.await,
        None => Ok(Ok(())),
    };
    if let Some(w) = webhook {
        match w.await {
            Ok(r) => r.context("webhook server")?,
            Err(e) => error!(error = %e, "webhook task failed"),
        }
    }
    match health.await {
        Ok(r) => r?,
        Err(e) => error!(error = %e, "metrics server task failed"),
    }
    match election_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            error!(error = %e, "leader election cannot work");
            Err(anyhow::Error::new(e).context("leader election cannot work"))
        }
        Err(e) => Err(anyhow::anyhow!("leader election task failed: {e}")),
    }
}

type Coordination = Option<tokio::task::JoinHandle<Result<(), leader::ElectionError>>>;

/// Shutdown (to send, and as the process saw it from the start) and readiness.
type Signals<'a> = (
    &'a watch::Sender<bool>,
    watch::Receiver<bool>,
    &'a watch::Sender<bool>,
);

/// `--shards 1`: the controllers run only while this replica leads (or always, without
/// leader election). Returns the election's task, finished or to be awaited.
async fn run_leader(
    args: &RunArgs,
    client: kube::Client,
    ctx: Arc<azop_controllers::Context>,
    kind_settings: &KindSettings,
    cfg: leader::LeaderConfig,
    (shutdown_tx, shutdown_rx, ready_tx): Signals<'_>,
) -> anyhow::Result<Coordination> {
    let (leader_tx, mut leader_rx) = watch::channel(!args.leader_election);
    let election = if args.leader_election {
        info!(identity = %cfg.identity, lease = %format!("{}/{}", cfg.namespace, cfg.lease_name), "waiting to lead");
        Some(tokio::spawn(leader::run(
            client,
            cfg,
            leader_tx,
            shutdown_rx.clone(),
        )))
    } else {
        None
    };
    ready_tx.send_replace(true);

    let mut shutdown = shutdown_rx.clone();
    // Also false when the election ended without ever leading (its sender is gone): a
    // refusal retrying cannot fix, reported by the caller.
    let led = tokio::select! {
        r = leader_rx.wait_for(|l| *l) => r.is_ok(),
        _ = shutdown.wait_for(|s| *s) => false,
    };
    if led {
        info!(controllers = ?args.controllers, "leading: starting controllers");
        let mut stop = shutdown_rx.clone();
        let mut lost = leader_rx.clone();
        let stop_signal = async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = lost.wait_for(|l| !*l) => {}
            }
        };
        azop_controllers::run(ctx, &args.controllers, kind_settings, stop_signal).await;
        if !*leader_rx.borrow() && !*shutdown_rx.borrow() {
            // Lost the lease while running: exit so that a restart rebuilds every cache
            // from scratch under a fresh election, as client-go's operators do.
            shutdown_tx.send_replace(true);
            if let Some(e) = election {
                let _ = e.await;
            }
            anyhow::bail!("lost leadership; exiting");
        }
    }
    Ok(election)
}

/// `--shards N > 1`: the controllers run from the start on every replica, and reconcile the
/// objects of the shards the shard manager holds (`crate::shards`). Returns the manager's
/// task once the controllers stopped (shutdown, or the manager ended).
/// How long controllers get to finish their passes when coordination fails for good.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

async fn run_sharded(
    args: &RunArgs,
    client: kube::Client,
    ctx: Arc<azop_controllers::Context>,
    kind_settings: &KindSettings,
    cfg: shards::ShardConfig,
    (held_tx, gauge): (watch::Sender<BTreeSet<u32>>, Gauge),
    (shutdown_tx, shutdown_rx, ready_tx): Signals<'_>,
) -> anyhow::Result<Coordination> {
    let mut manager = tokio::spawn(shards::run(
        client,
        cfg,
        held_tx,
        shutdown_rx.clone(),
        gauge,
    ));
    ready_tx.send_replace(true);
    info!(controllers = ?args.controllers, shards = args.shards, "sharded: starting controllers");
    let mut stop = shutdown_rx.clone();
    let controllers = azop_controllers::run(ctx, &args.controllers, kind_settings, async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    tokio::pin!(controllers);
    tokio::select! {
        () = &mut controllers => Ok(Some(manager)),
        finished = &mut manager => {
            // A refusal retrying cannot fix (or a failed task): nothing is reconciled any
            // more (the gate owns nothing without its manager); stop. The cause is logged
            // first and the controllers get a bounded time to wind down, so a replica that
            // cannot coordinate says why and exits rather than hanging in a shutdown.
            let result = finished.map_err(|e| anyhow::anyhow!("shard manager task failed: {e}"))?;
            if let Err(e) = &result {
                error!(error = %e, "sharding cannot work: stopping");
            }
            shutdown_tx.send_replace(true);
            if tokio::time::timeout(SHUTDOWN_GRACE, controllers).await.is_err() {
                error!(grace = ?SHUTDOWN_GRACE, "controllers did not stop in time: exiting anyway");
            }
            Ok(Some(tokio::spawn(async move { result })))
        }
    }
}

/// A multiplier above zero (and finite): zero would stop every call.
fn positive_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        Ok(_) => Err(format!(
            "{s} is not a factor above 0 (1 is ARM's published rates)"
        )),
        Err(e) => Err(format!("{s} is not a number: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::positive_factor;

    #[test]
    fn a_budget_scale_must_be_a_finite_factor_above_zero() {
        assert_eq!(positive_factor("4"), Ok(4.0));
        assert_eq!(positive_factor("0.5"), Ok(0.5));
        for bad in ["0", "-1", "inf", "NaN", "fast"] {
            assert!(positive_factor(bad).is_err(), "{bad} accepted");
        }
    }
}
