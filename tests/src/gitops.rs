//! Helpers of the GitOps end-to-end test (`tests/e2e/gitops.rs`): a platform team's Git
//! repository (a bare repository served as `file://`, and a working clone the test commits
//! and pushes from, with the real git), the files of one team folder, and what the real
//! Argo CD says about an Application and about each azop object, read together with the
//! objects themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use azop_testenv::argocd::{NAMESPACE, api_resource};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::operator::{CREDENTIALS_SECRET, credentials_secret};

/// A repository as a platform team keeps one: a bare repository (what a Git server holds;
/// Argo CD fetches it as `file://`) and a working clone the test commits and pushes from.
pub struct GitRepo {
    pub bare: PathBuf,
    pub work: PathBuf,
    home: PathBuf,
}

impl GitRepo {
    /// `git init --bare -b main <dir>/platform-gitops.git` and a clone in `<dir>/work`.
    pub fn init(dir: &Path) -> Result<GitRepo> {
        let repo = GitRepo {
            bare: dir.join("platform-gitops.git"),
            work: dir.join("work"),
            home: dir.join("home"),
        };
        std::fs::create_dir_all(&repo.home)?;
        repo.git(
            dir,
            &["init", "-q", "--bare", "-b", "main", "platform-gitops.git"],
        )?;
        repo.git(dir, &["clone", "-q", &repo.url(), "work"])?;
        repo.git(&repo.work, &["checkout", "-q", "-b", "main"])?;
        Ok(repo)
    }

    /// `file:///…/platform-gitops.git`: the Application's `source.repoURL`.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    fn git(&self, cwd: &Path, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Platform Team")
            .env("GIT_AUTHOR_EMAIL", "platform@example.com")
            .env("GIT_COMMITTER_NAME", "Platform Team")
            .env("GIT_COMMITTER_EMAIL", "platform@example.com")
            .output()
            .with_context(|| format!("run git {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "git {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Writes `path` (relative to the repository root) in the working clone.
    pub fn write(&self, path: &str, text: &str) -> Result<()> {
        let p = self.work.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, text).with_context(|| format!("write {}", p.display()))
    }

    /// Deletes `path` from the working clone.
    pub fn remove(&self, path: &str) -> Result<()> {
        self.git(&self.work, &["rm", "-q", path]).map(drop)
    }

    /// The text of `path` in the working clone.
    pub fn read(&self, path: &str) -> Result<String> {
        let p = self.work.join(path);
        std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))
    }

    /// Commits everything and pushes to the bare repository; returns the commit's sha.
    pub fn commit(&self, message: &str) -> Result<String> {
        self.git(&self.work, &["add", "-A"])?;
        self.git(&self.work, &["commit", "-q", "-m", message])?;
        self.git(&self.work, &["push", "-q", "origin", "main"])?;
        self.git(&self.work, &["rev-parse", "HEAD"])
    }
}

/// What one team folder of the repository holds, and where its Azure things go.
pub struct Team {
    /// The team's namespace (also the folder `teams/<ns>/` and the Application's name).
    pub ns: String,
    pub subscription: String,
    /// The base VHD's URL and a read SAS for it (the StorageBinding copies it).
    pub vhd_url: String,
    pub vhd_sas: String,
    /// Kubernetes version of the IaaS cluster, and of the AKS cluster (one AKS offers).
    pub kubernetes_version: String,
    pub aks_version: String,
}

pub const PROXY: &str = "gateway";
pub const BINDING: &str = "base-images";
pub const CLUSTER: &str = "prod";
pub const AKS: &str = "analytics";
/// The StorageBinding and AzureCluster added last, while azop's identity may not create the
/// binding's storage account.
pub const BINDING2: &str = "gpu-images";
pub const CLUSTER2: &str = "gpu";

impl Team {
    pub fn dir(&self) -> String {
        format!("teams/{}", self.ns)
    }

    /// `rg-<ns>-<name>`: the resource group azop creates for object `name`.
    pub fn rg(&self, name: &str) -> String {
        format!("rg-{}-{name}", self.ns)
    }

