//! The azop operator binary: `azop crds` prints the CRDs, `azop run` runs the controllers,
//! `azop probe` checks a health endpoint.

mod crds_cmd;
mod health;
mod leader;
mod probe_cmd;
mod run_cmd;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds(args) => crds_cmd::run(&args),
        Command::Probe(args) => probe_cmd::run(&args),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run_cmd::run(*args)),
    }
}
