//! Microsoft.ContainerService: managed clusters and their agent pools.
//!
//! PUT answers 201/200 with `provisioningState: Creating|Updating` and `Azure-AsyncOperation`;
//! writes to a busy cluster (or to a busy pool, or to the cluster while one of its pools is
//! busy) get 409 OperationNotAllowed; `agentPoolProfiles` are mirrored into `agentPools` child
//! resources (and rendered back from them). Versions: only offered ones (the region's
//! `kubernetesVersions` list, served too), no downgrade, one minor at a time, pools never
//! above the control plane. Network: `podCidr` only with kubenet, overlay or no plugin.
//! `supportPlan: AKSLongTermSupport` only with the Premium tier. listClusterUserCredential
//! (`format=exec` with AAD: a kubelogin exec plugin) / listClusterAdminCredential (refused
//! with local accounts disabled) return kubeconfigs that point at [`KubeconfigTarget`] when
//! the simulator was given one. `/_sim/aks/*` plays the auto-upgrader, the autoscaler and a
//! certificate rotation.

pub mod features;
pub mod maintenance;

use super::util::{require_location, tracked_body};
use super::{ActionContext, Flow, PutContext, Registry, ResourceType};
use crate::config::KubeconfigTarget;
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store, new_etag};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::time::Duration;

pub const CLUSTER: &str = "Microsoft.ContainerService/managedClusters";
pub const POOL: &str = "Microsoft.ContainerService/managedClusters/agentPools";

/// Kubernetes minor versions offered in every region, with their patches (oldest first).
/// What AKS offers in late 2026: the three supported minors, the default the one before the
/// newest (as AKS picks it).
const VERSIONS: &[(&str, &[&str])] = &[
    ("1.35", &["1.35.3", "1.35.4"]),
    ("1.36", &["1.36.1", "1.36.3"]),
    ("1.37", &["1.37.1", "1.37.2"]),
];
const DEFAULT_VERSION: &str = "1.36";
/// Hidden in the stored body (never rendered): bumped by a credential rotation.
const CREDENTIAL_GENERATION: &str = "x-armsim-credentialGeneration";

pub fn register(reg: &mut Registry) {
    reg.add(ManagedClusters);
    reg.add(AgentPools);
    reg.add(maintenance::MaintenanceConfigurations);
    reg.add_location_read(
        "Microsoft.ContainerService",
        "kubernetesVersions",
        std::sync::Arc::new(|_sub, _location| Ok(kubernetes_versions())),
    );
}

/// ManagedClusters_ListKubernetesVersions: the shape of the spec's example.
pub fn kubernetes_versions() -> Value {
    let values: Vec<Value> = VERSIONS
        .iter()
        .map(|(minor, patches)| {
            let mut pv = Map::new();
            for p in *patches {
                let upgrades: Vec<&str> = VERSIONS
                    .iter()
                    .flat_map(|(_, ps)| ps.iter().copied())
                    .filter(|u| {
                        let (a, b) = (version_tuple(u), version_tuple(p));
                        a > b && a[1] <= b[1] + 1
                    })
                    .collect();
                pv.insert((*p).to_string(), json!({"upgrades": upgrades}));
            }
            let mut v = json!({
                "version": minor,
                "capabilities": {"supportPlan": ["KubernetesOfficial", "AKSLongTermSupport"]},
                "patchVersions": pv,
            });
            if *minor == DEFAULT_VERSION {
                v["isDefault"] = json!(true);
            }
            v
        })
        .collect();
    json!({"values": values})
}

fn bad(code: &str, msg: impl Into<String>) -> ArmError {
    ArmError::bad_request(code, msg)
}

