//! `azop-armsim serve --addr HOST:PORT`: prints its base URL on the first stdout line.

use azop_armsim::{LatencyPreset, SimConfig};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "azop-armsim", about = "A local Azure Resource Manager")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve ARM, the token endpoint and /_sim/ until interrupted.
    Serve {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// zero (tests) or realistic (typical Azure times).
        #[arg(long, default_value = "zero")]
        latency_preset: LatencyPreset,
        /// Multiplies every latency.
        #[arg(long, default_value_t = 1.0)]
        latency_scale: f64,
        /// Suggested LRO poll interval in seconds (fractions allowed: 0.05).
        #[arg(long, default_value_t = 0.02)]
        retry_after: f64,
        /// Serve https with a self-signed certificate.
        #[arg(long)]
        tls: bool,
        /// Where to write the certificate PEM (default: a file in the temp dir, named on stderr).
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// Keep resources across restarts in this file.
        #[arg(long)]
        state_file: Option<PathBuf>,
        /// Items per list page.
        #[arg(long, default_value_t = 100)]
        page_size: usize,
        /// Accept ARM calls without a bearer token.
        #[arg(long)]
        no_auth: bool,
        /// Turn request throttling off.
        #[arg(long)]
        no_throttle: bool,
        /// Where Static public IPs come from (default 127.50.0.0/16: loopback).
        #[arg(long)]
        public_ip_pool: Option<ipnet::Ipv4Net>,
        /// Azurite's blob endpoint behind storage accounts (`http://127.0.0.1:10000`).
        #[arg(long, requires = "blob_account")]
        blob_endpoint: Option<String>,
        /// An Azurite account to hand out, `NAME:BASE64KEY` (repeat for more).
        #[arg(long)]
        blob_account: Vec<String>,
        /// `qemu`: VMs made from a managed image boot as QEMU guests from the image's VHD
        /// (software emulation; needs --blob-endpoint). See docs/armsim.md.
        #[arg(long, value_parser = ["qemu"])]
        machines: Option<String>,
        /// Where the guests' disks, seeds and consoles go (default: the temp dir).
        #[arg(long)]
        machines_dir: Option<PathBuf>,
        /// Memory of each guest, MiB.
        #[arg(long, default_value_t = 3072)]
        machine_memory_mib: u32,
        /// The most vCPUs a guest gets.
        #[arg(long, default_value_t = 2)]
        machine_max_vcpus: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let Command::Serve {
        addr,
        latency_preset,
        latency_scale,
        retry_after,
        tls,
        tls_cert,
        state_file,
        page_size,
        no_auth,
        no_throttle,
        public_ip_pool,
        blob_endpoint,
        blob_account,
        machines,
        machines_dir,
        machine_memory_mib,
        machine_max_vcpus,
    } = Cli::parse().command;
    let mut config = SimConfig::new()
        .addr(addr)
        .latency_preset(latency_preset)
        .latency_scale(latency_scale)
        .retry_after(Duration::from_secs_f64(retry_after.max(0.0)))
        .page_size(page_size)
        .require_auth(!no_auth)
        .tls(tls);
    config.throttle.enabled = !no_throttle;
    if let Some(pool) = public_ip_pool {
        config = config.public_pool(pool);
    }
    if let Some(endpoint) = blob_endpoint {
        let pool = blob_account
            .iter()
            .map(|a| {
                a.split_once(':')
                    .map(|(n, k)| (n.to_string(), k.to_string()))
                    .ok_or_else(|| anyhow::anyhow!("--blob-account {a:?} is not NAME:BASE64KEY"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        config = config.blob_service(azop_armsim::BlobService { endpoint, pool });
    }
    if machines.is_some() {
        anyhow::ensure!(
            config.blob_service.is_some(),
            "--machines qemu boots VMs from their image's VHD in Azurite: give --blob-endpoint and --blob-account"
        );
        let mut m = azop_armsim::MachinesConfig::from_env();
        if let Some(d) = machines_dir {
            m.dir = d;
        }
        m.memory_mib = machine_memory_mib;
        m.max_vcpus = machine_max_vcpus;
        config = config.machines(m);
    }
    let cert_path = tls.then(|| {
        tls_cert.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("azop-armsim-{}.pem", std::process::id()))
        })
    });
    if let Some(p) = &cert_path {
        config = config.tls_cert_path(p.clone());
    }
    if let Some(p) = state_file {
        config = config.state_file(p);
    }
    let sim = azop_armsim::start(config).await?;
    let mut out = std::io::stdout();
    writeln!(out, "{}", sim.url())?;
    out.flush()?;
    if let Some(p) = &cert_path {
        eprintln!("azop-armsim: tls certificate: {}", p.display());
    }
    wait_for_signal().await;
    sim.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
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
