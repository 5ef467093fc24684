//! The AksCluster controller: a managed AKS cluster on the [engine](crate::engine). This
//! module holds only AksCluster's own decisions:
//!
//! - [`plan`]: the graph and the AKS bodies the spec maps to (pure).
//! - [`steps`]: the managed cluster, agent pool and kubeconfig Secret steps, whose bodies
//!   depend on what runs (versions as a floor, the autoscaler's counts, credentials fetched
//!   again after the cluster changed).
//! - [`pools`]: agent pools the spec no longer has, found by listing.
//! - [`report`]: status and conditions (pure).
//! - [`AksClusterKind`]: the registration, with what wakes a cluster: its credentials
//!   Secret, its kubeconfig Secrets (owned), and ProxyConfigs of its namespace (spec changes).

pub mod plan;
pub mod pools;
pub mod report;
pub mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azop_api::naming::AKS_CLUSTER_FINALIZER;
use azop_api::v1alpha1::ArmOperation;
use azop_api::v1alpha1::aks_cluster::{AksCluster, AksClusterStatus};
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use azop_provider::resources;
use azop_provider::resources::containerservice::maintenance_configuration::{
    MaintenanceConfigurationKey, MaintenanceConfigurationResource,
};
use azop_provider::resources::containerservice::versions::{
    list_kubernetes_versions, target_version,
};
use azop_provider::resources::containerservice::{cluster_id, version_satisfies};
use azop_provider::{ArmSession, AzureError, Owner};
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};

use crate::context::Context;
use crate::engine::{Identity, Kind, Leftover, ReportInput, Stop, Sweep, Watches};
use crate::error::Error;
use crate::proxy_config;
use crate::retry::RetryClass;
use plan::{Extra, Part, PlannedStep, Resolved};

/// AksCluster as the engine sees it.
pub struct AksClusterKind;

#[async_trait]
impl Kind for AksClusterKind {
    type Object = AksCluster;
    type Status = AksClusterStatus;
    type Resolved = Resolved;
    type Part = Part;
    type Extra = Extra;

    const IDENTITY: Identity = Identity {
        kind: "AksCluster",
        finalizer: AKS_CLUSTER_FINALIZER,
        field_manager: steps::FIELD_MANAGER,
        metrics_label: "akscluster",
        reporter: "azop",
    };

    /// Its kubeconfig Secrets (written again when changed or deleted) and ProxyConfigs (its
    /// httpProxyConfig follows them).
    fn watches(&self) -> Watches<AksCluster> {
        Watches::<AksCluster>::default()
            .owned_secrets()
            .proxy_configs(|c| c.spec.proxy_config_ref.as_ref().map(|r| r.name.clone()))
    }

