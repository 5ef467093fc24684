//! The azop operator binary: `azop crds` prints the CRDs, `azop run` runs the controllers,
//! `azop probe` checks a health endpoint, `azop plan` shows what manifests would do in Azure
//! (read only; the same as `kubectl azop plan`, from the `azop-cli` crate).

mod allocator;
mod budget_share;
mod crds_cmd;
mod health;
mod leader;
mod probe_cmd;
mod run_cmd;
mod shards;
mod walk_share;
mod webhook;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "azop",
    version,
    about = "Provision Azure infrastructure from Kubernetes objects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CRD as YAML (or write one file per kind with --out-dir).
    Crds(crds_cmd::CrdsArgs),
    /// Run the controllers against the cluster in KUBECONFIG (or the in-cluster config).
    Run(Box<run_cmd::RunArgs>),
    /// GET a plain-HTTP URL (for example /readyz) and exit 0 on a 2xx answer: the image has
    /// no shell or curl, so health checks and `helm test` run this.
    Probe(probe_cmd::ProbeArgs),
    /// What applying the manifests would do in Azure, read only (docs/plan.md). Exit code: 0
    /// no changes, 2 changes, 1 an error or a refusal. The same as `kubectl azop plan`.
    Plan(Box<PlanCmd>),
}

#[derive(clap::Args)]
struct PlanCmd {
    #[command(flatten)]
    kube: azop_cli::KubeArgs,
    #[command(flatten)]
    plan: azop_cli::plan::PlanArgs,
}

/// `azop plan`: what it prints on stdout, diagnostics on stderr, the exit code of the plan.
fn plan(cmd: &PlanCmd) -> anyhow::Result<std::process::ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kube_client=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let (text, code) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            match cmd.kube.connect().await {
                Ok(c) => azop_cli::plan::run(&c, &cmd.plan).await,
                Err(e) => (format!("error: {e:#}\n"), 1),
            }
        });
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(std::process::ExitCode::from(
        u8::try_from(code).unwrap_or(1),
    ))
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let ok = |r: anyhow::Result<()>| r.map(|()| std::process::ExitCode::SUCCESS);
    match cli.command {
        Command::Crds(args) => ok(crds_cmd::run(&args)),
        Command::Probe(args) => ok(probe_cmd::run(&args)),
        Command::Plan(cmd) => plan(&cmd),
        Command::Run(args) => ok(tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run_cmd::run(*args))),
    }
}
