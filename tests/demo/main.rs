//! `azop-demo`: the Kubernetes side of `make demo` (tests/demo/run.sh starts and stops the
//! processes; this program talks to them).
//!
//! ```text
//! azop-demo prepare --env-dir DIR --kubeconfig-out FILE
//! azop-demo show --env-dir DIR --sim URL --sample FILE [--timeout-seconds N]
//! ```
//!
//! `prepare` installs the CRDs and config/rbac/ and writes a kubeconfig for the operator's
//! ServiceAccount. `show` applies the sample, shows the object and the simulated Azure live
//! until Ready, shows `kubectl azop plan` of a change and `kubectl azop drift` of a change made
//! by hand ([`know`]), deletes it and shows everything go. On a terminal it redraws one table; without
//! one (CI) it prints what changed, line by line, and the full table at Ready and at the end.

#[allow(dead_code)] // shared with the benchmark; each binary uses part of it
mod kit;
mod know;
mod view;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use azop_testenv::TestEnv;
use clap::{Parser, Subcommand};
use kube::api::{Api, DeleteParams, DynamicObject};
use serde_json::Value;

use view::Snapshot;

#[derive(Parser)]
#[command(name = "azop-demo", about = "The Kubernetes side of `make demo`")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the CRDs and the operator's RBAC; write the operator's kubeconfig.
    Prepare {
        /// The directory given to `azop-testenv up --dir`.
        #[arg(long)]
        env_dir: PathBuf,
        /// Where to write the kubeconfig of the operator's ServiceAccount.
        #[arg(long)]
        kubeconfig_out: PathBuf,
    },
    /// Apply the sample, show it converge, delete it, show it go.
    Show {
        #[arg(long)]
        env_dir: PathBuf,
        /// Base URL of azop-armsim.
        #[arg(long)]
        sim: String,
        /// A manifest with an AzureCluster (and the Secret it uses).
        #[arg(long)]
        sample: PathBuf,
        /// Limit for each of create and delete.
        #[arg(long, default_value_t = 300)]
        timeout_seconds: u64,
        /// One line saying how the simulator was started, shown in the header.
        #[arg(long, default_value = "")]
        sim_note: String,
        /// The operator's `--resync-seconds` (how long drift made by hand takes to be seen).
        #[arg(long, default_value_t = 30)]
        resync_seconds: u64,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azop-demo: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Prepare {
            env_dir,
            kubeconfig_out,
        } => {
            let env = TestEnv::attach(&env_dir).context("attach to the test environment")?;
            kit::install_operator_access(&env, &kubeconfig_out).await
        }
        Command::Show {
            env_dir,
            sim,
            sample,
            timeout_seconds,
            sim_note,
            resync_seconds,
        } => {
            let env = TestEnv::attach(&env_dir).context("attach to the test environment")?;
            let mut demo = Demo::new(&env, sim, sample, sim_note)?;
            demo.resync = Duration::from_secs(resync_seconds);
            demo.run(Duration::from_secs(timeout_seconds)).await
        }
    }
}

/// How output is drawn.
enum Output {
    /// Redraw one frame in place.
    Terminal { columns: usize, rows: usize },
    /// Print changes as log lines.
    Plain,
}

struct Demo {
    client: kube::Client,
    http: reqwest::Client,
    sim: String,
    docs: Vec<Value>,
    ns: String,
    name: String,
    sim_note: String,
    output: Output,
    kubeconfig: PathBuf,
    resync: Duration,
}