    /// The inherited proxy: `spec.proxyConfigRef`, else the namespace's default ProxyConfig.
    async fn resolve(&self, ctx: &Context, obj: &AksCluster) -> Result<Resolved, Error> {
        let ns = obj.namespace().unwrap_or_default();
        let proxies: Api<ProxyConfig> = Api::namespaced(ctx.client.clone(), &ns);
        let list = proxies
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube(format!("list ProxyConfigs in {ns}"), e))?;
        let all: Vec<Arc<ProxyConfig>> = list.items.into_iter().map(Arc::new).collect();
        let reference = obj.spec.proxy_config_ref.as_ref().map(|r| r.name.as_str());
        let proxy = proxy_config::for_cluster(
            &ctx.client,
            &all,
            &ns,
            reference,
            &proxy_config::inherit::aks_cluster_network(obj),
        )
        .await?;
        Ok(Resolved {
            http_proxy: proxy.map(|p| p.aks_http_proxy_config()),
        })
    }

    fn names(&self, obj: &AksCluster) -> BTreeMap<String, String> {
        plan::names(&obj.name_any(), &obj.spec)
    }

    /// Before a create or an upgrade (nothing in flight): is the version to ask for one AKS
    /// offers in the region? If not, the condition lists those it does, and nothing is
    /// written. A steady state never asks.
    async fn precheck(
        &self,
        session: &ArmSession,
        obj: &AksCluster,
    ) -> Result<Option<Stop>, Error> {
        let status = obj.status.clone().unwrap_or_default();
        let spec_version = &obj.spec.kubernetes_version;
        let running = status.kubernetes_version.as_deref();
        let pending = running.is_none_or(|r| !version_satisfies(spec_version, r));
        if !pending || !status.azure.operations.is_empty() {
            return Ok(None);
        }
        let location = &obj.spec.azure.location;
        let offered = list_kubernetes_versions(session, location)
            .await
            .map_err(|e| Error::azure("list the Kubernetes versions AKS offers", e))?;
        let target = target_version(spec_version, running);
        if offered.values.is_empty() || offered.offers(&target) {
            return Ok(None);
        }
        Ok(Some(
            Stop::new(
                "KubernetesVersionNotOffered",
                format!(
                    "Kubernetes {target} is not offered by AKS in {location}; offered: {}. Set spec.kubernetesVersion to one of them",
                    offered.summary()
                ),
                RetryClass::InvalidSpec,
            )
            .with_floor(Duration::from_secs(60)),
        ))
    }

    fn plan(
        &self,
        obj: &AksCluster,
        resolved: Option<&Resolved>,
        _names: &BTreeMap<String, String>,
    ) -> Vec<PlannedStep> {
        plan::plan(
            &obj.name_any(),
            &obj.namespace().unwrap_or_default(),
            &obj.spec,
            resolved,
        )
    }

    async fn sweep(
        &self,
        session: &ArmSession,
        owner: &Owner,
        obj: &AksCluster,
        _resolved: Option<&Resolved>,
        _plan: &[PlannedStep],
        operations: &mut Vec<ArmOperation>,
    ) -> Result<Sweep, AzureError> {
        // While deleting, the pools go with their cluster.
        if obj.meta().deletion_timestamp.is_some() {
            return Ok(Sweep::default());
        }
        let wanted = wanted_pools(obj);
        let path = cluster_id(
            session.subscription_id(),
            &obj.spec.azure.resource_group,
            &obj.name_any(),
        );
        let mut sweep = pools::remove(session, owner, &path, &wanted, operations).await?;
        // Maintenance windows azop applied that the spec no longer has. A refusal (the cluster
        // is busy) stops the pass, so status keeps naming the window until it is gone.
        let applied = obj
            .status
            .as_ref()
            .map(|s| s.maintenance_configurations.clone())
            .unwrap_or_default();
        for name in plan::stale_maintenance(&applied, &obj.spec) {
            let key = MaintenanceConfigurationKey {
                resource_group: obj.spec.azure.resource_group.clone(),
                cluster: obj.name_any(),
                name: name.clone(),
            };
            resources::delete_observed::<MaintenanceConfigurationResource>(session, &key).await?;
            sweep
                .started
                .push(format!("maintenanceConfigurations {name}"));
        }
        Ok(sweep)
    }

    async fn leftovers(
        &self,
        session: &ArmSession,
        owner: &Owner,
        obj: &AksCluster,
        _resolved: Option<&Resolved>,
        _plan: &[PlannedStep],
    ) -> Result<Vec<Leftover>, AzureError> {
        let path = cluster_id(
            session.subscription_id(),
            &obj.spec.azure.resource_group,
            &obj.name_any(),
        );
        let in_flight = obj
            .status
            .as_ref()
            .map(|s| s.azure.operations.clone())
            .unwrap_or_default();
        pools::leftovers(session, owner, &path, &wanted_pools(obj), &in_flight).await
    }

    fn report(&self, input: ReportInput<'_, Self>) -> AksClusterStatus {
        report::status(input)
    }
}

/// The spec's pool names, lower-case: the pools the sweep keeps.
fn wanted_pools(obj: &AksCluster) -> BTreeSet<String> {
    obj.spec
        .node_pools
        .iter()
        .map(|p| p.name.to_ascii_lowercase())
        .collect()
}
