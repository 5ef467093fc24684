//! The AksCluster's custom steps. The body each writes depends on what runs, not only on the
//! spec; a write gets what its pass observed as an argument (the step's own observation, and
//! the cluster through the pass's observer), never from state the step kept:
//!
//! - [`ClusterStep`]: the managed cluster. The version sent is the spec's as a floor
//!   ([`target_version`]: never below what runs, one minor at a time); an update carries the
//!   pools exactly as AKS has them (the pool steps change pools, and a cluster PUT that
//!   omitted one would remove it).
//! - [`PoolStep`]: one agent pool. Its version follows the control plane once it is below the
//!   spec (never above the control plane, which AKS refuses); with autoscaling on, the count
//!   sent is the one the autoscaler chose.
//! - [`MaintenanceStep`]: one maintenance window (AKS's maintenance configuration of that
//!   name). It has no tags of its own: it is ours when its cluster is.
//! - [`KubeconfigStep`]: a kubeconfig Secret, fetched again whenever the cluster's eTag moved
//!   since it was written (every AKS operation changes it, a certificate rotation too), so a
//!   steady state fetches nothing. A kubeconfig kubectl could not load is never written: the
//!   write fails with a typed [`Failure`] of code [`INVALID_KUBECONFIG`].
//!
//! With `adoptExisting`, a cluster (and the spec's pools, and its windows) without any azop
//! uid is counted as ours ([`Claim::Adopting`]) and the adoption reported as drift, so the next
//! PUT writes the marks; one with another object's uid never is.
//!
//! The cluster is read once per pass whatever number of steps need it (the engine's observer
//! shares one GET per resource, in the observation and in the write).

use std::collections::BTreeMap;

use async_trait::async_trait;
use azop_provider::resources::containerservice::agent_pool::{AgentPoolKey, AgentPoolResource};
use azop_provider::resources::containerservice::credentials::{
    Kubeconfig, list_cluster_admin_credential, list_cluster_user_credential,
};
use azop_provider::resources::containerservice::maintenance_configuration::{
    MaintenanceConfigurationKey, MaintenanceConfigurationResource, MaintenanceWindowSpec,
};
use azop_provider::resources::containerservice::managed_cluster::{
    AgentPoolSpec, ManagedClusterKey, ManagedClusterResource, ManagedClusterSpec, PoolScale,
};
use azop_provider::resources::containerservice::models::{
    AddonProfile, AgentPool, AgentPoolProfile, ManagedCluster, ManagedClusterProperties,
};
use azop_provider::resources::containerservice::versions::target_version;
use azop_provider::resources::containerservice::{API_VERSION, version_satisfies};
use azop_provider::resources::{self, ArmResource};
use azop_provider::{Difference, ErrorClass, LroHandle, Owner, RawResponse};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

use crate::cluster_secrets;
use crate::engine::{Observation, Step, StepCtx, StepError};
use crate::retry::{Failure, RetryClass};

/// The field manager of the kubeconfig Secrets (the controller's own).
pub const FIELD_MANAGER: &str = "aksclusters.azop.dev";
/// The cluster eTag the Secret's kubeconfig was fetched at.
pub const ETAG_ANNOTATION: &str = "azop.dev/cluster-etag";
pub use crate::cluster_secrets::{CLUSTER_NAME_LABEL, SECRET_TYPE};

/// The managed cluster, read through the pass's shared observer.
async fn read_cluster(
    cx: &StepCtx<'_>,
    key: &ManagedClusterKey,
) -> Result<Option<(ManagedCluster, RawResponse)>, StepError> {
    let path = ManagedClusterResource::path(cx.session.subscription_id(), key);
    match cx.observer.get(&path, API_VERSION).await? {
        None => Ok(None),
        Some(resp) => Ok(Some((
            resp.parse(ManagedClusterResource::RESOURCE_TYPE)?,
            resp,
        ))),
    }
}

/// Whose a cluster or pool is, as a step sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// It carries this object's uid.
    Ours,
    /// It carries no azop uid and the spec adopts it (`adoptExisting`, never while deleting):
    /// the next PUT writes the marks.
    Adopting,
    /// Another object's, or not adopted: never written.
    NotOurs,
}

