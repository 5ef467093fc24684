//! [`TestEnv`]: a real etcd + kube-apiserver + kube-controller-manager on loopback, with TLS,
//! RBAC, service-account keys and token-file users.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io};
use crate::kubeconfig::{self, UserInfo};
use crate::process::{self, Managed};
use crate::{binaries, crds, pki, ports, state};

/// Name of the admin user (group `system:masters`).
pub const ADMIN_USER: &str = "admin";
/// The user kube-controller-manager authenticates as (bound by the API server's bootstrap RBAC
/// policy; each controller then uses its own service account, as in a kubeadm cluster).
pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
/// Unprivileged users created by default (no groups, no bindings).
pub const DEFAULT_USERS: [&str; 2] = ["alice", "bob"];
/// Default time allowed for `/readyz` to answer.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(3);
const START_ATTEMPTS: usize = 3;
/// Service-account issuer (and default audience) of every environment.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc";

/// How to start a [`TestEnv`].
#[derive(Debug, Clone)]
pub struct TestEnvOptions {
    /// State directory; `None` makes a fresh one under `$TMPDIR/azop-testenv/`, removed on stop.
    pub dir: Option<PathBuf>,
    /// Unprivileged users (each gets a token and `DIR/kubeconfig-<user>`).
    pub users: Vec<String>,
    /// Keep the processes running after the `TestEnv` is dropped (the CLI's `up`). Stop them
    /// with [`down`].
    pub detach: bool,
    /// Time allowed for `/readyz` to answer.
    pub ready_timeout: Duration,
}

impl Default for TestEnvOptions {
    fn default() -> Self {
        TestEnvOptions {
            dir: None,
            users: DEFAULT_USERS.iter().map(|s| s.to_string()).collect(),
            detach: false,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        }
    }
}

/// What `DIR/env.json` records about a running environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvInfo {
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// etcd client URL.
    pub etcd: String,
    /// CA certificate file.
    pub ca_file: PathBuf,
    /// Admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Admin user.
    pub admin: UserInfo,
    /// Unprivileged users.
    pub users: Vec<UserInfo>,
    /// Pids of etcd, kube-apiserver and kube-controller-manager.
    pub pids: Vec<i32>,
}