/// `1.33` → `1.33.3` (its latest patch); `1.33.2` stays. Versions not offered are refused.
pub fn resolve_version(v: &str, location: &str) -> Result<String, ArmError> {
    let parts: Vec<&str> = v.split('.').collect();
    let minor = parts.iter().take(2).copied().collect::<Vec<_>>().join(".");
    let not_offered = || {
        bad(
            "K8sVersionNotSupported",
            format!(
                "Version {v} is not supported in this region. Please use [az aks get-versions] command to get the supported version list in this region ({location})."
            ),
        )
    };
    let Some((_, patches)) = VERSIONS.iter().find(|(m, _)| *m == minor) else {
        return Err(not_offered());
    };
    if parts.len() >= 3 {
        if !patches.contains(&v) {
            return Err(not_offered());
        }
        return Ok(v.to_string());
    }
    patches
        .last()
        .map(|p| p.to_string())
        .ok_or_else(not_offered)
}

fn version_tuple(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn pool_name_ok(name: &str, os: &str) -> bool {
    let max = if os.eq_ignore_ascii_case("Windows") {
        6
    } else {
        12
    };
    !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Normalizes one pool's properties (defaults, version), validating what AKS validates.
fn normalize_pool(
    name: &str,
    props: &mut Map<String, Value>,
    version: &str,
    old: Option<&Map<String, Value>>,
) -> Result<(), ArmError> {
    let os = props
        .get("osType")
        .and_then(Value::as_str)
        .unwrap_or("Linux")
        .to_string();
    if !pool_name_ok(name, &os) {
        return Err(bad(
            "InvalidAgentPoolName",
            format!(
                "The agent pool name '{name}' is invalid: it must start with a lowercase letter, contain only lowercase letters and numbers, and be at most 12 characters long (6 for Windows)."
            ),
        ));
    }
    if let Some(mp) = props.get("maxPods").and_then(Value::as_i64)
        && !(10..=250).contains(&mp)
    {
        return Err(bad(
            "InsufficientMaxPods",
            format!(
                "The value of parameter agentPoolProfile.maxPods is {mp}, which is out of the range [10, 250]."
            ),
        ));
    }
    props.entry("osType").or_insert(json!("Linux"));
    props.entry("mode").or_insert(json!("User"));
    props.entry("count").or_insert(json!(1));
    props.entry("vmSize").or_insert(json!("Standard_D2s_v5"));
    props.entry("maxPods").or_insert(json!(110));
    props.entry("osDiskSizeGB").or_insert(json!(128));
    props
        .entry("type")
        .or_insert(json!("VirtualMachineScaleSets"));
    props.entry("orchestratorVersion").or_insert(json!(version));
    let ov = props
        .get("orchestratorVersion")
        .and_then(Value::as_str)
        .unwrap_or(version)
        .to_string();
    let current = resolve_version(&ov, "this region")?;
    if version_tuple(&current) > version_tuple(version) {
        return Err(bad(
            "NodePoolMcVersionIncompatible",
            format!(
                "Node pool version {current} and control plane version {version} are incompatible. The node pool version cannot be newer than the control plane version."
            ),
        ));
    }
    features::apply_pool_features(name, props, old)?;
    props.insert("currentOrchestratorVersion".into(), json!(current));
    props.insert("powerState".into(), json!({"code": "Running"}));
    props.insert(
        "nodeImageVersion".into(),
        json!("AKSUbuntu-2204gen2containerd-202610.01.0"),
    );
    Ok(())
}

pub struct ManagedClusters;

impl ManagedClusters {
    fn busy_error(existing: &Resource) -> Option<ArmError> {
        existing.pending.as_ref().map(|p| {
            let what = match p.kind {
                OpKind::Create => "create managed cluster",
                OpKind::Update => "update managed cluster",
                OpKind::Delete => "delete managed cluster",
            };
            ArmError::conflict(
                "OperationNotAllowed",
                format!("Operation is not allowed because there's an in progress {what} operation ({}) on the managed cluster. Please wait for it to finish before starting a new operation.", p.op_id),
            )
        })
    }
}

impl ResourceType for ManagedClusters {
    fn type_name(&self) -> &'static str {
        CLUSTER
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let name = ctx.id.name();
        let lname = name.to_ascii_lowercase();
        if lname.contains("microsoft")
            || lname.contains("windows")
            || name.is_empty()
            || name.len() > 63
        {
            return Err(bad(
                "InvalidParameter",
                format!("The value of parameter name '{name}' is invalid."),
            ));
        }
        let location = require_location(&ctx.body)?;
        let mut out = tracked_body(&ctx.body, &[]);
        out["location"] = json!(location);
        let sku_tier = out
            .pointer("/sku/tier")
            .and_then(Value::as_str)
            .unwrap_or("Free")
            .to_string();
        if !["Free", "Standard", "Premium"].contains(&sku_tier.as_str()) {
            return Err(bad(
                "InvalidParameter",
                format!(
                    "The value of parameter sku.tier '{sku_tier}' is invalid (Free|Standard|Premium)."
                ),
            ));
        }
        let sku_name = out
            .pointer("/sku/name")
            .and_then(Value::as_str)
            .unwrap_or("Base")
            .to_string();
        out["sku"] = json!({"name": sku_name, "tier": sku_tier});
        features::apply_identity(&mut out, ctx.id_str)?;
        let identity_type = out
            .pointer("/identity/type")
            .and_then(Value::as_str)
            .unwrap_or("SystemAssigned")
            .to_string();
        let old = ctx.existing.map(|e| e.body.clone()).unwrap_or(Value::Null);
        let props = out["properties"]
            .as_object_mut()
            .ok_or_else(|| ArmError::invalid_request_content("properties must be an object"))?;
        let requested = props
            .get("kubernetesVersion")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_VERSION)
            .to_string();
        let current = resolve_version(&requested, &location)?;
        if let Some(prev) = old
            .pointer("/properties/currentKubernetesVersion")
            .and_then(Value::as_str)
        {
            let (c, p) = (version_tuple(&current), version_tuple(prev));
            if c < p {
                return Err(bad(
                    "NotAllowedK8sVersionDowngrading",
                    format!(
                        "Changing to a lower Kubernetes version ({current}) than the current one ({prev}) is not allowed."
                    ),
                ));
            }
            if c.len() >= 2 && p.len() >= 2 && (c[0] != p[0] || c[1] > p[1] + 1) {
                return Err(bad(
                    "InvalidParameter",
                    format!(
                        "Upgrading Kubernetes version from {prev} to {current} is not allowed: the control plane can only be upgraded to the next minor version."
                    ),
                ));
            }
        }
        // A write that changes nothing about the version keeps what the auto-upgrader reached.
        let current = match old
            .pointer("/properties/currentKubernetesVersion")
            .and_then(Value::as_str)
        {
            Some(prev)
                if version_tuple(&current)[..2] == version_tuple(prev)[..2]
                    && requested.split('.').count() < 3 =>
            {
                if version_tuple(prev) > version_tuple(&current) {
                    prev.to_string()
                } else {
                    current
                }
            }
            _ => current,
        };
        let tier = sku_tier.clone();
        let plan = props
            .get("supportPlan")
            .and_then(Value::as_str)
            .unwrap_or("KubernetesOfficial");
        if plan.eq_ignore_ascii_case("AKSLongTermSupport") && tier != "Premium" {
            return Err(bad(
                "InvalidParameter",
                "The long-term support plan (supportPlan AKSLongTermSupport) is only available on the Premium tier.",
            ));
        }
        props.insert("kubernetesVersion".into(), json!(requested));
        props.insert("currentKubernetesVersion".into(), json!(current));
        if let Some(ch) = props
            .get("autoUpgradeProfile")
            .and_then(|a| a.get("upgradeChannel"))
            .and_then(Value::as_str)
            && !["rapid", "stable", "patch", "node-image", "none"].contains(&ch)
        {
            return Err(bad(
                "InvalidParameter",
                format!(
                    "The value of parameter autoUpgradeProfile.upgradeChannel '{ch}' is invalid."
                ),
            ));
        }
        if let Some(ch) = props
            .get("autoUpgradeProfile")
            .and_then(|a| a.get("nodeOSUpgradeChannel"))
            .and_then(Value::as_str)
            && !["None", "Unmanaged", "NodeImage", "SecurityPatch"].contains(&ch)
        {
            return Err(bad(
                "InvalidParameter",
                format!(
                    "The value of parameter autoUpgradeProfile.nodeOSUpgradeChannel '{ch}' is invalid."
                ),
            ));
        }
        if old
            .pointer("/properties/aadProfile/managed")
            .and_then(Value::as_bool)
            == Some(true)
            && props
                .get("aadProfile")
                .and_then(|a| a.get("managed"))
                .and_then(Value::as_bool)
                != Some(true)
        {
            return Err(bad(
                "BadRequest",
                "Managed AAD can not be disabled once enabled.",
            ));
        }
        // Pools: at least one Linux System pool.
        let pools = props.get_mut("agentPoolProfiles").and_then(Value::as_array_mut).filter(|a| !a.is_empty()).ok_or_else(|| {
            bad("InvalidParameter", "The value of parameter agentPoolProfiles is invalid: at least one agent pool is required.")
        })?;
        for p in pools.iter_mut() {
            let obj = p.as_object_mut().ok_or_else(|| {
                ArmError::invalid_request_content("agentPoolProfiles[] must be objects")
            })?;
            let pname = obj
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let before = ctx
                .store
                .get(&format!("{}/agentPools/{pname}", ctx.id_str))
                .and_then(|r| r.body.get("properties"))
                .and_then(Value::as_object);
            normalize_pool(&pname, obj, &current, before)?;
        }
        let has_system = pools
            .iter()
            .any(|p| p["mode"] == "System" && p["osType"] == "Linux");
        if !has_system {
            return Err(bad(
                "MustDefineAtLeastOneSystemPool",
                "Must define at least one system pool.",
            ));
        }
        let dns_prefix = props
            .get("dnsPrefix")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "{}-{}-{}",
                    name,
                    ctx.id.resource_group,
                    &ctx.id.subscription.chars().take(6).collect::<String>()
                )
            });
        let hash = &uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            ctx.id_str.to_ascii_lowercase().as_bytes(),
        )
        .simple()
        .to_string()[..8];
        let private = props
            .get("apiServerAccessProfile")
            .and_then(|a| a.get("enablePrivateCluster"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        props.insert("dnsPrefix".into(), json!(dns_prefix));
        let fqdn = format!("{dns_prefix}-{hash}.hcp.{location}.azmk8s.io");
        if private {
            props.insert(
                "privateFQDN".into(),
                json!(format!(
                    "{dns_prefix}-{hash}.{hash}.privatelink.{location}.azmk8s.io"
                )),
            );
        } else {
            props.insert("fqdn".into(), json!(fqdn));
        }
        props.insert(
            "azurePortalFQDN".into(),
            json!(format!(
                "{dns_prefix}-{hash}.portal.hcp.{location}.azmk8s.io"
            )),
        );
        props.entry("nodeResourceGroup").or_insert(json!(format!(
            "MC_{}_{}_{}",
            ctx.id.resource_group, name, location
        )));
        props.entry("enableRBAC").or_insert(json!(true));
        props.insert("maxAgentPools".into(), json!(100));
        // The credential generation survives writes (only a rotation bumps it).
        let generation = old.get(CREDENTIAL_GENERATION).cloned().unwrap_or(json!(0));
        props.insert("powerState".into(), json!({"code": "Running"}));
        if props
            .get("oidcIssuerProfile")
            .and_then(|o| o.get("enabled"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            let issuer = format!(
                "https://{location}.oic.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/{}/",
                uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_URL,
                    format!("{}/oidc", ctx.id_str.to_ascii_lowercase()).as_bytes()
                )
            );
            props.insert(
                "oidcIssuerProfile".into(),
                json!({"enabled": true, "issuerURL": issuer}),
            );
        } else if old
            .pointer("/properties/oidcIssuerProfile/enabled")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Err(bad(
                "OIDCIssuerFeatureCannotBeDisabled",
                "OIDC issuer feature cannot be disabled once enabled.",
            ));
        }
        let np = props.entry("networkProfile").or_insert(json!({}));
        if let Some(np) = np.as_object_mut() {
            let plugin = np
                .get("networkPlugin")
                .and_then(Value::as_str)
                .unwrap_or("azure")
                .to_ascii_lowercase();
            let mode = np
                .get("networkPluginMode")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            if mode.as_deref() == Some("overlay") && plugin != "azure" {
                return Err(bad(
                    "InvalidParameter",
                    "networkPluginMode overlay can only be used with networkPlugin azure.",
                ));
            }
            if np.get("podCidr").is_some_and(|v| !v.is_null())
                && plugin == "azure"
                && mode.as_deref() != Some("overlay")
            {
                return Err(bad(
                    "InvalidParameter",
                    "The value of parameter networkProfile.podCidr is invalid: podCidr can only be set with networkPlugin kubenet, with networkPlugin azure and networkPluginMode overlay, or with networkPlugin none. Azure CNI without overlay gives pods addresses from the nodes' subnet.",
                ));
            }
            np.entry("networkPlugin").or_insert(json!("azure"));
            np.entry("serviceCidr").or_insert(json!("10.0.0.0/16"));
            np.entry("dnsServiceIP").or_insert(json!("10.0.0.10"));
            np.entry("loadBalancerSku").or_insert(json!("standard"));
            np.entry("outboundType").or_insert(json!("loadBalancer"));
        }
        let node_resource_group = props
            .get("nodeResourceGroup")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        features::apply_features(
            props,
            &old,
            &features::ClusterIds {
                cluster_id: ctx.id_str,
                name,
                subscription: &ctx.id.subscription,
                node_resource_group: &node_resource_group,
                version: &current,
            },
            &identity_type,
        )?;
        out[CREDENTIAL_GENERATION] = generation;
        Ok(out)
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }
    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }
    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Create => Duration::from_secs(360),
            OpKind::Update => Duration::from_secs(180),
            OpKind::Delete => Duration::from_secs(240),
        }
    }

    fn check_write(&self, existing: &Resource, store: &Store) -> Result<(), ArmError> {
        if let Some(e) = Self::busy_error(existing) {
            return Err(e);
        }
        if let Some(p) = store
            .children(&existing.id, POOL)
            .find(|p| p.pending.is_some())
        {
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                format!(
                    "Operation is not allowed because there's an in progress operation on agent pool {} of the managed cluster. Please wait for it to finish before starting a new operation.",
                    p.name()
                ),
            ));
        }
        Ok(())
    }

    fn after_write(&self, id: &str, store: &mut Store) {
        let Some(cluster) = store.get(id).cloned() else {
            return;
        };
        let pools: Vec<Value> = cluster
            .body
            .pointer("/properties/agentPoolProfiles")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let state = cluster
            .body
            .pointer("/properties/provisioningState")
            .cloned()
            .unwrap_or(json!("Succeeded"));
        let keep: Vec<String> = pools
            .iter()
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .map(str::to_ascii_lowercase)
            .collect();
        let stale: Vec<String> = store
            .children(id, POOL)
            .filter(|r| !keep.contains(&r.name().to_ascii_lowercase()))
            .map(|r| r.id.clone())
            .collect();
        for s in stale {
            store.remove_tree(&s);
        }
        for p in pools {
            let Some(pname) = p.get("name").and_then(Value::as_str) else {
                continue;
            };
            let pid = format!("{id}/agentPools/{pname}");
            let mut props = p.as_object().cloned().unwrap_or_default();
            props.remove("name");
            props.insert("provisioningState".into(), state.clone());
            let etag = store
                .get(&pid)
                .map(|r| r.etag.clone())
                .unwrap_or_else(new_etag);
            store.insert(Resource {
                id: pid.clone(),
                type_name: POOL.into(),
                body: json!({"id": pid, "name": pname, "type": POOL, "properties": props}),
                etag,
                pending: None,
            });
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut b = res.body.clone();
        if let Some(o) = b.as_object_mut() {
            o.remove(CREDENTIAL_GENERATION);
        }
        // AKS shows its etag in the body (read-only, for optimistic concurrency).
        b["eTag"] = json!(res.etag);
        // agentPoolProfiles always reflect the agentPools child resources.
        let pools: Vec<Value> = store
            .children(&res.id, POOL)
            .map(|p| {
                let mut v = p.body.get("properties").cloned().unwrap_or(json!({}));
                v["name"] = json!(p.name());
                v
            })
            .collect();
        if let Some(props) = b.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("agentPoolProfiles".into(), Value::Array(pools));
        }
        b
    }

    fn action(&self, name: &str, ctx: ActionContext<'_>) -> Result<Value, ArmError> {
        let admin = match name.to_ascii_lowercase().as_str() {
            "listclusterusercredential" => false,
            "listclusteradmincredential" => true,
            _ => {
                return Err(bad(
                    "InvalidResourceType",
                    format!("The action '{name}' is not supported on managed clusters."),
                ));
            }
        };
        let props = ctx
            .resource
            .body
            .get("properties")
            .cloned()
            .unwrap_or(json!({}));
        if admin && props.get("disableLocalAccounts").and_then(Value::as_bool) == Some(true) {
            return Err(bad(
                "BadRequest",
                "Getting static credential is not allowed because this cluster is set to disable local accounts.",
            ));
        }
        let aad = props
            .pointer("/aadProfile/managed")
            .and_then(Value::as_bool)
            == Some(true);
        let format = ctx.query("format").map(str::to_ascii_lowercase);
        if let Some(f) = &format
            && f != "exec"
            && f != "azure"
        {
            return Err(bad(
                "InvalidParameter",
                format!("The value of parameter format '{f}' is invalid (azure|exec)."),
            ));
        }
        let generation = ctx
            .resource
            .body
            .get(CREDENTIAL_GENERATION)
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let kubeconfig = kubeconfig(&Credential {
            resource_id: &ctx.resource.id,
            cluster: ctx.resource.name(),
            host: props
                .get("fqdn")
                .or_else(|| props.get("privateFQDN"))
                .and_then(Value::as_str)
                .unwrap_or("localhost"),
            tenant: props
                .pointer("/aadProfile/tenantID")
                .and_then(Value::as_str)
                .unwrap_or("00000000-0000-0000-0000-000000000000"),
            admin,
            exec: !admin && aad && format.as_deref() != Some("azure"),
            generation,
            target: ctx.kubeconfig.as_ref(),
        });
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let kname = if admin { "clusterAdmin" } else { "clusterUser" };
        Ok(json!({"kubeconfigs": [{"name": kname, "value": b64(&kubeconfig)}]}))
    }
}

