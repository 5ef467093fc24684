//! The `azop run` process under measurement: start, readiness, memory from /proc, reconcile
//! count from /metrics, stop. Killed when dropped, so an early return leaves nothing behind.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Resident memory of a process, in KiB, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size so far.
    pub hwm_kib: u64,
    /// `RssAnon`: the resident part of VmRSS that is the heap (and stacks).
    pub anon_kib: u64,
    /// `RssFile`: the resident part that is mapped files, the binary's own pages above all.
    pub file_kib: u64,
}

impl Memory {
    pub fn rss_mib(self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
    pub fn hwm_mib(self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
    pub fn anon_mib(self) -> f64 {
        self.anon_kib as f64 / 1024.0
    }
    pub fn file_mib(self) -> f64 {
        self.file_kib as f64 / 1024.0
    }

    /// Field by field sum (several replicas).
    pub fn plus(self, o: Memory) -> Memory {
        Memory {
            rss_kib: self.rss_kib + o.rss_kib,
            hwm_kib: self.hwm_kib + o.hwm_kib,
            anon_kib: self.anon_kib + o.anon_kib,
            file_kib: self.file_kib + o.file_kib,
        }
    }
}

/// Reads `VmRSS`, `VmHWM`, `RssAnon` and `RssFile` out of a `/proc/<pid>/status` text (the
/// last two are 0 on a kernel older than 4.5, which has no such lines).
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:").unwrap_or(0),
        file_kib: field("RssFile:").unwrap_or(0),
    })
}

/// Sum of every sample of the metric `name` (whatever its labels) in a Prometheus text
/// exposition; 0 when it is absent.
fn sample_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum()
}

/// Sum of every `azop_reconciles_total` sample in a Prometheus text exposition.
pub fn reconciles_total(metrics: &str) -> u64 {
    sample_sum(metrics, "azop_reconciles_total") as u64
}

/// `azop_heap_allocated_bytes` and `azop_heap_resident_bytes` of one replica's /metrics, in
/// MiB (`None` from an operator without them).
pub fn heap_mib(metrics: &str) -> Option<(f64, f64)> {
    let has = |name: &str| metrics.lines().any(|l| l.starts_with(name));
    let mib = |name| sample_sum(metrics, name) / (1024.0 * 1024.0);
    (has("azop_heap_allocated_bytes") && has("azop_heap_resident_bytes")).then(|| {
        (
            mib("azop_heap_allocated_bytes"),
            mib("azop_heap_resident_bytes"),
        )
    })
}

/// `azop_shards_held` of one replica's /metrics (0 when absent: an unsharded replica).
pub fn shards_held(metrics: &str) -> i64 {
    sample_sum(metrics, "azop_shards_held") as i64
}

/// The client-side gate's counters, `azop_arm_throttle_events_total`, summed by outcome
/// (`waited`: held back, then sent; `rejected`: not sent, the pass requeued; `server_429`).
pub fn throttle_events(metrics: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("azop_arm_throttle_events_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let outcome = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.trim() == "outcome")
            .map(|(_, v)| v.trim().trim_matches('"').to_string());
        if let Some(o) = outcome {
            *out.entry(o).or_insert(0) += v as u64;
        }
    }
    out
}

/// How to start the operator.
pub struct OperatorOptions<'a> {
    pub binary: &'a Path,
    pub kubeconfig: &'a Path,
    pub sim_url: &'a str,
    pub namespace: &'a str,
    pub lease: &'a str,
    pub resync_seconds: u64,
    pub log: PathBuf,
    /// More `azop run` arguments (the webhook's).
    pub extra_args: Vec<String>,
    /// The replica's identity in the Leases (`--identity`); the operator's default
    /// (hostname and pid) when `None`.
    pub identity: Option<String>,
}

pub struct Operator {
    child: Option<Child>,
    pid: u32,
    metrics: SocketAddr,
    pub log: PathBuf,
    /// What it was started with as `--identity`, if anything.
    pub identity: Option<String>,
}

