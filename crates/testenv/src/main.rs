//! `azop-testenv`: start or stop a real etcd + kube-apiserver (and Azurite) on loopback.
//!
//! ```text
//! azop-testenv up --dir DIR [--azurite] [--user NAME]...
//! azop-testenv down --dir DIR
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use azop_testenv::{Azurite, AzuriteOptions, DEFAULT_USERS, TestEnv, TestEnvOptions};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "azop-testenv",
    about = "A real etcd + kube-apiserver (and Azurite) on loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start etcd and kube-apiserver (and Azurite); return once /readyz answers. The
    /// processes keep running; stop them with `down`.
    Up {
        /// State directory: certificates, logs, pid files, kubeconfigs.
        #[arg(long)]
        dir: PathBuf,
        /// Also start Azurite (blob service) and write DIR/azurite.env and DIR/azurite.json.
        #[arg(long)]
        azurite: bool,
        /// Unprivileged users to create (repeatable); default: alice, bob.
        #[arg(long = "user")]
        users: Vec<String>,
    },
    /// Stop the processes recorded in DIR and remove DIR.
    Down {
        /// State directory given to `up`.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain on one line each, without a backtrace: the causes say what to do.
            eprintln!("azop-testenv: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up {
            dir,
            azurite,
            users,
        } => {
            let t0 = Instant::now();
            let users = if users.is_empty() {
                DEFAULT_USERS.iter().map(|s| s.to_string()).collect()
            } else {
                users
            };
            let opts = TestEnvOptions {
                dir: Some(dir.clone()),
                users,
                detach: true,
                ..TestEnvOptions::default()
            };
            // Azurite starts alongside the API server: they share nothing but the directory.
            let (env, az) = if azurite {
                let az_opts = AzuriteOptions {
                    dir: Some(dir.clone()),
                    detach: true,
                    ..AzuriteOptions::default()
                };
                let (env, az) = tokio::join!(TestEnv::start(opts), Azurite::start_with(az_opts));
                match (env, az) {
                    (Ok(env), Ok(az)) => (env, Some(az)),
                    (env, az) => {
                        let mut problems = Vec::new();
                        if let Err(e) = env {
                            problems.push(format!("starting etcd and kube-apiserver: {e}"));
                        }
                        if let Err(e) = az {
                            problems.push(format!("starting Azurite: {e}"));
                        }
                        // Leave nothing half-started behind.
                        let _ = azop_testenv::down(&dir);
                        anyhow::bail!(problems.join("\n"));
                    }
                }
            } else {
                let env = TestEnv::start(opts)
                    .await
                    .context("starting etcd and kube-apiserver")?;
                (env, None)
            };
            eprintln!("azop-testenv: ready in {:.1}s", t0.elapsed().as_secs_f64());
            eprintln!("  api server:  {}", env.server_url());
            for u in env.users() {
                eprintln!(
                    "  user {:<6} {}",
                    u.name,
                    env.user_kubeconfig_path(&u.name)?.display()
                );
            }
            if let Some(az) = &az {
                eprintln!(
                    "  azurite:     {} ({})",
                    az.endpoint(),
                    az.dir().join("azurite.env").display()
                );
            }
            eprintln!(
                "  stop with:   azop-testenv down --dir {}",
                env.dir().display()
            );
            println!("KUBECONFIG={}", env.kubeconfig_path().display());
            if let Some(az) = &az {
                println!("AZURITE_BLOB_ENDPOINT={}", az.endpoint());
            }
        }
        Command::Down { dir } => {
            if !dir.exists() {
                eprintln!(
                    "azop-testenv: {} does not exist; nothing to stop",
                    dir.display()
                );
                return Ok(());
            }
            let pids = azop_testenv::down(&dir)
                .with_context(|| format!("stopping the environment in {}", dir.display()))?;
            eprintln!(
                "azop-testenv: stopped {} process(es) {:?}, removed {}",
                pids.len(),
                pids,
                dir.display()
            );
        }
    }
    Ok(())
}
