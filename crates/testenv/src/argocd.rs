//! [`ArgoCd`]: the real Argo CD, headless, managing a [`TestEnv`]'s cluster as its in-cluster
//! destination: redis (Debian's), the repo-server and the application-controller (one
//! multi-call binary, built by `crates/testenv/scripts/argocd.sh`), each on loopback ports of
//! its own. No argocd-server, no Dex, no UI: Applications are created and read with the
//! Kubernetes API, as a GitOps bootstrap does.
//!
//! What Argo CD's own manifests would otherwise provide is set up here: its CRDs (from the
//! release the binary was built from), the `argocd` namespace with `argocd-cm`,
//! `argocd-cmd-params-cm` and `argocd-secret`, and the `default` AppProject (argocd-server
//! creates it; there is none here). The `argocd-cm` a test asks for is merged in with the
//! real kubectl, exactly as docs/gitops.md tells users to.
//!
//! Processes are managed as [`TestEnv`]'s are: own process groups, pid and log files in a
//! state directory under `$TMPDIR/azop-testenv/`, stopped on drop (also during a panic), and
//! by a watchdog when the owning process dies without dropping them. Every command line names
//! the state directory (the components run through symlinks in `DIR/bin`, redis keeps its
//! arguments as its title), so a recycled pid is never signalled.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::crds::FIELD_MANAGER;
use crate::error::{Error, Result, io};
use crate::process::{self, Managed};
use crate::{TestEnv, binaries, ports, state};

/// The namespace Argo CD runs in and keeps its Applications in.
pub const NAMESPACE: &str = "argocd";
/// Argo CD's API group.
pub const GROUP: &str = "argoproj.io";
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to start [`ArgoCd`].
#[derive(Debug, Clone)]
pub struct ArgoCdOptions {
    /// A YAML file holding a ConfigMap `argocd-cm` (for azop: `config/argocd/argocd-cm.yaml`),
    /// merged into Argo CD's `argocd-cm` with `kubectl patch --type merge --patch-file`
    /// before the controller starts. `None`: Argo CD's defaults.
    pub argocd_cm: Option<PathBuf>,
    /// Keep per-resource health in `Application.status.resources[].health`
    /// (`--persist-resource-health`). Since Argo CD 3.0 it lives only in redis unless this is
    /// set; tests read it from the Application.
    pub persist_resource_health: bool,
    /// Time allowed for each component to listen.
    pub ready_timeout: Duration,
}

impl Default for ArgoCdOptions {
    fn default() -> Self {
        ArgoCdOptions {
            argocd_cm: None,
            persist_resource_health: true,
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// A running Argo CD. Stopped (processes and state directory) when dropped. Start one per
/// [`TestEnv`] at a time: it takes the environment's `argocd` namespace, and two controllers
/// would both act on its Applications.
#[derive(Debug)]
pub struct ArgoCd {
    dir: PathBuf,
    bin: PathBuf,
    version: String,
    procs: Vec<Managed>,
    watchdog: Option<Child>,
}

/// `ApiResource` of an Argo CD kind (`Application`, `AppProject`) at v1alpha1.
pub fn api_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, "v1alpha1", kind),
        &format!("{}s", kind.to_ascii_lowercase()),
    )
}

/// Argo CD's own manifests for a headless installation in [`NAMESPACE`] (pure): the
/// ConfigMaps and Secret it reads, each labelled `app.kubernetes.io/part-of: argocd` (Argo CD
/// watches only those), and an AppProject `default` that allows every repository, destination
/// and kind, as argocd-server would create it.
pub fn base_manifests() -> Vec<Value> {
    let meta = |name: &str| {
        json!({
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "argocd"},
        })
    };
    vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("argocd-cm")}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("argocd-cmd-params-cm")}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("argocd-secret"), "type": "Opaque"}),
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "default", "namespace": NAMESPACE},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        }),
    ]
}

/// The kinds azop serves, each with a health check in
/// `config/argocd/resource_customizations/azop.dev/<Kind>/health.lua`.
pub const AZOP_KINDS: [&str; 4] = [
    "AzureCluster",
    "AksCluster",
    "StorageBinding",
    "ProxyConfig",
];

/// `config/argocd/resource_customizations/azop.dev`: the health checks in Argo CD's own
/// layout (`<Kind>/health.lua`, `health_test.yaml`, `testdata/`).
pub fn customizations_dir() -> PathBuf {
    crate::repo_root().join("config/argocd/resource_customizations/azop.dev")
}

/// `config/argocd/argocd-cm.yaml`: what users merge into their `argocd-cm`.
pub fn argocd_cm_path() -> PathBuf {
    crate::repo_root().join("config/argocd/argocd-cm.yaml")
}