impl Operator {
    pub fn spawn(o: OperatorOptions<'_>) -> Result<Operator> {
        // A port the kernel just handed out and we released: free unless someone races us.
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("find a free port for /metrics")?;
        let file =
            std::fs::File::create(&o.log).with_context(|| format!("create {}", o.log.display()))?;
        let err = file.try_clone()?;
        let child = Command::new(o.binary)
            .args([
                "run",
                "--arm-endpoint",
                o.sim_url,
                "--authority-host",
                o.sim_url,
            ])
            .args(["--namespace", o.namespace])
            .args([
                "--leader-election-namespace",
                crate::kit::OPERATOR_NAMESPACE,
            ])
            .args(["--lease-name", o.lease])
            .args(["--metrics-addr", &metrics.to_string()])
            .args(["--resync-seconds", &o.resync_seconds.to_string()])
            .args(&o.extra_args)
            .args(o.identity.iter().flat_map(|i| ["--identity", i.as_str()]))
            .env("KUBECONFIG", o.kubeconfig)
            // AZOP_BENCH_OPERATOR_LOG: the operator's RUST_LOG, to look into a run
            // (`info,azop_controllers=debug` logs every pass and its requeue).
            .env(
                "RUST_LOG",
                std::env::var("AZOP_BENCH_OPERATOR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_FEDERATED_TOKEN_FILE")
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("spawn {}", o.binary.display()))?;
        Ok(Operator {
            pid: child.id(),
            child: Some(child),
            metrics,
            log: o.log,
            identity: o.identity,
        })
    }