    /// `teams/<ns>/<file>`.
    pub fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir())
    }

    /// The file of AzureCluster `name` (wave 0), booting from StorageBinding `binding`, with
    /// `workers` machines in pool `general`.
    pub fn cluster_file(&self, name: &str, binding: &str, workers: u32) -> (String, String) {
        let ns = &self.ns;
        (
            self.file(&format!("10-azurecluster-{name}.yaml")),
            format!(
                r#"# An IaaS cluster: azop creates the resource group, network, load balancer and machines,
# boots them from the team's StorageBinding image and bootstraps Kubernetes.
# Wave 0: applied once the image (wave -1) is Healthy.
apiVersion: azop.dev/v1alpha1
kind: AzureCluster
metadata:
  name: {name}
  namespace: {ns}
  annotations:
    argocd.argoproj.io/sync-wave: "0"
spec:
  credentialsRef:
    name: {CREDENTIALS_SECRET}
  subscriptionId: {sub}
  location: westeurope
  resourceGroup: {rg}
  createResourceGroup: true
  tags:
    team: {ns}
  kubernetesVersion: "{version}"
  controlPlane:
    replicas: 1
    vmSize: Standard_D4s_v5
    zones: ["1"]
  workerPools:
  - name: general
    replicas: {workers}
    vmSize: Standard_D8s_v5
    zones: ["1", "2"]
  image:
    storageBindingRef:
      name: {binding}
  sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvS3qkQ8qk3m0n1y6K2c5a8yZ9jv3d9sQ0mL6n4yXw1 platform@example.com
"#,
                sub = self.subscription,
                rg = self.rg(name),
                version = self.kubernetes_version,
            ),
        )
    }

    /// The file of StorageBinding `name` (wave -1), copying the team's VHD with the SAS in
    /// Secret `vhd-source-sas`.
    pub fn binding_file(&self, name: &str) -> (String, String) {
        let ns = &self.ns;
        (
            self.file(&format!("03-storagebinding-{name}.yaml")),
            format!(
                r#"# A base image the IaaS clusters boot from: azop copies the VHD into a storage account of
# its own and makes a managed image. Wave -1: Healthy once the image exists.
apiVersion: azop.dev/v1alpha1
kind: StorageBinding
metadata:
  name: {name}
  namespace: {ns}
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
spec:
  credentialsRef:
    name: {CREDENTIALS_SECRET}
  subscriptionId: {sub}
  location: westeurope
  resourceGroup: {rg}
  createResourceGroup: true
  vhd:
    sourceUrl: {url}
    sourceSasSecretRef:
      name: vhd-source-sas
      key: sas
"#,
                sub = self.subscription,
                rg = self.rg(name),
                url = self.vhd_url,
            ),
        )
    }

    /// Every file of the team folder, as first committed.
    pub fn files(&self) -> Result<Vec<(String, String)>> {
        let ns = &self.ns;
        let mut creds = credentials_secret(ns);
        creds["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "-3"});
        let creds = serde_yaml::to_string(&creds)?;
        Ok(vec![
            (
                self.file("00-namespace.yaml"),
                format!(
                    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-3\"\n"
                ),
            ),
            (
                self.file("01-azure-credentials.yaml"),
                format!(
                    "# The service principal azop acts as for this team. Here in plain text for the test; keep\n\
                     # real ones out of Git (External Secrets, Sealed Secrets, SOPS): docs/gitops.md.\n{creds}"
                ),
            ),
            (
                self.file("02-proxyconfig.yaml"),
                format!(
                    r#"# The team's outbound proxy: the default of the namespace, so both clusters inherit it.
apiVersion: azop.dev/v1alpha1
kind: ProxyConfig
metadata:
  name: {PROXY}
  namespace: {ns}
  annotations:
    argocd.argoproj.io/sync-wave: "-2"
spec:
  httpProxy: http://proxy.corp.example.com:3128
  httpsProxy: http://proxy.corp.example.com:3128
  noProxy:
  - .corp.example.com
  default: true
"#
                ),
            ),
            (
                self.file("01-vhd-source-sas.yaml"),
                format!(
                    r#"# A read SAS for the team's base VHD, which the StorageBindings copy.
apiVersion: v1
kind: Secret
metadata:
  name: vhd-source-sas
  namespace: {ns}
  annotations:
    argocd.argoproj.io/sync-wave: "-3"
type: Opaque
stringData:
  sas: "{sas}"
"#,
                    sas = self.vhd_sas,
                ),
            ),
            self.binding_file(BINDING),
            self.cluster_file(CLUSTER, BINDING, 1),
            self.aks_file(),
        ])
    }

    /// The AksCluster's file (wave 0): a managed cluster for the analytics team.
    pub fn aks_file(&self) -> (String, String) {
        let ns = &self.ns;
        (
            self.file(&format!("10-akscluster-{AKS}.yaml")),
            format!(
                r#"# A managed AKS cluster for the analytics team. Wave 0, with the IaaS cluster.
apiVersion: azop.dev/v1alpha1
kind: AksCluster
metadata:
  name: {AKS}
  namespace: {ns}
  annotations:
    argocd.argoproj.io/sync-wave: "0"
spec:
  credentialsRef:
    name: {CREDENTIALS_SECRET}
  subscriptionId: {sub}
  location: westeurope
  resourceGroup: {rg}
  createResourceGroup: true
  kubernetesVersion: "{version}"
  managedControlPlane:
    sku: Free
    autoUpgradeProfile:
      upgradeChannel: patch
  nodePools:
  - name: system
    mode: System
    vmSize: Standard_D4s_v5
    count: 1
"#,
                sub = self.subscription,
                rg = self.rg(AKS),
                version = self.aks_version,
            ),
        )
    }

    /// `apps/<ns>.yaml`: the team's Application as docs/gitops.md recommends it: automated
    /// sync with prune and self-heal, server-side apply, and retries of a failed sync with the
    /// newest commit (Argo CD's default backoff).
    pub fn application(&self, repo_url: &str) -> (String, String) {
        let ns = &self.ns;
        (
            format!("apps/{ns}.yaml"),
            format!(
                r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {ns}
  namespace: {NAMESPACE}
spec:
  project: default
  source:
    repoURL: {repo_url}
    targetRevision: main
    path: teams/{ns}
  destination:
    server: https://kubernetes.default.svc
    namespace: {ns}
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
    - ServerSideApply=true
    retry:
      limit: 10
      refresh: true
      backoff:
        duration: 5s
        factor: 2
        maxDuration: 1m
"#
            ),
        )
    }
}