/// What one kubeconfig is made of.
struct Credential<'a> {
    resource_id: &'a str,
    cluster: &'a str,
    host: &'a str,
    tenant: &'a str,
    admin: bool,
    /// The AAD user kubeconfig: kubelogin's exec plugin, no static secret.
    exec: bool,
    generation: i64,
    target: Option<&'a KubeconfigTarget>,
}

/// A kubeconfig as AKS hands it out: the cluster's FQDN on 443 with AKS's CA, or the
/// configured target's server and CA; a static token (the target's, else one derived from the
/// cluster and the credential generation), or for AAD users kubelogin's exec plugin with
/// AKS's well-known server id.
fn kubeconfig(c: &Credential<'_>) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let rg = c.resource_id.split('/').nth(4).unwrap_or("rg");
    let cluster = c.cluster;
    let user = if c.admin {
        format!("clusterAdmin_{rg}_{cluster}")
    } else {
        format!("clusterUser_{rg}_{cluster}")
    };
    let (server, ca) = match c.target {
        Some(t) => (t.server.clone(), t.ca_pem.clone().unwrap_or_default()),
        None => (
            format!("https://{}:443", c.host),
            "-----BEGIN CERTIFICATE-----\narmsim\n-----END CERTIFICATE-----\n".to_string(),
        ),
    };
    let derived = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!(
            "{}/{}/{}",
            c.resource_id.to_ascii_lowercase(),
            c.admin,
            c.generation
        )
        .as_bytes(),
    )
    .simple()
    .to_string();
    let user_body = if c.exec {
        format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      args:\n      - get-token\n      - --environment\n      - AzurePublicCloud\n      - --server-id\n      - 6dae42f8-4368-4678-94ff-3960e28e3630\n      - --client-id\n      - 80faf920-1908-4b52-b5ef-a8e7bedfc67a\n      - --tenant-id\n      - {}\n      - --login\n      - devicecode\n      installHint: 'kubelogin is required: https://aka.ms/aks/kubelogin'\n      provideClusterInfo: false\n",
            c.tenant
        )
    } else {
        let token = c.target.and_then(|t| t.token.clone()).unwrap_or(derived);
        format!("    token: {token}\n")
    };
    let ca_field = if ca.is_empty() {
        String::new()
    } else {
        format!("    certificate-authority-data: {}\n", b64(&ca))
    };
    format!(
        "# credential generation {gen}\napiVersion: v1\nkind: Config\nclusters:\n- cluster:\n{ca_field}    server: {server}\n  name: {cluster}\ncontexts:\n- context:\n    cluster: {cluster}\n    user: {user}\n  name: {cluster}\ncurrent-context: {cluster}\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n{user_body}",
        gen = c.generation,
    )
}