/// How this object stands to a resource whose uid mark is `observed_uid` (pure). A resource
/// with another object's uid is never adopted.
pub fn claim(owner: &Owner, observed_uid: Option<&str>, adopt: bool) -> Claim {
    match observed_uid {
        Some(_) if owner.owns(observed_uid) => Claim::Ours,
        None if adopt => Claim::Adopting,
        _ => Claim::NotOurs,
    }
}

/// The drift an adoption reports, so the engine PUTs the marks (pure).
pub fn adoption_drift(owner: &Owner) -> Difference {
    Difference {
        field: format!("tags.{}", azop_provider::resources::UID_TAG),
        desired: owner.uid.clone(),
        observed: "<unset> (adoptExisting)".to_string(),
    }
}

/// The cluster's claim as this pass read it (shared GET).
async fn cluster_claim(
    cx: &StepCtx<'_>,
    key: &ManagedClusterKey,
    adopt: bool,
) -> Result<Option<Claim>, StepError> {
    Ok(read_cluster(cx, key).await?.map(|(c, _)| {
        claim(
            cx.owner,
            ManagedClusterResource::owner_uid(&c).as_deref(),
            adopt,
        )
    }))
}

/// Pools as AKS has them, for an update of the cluster: read-only fields dropped, the rest
/// (versions, counts, what azop does not manage) sent back as it is. Pure.
pub fn echo_pools(observed: &ManagedCluster) -> Vec<AgentPoolProfile> {
    observed
        .agent_pools()
        .iter()
        .cloned()
        .map(|mut p| {
            let props = &mut p.properties;
            props.provisioning_state = None;
            props.current_orchestrator_version = None;
            props.node_image_version = None;
            for k in [
                "eTag",
                "provisioningState",
                "nodeImageVersion",
                "currentOrchestratorVersion",
            ] {
                props.other.remove(k);
            }
            p
        })
        .collect()
}

/// The cluster body to send (pure): the spec at the version [`target_version`] gives for
/// what runs; on an existing cluster with its pools echoed.
pub fn cluster_body(
    key: &ManagedClusterKey,
    spec: &ManagedClusterSpec,
    floor: &str,
    owner: &Owner,
    observed: Option<&ManagedCluster>,
) -> ManagedCluster {
    let mut spec = spec.clone();
    spec.kubernetes_version = target_version(
        floor,
        observed.and_then(ManagedCluster::current_kubernetes_version),
    );
    let mut body = ManagedClusterResource::desired(key, &spec, owner);
    if let (Some(o), Some(props)) = (observed, body.properties.as_mut()) {
        props.agent_pool_profiles = Some(echo_pools(o));
        if let Some(have) = o.properties.as_ref() {
            echo_unmanaged(props, have);
        }
    }
    body
}