/// Argo CD's view of one managed object (`Application.status.resources[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceView {
    pub kind: String,
    pub name: String,
    /// Synced / OutOfSync.
    pub sync: String,
    /// Healthy, Progressing, Degraded, ... ("" when Argo CD has no health for it).
    pub health: String,
    pub message: String,
    pub requires_pruning: bool,
}

/// Argo CD's view of an Application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppView {
    pub sync: String,
    pub revision: String,
    pub health: String,
    pub operation_phase: String,
    pub operation_message: String,
    /// The commit the last sync operation applied.
    pub operation_revision: String,
    pub resources: Vec<ResourceView>,
    /// `status.conditions[]` as `type: message` (ComparisonError, SyncError, ...).
    pub conditions: Vec<String>,
}

impl AppView {
    pub fn from_object(app: &DynamicObject) -> AppView {
        let s = |p: &str| {
            app.data
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let resources = app
            .data
            .pointer("/status/resources")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        let f = |p: &str| {
                            r.pointer(p)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string()
                        };
                        ResourceView {
                            kind: f("/kind"),
                            name: f("/name"),
                            sync: f("/status"),
                            health: f("/health/status"),
                            message: f("/health/message"),
                            requires_pruning: r["requiresPruning"].as_bool().unwrap_or(false),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let conditions = app
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        format!(
                            "{}: {}",
                            c["type"].as_str().unwrap_or_default(),
                            c["message"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        AppView {
            sync: s("/status/sync/status"),
            revision: s("/status/sync/revision"),
            health: s("/status/health/status"),
            operation_phase: s("/status/operationState/phase"),
            operation_message: s("/status/operationState/message"),
            operation_revision: s("/status/operationState/syncResult/revision"),
            resources,
            conditions,
        }
    }

    pub fn resource(&self, kind: &str, name: &str) -> Option<&ResourceView> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }

    /// Argo CD's health of one object ("" when absent).
    pub fn health_of(&self, kind: &str, name: &str) -> (&str, &str) {
        self.resource(kind, name)
            .map_or(("", ""), |r| (r.health.as_str(), r.message.as_str()))
    }

    /// One line per resource, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "app sync={} rev={:.7} health={} op={} {}",
            self.sync, self.revision, self.health, self.operation_phase, self.operation_message
        );
        for c in &self.conditions {
            out.push_str(&format!("\n  condition {c}"));
        }
        for r in &self.resources {
            out.push_str(&format!(
                "\n  {}/{} {} {}{} {}",
                r.kind,
                r.name,
                r.sync,
                r.health,
                if r.requires_pruning { " (prune)" } else { "" },
                r.message
            ));
        }
        out
    }
}

/// The Applications in Argo CD's namespace.
pub fn applications(client: &kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), NAMESPACE, &api_resource("Application"))
}

/// Asks Argo CD to look at Git now (what `argocd app get --refresh` and a Git webhook do)
/// rather than at its next poll (every 3 minutes by default).
pub async fn refresh(client: &kube::Client, app: &str) -> Result<()> {
    applications(client)
        .patch(
            app,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
            ),
        )
        .await
        .with_context(|| format!("annotate Application {app} for a refresh"))?;
    Ok(())
}