fn not_found(id: &str) -> ArmError {
    ArmError::not_found(
        "ResourceNotFound",
        format!("The Resource '{id}' was not found."),
    )
}

/// `/_sim/aks/upgrade`: the auto-upgrader moved the cluster and every pool to `version`.
pub fn sim_auto_upgrade(
    store: &mut Store,
    cluster_id: &str,
    version: &str,
) -> Result<(), ArmError> {
    let location = store
        .get(cluster_id)
        .and_then(Resource::location)
        .unwrap_or("this region")
        .to_string();
    let resolved = resolve_version(version, &location)?;
    let cluster = store
        .get_mut(cluster_id)
        .ok_or_else(|| not_found(cluster_id))?;
    if let Some(p) = cluster
        .body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
    {
        p.insert("kubernetesVersion".into(), json!(resolved));
        p.insert("currentKubernetesVersion".into(), json!(resolved));
    }
    cluster.etag = new_etag();
    let id = cluster.id.clone();
    let pools: Vec<String> = store.children(&id, POOL).map(|r| r.id.clone()).collect();
    for pid in pools {
        if let Some(pool) = store.get_mut(&pid) {
            if let Some(p) = pool
                .body
                .get_mut("properties")
                .and_then(Value::as_object_mut)
            {
                p.insert("orchestratorVersion".into(), json!(resolved));
                p.insert("currentOrchestratorVersion".into(), json!(resolved));
            }
            pool.etag = new_etag();
        }
    }
    Ok(())
}

