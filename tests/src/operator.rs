//! Running the real `azop` binary against the shared kube-apiserver and an in-process
//! azop-armsim, as the chart would: the chart is installed with the real helm, and the
//! operator runs with a token of the ServiceAccount the chart created, so the chart's RBAC is
//! what every end-to-end test exercises.
//!
//! Each test gets its own namespace, its own simulator, its own Lease name, and an operator
//! that watches only that namespace (`--namespace`), so tests run in parallel without seeing
//! each other's objects.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use azop_armsim::{RequestFilter, RequestRecord, RunningSim, SimConfig};
use azop_testenv::TestEnv;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub const OPERATOR_NAMESPACE: &str = "azop-system";
pub const SUBSCRIPTION: &str = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CREDENTIALS_SECRET: &str = "azure-credentials";
pub const CLIENT_SECRET: &str = "s3cr3t-value-that-must-never-be-logged";

static OPERATOR_KUBECONFIG: OnceCell<PathBuf> = OnceCell::const_new();
/// `--set` values of the chart install, chosen by the first world of a test binary
/// ([`World::new_with_chart`]): every world of one binary shares one release.
static CHART_SETS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The `azop` binary built next to this test binary (`cargo build -p azop` first; `make test`
/// does). `AZOP_BIN` overrides.
pub fn azop_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("AZOP_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    // target/<profile>/deps/<test> → target/<profile>/azop
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary has no target dir")?;
    let bin = dir.join("azop");
    if !bin.exists() {
        bail!(
            "{} does not exist: run `cargo build -p azop` (make test does)",
            bin.display()
        );
    }
    Ok(bin)
}

fn repo_file(rel: &str) -> PathBuf {
    azop_testenv::repo_root().join(rel)
}

/// The Helm release the tests install (in [`OPERATOR_NAMESPACE`]).
pub const RELEASE: &str = "azop";

/// Runs the real helm (`AZOP_HELM`, from `make testenv`) against the environment as admin.
pub fn helm(env: &TestEnv, args: &[&str]) -> Result<String> {
    let bin = azop_testenv::binaries::helm()?;
    let home = env.dir().join("helm");
    let out = Command::new(&bin)
        .args(args)
        .env("KUBECONFIG", env.kubeconfig_path())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "helm {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The ServiceAccount a rendered manifest (`helm get manifest`) creates in `namespace`.
pub fn service_account_in(manifest: &str, namespace: &str) -> Result<String> {
    let docs = azop_testenv::manifests::parse_documents(manifest, Path::new("helm manifest"))?;
    docs.iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
        .filter(|d| {
            d.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .is_none_or(|n| n == namespace)
        })
        .find_map(|d| d.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .context("the chart's manifest holds no ServiceAccount")
}

/// Installs the Helm chart (charts/azop) with the real helm — its namespace, ServiceAccount
/// and RBAC; no operator pods (replicaCount 0: the tests run the binary themselves) — then
/// writes a kubeconfig with a token of the chart's ServiceAccount. Once per test binary.
async fn operator_kubeconfig(env: &TestEnv) -> Result<PathBuf> {
    OPERATOR_KUBECONFIG
        .get_or_try_init(|| async {
            let client = env.client()?;
            let chart = repo_file("charts/azop");
            let chart = chart.to_string_lossy();
            // The CRDs are already there (install_crds, as users apply them): the chart renders
            // them as templates, so `crds.install=false` leaves them out (`--skip-crds` only
            // skips a chart's crds/ directory).
            let mut args: Vec<String> = [
                "upgrade",
                "--install",
                RELEASE,
                &chart,
                "--namespace",
                OPERATOR_NAMESPACE,
                "--create-namespace",
                "--set",
                "crds.install=false",
                "--set",
                "replicaCount=0",
            ]
            .into_iter()
            .map(str::to_string)
            .collect();
            for set in CHART_SETS.get().into_iter().flatten() {
                args.extend(["--set".to_string(), set.clone()]);
            }
            helm(env, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
            let manifest = helm(env, &["get", "manifest", RELEASE, "-n", OPERATOR_NAMESPACE])?;
            let account = service_account_in(&manifest, OPERATOR_NAMESPACE)?;
            let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: Vec::new(),
                    expiration_seconds: Some(24 * 3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            };
            let issued: TokenRequest = sa
                .create_subresource("token", &account, &PostParams::default(), &request)
                .await
                .context("TokenRequest for the operator's ServiceAccount")?;
            let token = issued.status.context("TokenRequest has no status")?.token;
            let path = env.dir().join("kubeconfig-azop-operator");
            let kubeconfig = json!({
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "testenv", "cluster": {
                    "server": env.server_url(),
                    "certificate-authority-data": base64_encode(env.ca_pem().as_bytes()),
                }}],
                "users": [{"name": "azop", "user": {"token": token}}],
                "contexts": [{"name": "azop", "context": {"cluster": "testenv", "user": "azop"}}],
                "current-context": "azop",
            });
            std::fs::write(&path, serde_yaml_like(&kubeconfig)?)
                .context("write operator kubeconfig")?;
            Ok(path)
        })
        .await
        .cloned()
}

/// The Secret every world's objects name in `spec.credentialsRef` (azop-armsim accepts any
/// client id and secret).
pub fn credentials_secret(ns: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": CREDENTIALS_SECRET, "namespace": ns},
        "type": "Opaque",
        "stringData": {"tenantId": TENANT, "clientId": "azop-e2e", "clientSecret": CLIENT_SECRET},
    })
}