/// An azop object as Kubernetes has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveView {
    pub generation: i64,
    pub observed: Option<i64>,
    /// (status, reason, message) of Ready.
    pub ready: Option<(String, String, String)>,
    pub deleting: bool,
    pub creation: String,
    pub resource_version: String,
}

impl LiveView {
    pub fn from_object(o: &DynamicObject) -> LiveView {
        let ready = o
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .map(|c| {
                let f = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (f("status"), f("reason"), f("message"))
            });
        LiveView {
            generation: o.metadata.generation.unwrap_or_default(),
            observed: o
                .data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64),
            ready,
            deleting: o.metadata.deletion_timestamp.is_some(),
            creation: o
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
            resource_version: o.metadata.resource_version.clone().unwrap_or_default(),
        }
    }

    /// Ready=True for the current generation.
    pub fn ready_now(&self) -> bool {
        self.observed == Some(self.generation) && self.ready.as_ref().is_some_and(|r| r.0 == "True")
    }

    /// What the health check should say as the message of a not-Healthy verdict:
    /// `<reason>: <message>` of Ready.
    pub fn reason_and_message(&self) -> String {
        self.ready
            .as_ref()
            .map(|(_, r, m)| format!("{r}: {m}"))
            .unwrap_or_default()
    }
}

/// The four azop kinds with their plurals.
pub const KINDS: [(&str, &str); 4] = [
    ("ProxyConfig", "proxyconfigs"),
    ("StorageBinding", "storagebindings"),
    ("AzureCluster", "azureclusters"),
    ("AksCluster", "aksclusters"),
];

fn azop_api(client: &kube::Client, ns: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", kind),
        plural,
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// Every azop object of `ns`, keyed `(kind, name)`.
pub async fn live_objects(
    client: &kube::Client,
    ns: &str,
) -> Result<BTreeMap<(String, String), LiveView>> {
    let mut out = BTreeMap::new();
    for (kind, plural) in KINDS {
        let list = azop_api(client, ns, kind, plural)
            .list(&ListParams::default())
            .await
            .with_context(|| format!("list {plural} in {ns}"))?;
        for o in list.items {
            out.insert(
                (
                    kind.to_string(),
                    o.metadata.name.clone().unwrap_or_default(),
                ),
                LiveView::from_object(&o),
            );
        }
    }
    Ok(out)
}

/// The `Api` of one azop kind in `ns`.
pub fn azop_kind(client: &kube::Client, ns: &str, kind: &str) -> Result<Api<DynamicObject>> {
    let (_, plural) = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .with_context(|| format!("{kind} is not an azop kind"))?;
    Ok(azop_api(client, ns, kind, plural))
}

/// Whether this run captures test data for the health checks (`AZOP_ARGOCD_CAPTURE=1`).
pub fn capturing() -> bool {
    std::env::var("AZOP_ARGOCD_CAPTURE").is_ok_and(|v| v == "1")
}

/// (Ready status, Ready reason, phase) of an object as YAML/JSON.
fn summary(v: &Value) -> (String, String, String) {
    let ready = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let s = |x: Option<&Value>| x.and_then(Value::as_str).unwrap_or_default().to_string();
    (
        s(ready.map(|c| &c["status"])),
        s(ready.map(|c| &c["reason"])),
        s(v.pointer("/status/phase")),
    )
}

/// `config/argocd/resource_customizations/azop.dev/<kind>/testdata/<file>.yaml` from a live
/// object: written when [`capturing`], else compared with the committed file on what the health
/// check decides on (Ready's status and reason, the phase), so the test data cannot drift from
/// what the controllers write. `note` says how the state came about.
pub fn record_testdata(kind: &str, file: &str, obj: &DynamicObject, note: &str) -> Result<()> {
    let mut v = serde_json::to_value(obj)?;
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let path = azop_testenv::argocd::customizations_dir()
        .join(kind)
        .join("testdata")
        .join(format!("{file}.yaml"));
    if capturing() {
        let header = format!(
            "# Captured by tests/e2e/gitops.rs (AZOP_ARGOCD_CAPTURE=1): the real operator against\n\
             # kube-apiserver and azop-armsim, synced by the real Argo CD. {note}\n"
        );
        std::fs::write(&path, header + &serde_yaml::to_string(&v)?)?;
        return Ok(());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: capture it with AZOP_ARGOCD_CAPTURE=1", path.display()))?;
    let committed: Value = serde_yaml::from_str(&text)?;
    if summary(&committed) != summary(&v) {
        bail!(
            "{}: the operator now writes Ready/phase {:?}, the file has {:?}: recapture with AZOP_ARGOCD_CAPTURE=1 and update health_test.yaml",
            path.display(),
            summary(&v),
            summary(&committed)
        );
    }
    Ok(())
}