/// `/_sim/aks/autoscale`: the cluster autoscaler resized an agent pool.
pub fn sim_autoscale(store: &mut Store, pool_id: &str, count: i64) -> Result<(), ArmError> {
    if !(0..=1000).contains(&count) {
        return Err(bad(
            "InvalidParameter",
            format!("count {count} is out of [0, 1000]"),
        ));
    }
    let pool = store.get_mut(pool_id).ok_or_else(|| not_found(pool_id))?;
    pool.body["properties"]["count"] = json!(count);
    pool.etag = new_etag();
    Ok(())
}

/// `/_sim/aks/rotate-credentials`: certificates rotated (new kubeconfigs, new eTag).
pub fn sim_rotate_credentials(store: &mut Store, cluster_id: &str) -> Result<(), ArmError> {
    let cluster = store
        .get_mut(cluster_id)
        .ok_or_else(|| not_found(cluster_id))?;
    let next = cluster
        .body
        .get(CREDENTIAL_GENERATION)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    cluster.body[CREDENTIAL_GENERATION] = json!(next);
    cluster.etag = new_etag();
    Ok(())
}

pub struct AgentPools;

impl ResourceType for AgentPools {
    fn type_name(&self) -> &'static str {
        POOL
    }

    fn check_write(&self, existing: &Resource, _store: &Store) -> Result<(), ArmError> {
        match &existing.pending {
            Some(p) => Err(ArmError::conflict(
                "OperationNotAllowed",
                format!(
                    "Operation is not allowed because there's an in progress {} operation ({}) on agent pool {}. Please wait for it to finish before starting a new operation.",
                    match p.kind {
                        OpKind::Create => "create",
                        OpKind::Update => "update",
                        OpKind::Delete => "delete",
                    },
                    p.op_id,
                    existing.name()
                ),
            )),
            None => Ok(()),
        }
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let parent = ctx.id.parent().map(|p| p.to_id()).unwrap_or_default();
        let cluster = ctx.store.get(&parent);
        if let Some(err) = cluster.and_then(ManagedClusters::busy_error) {
            return Err(err);
        }
        let version = cluster
            .and_then(|c| c.body.pointer("/properties/currentKubernetesVersion"))
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_VERSION)
            .to_string();
        let mut props = ctx
            .body
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let before = ctx
            .existing
            .and_then(|e| e.body.get("properties"))
            .and_then(Value::as_object);
        normalize_pool(ctx.id.name(), &mut props, &version, before)?;
        Ok(json!({"properties": props}))
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }
    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }
    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Delete => Duration::from_secs(90),
            _ => Duration::from_secs(150),
        }
    }

    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        let parent = res
            .id
            .rsplit_once("/agentPools/")
            .map(|(p, _)| p)
            .unwrap_or("");
        let is_system =
            res.body.pointer("/properties/mode").and_then(Value::as_str) == Some("System");
        let other_system = store.children(parent, POOL).any(|p| {
            !p.id.eq_ignore_ascii_case(&res.id)
                && p.body.pointer("/properties/mode").and_then(Value::as_str) == Some("System")
        });
        if is_system && !other_system {
            return Err(bad(
                "OperationNotAllowed",
                "The last system agent pool cannot be deleted: a cluster needs at least one system pool.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_resolve_and_compare() {
        assert_eq!(resolve_version("1.37", "westeurope").expect("ok"), "1.37.2");
        assert_eq!(resolve_version("1.36.1", "x").expect("ok"), "1.36.1");
        assert_eq!(
            resolve_version("1.36.2", "x")
                .expect_err("unknown patch")
                .code,
            "K8sVersionNotSupported"
        );
        for gone in ["1.20", "1.33", "1.34"] {
            assert_eq!(
                resolve_version(gone, "x").expect_err("out of support").code,
                "K8sVersionNotSupported"
            );
        }
        assert!(version_tuple("1.33.3") > version_tuple("1.32.9"));
        assert!(pool_name_ok("system1", "Linux"));
        assert!(!pool_name_ok("winpool1", "Windows"));
        assert!(!pool_name_ok("Sys", "Linux"));
    }
}
