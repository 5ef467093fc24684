//! Helpers for the StorageBinding end-to-end tests (`tests/e2e/storage_binding*.rs`): a world
//! whose simulator's storage accounts are backed by a real Azurite, VHDs made by the real
//! `qemu-img`, the samples adapted to that world, and waiting on conditions.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use azop_armsim::{BlobService, RequestFilter, SimConfig};
use azop_testenv::{Azurite, AzuriteOptions, Check, wait_for};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use rand::RngCore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::azure_cluster::{OPERATOR_PRINCIPAL, all_messages, condition};
use crate::blob::BlobClient;
use crate::operator::{SUBSCRIPTION, World};

pub const TIMEOUT: Duration = Duration::from_secs(90);
pub const STORAGE_API: &str = "2023-05-01";
pub const NETWORK_API: &str = "2024-03-01";
pub const RG_API: &str = "2021-04-01";
pub const MIB: usize = 1024 * 1024;
/// The account test VHDs are uploaded to (not one the simulator hands out).
pub const SOURCE_ACCOUNT: &str = "azopsource";
pub const SOURCE_CONTAINER: &str = "images";
/// Azurite accounts the simulator hands out, one per storage account created.
pub const POOL: usize = 6;

pub fn pool_names() -> Vec<String> {
    (0..POOL).map(|i| format!("azopsim{i:02}")).collect()
}

/// A world whose storage accounts have Azurite behind them.
pub struct StorageWorld {
    pub world: World,
    pub azurite: Azurite,
    pub source: BlobClient,
}

impl StorageWorld {
    pub async fn new(prefix: &str) -> Result<StorageWorld> {
        StorageWorld::with(prefix, SimConfig::default(), true).await
    }

    /// A world with `sim_config` (its blob service set here); `provision`: create the
    /// namespace and the credentials Secret, else leave them to the test (a GitOps sync).
    pub async fn with(
        prefix: &str,
        sim_config: SimConfig,
        provision: bool,
    ) -> Result<StorageWorld> {
        let mut accounts = vec![SOURCE_ACCOUNT.to_string()];
        accounts.extend(pool_names());
        let azurite = Azurite::start_with(AzuriteOptions {
            accounts,
            ..AzuriteOptions::default()
        })
        .await
        .context("start Azurite")?;
        let pool = pool_names()
            .into_iter()
            .filter_map(|n| azurite.account(&n).map(|a| (a.name.clone(), a.key.clone())))
            .collect();
        let config = sim_config.blob_service(BlobService {
            endpoint: azurite.endpoint().to_string(),
            pool,
        });
        let world = if provision {
            World::new(prefix, config).await?
        } else {
            World::unprovisioned(prefix, config).await?
        };
        let src = azurite.account(SOURCE_ACCOUNT).context("source account")?;
        let source = BlobClient::new(azurite.endpoint(), &src.name, &src.key)?;
        source.create_container(SOURCE_CONTAINER).await?;
        Ok(StorageWorld {
            world,
            azurite,
            source,
        })
    }

    /// Uploads `data` as a page blob of the source account; returns its URL (no SAS).
    pub async fn upload_source(&self, blob: &str, data: &[u8]) -> Result<String> {
        upload(&self.source, SOURCE_CONTAINER, blob, data).await?;
        Ok(self.source.url(&format!("{SOURCE_CONTAINER}/{blob}")))
    }

    /// A read SAS on the source account, valid for an hour.
    pub fn source_sas(&self) -> String {
        self.source.account_sas("r")
    }

    /// The data-plane client of a storage account the simulator has (its blob endpoint and
    /// `listKeys`, as azop would find them).
    pub async fn account_client(&self, rg: &str, account: &str) -> Result<BlobClient> {
        let path = account_path(rg, account);
        let got = self
            .world
            .arm(Method::GET, &path, STORAGE_API, None)
            .await?;
        let ep = got
            .pointer("/properties/primaryEndpoints/blob")
            .and_then(Value::as_str)
            .context("account has no blob endpoint")?
            .trim_end_matches('/')
            .to_string();
        let (base, name) = ep.rsplit_once('/').context("path-style endpoint")?;
        let keys = self
            .world
            .arm(Method::POST, &format!("{path}/listKeys"), STORAGE_API, None)
            .await?;
        let key = keys
            .pointer("/keys/0/value")
            .and_then(Value::as_str)
            .context("no key")?;
        Ok(BlobClient::new(base, name, key)?)
    }