/// A running etcd + kube-apiserver + kube-controller-manager. Stopped (processes and state directory) when dropped,
/// unless started with `detach` or obtained with [`TestEnv::attach`].
#[derive(Debug)]
pub struct TestEnv {
    dir: PathBuf,
    server: String,
    etcd_url: String,
    ca_pem: String,
    ca_der: Vec<u8>,
    admin: UserInfo,
    controller_manager: UserInfo,
    users: Vec<UserInfo>,
    /// Behind a lock so the API server can be restarted through a shared reference
    /// ([`TestEnv::restart_apiserver`]).
    procs: std::sync::Mutex<Vec<Managed>>,
    /// How kube-apiserver was started, to start it again.
    apiserver_cmd: Option<(PathBuf, Vec<String>)>,
    watchdog: Option<Child>,
    /// Processes outlive this value (detached or attached).
    keep_running: bool,
    /// Remove `dir` on stop (temporary environments).
    remove_dir: bool,
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// A DNS-label namespace name from a free-form prefix and a suffix (pure, for tests).
pub fn namespace_name(prefix: &str, suffix: &str) -> String {
    let mut base: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base.truncate(63 - 1 - suffix.len());
    let base = base.trim_matches('-');
    let base = if base.is_empty() { "test" } else { base };
    format!("{base}-{suffix}")
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).map_err(io("write", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}

fn port_clash(e: &Error) -> bool {
    let tail = match e {
        Error::ExitedEarly { log_tail, .. } | Error::NotReady { log_tail, .. } => log_tail,
        _ => return false,
    };
    tail.contains("address already in use") || tail.contains("EADDRINUSE")
}

impl TestEnv {
    /// Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports and
    /// returns once `/readyz` answers and the controller manager is at work (it has created
    /// the `default` ServiceAccount). Also cleans up environments left behind by killed test
    /// runs.
    pub async fn start(opts: TestEnvOptions) -> Result<TestEnv> {
        let bins = Binaries {
            etcd: binaries::etcd()?,
            apiserver: binaries::kube_apiserver()?,
            controller_manager: binaries::kube_controller_manager()?,
        };
        let root = state::root();
        std::fs::create_dir_all(&root).map_err(io("create directory", &root))?;
        state::clean_stale(&root);

        let (dir, remove_dir) = match &opts.dir {
            Some(d) => {
                let pids = running(d, &PROCESSES);
                if !pids.is_empty() {
                    return Err(Error::AlreadyRunning {
                        dir: d.clone(),
                        pids,
                    });
                }
                (state::prepare(d)?, false)
            }
            None => (
                state::prepare(&root.join(format!(
                    "env-{}-{}",
                    std::process::id(),
                    random_token(6)
                )))?,
                true,
            ),
        };
        let watchdog = if opts.detach {
            None
        } else {
            state::write_owner(&dir, &state::Owner::current())?;
            Some(process::spawn_watchdog(&dir, remove_dir)?)
        };

        let admin = UserInfo {
            name: ADMIN_USER.to_string(),
            token: random_token(32),
            groups: vec!["system:masters".to_string()],
        };
        let controller_manager = UserInfo {
            name: CONTROLLER_MANAGER_USER.to_string(),
            token: random_token(32),
            groups: Vec::new(),
        };
        let users: Vec<UserInfo> = opts
            .users
            .iter()
            .filter(|u| u.as_str() != ADMIN_USER && u.as_str() != CONTROLLER_MANAGER_USER)
            .map(|u| UserInfo {
                name: u.clone(),
                token: random_token(32),
                groups: Vec::new(),
            })
            .collect();
        let pki = pki::generate()?;

        // From here on, dropping `env` stops whatever was started.
        let mut env = TestEnv {
            dir,
            server: String::new(),
            etcd_url: String::new(),
            ca_pem: pki.ca_cert_pem.clone(),
            ca_der: pki.ca_cert_der.clone(),
            admin,
            controller_manager,
            users,
            procs: std::sync::Mutex::new(Vec::new()),
            apiserver_cmd: None,
            watchdog,
            keep_running: false,
            remove_dir,
        };
        env.write_pki(&pki)?;
        env.write_tokens()?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            let p = ports::allocate(&root, 4).await?;
            let result = env
                .launch(&bins, [p[0], p[1], p[2], p[3]], opts.ready_timeout)
                .await;
            match result {
                Ok(()) => break,
                Err(e) if attempt < START_ATTEMPTS && port_clash(&e) => {
                    tracing::warn!(attempt, "port taken by another program, retrying: {e}");
                    env.stop_processes();
                }
                Err(e) => return Err(e),
            }
        }
        env.write_info()?;
        env.keep_running = opts.detach;
        Ok(env)
    }

    /// Uses an environment started elsewhere (e.g. by `azop-testenv up --dir DIR`), from
    /// `DIR/env.json`. Dropping the returned value does not stop it.
    pub fn attach(dir: &Path) -> Result<TestEnv> {
        let path = dir.join("env.json");
        let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let info: EnvInfo = serde_json::from_str(&text).map_err(|source| Error::Json {
            action: "parse",
            path: path.clone(),
            source,
        })?;
        let ca_pem = std::fs::read_to_string(&info.ca_file).map_err(io("read", &info.ca_file))?;
        let ca_der = pem_to_der(&ca_pem).ok_or_else(|| Error::Manifest {
            path: info.ca_file.clone(),
            message: "no PEM certificate".to_string(),
        })?;
        Ok(TestEnv {
            dir: dir.to_path_buf(),
            server: info.server,
            etcd_url: info.etcd,
            ca_pem,
            ca_der,
            admin: info.admin,
            controller_manager: UserInfo {
                name: CONTROLLER_MANAGER_USER.to_string(),
                token: String::new(),
                groups: Vec::new(),
            },
            users: info.users,
            procs: std::sync::Mutex::new(Vec::new()),
            apiserver_cmd: None,
            watchdog: None,
            keep_running: true,
            remove_dir: false,
        })
    }

    fn write_pki(&self, pki: &pki::Pki) -> Result<()> {
        let d = self.dir.join("pki");
        std::fs::create_dir_all(&d).map_err(io("create directory", &d))?;
        write_file(&d.join("ca.crt"), &pki.ca_cert_pem, 0o644)?;
        write_file(&d.join("serving.crt"), &pki.serving_cert_pem, 0o644)?;
        write_file(&d.join("serving.key"), &pki.serving_key_pem, 0o600)?;
        write_file(&d.join("sa.key"), &pki.sa_key_pem, 0o600)?;
        write_file(&d.join("sa.pub"), &pki.sa_pub_pem, 0o644)
    }

    fn write_tokens(&self) -> Result<()> {
        let mut text = String::new();
        let all = [&self.admin, &self.controller_manager];
        for u in all.into_iter().chain(&self.users) {
            text.push_str(&kubeconfig::token_file_line(u));
            text.push('\n');
        }
        write_file(&self.dir.join("tokens.csv"), &text, 0o600)
    }

    fn write_kubeconfigs(&self) -> Result<()> {
        kubeconfig::write(
            &self.kubeconfig_path(),
            &self.server,
            &self.ca_pem,
            &self.admin,
        )?;
        kubeconfig::write(
            &self.dir.join("kubeconfig-controller-manager"),
            &self.server,
            &self.ca_pem,
            &self.controller_manager,
        )?;
        for u in &self.users {
            kubeconfig::write(
                &self.dir.join(format!("kubeconfig-{}", u.name)),
                &self.server,
                &self.ca_pem,
                u,
            )?;
        }
        Ok(())
    }

    fn write_info(&self) -> Result<()> {
        let info = EnvInfo {
            server: self.server.clone(),
            etcd: self.etcd_url.clone(),
            ca_file: self.dir.join("pki/ca.crt"),
            kubeconfig: self.kubeconfig_path(),
            admin: self.admin.clone(),
            users: self.users.clone(),
            pids: self.pids(),
        };
        let path = self.dir.join("env.json");
        let json = serde_json::to_string_pretty(&info).map_err(|source| Error::Json {
            action: "serialise",
            path: path.clone(),
            source,
        })?;
        write_file(&path, &json, 0o600)
    }

    async fn launch(&mut self, bins: &Binaries, ports: [u16; 4], timeout: Duration) -> Result<()> {
        let [etcd_port, peer_port, secure_port, kcm_port] = ports;
        let d = self.dir.clone();
        let etcd_data = d.join("etcd");
        // A fresh cluster every time (a previous run in the same DIR may have left data).
        if etcd_data.exists() {
            std::fs::remove_dir_all(&etcd_data).map_err(io("remove", &etcd_data))?;
        }
        self.etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let etcd_args = vec![
            "--name=azop".to_string(),
            format!("--data-dir={}", etcd_data.display()),
            format!("--listen-client-urls={}", self.etcd_url),
            format!("--advertise-client-urls={}", self.etcd_url),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=azop={peer}"),
            "--initial-cluster-state=new".to_string(),
            "--logger=zap".to_string(),
            "--log-outputs=stderr".to_string(),
        ];
        self.procs()
            .push(process::spawn("etcd", &bins.etcd, &etcd_args, &[], &d)?);

        let pki = d.join("pki");
        let p = |f: &str| pki.join(f).display().to_string();
        let mut apiserver_args = vec![
            format!("--etcd-servers={}", self.etcd_url),
            "--bind-address=127.0.0.1".to_string(),
            "--advertise-address=127.0.0.1".to_string(),
            // The `kubernetes` Service's endpoints would point at a loopback address, which
            // current servers refuse; nothing in the environment routes through it anyway.
            "--endpoint-reconciler-type=none".to_string(),
            format!("--secure-port={secure_port}"),
            format!("--cert-dir={}", pki.display()),
            format!("--tls-cert-file={}", p("serving.crt")),
            format!("--tls-private-key-file={}", p("serving.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--token-auth-file={}", d.join("tokens.csv").display()),
            "--authorization-mode=Node,RBAC".to_string(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--allow-privileged=true".to_string(),
            "--profiling=false".to_string(),
        ];
        // Extra flags for debugging (e.g. `--v=4`), space-separated.
        if let Ok(extra) = std::env::var("AZOP_KUBE_APISERVER_ARGS") {
            apiserver_args.extend(extra.split_whitespace().map(str::to_string));
        }
        self.procs().push(process::spawn(
            "kube-apiserver",
            &bins.apiserver,
            &apiserver_args,
            &[],
            &d,
        )?);
        self.apiserver_cmd = Some((bins.apiserver.clone(), apiserver_args));
        self.server = format!("https://127.0.0.1:{secure_port}");
        self.wait_ready(timeout).await?;

        // The controller manager needs its kubeconfig, which needs the server's port.
        self.write_kubeconfigs()?;
        let kcm_kubeconfig = d
            .join("kubeconfig-controller-manager")
            .display()
            .to_string();
        let kcm_args = vec![
            format!("--kubeconfig={kcm_kubeconfig}"),
            format!("--authentication-kubeconfig={kcm_kubeconfig}"),
            format!("--authorization-kubeconfig={kcm_kubeconfig}"),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={kcm_port}"),
            format!("--cert-dir={}", d.join("kcm").display()),
            format!("--service-account-private-key-file={}", p("sa.key")),
            format!("--root-ca-file={}", p("ca.crt")),
            "--use-service-account-credentials=true".to_string(),
            "--leader-elect=false".to_string(),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--profiling=false".to_string(),
        ];
        self.procs().push(process::spawn(
            "kube-controller-manager",
            &bins.controller_manager,
            &kcm_args,
            &[],
            &d,
        )?);
        self.wait_controller_manager(timeout).await
    }

    /// Waits until kube-controller-manager works: its service-account controller has created
    /// the `default` ServiceAccount of the `default` namespace.
    async fn wait_controller_manager(&mut self, timeout: Duration) -> Result<()> {
        use k8s_openapi::api::core::v1::ServiceAccount;
        let api: Api<ServiceAccount> = Api::namespaced(self.client()?, "default");
        let started = Instant::now();
        loop {
            self.check_alive()?;
            let last = match api.get_opt("default").await {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => "no ServiceAccount default/default yet".to_string(),
                Err(e) => e.to_string(),
            };
            if started.elapsed() > timeout {
                let log = self.dir.join("kube-controller-manager.log");
                return Err(Error::NotReady {
                    name: "kube-controller-manager".to_string(),
                    timeout,
                    last,
                    log_tail: process::log_tail(&log, 30),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `/readyz` as admin; fails early when a process exits.
    async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let client = self.client()?;
        let started = Instant::now();
        loop {
            self.check_alive()?;
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| Error::Manifest {
                    path: "/readyz".into(),
                    message: e.to_string(),
                })?;
            let last = match client.request_text(req).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                Ok(body) => body,
                Err(e) => e.to_string(),
            };
            if started.elapsed() > timeout {
                let log = self.dir.join("kube-apiserver.log");
                return Err(Error::NotReady {
                    name: "kube-apiserver".to_string(),
                    timeout,
                    last,
                    log_tail: process::log_tail(&log, 30),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn procs(&self) -> std::sync::MutexGuard<'_, Vec<Managed>> {
        self.procs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An error when one of the processes has exited.
    fn check_alive(&self) -> Result<()> {
        for p in self.procs().iter_mut() {
            if let Some(status) = p.exited() {
                return Err(p.exited_early(status));
            }
        }
        Ok(())
    }

    fn stop_processes(&mut self) {
        // API server first, so it does not log etcd connection errors while shutting down.
        while let Some(mut p) = self.procs().pop() {
            p.stop(STOP_GRACE);
        }
    }

    /// Stops kube-apiserver (SIGTERM, then SIGKILL after a grace period) and starts it again
    /// on the same port with the same flags, as a control-plane restart would; returns once
    /// `/readyz` answers again, with how long the server was away. etcd and
    /// kube-controller-manager keep running. The previous server's log is kept as
    /// `kube-apiserver.log.<n>`.
    pub async fn restart_apiserver(&self) -> Result<Duration> {
        let (bin, args) = self.apiserver_cmd.clone().ok_or_else(|| Error::Manifest {
            path: self.dir.join("env.json"),
            message: "this environment did not start kube-apiserver (attached?)".into(),
        })?;
        let started = Instant::now();
        let old = {
            let mut procs = self.procs();
            procs
                .iter()
                .position(|p| p.name == "kube-apiserver")
                .map(|i| procs.remove(i))
        };
        if let Some(mut p) = old {
            p.stop(STOP_GRACE);
        }
        let log = self.dir.join("kube-apiserver.log");
        let kept = (1..)
            .map(|n| self.dir.join(format!("kube-apiserver.log.{n}")))
            .find(|p| !p.exists())
            .unwrap_or_else(|| self.dir.join("kube-apiserver.log.old"));
        let _ = std::fs::rename(&log, &kept);
        let p = process::spawn("kube-apiserver", &bin, &args, &[], &self.dir)?;
        self.procs().push(p);
        self.wait_ready(DEFAULT_READY_TIMEOUT).await?;
        Ok(started.elapsed())
    }

    /// Stops the processes and removes the state directory if it was temporary. Idempotent.
    /// Does nothing for attached environments; detached ones are stopped with [`down`].
    pub fn stop(&mut self) {
        if self.keep_running {
            return;
        }
        self.stop_processes();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The state directory (certificates, logs, pid files, kubeconfigs, `env.json`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// API server URL, `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// etcd client URL, `http://127.0.0.1:<port>`.
    pub fn etcd_url(&self) -> &str {
        &self.etcd_url
    }

    /// The CA certificate (PEM) that signed the API server's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin kubeconfig, `DIR/kubeconfig`.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The kubeconfig of `user` (`DIR/kubeconfig` for the admin, else `DIR/kubeconfig-<user>`).
    pub fn user_kubeconfig_path(&self, user: &str) -> Result<PathBuf> {
        if user == ADMIN_USER {
            return Ok(self.kubeconfig_path());
        }
        self.user(user)
            .map(|u| self.dir.join(format!("kubeconfig-{}", u.name)))
    }

    /// The admin user (`system:masters`).
    pub fn admin(&self) -> &UserInfo {
        &self.admin
    }

    /// The unprivileged users.
    pub fn users(&self) -> &[UserInfo] {
        &self.users
    }

    /// The admin or an unprivileged user, by name.
    pub fn user(&self, name: &str) -> Result<&UserInfo> {
        std::iter::once(&self.admin)
            .chain(&self.users)
            .find(|u| u.name == name)
            .ok_or_else(|| Error::UnknownUser {
                user: name.to_string(),
                known: std::iter::once(&self.admin)
                    .chain(&self.users)
                    .map(|u| u.name.clone())
                    .collect(),
            })
    }

    /// A `kube::Config` for `user`.
    pub fn kube_config(&self, user: &str) -> Result<kube::Config> {
        kubeconfig::config(&self.server, &self.ca_der, self.user(user)?)
    }

    /// An admin client. Call inside a Tokio runtime; make one per test (a client must not
    /// outlive the runtime it was made in, and each `#[tokio::test]` has its own).
    pub fn client(&self) -> Result<kube::Client> {
        kubeconfig::client(&self.server, &self.ca_der, &self.admin)
    }

    /// A client acting as `user` (subject to RBAC).
    pub fn client_as(&self, user: &str) -> Result<kube::Client> {
        kubeconfig::client(&self.server, &self.ca_der, self.user(user)?)
    }

    /// A client authenticating with a bearer `token` (e.g. a service-account token from the
    /// TokenRequest API), subject to RBAC.
    pub fn client_with_token(&self, token: &str) -> Result<kube::Client> {
        let user = UserInfo {
            name: "token".to_string(),
            token: token.to_string(),
            groups: Vec::new(),
        };
        kubeconfig::client(&self.server, &self.ca_der, &user)
    }

    /// Creates a namespace named `<prefix>-<random>` and returns its name. Tests need not delete
    /// it: the whole environment is thrown away at the end (kube-controller-manager does finish
    /// deleting namespaces, so a test may).
    pub async fn new_namespace(&self, prefix: &str) -> Result<String> {
        let name = namespace_name(prefix, &random_token(6));
        let api: Api<Namespace> = Api::all(self.client()?);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("azop.dev/testenv".to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        api.create(&PostParams::default(), &ns)
            .await
            .map_err(|source| Error::Kube {
                action: format!("create namespace {name}"),
                source,
            })?;
        Ok(name)
    }

    /// Applies every CRD in the YAML files under `dir` and waits until each is Established.
    pub async fn install_crds(&self, dir: impl AsRef<Path>) -> Result<Vec<String>> {
        crds::install_crds(&self.client()?, dir.as_ref()).await
    }

    /// Pids of the processes started by this value (empty when attached).
    pub fn pids(&self) -> Vec<i32> {
        self.procs().iter().map(|p| p.pid).collect()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The processes of an environment, in start order.
const PROCESSES: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

/// Service ClusterIP range of every environment.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";

/// The binaries an environment runs.
struct Binaries {
    etcd: PathBuf,
    apiserver: PathBuf,
    controller_manager: PathBuf,
}

/// Live pids recorded in `DIR/<name>.pid` for the given names.
pub(crate) fn running(dir: &Path, names: &[&str]) -> Vec<i32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|n| std::fs::read_to_string(dir.join(format!("{n}.pid"))).ok())
        .filter_map(|s| s.trim().parse::<i32>().ok())
        .filter(|&pid| process::is_running(pid) && process::cmdline_mentions(pid, &dir))
        .collect()
}

/// Stops every process recorded in `dir` (etcd, kube-apiserver, kube-controller-manager,
/// Azurite) and removes the
/// directory. Refuses directories that azop-testenv did not create. Returns the pids stopped.
pub fn down(dir: &Path) -> Result<Vec<i32>> {
    let dir = dir.canonicalize().map_err(io("resolve", dir))?;
    if !dir.join(state::MARKER).exists() {
        return Err(Error::NotOurs {
            dir,
            marker: state::MARKER,
        });
    }
    let pids = process::stop_pids_in(&dir, Duration::from_secs(2));
    state::remove(&dir)?;
    Ok(pids)
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_dns_labels() {
        assert_eq!(namespace_name("My_Test", "abc123"), "my-test-abc123");
        assert_eq!(namespace_name("--", "x"), "test-x");
        let long = namespace_name(&"a".repeat(100), "abcdef");
        assert_eq!(long.len(), 63);
        assert!(long.ends_with("-abcdef"));
    }

    #[test]
    fn pem_round_trip() {
        let p = pki::generate().expect("pki");
        assert_eq!(pem_to_der(&p.ca_cert_pem), Some(p.ca_cert_der));
    }
}
