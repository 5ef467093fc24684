//! The demo's "know before you apply" part, on the running cluster: `kubectl azop plan` of a
//! change (the workers one VM size up), then a tag changed by hand in Azure and reported by
//! `kubectl azop drift` without being corrected (`reconcilePolicy: DetectOnly`), then corrected
//! once the policy is Manage again. kubectl runs the plugin as it runs any: `kubectl-azop`,
//! built next to this binary, is put first on `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// What the part needs of the demo.
pub struct Know<'a> {
    pub api: Api<DynamicObject>,
    pub http: &'a reqwest::Client,
    pub sim: &'a str,
    pub kubeconfig: PathBuf,
    pub ns: &'a str,
    /// The AzureCluster document and the credentials Secret's, as applied.
    pub cluster: &'a Value,
    pub secret: Option<&'a Value>,
}

const NETWORK_API: &str = "2024-03-01";

fn say(line: &str) {
    println!("==> {line}");
}

impl Know<'_> {
    fn name(&self) -> &str {
        self.cluster["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
    }

    /// `kubectl azop <args>`; prints what it printed; returns its exit code.
    fn kubectl_azop(&self, dir: &Path, args: &[&str]) -> Result<i32> {
        let exe = std::env::current_exe().context("current_exe")?;
        let bin_dir = exe.parent().context("binary dir")?.to_path_buf();
        ensure!(
            bin_dir.join("kubectl-azop").exists(),
            "{} has no kubectl-azop (cargo build -p azop-cli)",
            bin_dir.display()
        );
        let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))?;
        println!("$ kubectl azop {}", args.join(" "));
        let out = Command::new(azop_testenv::binaries::kubectl()?)
            .current_dir(dir)
            .arg("azop")
            .args(args)
            .env("PATH", path)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .context("run kubectl azop")?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        Ok(out.status.code().unwrap_or(-1))
    }

    async fn set_policy(&self, policy: &str) -> Result<()> {
        let patch = json!({"spec": {"reconcilePolicy": policy}});
        self.api
            .patch(self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("set reconcilePolicy {policy}"))?;
        Ok(())
    }

    /// Polls the object until `done` holds.
    async fn wait(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&DynamicObject) -> bool,
    ) -> Result<DynamicObject> {
        let start = Instant::now();
        loop {
            let obj = self.api.get(self.name()).await?;
            if done(&obj) {
                return Ok(obj);
            }
            if start.elapsed() > timeout {
                bail!("{what}: not after {} s", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A token for a change made by hand, with the sample's credentials.
    async fn token(&self) -> Result<String> {
        let data = self.secret.map(|s| &s["stringData"]);
        let field = |k: &str| {
            data.and_then(|d| d[k].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.sim.trim_end_matches('/'),
            field("tenantId")
        );
        let form = [
            ("grant_type", "client_credentials".to_string()),
            ("client_id", field("clientId")),
            ("client_secret", field("clientSecret")),
            ("scope", "https://management.azure.com/.default".to_string()),
        ];
        let body: Value = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?
            .json()
            .await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no token from {url}: {body}"))
    }

    /// Changes the VNet's `env` tag, as someone in the Azure portal would.
    async fn change_by_hand(&self) -> Result<String> {
        let spec = &self.cluster["spec"];
        let vnet = format!("{}-vnet", self.name());
        let url = format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{vnet}?api-version={NETWORK_API}",
            self.sim.trim_end_matches('/'),
            spec["subscriptionId"].as_str().unwrap_or_default(),
            spec["resourceGroup"].as_str().unwrap_or_default(),
        );
        let token = self.token().await?;
        let mut body: Value = self
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        body["tags"]["env"] = json!("changed-by-hand");
        let resp = self
            .http
            .put(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        ensure!(resp.status().is_success(), "PUT {vnet}: {}", resp.status());
        Ok(vnet)
    }

    pub async fn run(&self, resync: Duration, timeout: Duration) -> Result<()> {
        let dir = tempfile::tempdir()?;
        let ns = self.ns;

        let mut change = self.cluster.clone();
        let size = "Standard_D16s_v5";
        if let Some(pool) = change["spec"]["workerPools"].get_mut(0) {
            pool["vmSize"] = json!(size);
        }
        std::fs::write(
            dir.path().join("bigger-workers.yaml"),
            serde_yaml::to_string(&change)?,
        )?;
        say(&format!(
            "what would a change do? kubectl azop plan of the workers at {size}, before applying it (reads only)"
        ));
        let code = self.kubectl_azop(
            dir.path(),
            &[
                "plan",
                "-f",
                "bigger-workers.yaml",
                "-n",
                ns,
                "--arm-endpoint",
                self.sim,
                "--authority-host",
                self.sim,
            ],
        )?;
        ensure!(
            code == 2,
            "kubectl azop plan exited {code}, not 2 (changes)"
        );
        say(
            "exit code 2: changes to review (0 none, 1 refused or error), as in a GitOps pull request",
        );

        say("reconcilePolicy: DetectOnly — azop reports drift and writes nothing");
        self.set_policy("DetectOnly").await?;
        self.wait("DetectOnly seen", timeout, |o| {
            o.data["status"]["observedGeneration"] == json!(o.metadata.generation)
        })
        .await?;
        let vnet = self.change_by_hand().await?;
        say(&format!(
            "changed {vnet}'s tag env by hand in Azure; azop sees it at its next resync (every {} s)",
            resync.as_secs()
        ));
        let has = |o: &DynamicObject, state: &str| {
            o.data["status"]["drift"]
                .as_array()
                .is_some_and(|d| d.iter().any(|r| r["name"] == vnet && r["state"] == state))
        };
        self.wait("drift reported", resync + timeout, |o| has(o, "Detected"))
            .await?;
        self.kubectl_azop(dir.path(), &["drift", "-n", ns])?;

        say("reconcilePolicy: Manage — azop corrects it and records the correction");
        self.set_policy("Manage").await?;
        self.wait("drift corrected", timeout, |o| {
            has(o, "Corrected") && !has(o, "Detected")
        })
        .await?;
        self.kubectl_azop(dir.path(), &["drift", "-n", ns])?;
        Ok(())
    }
}