    /// Creates the Secret holding a SAS token under key `sas`.
    pub async fn sas_secret(&self, name: &str, sas: &str) -> Result<()> {
        let secrets: Api<Secret> = Api::namespaced(self.world.client.clone(), &self.world.ns);
        let s: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name},
            "stringData": {"sas": sas},
        }))?;
        let _ = secrets.delete(name, &DeleteParams::default()).await;
        secrets
            .create(&PostParams::default(), &s)
            .await
            .with_context(|| format!("create Secret {name}"))?;
        Ok(())
    }

    pub async fn resource_group(&self, rg: &str) -> Result<()> {
        self.world
            .arm(
                Method::PUT,
                &rg_path(rg),
                RG_API,
                Some(json!({"location": "westeurope", "tags": {"team": "platform"}})),
            )
            .await?;
        Ok(())
    }
}

pub fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}")
}

pub fn account_path(rg: &str, account: &str) -> String {
    format!(
        "{}/providers/Microsoft.Storage/storageAccounts/{account}",
        rg_path(rg)
    )
}

pub fn container_path(rg: &str, account: &str, container: &str) -> String {
    format!(
        "{}/blobServices/default/containers/{container}",
        account_path(rg, account)
    )
}

pub fn vnet_path(rg: &str, vnet: &str) -> String {
    format!(
        "{}/providers/Microsoft.Network/virtualNetworks/{vnet}",
        rg_path(rg)
    )
}

/// A VNet whose subnets (name, with the Microsoft.Storage service endpoint?) exist.
pub async fn build_vnet(
    world: &World,
    rg: &str,
    vnet: &str,
    subnets: &[(&str, bool)],
) -> Result<()> {
    let subnets: Vec<Value> = subnets
        .iter()
        .enumerate()
        .map(|(i, (name, endpoint))| {
            let mut p = json!({"addressPrefix": format!("10.{}.{i}.0/24", vnet.len())});
            if *endpoint {
                p["serviceEndpoints"] =
                    json!([{"service": "Microsoft.Storage", "locations": ["westeurope"]}]);
            }
            json!({"name": name, "properties": p})
        })
        .collect();
    world
        .arm(
            Method::PUT,
            &vnet_path(rg, vnet),
            NETWORK_API,
            Some(json!({
                "location": "westeurope",
                "properties": {
                    "addressSpace": {"addressPrefixes": [format!("10.{}.0.0/16", vnet.len())]},
                    "subnets": subnets,
                }
            })),
        )
        .await?;
    Ok(())
}

/// Uploads `data` (a multiple of 512 bytes) as a page blob.
pub async fn upload(client: &BlobClient, container: &str, blob: &str, data: &[u8]) -> Result<()> {
    ensure!(
        data.len().is_multiple_of(512),
        "page blobs are 512-byte aligned"
    );
    client
        .create_page_blob(container, blob, data.len() as u64)
        .await?;
    for (i, chunk) in data.chunks(MIB).enumerate() {
        client
            .put_page(container, blob, (i * MIB) as u64, chunk.to_vec())
            .await?;
    }
    Ok(())
}

/// Kinds of test VHD, each made by the real qemu-img.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VhdKind {
    /// `-o subformat=fixed,force_size=on`: what Azure wants (N MiB + the 512-byte footer).
    Fixed,
    /// The default `vpc` subformat: a dynamic VHD, which Azure refuses.
    Dynamic,
    /// Fixed, but without `force_size`: qemu-img rounds the size to its CHS geometry, so the
    /// disk is not a whole number of MiB.
    FixedUnaligned,
}

/// A test VHD of `mib` MiB holding random data, made with qemu-img.
pub fn make_vhd(kind: VhdKind, mib: usize) -> Result<Vec<u8>> {
    let qemu = azop_testenv::binaries::qemu_img()?;
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("disk.raw");
    let mut data = vec![0u8; mib * MIB];
    rand::rng().fill_bytes(&mut data);
    std::fs::write(&raw, &data)?;
    let out = dir.path().join("disk.vhd");
    let opts = match kind {
        VhdKind::Fixed => "subformat=fixed,force_size=on",
        VhdKind::Dynamic => "subformat=dynamic",
        VhdKind::FixedUnaligned => "subformat=fixed",
    };
    run(
        &qemu,
        &["convert", "-f", "raw", "-O", "vpc", "-o", opts],
        &raw,
        &out,
    )?;
    let mut vhd = std::fs::read(&out)?;
    // A dynamic VHD is sparse and short; pad it to 512 bytes so it can be a page blob (its
    // footer stays the last 512 bytes only when it already ends on one).
    while !vhd.len().is_multiple_of(512) {
        vhd.push(0);
    }
    Ok(vhd)
}