/// The `argocd-cm` users apply (pure): per kind, the health check
/// (`resource.customizations.health.azop.dev_<Kind>`, the script unchanged as a literal block)
/// and `resource.customizations.useOpenLibs.azop.dev_<Kind>: "true"`, without which Argo CD
/// runs a check from argocd-cm with no standard library (docs/gitops.md says why the checks
/// want `string`).
pub fn render_argocd_cm(scripts: &[(&str, String)]) -> String {
    let mut out = String::from(
        "# Argo CD health checks for azop's four kinds: merge this into the argocd-cm ConfigMap of\n\
         # your Argo CD (docs/gitops.md). Generated by `make generate` from\n\
         # resource_customizations/azop.dev/<Kind>/health.lua: edit those, not this file.\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n\
         \x20 labels:\n    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\n\
         data:\n",
    );
    for (kind, script) in scripts {
        out.push_str(&format!(
            "  resource.customizations.health.azop.dev_{kind}: |\n"
        ));
        for line in script.trim_end_matches('\n').lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "  resource.customizations.useOpenLibs.azop.dev_{kind}: \"true\"\n"
        ));
    }
    out
}

/// Reads every kind's `health.lua` from `dir` (see [`customizations_dir`]), in
/// [`AZOP_KINDS`] order.
pub fn read_health_scripts(dir: &Path) -> Result<Vec<(&'static str, String)>> {
    AZOP_KINDS
        .iter()
        .map(|kind| {
            let path = dir.join(kind).join("health.lua");
            std::fs::read_to_string(&path)
                .map(|s| (*kind, s))
                .map_err(io("read", &path))
        })
        .collect()
}

fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}

fn symlink(target: &Path, link: &Path) -> Result<()> {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).map_err(io("create symlink", link))
}