    /// Waits until `/readyz` answers 200 (the replica leads and its controllers run).
    pub async fn wait_ready(&mut self, http: &reqwest::Client, timeout: Duration) -> Result<()> {
        let url = format!("http://{}/readyz", self.metrics);
        let start = Instant::now();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!(
                    "the operator exited ({status}) at start-up; log: {}",
                    self.log.display()
                );
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("{url} not ready within {} s", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn memory(&self) -> Result<Memory> {
        let path = format!("/proc/{}/status", self.pid);
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        parse_status(&text).with_context(|| format!("{path} has no VmRSS/VmHWM"))
    }

    pub async fn reconciles(&self, http: &reqwest::Client) -> Result<u64> {
        Ok(reconciles_total(&self.metrics(http).await?))
    }

    /// The operator's /metrics text.
    pub async fn metrics(&self, http: &reqwest::Client) -> Result<String> {
        let url = format!("http://{}/metrics", self.metrics);
        http.get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .text()
            .await
            .with_context(|| format!("read {url}"))
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// The operator under measurement: one replica, or N replicas sharing N shards
/// (`azop run --shards N`, docs/scale.md). Counters are summed over the replicas (a killed
/// one's as it last reported them); memory is given per replica.
pub struct Replicas {
    live: Vec<Operator>,
    /// The gate's counters of the replicas killed so far, read just before each kill.
    departed: BTreeMap<String, u64>,
}

impl Replicas {
    pub fn new(live: Vec<Operator>) -> Replicas {
        Replicas {
            live,
            departed: BTreeMap::new(),
        }
    }

    /// Waits until every replica is ready, then — with shards — until each holds one shard,
    /// so that the measurement starts with the work spread.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, timeout: Duration) -> Result<()> {
        for r in &mut self.live {
            r.wait_ready(http, timeout).await?;
        }
        if self.live.len() < 2 {
            return Ok(());
        }
        let start = Instant::now();
        loop {
            let mut held = Vec::new();
            for r in &self.live {
                held.push(shards_held(&r.metrics(http).await?));
            }
            if held.iter().all(|h| *h == 1) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "the {} replicas did not each take one shard within {} s (held: {held:?}; logs: {})",
                    self.live.len(),
                    timeout.as_secs(),
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub fn memory(&self) -> Result<Vec<Memory>> {
        self.live.iter().map(Operator::memory).collect()
    }

    /// Shards held by the replicas together (`azop_shards_held`, summed).
    pub async fn shards_held(&self, http: &reqwest::Client) -> Result<i64> {
        let mut total = 0;
        for r in &self.live {
            total += shards_held(&r.metrics(http).await?);
        }
        Ok(total)
    }

    /// SIGKILLs the replica started with `identity` (a crash: it releases nothing) and
    /// takes it out of the set, so that every figure after it is the survivors' (the gate's
    /// counters keep what it reported just before). Returns its log file.
    pub async fn kill(&mut self, http: &reqwest::Client, identity: &str) -> Result<PathBuf> {
        let Some(i) = self
            .live
            .iter()
            .position(|r| r.identity.as_deref() == Some(identity))
        else {
            bail!("no replica runs as {identity}");
        };
        for (k, v) in throttle_events(&self.live[i].metrics(http).await?) {
            *self.departed.entry(k).or_insert(0) += v;
        }
        let mut r = self.live.remove(i);
        if let Some(mut c) = r.child.take() {
            c.kill().with_context(|| format!("SIGKILL {identity}"))?;
            c.wait().with_context(|| format!("reap {identity}"))?;
        }
        Ok(r.log.clone())
    }

    /// Each replica's heap from its /metrics: (allocated, resident) in MiB, when it says.
    pub async fn heap(&self, http: &reqwest::Client) -> Result<Vec<Option<(f64, f64)>>> {
        let mut each = Vec::new();
        for r in &self.live {
            each.push(heap_mib(&r.metrics(http).await?));
        }
        Ok(each)
    }

    pub async fn reconciles(&self, http: &reqwest::Client) -> Result<u64> {
        let mut total = 0;
        for r in &self.live {
            total += r.reconciles(http).await?;
        }
        Ok(total)
    }

    /// The client-side gates' counters, summed over the replicas, the killed ones included.
    pub async fn throttle_events(&self, http: &reqwest::Client) -> Result<BTreeMap<String, u64>> {
        let mut total = self.departed.clone();
        for r in &self.live {
            for (k, v) in throttle_events(&r.metrics(http).await?) {
                *total.entry(k).or_insert(0) += v;
            }
        }
        Ok(total)
    }

    /// The replicas' log files, for error messages.
    pub fn logs(&self) -> String {
        self.live
            .iter()
            .map(|r| r.log.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn stop(&mut self) {
        for r in &mut self.live {
            r.stop();
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let text = "Name:\tazop\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n\
                    RssAnon:\t   12288 kB\nRssFile:\t   28672 kB\nRssShmem:\t       0 kB\n";
        let m = parse_status(text).expect("parsed");
        assert_eq!(
            m,
            Memory {
                rss_kib: 40960,
                hwm_kib: 51200,
                anon_kib: 12288,
                file_kib: 28672,
            }
        );
        assert_eq!(m.rss_mib(), 40.0);
        assert_eq!(m.file_mib(), 28.0);
        // A kernel without the split still gives VmRSS.
        let old = parse_status("VmHWM:\t 2048 kB\nVmRSS:\t 1024 kB\n").expect("parsed");
        assert_eq!((old.rss_kib, old.anon_kib, old.file_kib), (1024, 0, 0));
        assert!(parse_status("Name:\tx\n").is_none());
    }

    #[test]
    fn throttle_events_sum_over_classes_by_outcome() {
        let text = "# TYPE azop_arm_throttle_events counter\n\
                    azop_arm_throttle_events_total{class=\"reads\",outcome=\"waited\"} 40\n\
                    azop_arm_throttle_events_total{class=\"writes\",outcome=\"waited\"} 2\n\
                    azop_arm_throttle_events_total{outcome=\"server_429\",class=\"reads\"} 3\n\
                    azop_arm_throttle_wait_seconds_total{class=\"reads\",outcome=\"waited\"} 9.5\n";
        let m = throttle_events(text);
        assert_eq!(m.get("waited"), Some(&42));
        assert_eq!(m.get("server_429"), Some(&3));
        assert_eq!(m.get("rejected"), None);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn reconciles_sum_over_labels() {
        let text = "# HELP azop_reconciles Reconciles\n# TYPE azop_reconciles counter\n\
                    azop_reconciles_total{controller=\"azurecluster\",result=\"ok\"} 12\n\
                    azop_reconciles_total{controller=\"azurecluster\",result=\"error\"} 3\n\
                    azop_reconcile_errors_total{controller=\"azurecluster\"} 3\n";
        assert_eq!(reconciles_total(text), 15);
    }

    #[test]
    fn shards_held_is_read_from_the_gauge() {
        let text = "# HELP azop_shards_held Shards\n# TYPE azop_shards_held gauge\n\
                    azop_shards_held 2\nazop_reconciles_total{controller=\"x\"} 7\n";
        assert_eq!(shards_held(text), 2);
        assert_eq!(shards_held("azop_reconciles_total 7\n"), 0);
    }
}