impl Demo {
    fn new(env: &TestEnv, sim: String, sample: PathBuf, sim_note: String) -> Result<Demo> {
        let docs = azop_testenv::manifests::read_documents(&sample)?;
        let cluster = docs
            .iter()
            .find(|d| d["kind"] == "AzureCluster")
            .with_context(|| format!("{} holds no AzureCluster", sample.display()))?;
        let name = cluster["metadata"]["name"]
            .as_str()
            .context("AzureCluster without a name")?
            .to_string();
        let ns = cluster["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let output = if std::io::stdout().is_terminal() {
            let columns = std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(100);
            let rows = std::env::var("LINES")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(24);
            Output::Terminal { columns, rows }
        } else {
            Output::Plain
        };
        Ok(Demo {
            client: env.client()?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("http client")?,
            sim,
            docs,
            ns,
            name,
            sim_note,
            output,
            kubeconfig: env.kubeconfig_path(),
            resync: Duration::from_secs(30),
        })
    }

    fn api(&self) -> Api<DynamicObject> {
        kit::azure_clusters(&self.client, &self.ns)
    }

    async fn run(&self, timeout: Duration) -> Result<()> {
        kit::ensure_namespace(&self.client, &self.ns).await?;
        // Secrets first, as a user would apply them before what refers to them.
        let mut docs: Vec<&Value> = self.docs.iter().collect();
        docs.sort_by_key(|d| d["kind"] != "Secret");
        for doc in docs {
            kit::apply(&self.client, &self.ns, doc).await?;
        }
        say(&format!(
            "applied AzureCluster {}/{}; azop is provisioning it in the simulated Azure",
            self.ns, self.name
        ));

        let start = Instant::now();
        let ready = self
            .follow("creating", None, start, timeout, |s| {
                s.conditions
                    .first()
                    .is_some_and(|c| c.type_ == "Ready" && c.status == "True")
            })
            .await?;
        let created_in = start.elapsed();
        self.summary(&ready, created_in).await?;
        if matches!(self.output, Output::Terminal { .. }) {
            // Let the reader see the Ready table before it changes.
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        self.know_before_you_apply(timeout).await?;

        self.api()
            .delete(&self.name, &DeleteParams::default())
            .await
            .with_context(|| format!("delete AzureCluster {}", self.name))?;
        say(&format!(
            "deleted AzureCluster {}/{}; azop removes what it created, in reverse order",
            self.ns, self.name
        ));
        let start = Instant::now();
        let gone = self
            .follow("deleting", Some(ready), start, timeout, |s| {
                !s.exists && s.resources.is_empty()
            })
            .await?;
        say(&format!(
            "gone in {:.1} s: the AzureCluster no longer exists and the simulated Azure holds {} resources",
            start.elapsed().as_secs_f64(),
            gone.resources.len()
        ));
        say(&format!(
            "demo complete: created in {:.1} s, deleted in {:.1} s",
            created_in.as_secs_f64(),
            start.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// `kubectl azop plan` of a change and `kubectl azop drift` of a change made by hand
    /// ([`know`]).
    async fn know_before_you_apply(&self, timeout: Duration) -> Result<()> {
        let cluster = self
            .docs
            .iter()
            .find(|d| d["kind"] == "AzureCluster")
            .context("no AzureCluster")?;
        let secret_name = cluster["spec"]["credentialsRef"]["name"].clone();
        let secret = self
            .docs
            .iter()
            .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == secret_name);
        know::Know {
            api: self.api(),
            http: &self.http,
            sim: &self.sim,
            kubeconfig: self.kubeconfig.clone(),
            ns: &self.ns,
            cluster,
            secret,
        }
        .run(self.resync, timeout)
        .await
    }

    /// Refreshes until `done` holds for a snapshot; returns that snapshot.
    async fn follow(
        &self,
        stage: &str,
        base: Option<Snapshot>,
        start: Instant,
        timeout: Duration,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Result<Snapshot> {
        // Plain output prints changes against what the reader saw last.
        let mut previous = base.unwrap_or_default();
        let mut first = true;
        loop {
            let snap = self.snapshot().await?;
            let elapsed = start.elapsed();
            let finished = done(&snap);
            match &self.output {
                Output::Terminal { columns, rows } => {
                    let title = format!(
                        "azop demo: {stage} AzureCluster {}/{} · {:.1} s{}",
                        self.ns,
                        self.name,
                        elapsed.as_secs_f64(),
                        self.note()
                    );
                    let frame = view::render_frame(&title, &snap, *columns, *rows);
                    // Home, then each line with clear-to-end, then clear below: no flicker.
                    let mut out = String::from("\x1b[H");
                    for line in frame.lines() {
                        out.push_str(line);
                        out.push_str("\x1b[K\n");
                    }
                    out.push_str("\x1b[J");
                    if first {
                        out.insert_str(0, "\x1b[2J");
                    }
                    print_flush(&out);
                }
                Output::Plain => {
                    if first && !previous.exists {
                        previous.exists = snap.exists;
                    }
                    for line in view::changes(&previous, &snap) {
                        println!(
                            "[{:>6.1} s] {}",
                            elapsed.as_secs_f64(),
                            view::clip(&line, 200)
                        );
                    }
                }
            }
            first = false;
            if finished {
                if let Output::Plain = self.output {
                    let title = format!(
                        "state after {:.1} s of {stage}{}:",
                        elapsed.as_secs_f64(),
                        self.note()
                    );
                    println!();
                    print_flush(&view::render_frame(&title, &snap, 120, usize::MAX));
                    println!();
                }
                return Ok(snap);
            }
            if elapsed > timeout {
                bail!(
                    "{stage} did not finish within {} s; last state:\n{}",
                    timeout.as_secs(),
                    view::render_frame("", &snap, 160, usize::MAX)
                );
            }
            previous = snap;
            let tick = match self.output {
                Output::Terminal { .. } => Duration::from_millis(300),
                Output::Plain => Duration::from_millis(500),
            };
            tokio::time::sleep(tick).await;
        }
    }

    fn note(&self) -> String {
        if self.sim_note.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.sim_note)
        }
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let obj = self
            .api()
            .get_opt(&self.name)
            .await
            .with_context(|| format!("get AzureCluster {}", self.name))?;
        let inventory = kit::sim_inventory(&self.http, &self.sim).await?;
        let status = obj
            .as_ref()
            .and_then(|o| o.data.get("status"))
            .cloned()
            .unwrap_or(Value::Null);
        Ok(Snapshot {
            exists: obj.is_some(),
            phase: status["phase"].as_str().map(str::to_string),
            conditions: kit::condition_rows(&status),
            resources: view::resource_rows(&inventory),
        })
    }

    /// What Ready means, in the object's own status: endpoint and machines.
    async fn summary(&self, snap: &Snapshot, took: Duration) -> Result<()> {
        let obj = self.api().get(&self.name).await?;
        let status = obj.data.get("status").cloned().unwrap_or(Value::Null);
        let endpoint = format!(
            "{}:{}",
            status["controlPlaneEndpoint"]["host"]
                .as_str()
                .unwrap_or("?"),
            status["controlPlaneEndpoint"]["port"].as_i64().unwrap_or(0)
        );
        let mut out = String::new();
        out.push_str(&format!(
            "\nReady after {:.1} s: {} Azure resources; API server endpoint {endpoint}\n",
            took.as_secs_f64(),
            snap.resources.len()
        ));
        out.push_str(&format!(
            "  {:<18} {:<13} {:<5} {:<12} STATE\n",
            "NODE", "ROLE", "ZONE", "PRIVATE IP"
        ));
        for n in status["nodes"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!(
                "  {:<18} {:<13} {:<5} {:<12} {}\n",
                n["name"].as_str().unwrap_or("?"),
                n["role"].as_str().unwrap_or("?"),
                n["zone"].as_str().unwrap_or("-"),
                n["privateIP"].as_str().unwrap_or("-"),
                n["state"].as_str().unwrap_or("?"),
            ));
        }
        print_flush(&out);
        Ok(())
    }
}

fn say(line: &str) {
    println!("==> {line}");
}

fn print_flush(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