/// What the spec does not name is sent back as AKS has it (pure): add-ons it does not list,
/// autoscaler settings it does not set, the workload autoscaler it does not mention. So an
/// update changes only what the spec says, whatever AKS does with a partial map.
pub fn echo_unmanaged(want: &mut ManagedClusterProperties, have: &ManagedClusterProperties) {
    if let (Some(w), Some(h)) = (want.addon_profiles.as_mut(), have.addon_profiles.as_ref()) {
        for (name, addon) in h {
            if !w.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                w.insert(
                    name.clone(),
                    AddonProfile {
                        enabled: addon.enabled,
                        config: addon.config.clone(),
                        ..AddonProfile::default()
                    },
                );
            }
        }
    }
    if let (Some(w), Some(h)) = (
        want.auto_scaler_profile.as_mut(),
        have.auto_scaler_profile.as_ref(),
    ) {
        for (k, v) in h {
            w.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let (Some(w), Some(h)) = (
        want.workload_auto_scaler_profile.as_mut(),
        have.workload_auto_scaler_profile.as_ref(),
    ) {
        if w.keda.is_none() {
            w.keda = h.keda.clone();
        }
        if w.vertical_pod_autoscaler.is_none() {
            w.vertical_pod_autoscaler = h.vertical_pod_autoscaler.clone();
        }
    }
}

pub struct ClusterStep {
    key: ManagedClusterKey,
    spec: ManagedClusterSpec,
    /// The spec's version: a floor.
    floor: String,
    /// Adopt a cluster without azop's marks (`adoptExisting`, never while deleting).
    adopt: bool,
}

impl ClusterStep {
    pub fn new(key: ManagedClusterKey, spec: ManagedClusterSpec, floor: String) -> Self {
        ClusterStep {
            key,
            spec,
            floor,
            adopt: false,
        }
    }

    /// Adopts an unmarked cluster when `adopt`.
    pub fn adopting(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }
}

#[async_trait]
impl Step for ClusterStep {
    fn resource_type(&self) -> &'static str {
        ManagedClusterResource::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.key.name
    }

    fn id(&self, subscription_id: &str) -> String {
        ManagedClusterResource::path(subscription_id, &self.key)
    }

    /// The create body (an update's depends on what runs).
    fn desired(&self, owner: &Owner) -> Option<Value> {
        serde_json::to_value(cluster_body(
            &self.key,
            &self.spec,
            &self.floor,
            owner,
            None,
        ))
        .ok()
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let Some((observed, resp)) = read_cluster(cx, &self.key).await? else {
            return Ok(Observation::default());
        };
        let claim = claim(
            cx.owner,
            ManagedClusterResource::owner_uid(&observed).as_deref(),
            self.adopt,
        );
        let owned = claim != Claim::NotOurs;
        let mut drift = if owned {
            let body = cluster_body(
                &self.key,
                &self.spec,
                &self.floor,
                cx.owner,
                Some(&observed),
            );
            ManagedClusterResource::diff(&body, &observed)
        } else {
            Vec::new()
        };
        if claim == Claim::Adopting {
            drift.insert(0, adoption_drift(cx.owner));
        }
        Ok(Observation::found(owned, drift, resp.json()))
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let running: Option<ManagedCluster> = seen.typed();
        let body = cluster_body(
            &self.key,
            &self.spec,
            &self.floor,
            cx.owner,
            running.as_ref(),
        );
        Ok(resources::put_body::<ManagedClusterResource>(cx.session, &self.key, &body).await?)
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(resources::delete_observed::<ManagedClusterResource>(cx.session, &self.key).await?)
    }
}

/// The version a pool should run (pure): unchanged while it satisfies the spec's floor
/// (auto-upgrade may have moved it past), else exactly the control plane's (a pool may never
/// run newer than its control plane); a new pool gets the control plane's.
pub fn pool_version(
    floor: &str,
    control_plane: Option<&str>,
    pool: Option<&str>,
) -> Option<String> {
    match pool {
        Some(p) if !p.is_empty() && version_satisfies(floor, p) => Some(p.to_string()),
        _ => control_plane.map(str::to_string),
    }
}

/// The pool body to send (pure). With autoscaling the count is what the pool has now (the
/// autoscaler's), the range's minimum only for a new pool.
pub fn pool_body(
    key: &AgentPoolKey,
    spec: &AgentPoolSpec,
    floor: &str,
    owner: &Owner,
    control_plane: Option<&str>,
    observed: Option<&AgentPool>,
) -> AgentPool {
    let props = observed.and_then(|p| p.properties.as_ref());
    let mut spec = spec.clone();
    spec.orchestrator_version = pool_version(
        floor,
        control_plane,
        props.and_then(|p| {
            p.current_orchestrator_version
                .as_deref()
                .or(p.orchestrator_version.as_deref())
        }),
    );
    let mut body = AgentPoolResource::desired(key, &spec, owner);
    if let (PoolScale::Autoscale { .. }, Some(count), Some(b)) = (
        spec.scale,
        props.and_then(|p| p.count),
        body.properties.as_mut(),
    ) {
        b.count = Some(count);
    }
    body
}

pub struct PoolStep {
    key: AgentPoolKey,
    cluster: ManagedClusterKey,
    spec: AgentPoolSpec,
    floor: String,
    /// Adopt an unmarked pool of a cluster that is ours or being adopted.
    adopt: bool,
}

impl PoolStep {
    pub fn new(
        key: AgentPoolKey,
        cluster: ManagedClusterKey,
        spec: AgentPoolSpec,
        floor: String,
    ) -> Self {
        PoolStep {
            key,
            cluster,
            spec,
            floor,
            adopt: false,
        }
    }

    /// Adopts an unmarked pool when `adopt` (and its cluster is not another object's).
    pub fn adopting(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }

