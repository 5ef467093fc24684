//! `kubectl-azop`: the kubectl plugin. On PATH, kubectl runs it for `kubectl azop …`.
//!
//! ```text
//! kubectl azop status [KIND[/NAME]] [-n NS | -A] [-o json|yaml]
//! kubectl azop plan -f FILE|DIR|- [-R] [-o json|yaml] [--arm-endpoint URL]
//! kubectl azop drift [KIND[/NAME]] [-n NS | -A] [-o json|yaml]
//! kubectl azop kubeconfig CLUSTER [--file PATH | --merge [PATH]] [--user]
//! kubectl azop why KIND/NAME [-o json|yaml]
//! ```
//! Every command takes kubectl's `--kubeconfig` and `--context`.

use std::io::Write as _;
use std::process::ExitCode;

use azop_cli::{KubeArgs, drift, kubeconfig, plan, status, why};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kubectl azop",
    bin_name = "kubectl azop",
    version,
    about = "azop's view of your Azure infrastructure: status, plan, drift, kubeconfig, why"
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every azop object with its phase, parts and the Azure operations in flight.
    Status(status::StatusArgs),
    /// What applying the manifests would do in Azure (reads only). Exit code: 0 no
    /// changes, 2 changes, 1 an error or a refusal.
    Plan(plan::PlanArgs),
    /// Where Azure differs from the spec: drift left as it is (DetectOnly) and corrected
    /// (Manage).
    Drift(drift::DriftArgs),
    /// Write a cluster's kubeconfig to a file, merge it into yours, or print it.
    Kubeconfig(kubeconfig::KubeconfigArgs),
    /// Why an object is not Ready: the blocking conditions, the objects it waits for, and
    /// what to do.
    Why(why::WhyArgs),
}

/// Diagnostics go to stderr, quiet by default (`RUST_LOG` for more), so stdout stays the
/// command's output (JSON for a pipeline).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kube_client=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

async fn run(cli: Cli) -> anyhow::Result<(String, i32)> {
    let c = cli.kube.connect().await?;
    Ok(match &cli.command {
        Command::Status(a) => (status::run(&c, a).await?, 0),
        Command::Plan(a) => plan::run(&c, a).await,
        Command::Drift(a) => (drift::run(&c, a).await?, 0),
        Command::Kubeconfig(a) => (kubeconfig::run(&c, a).await?, 0),
        Command::Why(a) => (why::run(&c, a).await?, 0),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok((text, code)) => {
            print(&text);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