/// Six random lowercase letters and digits, as namespaces of the test environment end.
fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// kubeconfig files may be JSON (JSON is YAML).
fn serde_yaml_like(v: &Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

/// One test's world: a namespace with a credentials Secret, a simulator, and a Lease name.
pub struct World {
    pub env: &'static TestEnv,
    pub client: kube::Client,
    pub ns: String,
    pub sim: RunningSim,
    pub lease: String,
    kubeconfig: PathBuf,
    /// How the simulator was started, to start it again ([`World::restart_sim`]).
    sim_config: SimConfig,
}

impl World {
    /// A world whose binary installs the chart with these `--set` values (the first call of
    /// the binary decides; later calls must pass the same).
    pub async fn new_with_chart(
        prefix: &str,
        sim_config: SimConfig,
        sets: &[String],
    ) -> Result<World> {
        let first = CHART_SETS.get_or_init(|| sets.to_vec());
        if first.as_slice() != sets {
            bail!("one test binary installs the chart once: {first:?} already, not {sets:?}");
        }
        World::new(prefix, sim_config).await
    }

    pub async fn new(prefix: &str, sim_config: SimConfig) -> Result<World> {
        let env = azop_testenv::shared().await?;
        let ns = env.new_namespace(prefix).await?;
        let world = World::in_namespace(ns, sim_config).await?;
        let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(credentials_secret(&world.ns))?,
            )
            .await
            .context("create credentials Secret")?;
        Ok(world)
    }

    /// A world whose namespace (`<prefix>-<random>`) and credentials Secret do not exist yet:
    /// something else creates them (a GitOps sync). The operator may be started before.
    pub async fn unprovisioned(prefix: &str, sim_config: SimConfig) -> Result<World> {
        World::in_namespace(
            azop_testenv::namespace_name(prefix, &random_suffix()),
            sim_config,
        )
        .await
    }

    async fn in_namespace(ns: String, sim_config: SimConfig) -> Result<World> {
        let env = azop_testenv::shared().await?;
        env.install_crds(azop_testenv::crds_dir()).await?;
        let kubeconfig = operator_kubeconfig(env).await?;
        let client = env.client()?;
        let sim = azop_armsim::start(sim_config.clone())
            .await
            .context("start armsim")?;
        Ok(World {
            env,
            client,
            lease: format!("azop-{ns}"),
            ns,
            sim,
            kubeconfig,
            sim_config,
        })
    }

    /// Starts `azop run` for this world. Logs go to a file in the test environment's dir.
    pub fn start_operator(&self, name: &str, extra: &[&str]) -> Result<Operator> {
        self.start_operator_with_env(name, extra, &[])
    }

    /// [`World::start_operator`] with more environment variables (the webhook's, a proxy's).
    pub fn start_operator_with_env(
        &self,
        name: &str,
        extra: &[&str],
        vars: &[(String, String)],
    ) -> Result<Operator> {
        let log = self
            .env
            .dir()
            .join(format!("operator-{}-{name}.log", self.ns));
        let file = std::fs::File::create(&log).context("create operator log")?;
        let err = file.try_clone()?;
        let child = Command::new(azop_binary()?)
            .args([
                "run",
                "--arm-endpoint",
                self.sim.url(),
                "--authority-host",
                self.sim.url(),
                "--namespace",
                &self.ns,
                "--leader-election-namespace",
                OPERATOR_NAMESPACE,
                "--lease-name",
                &self.lease,
                "--lease-duration-seconds",
                "4",
                "--metrics-addr",
                "127.0.0.1:0",
                "--identity",
                name,
            ])
            .args(extra)
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "RUST_LOG",
                "info,azop_controllers=debug,azop_provider=debug",
            )
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_FEDERATED_TOKEN_FILE")
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .context("spawn azop")?;
        Ok(Operator {
            child: Some(child),
            log,
        })
    }

    /// Stops the simulator as a crash would (open connections cut, requests in flight
    /// unanswered) and starts it again at the same address with the same configuration, from
    /// its state file (`SimConfig::state_file`, required): what it had saved is there again,
    /// operations still running finish on load, faults are gone and the request log starts
    /// empty. Returns the old log.
    pub async fn restart_sim(&mut self) -> Result<Vec<RequestRecord>> {
        if self.sim_config.state_file.is_none() {
            bail!("restart_sim needs a world whose SimConfig has a state file");
        }
        let addr: std::net::SocketAddr = self
            .sim
            .url()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .parse()
            .context("the simulator's address")?;
        let log = self.sim.requests(&RequestFilter::default());
        // Take the running one out; a placeholder holds its place until the new one binds.
        let placeholder = azop_armsim::start(SimConfig::default())
            .await
            .context("start a placeholder simulator")?;
        let old = std::mem::replace(&mut self.sim, placeholder);
        old.shutdown().await;
        let mut last = None;
        for _ in 0..50 {
            match azop_armsim::start(self.sim_config.clone().addr(addr)).await {
                Ok(sim) => {
                    let placeholder = std::mem::replace(&mut self.sim, sim);
                    placeholder.shutdown().await;
                    return Ok(log);
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the simulator did not start again at {addr}: {last:?}")
    }

    /// ARM requests that write (PUT, PATCH, POST, DELETE), excluding token calls.
    pub fn writes(&self) -> Vec<String> {
        self.sim
            .requests(&RequestFilter::default())
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.contains("/oauth2/"))
            .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
            .collect()
    }

    /// Every ARM request (excluding token calls).
    pub fn arm_requests(&self) -> usize {
        self.sim
            .requests(&RequestFilter::default())
            .into_iter()
            .filter(|r| !r.path.contains("/oauth2/"))
            .count()
    }

    /// The simulator's resources of this subscription: `(type, name)` lower-cased and sorted.
    pub fn inventory(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .sim
            .inventory()
            .into_iter()
            .filter_map(|r| {
                Some((
                    r.get("type")?.as_str()?.to_ascii_lowercase(),
                    r.get("name")?.as_str()?.to_ascii_lowercase(),
                ))
            })
            .collect();
        out.sort();
        out
    }

    /// A bearer token for direct ARM calls from the test (setting up "existing" resources,
    /// causing drift).
    pub fn token(&self) -> String {
        self.sim.token(TENANT, "azop-e2e-test")
    }

    /// A direct ARM call, as a user outside azop would make it; waits for the operation.
    pub async fn arm(
        &self,
        method: reqwest::Method,
        path: &str,
        api_version: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let http = reqwest::Client::new();
        let url = format!(
            "{}{path}?api-version={api_version}",
            self.sim.url().trim_end_matches('/')
        );
        let mut req = http.request(method.clone(), &url).bearer_auth(self.token());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        // Wait until the resource settles (the sim's operations complete on time).
        if method == reqwest::Method::PUT {
            for _ in 0..100 {
                let got = http.get(&url).bearer_auth(self.token()).send().await?;
                let v: Value = got.json().await.unwrap_or_default();
                let state = v
                    .pointer("/properties/provisioningState")
                    .and_then(Value::as_str)
                    .unwrap_or("Succeeded");
                if state == "Succeeded" {
                    return Ok(v);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// A running `azop run`; killed (SIGKILL) when dropped.
pub struct Operator {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Operator {
    /// SIGKILL: no graceful shutdown, no lease release.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        let Some(mut c) = self.child.take() else {
            bail!("operator not running")
        };
        let pid = c.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("kill -TERM")?;
        for _ in 0..100 {
            if let Some(status) = c.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        bail!("operator did not exit within 10 s of SIGTERM")
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the replica serves /metrics, from its log (it binds `--metrics-addr
    /// 127.0.0.1:0` and logs the port it got); `None` before it said.
    pub fn metrics_addr(&self) -> Option<String> {
        metrics_addr_in(&self.logs())
    }

    /// The replica's /metrics text.
    pub async fn metrics(&self) -> Result<String> {
        let addr = self
            .metrics_addr()
            .with_context(|| format!("{} names no metrics address yet", self.log.display()))?;
        let url = format!("http://{addr}/metrics");
        reqwest::get(&url)
            .await
            .with_context(|| format!("GET {url}"))?
            .text()
            .await
            .with_context(|| format!("read {url}"))
    }
}

/// The address of the "serving /metrics" line of an operator's log, text or JSON. Pure.
pub fn metrics_addr_in(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("serving /metrics"))?;
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        return v["fields"]["addr"].as_str().map(str::to_string);
    }
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    Some(rest.split_whitespace().next()?.to_string())
}

/// The value of a gauge or counter without labels in a /metrics text. Pure.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next()? == name).then_some(())?;
        parts.next()?.parse().ok()
    })
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_address_and_a_value_are_read_back() {
        let json = r#"{"timestamp":"t","level":"INFO","fields":{"message":"serving /metrics, /healthz, /readyz","addr":"127.0.0.1:40123"}}"#;
        assert_eq!(metrics_addr_in(json).as_deref(), Some("127.0.0.1:40123"));
        let text = "2026-12-07T10:00:00Z  INFO azop::health: serving /metrics, /healthz, /readyz addr=127.0.0.1:40124\n";
        assert_eq!(metrics_addr_in(text).as_deref(), Some("127.0.0.1:40124"));
        assert_eq!(metrics_addr_in("starting\n"), None);
        let metrics = "# HELP azop_arm_budget_share Part\n# TYPE azop_arm_budget_share gauge\nazop_arm_budget_share 0.3333333333333333\nazop_arm_budget_share_x 1\n";
        assert_eq!(
            metric_value(metrics, "azop_arm_budget_share"),
            Some(1.0 / 3.0)
        );
        assert_eq!(metric_value(metrics, "azop_shards_held"), None);
    }

    #[test]
    fn the_charts_service_account_is_found_in_its_manifest() {
        let manifest = "---\n# Source: azop/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: team-a-azop\n  namespace: azop-system\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: team-a-azop-metrics\n";
        assert_eq!(
            service_account_in(manifest, "azop-system").expect("found"),
            "team-a-azop"
        );
        assert!(
            service_account_in(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n",
                "ns"
            )
            .is_err()
        );
    }
}
