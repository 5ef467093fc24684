//! [`Azurite`]: the Azure Storage emulator (blob service only) on loopback, with
//! `devstoreaccount1` plus accounts of our own, each with a random key.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io};
use crate::process::{self, Managed};
use crate::{binaries, ports, state};

/// Azurite's built-in account (always present).
pub const DEVSTORE_ACCOUNT: &str = "devstoreaccount1";
/// The well-known, public key of `devstoreaccount1` (from Azurite's documentation).
pub const DEVSTORE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Extra accounts created by default (valid Azure storage account names).
pub const DEFAULT_ACCOUNTS: [&str; 2] = ["azopsource", "azoptarget"];
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A storage account and its shared key (base64, as Azure shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzuriteAccount {
    /// Account name.
    pub name: String,
    /// Account key, base64.
    pub key: String,
}

/// How to start [`Azurite`].
#[derive(Debug, Clone)]
pub struct AzuriteOptions {
    /// State directory; `None` makes a fresh one under `$TMPDIR/azop-testenv/`, removed on stop.
    /// Azurite's data goes to `DIR/azurite-data`; pid/log files are `DIR/azurite.{pid,log}`.
    pub dir: Option<PathBuf>,
    /// Accounts besides `devstoreaccount1`.
    pub accounts: Vec<String>,
    /// Keep Azurite running after the value is dropped (the CLI's `up --azurite`).
    pub detach: bool,
    /// Time allowed for the port to accept connections.
    pub ready_timeout: Duration,
}

impl Default for AzuriteOptions {
    fn default() -> Self {
        AzuriteOptions {
            dir: None,
            accounts: DEFAULT_ACCOUNTS.iter().map(|s| s.to_string()).collect(),
            detach: false,
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// What `DIR/azurite.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AzuriteInfo {
    /// `http://127.0.0.1:<port>`; an account's blob endpoint is `<endpoint>/<account>`.
    pub endpoint: String,
    /// All accounts, `devstoreaccount1` first.
    pub accounts: Vec<AzuriteAccount>,
    /// Azurite's pid.
    pub pid: i32,
}

/// A running Azurite blob service. Stopped when dropped unless detached.
#[derive(Debug)]
pub struct Azurite {
    dir: PathBuf,
    endpoint: String,
    accounts: Vec<AzuriteAccount>,
    proc: Option<Managed>,
    watchdog: Option<Child>,
    keep_running: bool,
    remove_dir: bool,
}

fn random_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `AZURITE_ACCOUNTS` value: `name:key;name:key`.
pub fn accounts_env(accounts: &[AzuriteAccount]) -> String {
    accounts
        .iter()
        .map(|a| format!("{}:{}", a.name, a.key))
        .collect::<Vec<_>>()
        .join(";")
}

impl Azurite {
    /// Starts Azurite with the default options (fresh temporary directory, accounts
    /// `devstoreaccount1`, `azopsource`, `azoptarget`).
    pub async fn start() -> Result<Azurite> {
        Azurite::start_with(AzuriteOptions::default()).await
    }

    /// Starts Azurite's blob service on a free loopback port; returns once it accepts
    /// connections.
    pub async fn start_with(opts: AzuriteOptions) -> Result<Azurite> {
        let bin = binaries::azurite()?;
        let root = state::root();
        std::fs::create_dir_all(&root).map_err(io("create directory", &root))?;
        state::clean_stale(&root);
        let (dir, remove_dir) = match &opts.dir {
            Some(d) => {
                let pids = crate::env::running(d, &["azurite"]);
                if !pids.is_empty() {
                    return Err(Error::AlreadyRunning {
                        dir: d.clone(),
                        pids,
                    });
                }
                (state::prepare(d)?, false)
            }
            None => {
                use rand::Rng;
                let tag: u32 = rand::rng().random();
                (
                    state::prepare(
                        &root.join(format!("azurite-{}-{tag:08x}", std::process::id())),
                    )?,
                    true,
                )
            }
        };
        let watchdog = if opts.detach {
            None
        } else {
            state::write_owner(&dir, &state::Owner::current())?;
            Some(process::spawn_watchdog(&dir, remove_dir)?)
        };
        let mut accounts = vec![AzuriteAccount {
            name: DEVSTORE_ACCOUNT.to_string(),
            key: DEVSTORE_KEY.to_string(),
        }];
        accounts.extend(
            opts.accounts
                .iter()
                .filter(|a| a.as_str() != DEVSTORE_ACCOUNT)
                .map(|a| AzuriteAccount {
                    name: a.clone(),
                    key: random_key(),
                }),
        );
        let mut az = Azurite {
            dir,
            endpoint: String::new(),
            accounts,
            proc: None,
            watchdog,
            keep_running: false,
            remove_dir,
        };
        let data = az.dir.join("azurite-data");
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(io("remove", &data))?;
        }
        std::fs::create_dir_all(&data).map_err(io("create directory", &data))?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = ports::allocate(&root, 1).await?[0];
            let result = az.launch(&bin, &data, port, opts.ready_timeout).await;
            match result {
                Ok(()) => break,
                Err(Error::ExitedEarly { log_tail, .. })
                    if attempt < 3 && log_tail.contains("EADDRINUSE") =>
                {
                    if let Some(mut p) = az.proc.take() {
                        p.stop(STOP_GRACE);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        az.write_info()?;
        az.keep_running = opts.detach;
        Ok(az)
    }

    async fn launch(
        &mut self,
        bin: &Path,
        data: &Path,
        port: u16,
        timeout: Duration,
    ) -> Result<()> {
        let mut args = vec![
            "--blobHost".to_string(),
            "127.0.0.1".to_string(),
            "--blobPort".to_string(),
            port.to_string(),
            "--location".to_string(),
            data.display().to_string(),
            "--disableTelemetry".to_string(),
            // Clients newer than Azurite 3.35 send x-ms-version values it does not know.
            "--skipApiVersionCheck".to_string(),
        ];
        // Azurite's request-level debug log, for diagnosing a refused request.
        if let Some(file) = std::env::var_os("AZOP_AZURITE_DEBUG") {
            args.push("--debug".to_string());
            args.push(PathBuf::from(file).display().to_string());
        }
        let env = vec![("AZURITE_ACCOUNTS".to_string(), accounts_env(&self.accounts))];
        let mut p = process::spawn("azurite", bin, &args, &env, &self.dir)?;
        self.endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Some(status) = p.exited() {
                let err = p.exited_early(status);
                self.proc = Some(p);
                return Err(err);
            }
            // Azurite logs this line once its HTTP server listens.
            if process::log_tail(&p.log, 50).contains("successfully listens on")
                && tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            {
                self.proc = Some(p);
                return Ok(());
            }
            if started.elapsed() > timeout {
                let err = Error::NotReady {
                    name: "azurite".to_string(),
                    timeout,
                    last: format!("port {port} not accepting connections"),
                    log_tail: process::log_tail(&p.log, 30),
                    log: p.log.clone(),
                };
                self.proc = Some(p);
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn write_info(&self) -> Result<()> {
        let info = AzuriteInfo {
            endpoint: self.endpoint.clone(),
            accounts: self.accounts.clone(),
            pid: self.proc.as_ref().map(|p| p.pid).unwrap_or(0),
        };
        let path = self.dir.join("azurite.json");
        let json = serde_json::to_string_pretty(&info).map_err(|source| Error::Json {
            action: "serialise",
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, json).map_err(io("write", &path))?;
        let mut env = format!(
            "AZURITE_BLOB_ENDPOINT={}\nAZURITE_ACCOUNTS={}\n",
            self.endpoint,
            accounts_env(&self.accounts)
        );
        for (i, a) in self.accounts.iter().enumerate() {
            env.push_str(&format!(
                "AZURITE_ACCOUNT{i}_NAME={}\nAZURITE_ACCOUNT{i}_KEY={}\n",
                a.name, a.key
            ));
        }
        let path = self.dir.join("azurite.env");
        std::fs::write(&path, env).map_err(io("write", &path))
    }

    /// Service endpoint, `http://127.0.0.1:<port>` (path-style: append `/<account>`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Blob endpoint of one account: `http://127.0.0.1:<port>/<account>`.
    pub fn blob_endpoint(&self, account: &str) -> String {
        format!("{}/{account}", self.endpoint)
    }

    /// All accounts, `devstoreaccount1` first.
    pub fn accounts(&self) -> &[AzuriteAccount] {
        &self.accounts
    }

    /// One account by name.
    pub fn account(&self, name: &str) -> Option<&AzuriteAccount> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// An Azure Storage connection string for `account`.
    pub fn connection_string(&self, account: &str) -> Option<String> {
        let a = self.account(account)?;
        Some(format!(
            "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};",
            a.name,
            a.key,
            self.blob_endpoint(&a.name)
        ))
    }

    /// State directory (`azurite.json`, `azurite.env`, log, data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Azurite's pid, while running.
    pub fn pid(&self) -> Option<i32> {
        self.proc.as_ref().map(|p| p.pid)
    }

    /// Stops Azurite and removes its temporary directory. Idempotent; no-op when detached.
    pub fn stop(&mut self) {
        if self.keep_running {
            return;
        }
        if let Some(mut p) = self.proc.take() {
            p.stop(STOP_GRACE);
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_env_format() {
        let a = [
            AzuriteAccount {
                name: "a".into(),
                key: "k1".into(),
            },
            AzuriteAccount {
                name: "b".into(),
                key: "k2".into(),
            },
        ];
        assert_eq!(accounts_env(&a), "a:k1;b:k2");
    }

    #[test]
    fn keys_are_64_random_bytes() {
        let k = random_key();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&k)
            .expect("base64");
        assert_eq!(raw.len(), 64);
        assert_ne!(k, random_key());
    }
}