    fn body(
        &self,
        owner: &Owner,
        control_plane: Option<&str>,
        pool: Option<&AgentPool>,
    ) -> AgentPool {
        pool_body(
            &self.key,
            &self.spec,
            &self.floor,
            owner,
            control_plane,
            pool,
        )
    }

    /// The version the control plane runs, as this pass read the cluster.
    async fn control_plane(&self, cx: &StepCtx<'_>) -> Result<Option<String>, StepError> {
        Ok(read_cluster(cx, &self.cluster)
            .await?
            .and_then(|(c, _)| c.current_kubernetes_version().map(str::to_string)))
    }
}

#[async_trait]
impl Step for PoolStep {
    fn resource_type(&self) -> &'static str {
        AgentPoolResource::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.key.name
    }

    fn id(&self, subscription_id: &str) -> String {
        AgentPoolResource::path(subscription_id, &self.key)
    }

    /// The create body before the control plane runs (a write's depends on what runs).
    fn desired(&self, owner: &Owner) -> Option<Value> {
        serde_json::to_value(self.body(owner, None, None)).ok()
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let cluster = read_cluster(cx, &self.cluster).await?;
        let control_plane = cluster
            .as_ref()
            .and_then(|(c, _)| c.current_kubernetes_version().map(str::to_string));
        // A pool is adopted only with its cluster: never under another object's cluster.
        let adopt = self.adopt
            && cluster.as_ref().is_some_and(|(c, _)| {
                claim(
                    cx.owner,
                    ManagedClusterResource::owner_uid(c).as_deref(),
                    true,
                ) != Claim::NotOurs
            });
        let path = self.id(cx.session.subscription_id());
        let Some(resp) = cx.observer.get(&path, API_VERSION).await? else {
            return Ok(Observation::default());
        };
        let observed: AgentPool = resp.parse(AgentPoolResource::RESOURCE_TYPE)?;
        let claim = claim(
            cx.owner,
            AgentPoolResource::owner_uid(&observed).as_deref(),
            adopt,
        );
        let owned = claim != Claim::NotOurs;
        let mut drift = if owned {
            let body = self.body(cx.owner, control_plane.as_deref(), Some(&observed));
            AgentPoolResource::diff(&body, &observed)
        } else {
            Vec::new()
        };
        if claim == Claim::Adopting {
            drift.insert(0, adoption_drift(cx.owner));
        }
        Ok(Observation::found(owned, drift, resp.json()))
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let control_plane = self.control_plane(cx).await?;
        let pool: Option<AgentPool> = seen.typed();
        let body = self.body(cx.owner, control_plane.as_deref(), pool.as_ref());
        Ok(resources::put_body::<AgentPoolResource>(cx.session, &self.key, &body).await?)
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(resources::delete_observed::<AgentPoolResource>(cx.session, &self.key).await?)
    }

    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(resources::disown::<AgentPoolResource>(cx.session, &self.key, cx.owner).await?)
    }
}

/// The code of the failure of a kubeconfig AKS returned broken (the report's
/// `InvalidKubeconfig` reason, decided on the code).
pub const INVALID_KUBECONFIG: &str = "InvalidKubeconfig";

/// Whether kubectl could load `kubeconfig` (pure): `Err` is the typed failure the Secret's
/// write ends with otherwise — AKS's answer, not the spec, is at fault, so it is retried with
/// backoff; the message says what is wrong and never shows the content.
pub fn check_kubeconfig(admin: bool, secret: &str, kubeconfig: &Kubeconfig) -> Result<(), Failure> {
    match cluster_secrets::kubeconfig_problem(kubeconfig.as_bytes()) {
        None => Ok(()),
        Some(problem) => Err(Failure::new(
            ErrorClass::Transient,
            Some(INVALID_KUBECONFIG),
            format!(
                "AKS returned {} kubeconfig that kubectl cannot load ({problem}); Secret {secret} is not written, and azop asks again",
                if admin { "an admin" } else { "a user" },
            ),
            RetryClass::Transient,
        )),
    }
}

