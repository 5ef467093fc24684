//! Helpers of the AksCluster end-to-end tests (`tests/e2e/aks_cluster*.rs`): the samples as a
//! test's namespace sees them, waiting on the object, the simulator's view of the managed
//! cluster, and kubeconfigs that point at the test environment's own API server.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use azop_armsim::KubeconfigTarget;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::azure_cluster::{condition, rg_path, wait_gone_on, wait_on};
use crate::operator::{SUBSCRIPTION, World};

pub const TIMEOUT: Duration = Duration::from_secs(120);
pub const CLUSTER_TYPE: &str = "Microsoft.ContainerService/managedClusters";
pub const POOL_TYPE: &str = "Microsoft.ContainerService/managedClusters/agentPools";
pub const AKS_API: &str = "2026-10-01";

pub fn api(world: &World) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", "AksCluster"),
        "aksclusters",
    );
    Api::namespaced_with(world.client.clone(), &world.ns, &ar)
}

/// A sample of config/samples, moved into the test's namespace.
pub fn sample(file: &str, ns: &str) -> Result<Value> {
    let path = azop_testenv::repo_root().join("config/samples").join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut v: Value = serde_yaml::from_str(&text)?;
    v["metadata"]["namespace"] = json!(ns);
    Ok(v)
}

pub async fn create(world: &World, manifest: &Value) -> Result<DynamicObject> {
    let obj: DynamicObject = serde_json::from_value(manifest.clone())?;
    api(world)
        .create(&PostParams::default(), &obj)
        .await
        .context("create AksCluster")
}

pub async fn merge_patch(world: &World, name: &str, patch: Value) -> Result<()> {
    api(world)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("patch {name} with {patch}"))?;
    Ok(())
}

/// The `metadata.generation` now.
pub async fn generation(world: &World, name: &str) -> Result<i64> {
    Ok(api(world).get(name).await?.metadata.generation.unwrap_or(0))
}

/// Waits until Ready=True for the current generation.
pub async fn wait_ready(world: &World, name: &str) -> Result<DynamicObject> {
    wait_object(world, name, "Ready", |o| {
        condition(o, "Ready").is_some_and(|c| c.0 == "True")
            && o.data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
                == o.metadata.generation
    })
    .await
}

pub async fn wait_object(
    world: &World,
    name: &str,
    what: &str,
    pred: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    wait_on(&api(world), name, what, TIMEOUT, pred).await
}

pub async fn wait_gone(world: &World, name: &str) -> Result<()> {
    wait_gone_on(&api(world), name).await
}

/// Creates the (existing) resource group a sample names, as a user would beforehand.
pub async fn resource_group(world: &World, rg: &str) -> Result<()> {
    world
        .arm(
            reqwest::Method::PUT,
            &rg_path(rg),
            "2021-04-01",
            Some(json!({"location": "westeurope", "tags": {"owner": "platform-team"}})),
        )
        .await?;
    Ok(())
}

pub fn cluster_id(rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"
    )
}

/// The managed cluster as a GET returns it.
pub async fn managed_cluster(world: &World, rg: &str, name: &str) -> Result<Value> {
    world
        .arm(reqwest::Method::GET, &cluster_id(rg, name), AKS_API, None)
        .await
}

/// The agent pools as ARM lists them, by name.
pub async fn pools(world: &World, rg: &str, name: &str) -> Result<Vec<Value>> {
    let v = world
        .arm(
            reqwest::Method::GET,
            &format!("{}/agentPools", cluster_id(rg, name)),
            AKS_API,
            None,
        )
        .await?;
    let mut items = v["value"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|p| p["name"].as_str().unwrap_or_default().to_string());
    Ok(items)
}

/// Points the simulator's kubeconfigs at the test environment's API server, with a token of
/// a ServiceAccount made for it (`/version` needs nothing more).
pub async fn kubeconfigs_point_here(world: &World) -> Result<()> {
    let sa: Api<ServiceAccount> = Api::namespaced(world.client.clone(), &world.ns);
    sa.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "kubeconfig-probe"}}))?,
    )
    .await
    .context("create ServiceAccount kubeconfig-probe")?;
    let issued: TokenRequest = sa
        .create_subresource(
            "token",
            "kubeconfig-probe",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: Vec::new(),
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            },
        )
        .await
        .context("TokenRequest")?;
    world.sim.set_aks_kubeconfig(Some(KubeconfigTarget {
        server: world.env.server_url().to_string(),
        ca_pem: Some(world.env.ca_pem().to_string()),
        token: Some(issued.status.context("no token")?.token),
    }));
    Ok(())
}

/// The kubeconfig in Secret `name` (key `value`), written to a file.
pub async fn kubeconfig_file(world: &World, name: &str) -> Result<(PathBuf, String)> {
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    let s = secrets
        .get(name)
        .await
        .with_context(|| format!("get Secret {name}"))?;
    let value = s
        .data
        .and_then(|d| d.get("value").cloned())
        .context("no key value")?;
    let text = String::from_utf8(value.0)?;
    let path = world
        .env
        .dir()
        .join(format!("{}-{name}.kubeconfig", world.ns));
    std::fs::write(&path, &text)?;
    Ok((path, text))
}

/// `kubectl --kubeconfig <file> get --raw /version`.
pub fn kubectl_version(kubeconfig: &PathBuf) -> Result<String> {
    let out = Command::new(azop_testenv::binaries::kubectl()?)
        .args(["--kubeconfig"])
        .arg(kubeconfig)
        .args(["get", "--raw", "/version"])
        .output()
        .context("run kubectl")?;
    if !out.status.success() {
        bail!(
            "kubectl get --raw /version failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `kubectl get aksclusters` as a user reads it (the printer columns).
pub fn kubectl_get(world: &World) -> Result<String> {
    let out = Command::new(azop_testenv::binaries::kubectl()?)
        .arg("--kubeconfig")
        .arg(world.env.kubeconfig_path())
        .args(["-n", &world.ns, "get", "aksclusters"])
        .output()
        .context("run kubectl")?;
    if !out.status.success() {
        bail!(
            "kubectl get aksclusters: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