fn run(qemu: &Path, args: &[&str], input: &Path, output: &Path) -> Result<()> {
    let out = Command::new(qemu)
        .args(args)
        .arg(input)
        .arg(output)
        .output()
        .with_context(|| format!("run {}", qemu.display()))?;
    if !out.status.success() {
        bail!(
            "qemu-img {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

pub fn api(world: &World) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", "StorageBinding"),
        "storagebindings",
    );
    Api::namespaced_with(world.client.clone(), &world.ns, &ar)
}

pub async fn create(world: &World, manifest: &Value) -> Result<DynamicObject> {
    let obj = crate::objects::to_dynamic(manifest, &world.ns)?;
    api(world)
        .create(&PostParams::default(), &obj)
        .await
        .context("create StorageBinding")
}

/// Waits until `pred` holds for the binding; returns it.
pub async fn wait(
    world: &World,
    name: &str,
    what: &str,
    pred: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    let api = api(world);
    let pred = &pred;
    wait_for(format!("StorageBinding {name}: {what}"), TIMEOUT, || {
        let api = api.clone();
        async move {
            match api.get(name).await {
                Ok(o) if pred(&o) => Check::Done(o),
                Ok(o) => Check::Pending(all_messages(&o)),
                Err(e) => Check::Pending(e.to_string()),
            }
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

pub async fn wait_ready(world: &World, name: &str) -> Result<DynamicObject> {
    wait(world, name, "Ready", |o| {
        condition(o, "Ready").is_some_and(|c| c.0 == "True")
            && o.data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
                == o.metadata.generation
    })
    .await
}

/// Waits until `type_` has `reason`.
pub async fn wait_reason(
    world: &World,
    name: &str,
    type_: &str,
    reason: &str,
) -> Result<DynamicObject> {
    wait(world, name, &format!("{type_} reason {reason}"), |o| {
        condition(o, type_).is_some_and(|c| c.1 == reason)
    })
    .await
}

pub async fn wait_gone(world: &World, name: &str) -> Result<()> {
    let api = api(world);
    wait_for(
        format!("StorageBinding {name} deleted"),
        TIMEOUT,
        || async {
            match api.get_opt(name).await {
                Ok(None) => Check::Done(()),
                Ok(Some(o)) => Check::Pending(all_messages(&o)),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await
    .map_err(anyhow::Error::from)
}

/// The operator's requests: `(method, path, status, body)`.
pub fn operator_calls(world: &World) -> Vec<(String, String, u16, Option<Value>)> {
    world
        .sim
        .requests(&RequestFilter {
            principal: Some(OPERATOR_PRINCIPAL.to_string()),
            ..RequestFilter::default()
        })
        .into_iter()
        .filter(|r| !r.path.contains("/oauth2/"))
        .map(|r| (r.method, r.path, r.status, r.body))
        .collect()
}

/// The operator's writes whose path contains `fragment` (case-insensitive).
pub fn writes_to(world: &World, fragment: &str) -> Vec<(String, String, u16, Option<Value>)> {
    let f = fragment.to_ascii_lowercase();
    operator_calls(world)
        .into_iter()
        .filter(|(m, p, _, _)| m != "GET" && p.to_ascii_lowercase().contains(&f))
        .collect()
}

/// A sample from config/samples, as a JSON document list.
pub fn sample(file: &str) -> Result<Vec<Value>> {
    let path = azop_testenv::repo_root().join("config/samples").join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    azop_testenv::manifests::parse_documents(&text, &path).map_err(anyhow::Error::from)
}

/// The StorageBinding document of a sample.
pub fn binding_of(docs: &[Value]) -> Result<Value> {
    docs.iter()
        .find(|d| d["kind"] == "StorageBinding")
        .cloned()
        .context("no StorageBinding in the sample")
}