/// One maintenance window: AKS's maintenance configuration of that name. It has no tags: it
/// is ours when its cluster is (a setting of the cluster, deleted with it).
pub struct MaintenanceStep {
    key: MaintenanceConfigurationKey,
    cluster: ManagedClusterKey,
    spec: MaintenanceWindowSpec,
    /// The cluster is adopted: its windows are ours as soon as it is.
    adopt: bool,
}

impl MaintenanceStep {
    pub fn new(
        key: MaintenanceConfigurationKey,
        cluster: ManagedClusterKey,
        spec: MaintenanceWindowSpec,
    ) -> Self {
        MaintenanceStep {
            key,
            cluster,
            spec,
            adopt: false,
        }
    }

    /// Counts the windows of an adopted cluster as ours when `adopt`.
    pub fn adopting(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }
}

#[async_trait]
impl Step for MaintenanceStep {
    fn resource_type(&self) -> &'static str {
        MaintenanceConfigurationResource::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.key.name
    }

    fn id(&self, subscription_id: &str) -> String {
        MaintenanceConfigurationResource::path(subscription_id, &self.key)
    }

    fn desired(&self, owner: &Owner) -> Option<Value> {
        serde_json::to_value(MaintenanceConfigurationResource::desired(
            &self.key, &self.spec, owner,
        ))
        .ok()
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let cluster_owned = cluster_claim(cx, &self.cluster, self.adopt)
            .await?
            .is_some_and(|c| c != Claim::NotOurs);
        let path = self.id(cx.session.subscription_id());
        let Some(resp) = cx.observer.get(&path, API_VERSION).await? else {
            return Ok(Observation::default());
        };
        let observed = resp.parse(MaintenanceConfigurationResource::RESOURCE_TYPE)?;
        let drift = if cluster_owned {
            let want = MaintenanceConfigurationResource::desired(&self.key, &self.spec, cx.owner);
            MaintenanceConfigurationResource::diff(&want, &observed)
        } else {
            Vec::new()
        };
        Ok(Observation {
            exists: true,
            owned: cluster_owned,
            provisioning_state: None,
            drift,
            raw: resp.json(),
            ..Default::default()
        })
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(resources::put_desired::<MaintenanceConfigurationResource>(
            cx.session, &self.key, &self.spec, cx.owner,
        )
        .await?)
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(
            resources::delete_observed::<MaintenanceConfigurationResource>(cx.session, &self.key)
                .await?,
        )
    }

    /// No marks of its own: it is ours through its cluster.
    async fn disown(&self, _cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

/// The Secret for a kubeconfig (pure): key `value`, Cluster API's conventions
/// ([`cluster_secrets`]), the cluster eTag it was fetched at, owned by the AksCluster.
pub fn kubeconfig_secret(
    name: &str,
    namespace: &str,
    owner: &Owner,
    etag: Option<&str>,
    kubeconfig: &Kubeconfig,
) -> Secret {
    let mut secret = cluster_secrets::owned_secret(
        name,
        namespace,
        owner,
        BTreeMap::from([(
            "value".to_string(),
            ByteString(kubeconfig.as_bytes().to_vec()),
        )]),
    );
    secret.metadata.annotations =
        etag.map(|e| BTreeMap::from([(ETAG_ANNOTATION.to_string(), e.to_string())]));
    secret
}

/// Why a kubeconfig Secret must be written again, if it must (pure).
pub fn kubeconfig_drift(secret: &Secret, cluster_etag: Option<&str>) -> Vec<Difference> {
    let mut out = Vec::new();
    let has_value = secret
        .data
        .as_ref()
        .and_then(|d| d.get("value"))
        .is_some_and(|v| !v.0.is_empty());
    if !has_value {
        out.push(Difference {
            field: "data.value".to_string(),
            desired: "a kubeconfig".to_string(),
            observed: "<missing>".to_string(),
        });
    }
    let written_at = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ETAG_ANNOTATION))
        .map(String::as_str);
    if let Some(etag) = cluster_etag
        && written_at != Some(etag)
    {
        out.push(Difference {
            field: "credentials".to_string(),
            desired: format!("fetched at cluster eTag {etag}"),
            observed: format!("fetched at {}", written_at.unwrap_or("<unknown>")),
        });
    }
    out
}

pub struct KubeconfigStep {
    admin: bool,
    secret: String,
    namespace: String,
    cluster: ManagedClusterKey,
}