impl ArgoCd {
    /// Installs Argo CD's CRDs and configuration into `env`, then starts redis, the
    /// repo-server and the application-controller on free loopback ports; returns once each
    /// listens.
    pub async fn start(env: &TestEnv, opts: ArgoCdOptions) -> Result<ArgoCd> {
        let bin = binaries::argocd()?;
        let redis = binaries::redis_server()?;
        let home = bin
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| Error::BinaryNotFound {
                what: "argocd",
                hint: format!("{} has no parent directory", bin.display()),
            })?;
        let root = state::root();
        std::fs::create_dir_all(&root).map_err(io("create directory", &root))?;
        state::clean_stale(&root);
        let tag: u32 = rand::random();
        let dir = state::prepare(&root.join(format!("argocd-{}-{tag:08x}", std::process::id())))?;
        state::write_owner(&dir, &state::Owner::current())?;
        let watchdog = Some(process::spawn_watchdog(&dir, true)?);
        let mut argocd = ArgoCd {
            dir,
            bin: bin.clone(),
            version: String::new(),
            procs: Vec::new(),
            watchdog,
        };
        argocd.version = argocd.cli_version()?;
        argocd.layout(&bin, &home, env)?;
        argocd
            .install(env, &home, opts.argocd_cm.as_deref())
            .await?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            match argocd.launch(&redis, &opts).await {
                Ok(()) => return Ok(argocd),
                Err(e) if attempt < 3 && port_clash(&e) => {
                    tracing::warn!(attempt, "port taken by another program, retrying: {e}");
                    argocd.stop_processes();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `argocd version --client --short`, e.g. `argocd: v3.6.2+unknown`.
    fn cli_version(&self) -> Result<String> {
        let out = Command::new(&self.bin)
            .args(["version", "--client", "--short"])
            .env("HOME", &self.dir)
            .output()
            .map_err(|source| Error::Spawn {
                name: "argocd version".to_string(),
                program: self.bin.clone(),
                source,
            })?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `DIR/bin` (the component symlinks and git-verify-wrapper.sh, which repo-server 3.6
    /// runs on every fetch, even with GPG off), the kubeconfig, and the writable directories
    /// the components otherwise expect under `/app/config` and `/tmp`.
    fn layout(&self, bin: &Path, home: &Path, env: &TestEnv) -> Result<()> {
        let d = &self.dir;
        for sub in [
            "bin", "home", "tmp", "tls", "ssh", "gnupg", "gpg", "redis", "keys",
        ] {
            let p = d.join(sub);
            std::fs::create_dir_all(&p).map_err(io("create directory", &p))?;
        }
        use std::os::unix::fs::PermissionsExt;
        let gnupg = d.join("gnupg");
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod", &gnupg))?;
        for component in ["argocd-application-controller", "argocd-repo-server"] {
            symlink(bin, &d.join("bin").join(component))?;
        }
        let wrapper = home.join("git-verify-wrapper.sh");
        symlink(&wrapper, &d.join("bin/git-verify-wrapper.sh"))?;
        let kubeconfig = d.join("kubeconfig");
        std::fs::copy(env.kubeconfig_path(), &kubeconfig).map_err(io("copy", &kubeconfig))?;
        Ok(())
    }

    /// CRDs, namespace, configuration and the default AppProject; then the test's argocd-cm.
    async fn install(&self, env: &TestEnv, home: &Path, argocd_cm: Option<&Path>) -> Result<()> {
        let client = env.client()?;
        crate::crds::install_crds(&client, &home.join("crds")).await?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .patch(
                NAMESPACE,
                &params,
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})),
            )
            .await
            .map_err(kube_err(format!("apply namespace {NAMESPACE}")))?;
        for doc in base_manifests() {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match doc["kind"].as_str() {
                Some("ConfigMap") => {
                    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
                    api.patch(&name, &params, &Patch::Apply(&doc))
                        .await
                        .map(drop)
                }
                Some("Secret") => {
                    let api: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
                    api.patch(&name, &params, &Patch::Apply(&doc))
                        .await
                        .map(drop)
                }
                _ => {
                    let api: Api<DynamicObject> = Api::namespaced_with(
                        client.clone(),
                        NAMESPACE,
                        &api_resource("AppProject"),
                    );
                    api.patch(&name, &params, &Patch::Apply(&doc))
                        .await
                        .map(drop)
                }
            }
            .map_err(kube_err(format!(
                "apply {} {NAMESPACE}/{name}",
                doc["kind"].as_str().unwrap_or_default()
            )))?;
        }
        if let Some(file) = argocd_cm {
            self.kubectl(
                env,
                &[
                    "-n",
                    NAMESPACE,
                    "patch",
                    "configmap",
                    "argocd-cm",
                    "--type",
                    "merge",
                    "--patch-file",
                    &file.display().to_string(),
                ],
            )?;
        }
        Ok(())
    }

    /// Runs the environment's kubectl as admin; its output on success.
    fn kubectl(&self, env: &TestEnv, args: &[&str]) -> Result<String> {
        let kubectl = binaries::kubectl()?;
        let out = Command::new(&kubectl)
            .args(args)
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("HOME", self.dir.join("home"))
            .output()
            .map_err(|source| Error::Spawn {
                name: "kubectl".to_string(),
                program: kubectl.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("kubectl {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn launch(&mut self, redis: &Path, opts: &ArgoCdOptions) -> Result<()> {
        let root = state::root();
        let p = ports::allocate(&root, 4).await?;
        let [redis_port, repo_port, repo_metrics, controller_metrics] = [p[0], p[1], p[2], p[3]];
        let d = self.dir.clone();
        let dir = |s: &str| d.join(s).display().to_string();
        let redis_addr = format!("127.0.0.1:{redis_port}");

        let redis_args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &redis_port.to_string(),
            "--dir",
            &dir("redis"),
            "--save",
            "",
            "--appendonly",
            "no",
            // Keep the arguments as the process title: they name the state directory, which
            // is how a pid read back from a file is recognised as ours.
            "--set-proc-title",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut m = process::spawn("redis", redis, &redis_args, &[], &d)?;
        let ready = wait_listening(&mut m, redis_port, opts.ready_timeout).await;
        self.procs.push(m);
        ready?;

        let path = format!(
            "{}:{}",
            dir("bin"),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string())
        );
        let common: Vec<(String, String)> = [
            ("PATH", path),
            ("HOME", dir("home")),
            ("TMPDIR", dir("tmp")),
            ("ARGOCD_GPG_ENABLED", "false".to_string()),
            ("ARGOCD_TLS_DATA_PATH", dir("tls")),
            ("ARGOCD_SSH_DATA_PATH", dir("ssh")),
            ("ARGOCD_GNUPGHOME", dir("gnupg")),
            ("ARGOCD_GPG_DATA_PATH", dir("gpg")),
            // git must not read the machine's or the user's configuration.
            ("GIT_CONFIG_NOSYSTEM", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();

        let repo_args: Vec<String> = vec![
            "--address".into(),
            "127.0.0.1".into(),
            "--port".into(),
            repo_port.to_string(),
            "--metrics-address".into(),
            "127.0.0.1".into(),
            "--metrics-port".into(),
            repo_metrics.to_string(),
            "--redis".into(),
            redis_addr.clone(),
            "--logformat".into(),
            "text".into(),
        ];
        let mut m = process::spawn(
            "argocd-repo-server",
            &d.join("bin/argocd-repo-server"),
            &repo_args,
            &common,
            &d,
        )?;
        let ready = wait_listening(&mut m, repo_port, opts.ready_timeout).await;
        self.procs.push(m);
        ready?;

        let kubeconfig = dir("kubeconfig");
        let mut controller_args: Vec<String> = vec![
            "--kubeconfig".into(),
            kubeconfig.clone(),
            "--namespace".into(),
            NAMESPACE.into(),
            "--redis".into(),
            redis_addr,
            "--repo-server".into(),
            format!("127.0.0.1:{repo_port}"),
            // Its metrics server has no address flag and listens on every interface; the
            // port is one of ours.
            "--metrics-port".into(),
            controller_metrics.to_string(),
            "--logformat".into(),
            "text".into(),
        ];
        if opts.persist_resource_health {
            controller_args.push("--persist-resource-health".into());
        }
        let mut env_vars = common.clone();
        env_vars.push(("KUBECONFIG".into(), kubeconfig));
        // The in-cluster destination (https://kubernetes.default.svc) is the kubeconfig's.
        env_vars.push(("ARGOCD_FAKE_IN_CLUSTER".into(), "true".into()));
        let mut m = process::spawn(
            "argocd-application-controller",
            &d.join("bin/argocd-application-controller"),
            &controller_args,
            &env_vars,
            &d,
        )?;
        let ready = wait_listening(&mut m, controller_metrics, opts.ready_timeout).await;
        self.procs.push(m);
        ready
    }

    fn stop_processes(&mut self) {
        // The controller first, redis last (the others log errors without it).
        while let Some(mut p) = self.procs.pop() {
            p.stop(STOP_GRACE);
        }
    }

    /// Stops the processes and removes the state directory. Idempotent.
    pub fn stop(&mut self) {
        self.stop_processes();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The state directory: `<component>.log`, `<component>.pid`, the kubeconfig.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log of one component (`redis`, `argocd-repo-server`,
    /// `argocd-application-controller`).
    pub fn log(&self, component: &str) -> PathBuf {
        self.dir.join(format!("{component}.log"))
    }

    /// The last `lines` lines of every component's log, for a failing test's message.
    pub fn log_tails(&self, lines: usize) -> String {
        self.procs
            .iter()
            .map(|p| {
                format!(
                    "--- {}:\n{}",
                    p.log.display(),
                    process::log_tail(&p.log, lines)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// What the binary says of itself: `argocd: v3.6.2+unknown`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The multi-call binary (for `argocd admin ...`).
    pub fn binary(&self) -> &Path {
        &self.bin
    }

    /// Pids of the components, in start order.
    pub fn pids(&self) -> Vec<i32> {
        self.procs.iter().map(|p| p.pid).collect()
    }
}

impl Drop for ArgoCd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn port_clash(e: &Error) -> bool {
    match e {
        Error::ExitedEarly { log_tail, .. } | Error::NotReady { log_tail, .. } => {
            log_tail.contains("address already in use")
                || log_tail.contains("Address already in use")
        }
        _ => false,
    }
}

/// Waits until `port` on 127.0.0.1 accepts connections; fails early when the process exits.
async fn wait_listening(m: &mut Managed, port: u16, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = m.exited() {
            return Err(m.exited_early(status));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(Error::NotReady {
                name: m.name.clone(),
                timeout,
                last: format!("port {port} not accepting connections"),
                log_tail: process::log_tail(&m.log, 30),
                log: m.log.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_manifests_are_labelled_for_argocd_and_the_project_allows_everything() {
        let docs = base_manifests();
        let names: Vec<&str> = docs
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "argocd-cm",
                "argocd-cmd-params-cm",
                "argocd-secret",
                "default"
            ]
        );
        for d in &docs[..3] {
            assert_eq!(
                d["metadata"]["labels"]["app.kubernetes.io/part-of"], "argocd",
                "{d}"
            );
        }
        assert_eq!(docs[3]["spec"]["clusterResourceWhitelist"][0]["kind"], "*");
        assert!(docs.iter().all(|d| d["metadata"]["namespace"] == NAMESPACE));
    }

    #[test]
    fn the_config_map_carries_each_script_verbatim_with_open_libs() {
        let scripts = vec![
            ("AzureCluster", "local hs = {}\n\nreturn hs\n".to_string()),
            ("ProxyConfig", "return {}\n".to_string()),
        ];
        let text = render_argocd_cm(&scripts);
        let cm: Value = serde_yaml::from_str(&text).expect("YAML");
        assert_eq!(cm["kind"], "ConfigMap");
        assert_eq!(cm["metadata"]["name"], "argocd-cm");
        assert_eq!(
            cm["data"]["resource.customizations.health.azop.dev_AzureCluster"],
            "local hs = {}\n\nreturn hs\n"
        );
        assert_eq!(
            cm["data"]["resource.customizations.useOpenLibs.azop.dev_ProxyConfig"],
            "true"
        );
        assert_eq!(cm["data"].as_object().map(|d| d.len()), Some(4));
    }

    #[test]
    fn argocd_kinds_have_their_plurals() {
        assert_eq!(api_resource("Application").plural, "applications");
        assert_eq!(api_resource("AppProject").plural, "appprojects");
    }
}