impl KubeconfigStep {
    pub fn new(admin: bool, secret: String, namespace: String, cluster: ManagedClusterKey) -> Self {
        KubeconfigStep {
            admin,
            secret,
            namespace,
            cluster,
        }
    }

    /// The cluster's eTag as this pass read it.
    async fn cluster_etag(&self, cx: &StepCtx<'_>) -> Result<Option<String>, StepError> {
        Ok(read_cluster(cx, &self.cluster)
            .await?
            .and_then(|(c, _)| c.e_tag))
    }

    fn api(&self, cx: &StepCtx<'_>) -> Api<Secret> {
        Api::namespaced(cx.kube.clone(), &self.namespace)
    }

    fn kube_error(&self, what: &str, e: kube::Error) -> StepError {
        StepError::Kube {
            action: format!("{what} Secret {}/{}", self.namespace, self.secret),
            source: Box::new(e),
        }
    }
}

#[async_trait]
impl Step for KubeconfigStep {
    fn resource_type(&self) -> &'static str {
        "Secret"
    }

    fn name(&self) -> &str {
        &self.secret
    }

    fn id(&self, _subscription_id: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/secrets/{}",
            self.namespace, self.secret
        )
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let etag = self.cluster_etag(cx).await?;
        let Some(secret) = self
            .api(cx)
            .get_opt(&self.secret)
            .await
            .map_err(|e| self.kube_error("read", e))?
        else {
            return Ok(Observation::default());
        };
        let owned = secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == cx.owner.uid);
        // Never the Secret's data: it holds credentials.
        Ok(Observation {
            exists: true,
            owned,
            provisioning_state: None,
            drift: if owned {
                kubeconfig_drift(&secret, etag.as_deref())
            } else {
                Vec::new()
            },
            raw: None,
            ..Default::default()
        })
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let kubeconfig = if self.admin {
            list_cluster_admin_credential(cx.session, &self.cluster).await?
        } else {
            list_cluster_user_credential(cx.session, &self.cluster).await?
        };
        // A broken answer never replaces a working Secret; the content is never shown.
        check_kubeconfig(self.admin, &self.secret, &kubeconfig).map_err(StepError::Failed)?;
        let etag = self.cluster_etag(cx).await?;
        let secret = kubeconfig_secret(
            &self.secret,
            &self.namespace,
            cx.owner,
            etag.as_deref(),
            &kubeconfig,
        );
        self.api(cx)
            .patch(
                &self.secret,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map_err(|e| self.kube_error("write", e))?;
        Ok(None)
    }

    /// The garbage collector deletes the Secret with its AksCluster (owner reference).
    async fn delete(
        &self,
        _cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(None)
    }

    /// A Secret's mark is its owner reference to the object, which the garbage collector
    /// follows when the object goes: nothing in Azure to change. (`kubectl delete
    /// --cascade=orphan` keeps the Secrets too.)
    async fn disown(&self, _cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_provider::resources::containerservice::managed_cluster::{
        AddonSpec, ClusterIdentity, ClusterNetworkSpec, PoolMode, PoolOsType, SkuTier,
    };

    fn owner() -> Owner {
        Owner::new("AksCluster", "ns", "c", "uid-1")
    }

    fn key() -> ManagedClusterKey {
        ManagedClusterKey {
            resource_group: "rg".into(),
            name: "c".into(),
        }
    }

    fn pool(name: &str, scale: PoolScale) -> AgentPoolSpec {
        AgentPoolSpec {
            name: name.into(),
            mode: PoolMode::System,
            vm_size: "Standard_D4s_v5".into(),
            scale,
            zones: vec![],
            os_type: PoolOsType::Linux,
            max_pods: None,
            os_disk_size_gb: None,
            vnet_subnet_id: None,
            node_labels: BTreeMap::new(),
            node_taints: vec![],
            os_sku: None,
            spot: None,
            upgrade: None,
            orchestrator_version: None,
            tags: BTreeMap::new(),
        }
    }

    fn spec() -> ManagedClusterSpec {
        ManagedClusterSpec {
            location: "westeurope".into(),
            sku_tier: SkuTier::Free,
            support_plan: None,
            kubernetes_version: "1.33".into(),
            dns_prefix: "c".into(),
            auto_upgrade: None,
            aad: None,
            agent_pools: vec![pool("system", PoolScale::Fixed { count: 1 })],
            network: ClusterNetworkSpec {
                plugin: "azure".into(),
                plugin_mode: Some("overlay".into()),
                pod_cidr: None,
                service_cidr: None,
                dns_service_ip: None,
            },
            api_server_access: None,
            http_proxy: None,
            linux_profile: None,
            disable_local_accounts: false,
            oidc_issuer: true,
            workload_identity: None,
            identity: ClusterIdentity::SystemAssigned,
            kubelet_identity: None,
            addons: vec![],
            keda: None,
            vertical_pod_autoscaler: None,
            autoscaler_profile: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    fn running(version: &str, pools: serde_json::Value) -> ManagedCluster {
        serde_json::from_value(serde_json::json!({
            "name": "c", "location": "westeurope", "eTag": "e1",
            "tags": {"azop.dev/uid": "uid-1"},
            "properties": {"kubernetesVersion": version, "currentKubernetesVersion": version, "agentPoolProfiles": pools}
        }))
        .expect("cluster")
    }

    #[test]
    fn a_create_carries_the_system_pools_and_an_update_the_pools_as_they_are() {
        let create = cluster_body(&key(), &spec(), "1.33", &owner(), None);
        let p = create.properties.expect("props");
        assert_eq!(p.kubernetes_version.as_deref(), Some("1.33"));
        let pools = p.agent_pool_profiles.expect("pools");
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].properties.count, Some(1));

        let o = running(
            "1.33.3",
            serde_json::json!([
                {"name": "system", "count": 1, "mode": "System", "orchestratorVersion": "1.33", "currentOrchestratorVersion": "1.33.3", "provisioningState": "Succeeded", "nodeImageVersion": "x"},
                {"name": "apps", "count": 7, "mode": "User", "enableAutoScaling": true, "minCount": 2, "maxCount": 10, "orchestratorVersion": "1.33.3"}
            ]),
        );
        let update = cluster_body(&key(), &spec(), "1.34", &owner(), Some(&o));
        let p = update.properties.expect("props");
        assert_eq!(p.kubernetes_version.as_deref(), Some("1.34"));
        let pools = p.agent_pool_profiles.expect("pools");
        assert_eq!(pools.len(), 2, "every pool AKS has, so none is removed");
        assert_eq!(pools[1].properties.count, Some(7), "the autoscaler's count");
        // Pools keep their version: the control plane goes first.
        assert_eq!(
            pools[0].properties.orchestrator_version.as_deref(),
            Some("1.33")
        );
        assert_eq!(pools[0].properties.provisioning_state, None);
        assert_eq!(pools[0].properties.current_orchestrator_version, None);
        // After auto-upgrade moved past the spec: what runs is sent, never a downgrade.
        let o = running("1.34.1", serde_json::json!([]));
        let past = cluster_body(&key(), &spec(), "1.33", &owner(), Some(&o));
        assert_eq!(
            past.properties
                .and_then(|p| p.kubernetes_version)
                .as_deref(),
            Some("1.34.1")
        );
    }

    #[test]
    fn an_update_sends_back_what_the_spec_does_not_name() {
        let mut s = spec();
        s.addons = vec![AddonSpec {
            name: "azurepolicy".into(),
            enabled: true,
            config: BTreeMap::new(),
        }];
        s.autoscaler_profile = BTreeMap::from([("scan-interval".to_string(), "20s".to_string())]);
        s.keda = Some(true);
        let o: ManagedCluster = serde_json::from_value(serde_json::json!({
            "name": "c", "location": "westeurope", "tags": {"azop.dev/uid": "uid-1"},
            "properties": {
                "kubernetesVersion": "1.33", "currentKubernetesVersion": "1.33.3", "agentPoolProfiles": [],
                "addonProfiles": {
                    "AzurePolicy": {"enabled": false},
                    "omsagent": {"enabled": true, "config": {"logAnalyticsWorkspaceResourceID": "/w"}, "identity": {"resourceId": "/id", "clientId": "c", "objectId": "o"}}
                },
                "autoScalerProfile": {"scan-interval": "10s", "expander": "random", "daemonset-eviction-for-empty-nodes": false},
                "workloadAutoScalerProfile": {"keda": {"enabled": false}, "verticalPodAutoscaler": {"enabled": true}}
            }
        }))
        .expect("cluster");
        let body = serde_json::to_value(cluster_body(&key(), &s, "1.33", &owner(), Some(&o)))
            .expect("json");
        let p = &body["properties"];
        assert_eq!(
            p["addonProfiles"]["azurepolicy"]["enabled"], true,
            "the spec's wins"
        );
        assert!(p["addonProfiles"].get("AzurePolicy").is_none());
        assert_eq!(
            p["addonProfiles"]["omsagent"]["config"]["logAnalyticsWorkspaceResourceID"],
            "/w"
        );
        assert!(
            p["addonProfiles"]["omsagent"].get("identity").is_none(),
            "read-only"
        );
        assert_eq!(p["autoScalerProfile"]["scan-interval"], "20s");
        assert_eq!(p["autoScalerProfile"]["expander"], "random");
        assert_eq!(
            p["autoScalerProfile"]["daemonset-eviction-for-empty-nodes"],
            false
        );
        assert_eq!(p["workloadAutoScalerProfile"]["keda"]["enabled"], true);
        assert_eq!(
            p["workloadAutoScalerProfile"]["verticalPodAutoscaler"]["enabled"],
            true
        );
        // A create sends only the spec.
        let create =
            serde_json::to_value(cluster_body(&key(), &s, "1.33", &owner(), None)).expect("json");
        assert_eq!(
            create["properties"]["addonProfiles"]
                .as_object()
                .map(|m| m.len()),
            Some(1)
        );
    }

    #[test]
    fn pools_follow_the_control_plane_only_below_the_floor() {
        assert_eq!(
            pool_version("1.33", Some("1.34.1"), Some("1.33.3")).as_deref(),
            Some("1.33.3")
        );
        assert_eq!(
            pool_version("1.34", Some("1.34.1"), Some("1.33.3")).as_deref(),
            Some("1.34.1")
        );
        assert_eq!(
            pool_version("1.34", Some("1.34.1"), None).as_deref(),
            Some("1.34.1")
        );
        assert_eq!(pool_version("1.34", None, None), None);
    }

    #[test]
    fn an_autoscaled_pool_keeps_the_autoscalers_count() {
        let k = AgentPoolKey {
            resource_group: "rg".into(),
            cluster: "c".into(),
            name: "apps".into(),
        };
        let spec = pool("apps", PoolScale::Autoscale { min: 2, max: 10 });
        let new = pool_body(&k, &spec, "1.33", &owner(), Some("1.33.3"), None);
        let p = new.properties.expect("props");
        assert_eq!(
            (p.count, p.min_count, p.max_count),
            (Some(2), Some(2), Some(10))
        );
        assert_eq!(p.orchestrator_version.as_deref(), Some("1.33.3"));
        let observed: AgentPool = serde_json::from_value(serde_json::json!({
            "properties": {"count": 7, "enableAutoScaling": true, "minCount": 2, "maxCount": 10, "currentOrchestratorVersion": "1.33.3", "tags": {"azop.dev/uid": "uid-1"}}
        }))
        .expect("pool");
        let body = pool_body(&k, &spec, "1.33", &owner(), Some("1.33.3"), Some(&observed));
        assert_eq!(body.properties.and_then(|p| p.count), Some(7));
    }

    #[test]
    fn a_kubeconfig_is_fetched_again_only_after_the_cluster_changed() {
        let kc = Kubeconfig::new(b"apiVersion: v1".to_vec());
        let s = kubeconfig_secret("c-kubeconfig", "ns", &owner(), Some("e1"), &kc);
        assert_eq!(s.type_.as_deref(), Some(SECRET_TYPE));
        assert_eq!(
            s.metadata
                .owner_references
                .as_ref()
                .map(|r| r[0].uid.as_str()),
            Some("uid-1")
        );
        assert!(kubeconfig_drift(&s, Some("e1")).is_empty());
        assert_eq!(kubeconfig_drift(&s, Some("e2"))[0].field, "credentials");
        assert!(kubeconfig_drift(&s, None).is_empty());
        let empty = Secret::default();
        assert_eq!(kubeconfig_drift(&empty, None)[0].field, "data.value");
    }
}
