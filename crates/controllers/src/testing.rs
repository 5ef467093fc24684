//! Fixture builders for unit tests: AzureCluster objects, observations and statuses, so a
//! table test states only what differs from a plain cluster.

use std::collections::BTreeMap;

use azop_api::v1alpha1::azure_cluster::{
    ApiServerLoadBalancer, AzureCluster, AzureClusterNetwork, AzureClusterSpec, ControlPlane,
    ExistingVnet, ImageSource, LoadBalancerType, MarketplaceImage, OsDisk, SubnetSpec, WorkerPool,
};
use azop_api::v1alpha1::{AzureScope, Phase};
use azop_provider::Owner;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::engine::apply::views;
use crate::engine::observe::Observed;
use crate::engine::{Kind, NodeState, Observation, Planned, ReportInput, report_resources};

pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";
pub const UID: &str = "3f2a9c1e-0000-4000-8000-000000000001";

/// An AzureCluster under construction. Starts as a one-machine dynamic cluster in `rg` that
/// boots from a managed image, with `createResourceGroup: true`.
#[derive(Clone, Debug)]
pub struct ClusterFixture {
    pub name: String,
    pub spec: AzureClusterSpec,
}

pub fn cluster(name: &str) -> ClusterFixture {
    ClusterFixture {
        name: name.to_string(),
        spec: AzureClusterSpec {
            azure: AzureScope {
                credentials_ref: None,
                subscription_id: SUBSCRIPTION.to_string(),
                location: "westeurope".to_string(),
                resource_group: "rg".to_string(),
                create_resource_group: true,
                tags: BTreeMap::new(),
                reconcile_policy: Default::default(),
                deletion_policy: Default::default(),
            },
            kubernetes_version: "1.33".to_string(),
            network: AzureClusterNetwork::default(),
            control_plane: ControlPlane {
                replicas: 1,
                vm_size: "Standard_D2s_v5".to_string(),
                os_disk: OsDisk::default(),
                zones: Vec::new(),
            },
            worker_pools: Vec::new(),
            image: ImageSource {
                managed_image_id: Some(managed_image_id("base")),
                ..ImageSource::default()
            },
            ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey test".to_string(),
            bootstrap_data_secret_ref: None,
            proxy_config_ref: None,
            cluster_network: Default::default(),
        },
    }
}

pub fn managed_image_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/images/providers/Microsoft.Compute/images/{name}"
    )
}

impl ClusterFixture {
    pub fn existing_resource_group(mut self) -> Self {
        self.spec.azure.create_resource_group = false;
        self
    }

    pub fn control_plane(mut self, replicas: i32, zones: &[&str]) -> Self {
        self.spec.control_plane.replicas = replicas;
        self.spec.control_plane.zones = zones.iter().map(|z| z.to_string()).collect();
        self
    }

    pub fn pool(mut self, name: &str, replicas: i32, zones: &[&str]) -> Self {
        self.spec.worker_pools.push(WorkerPool {
            name: name.to_string(),
            replicas,
            vm_size: "Standard_D4s_v5".to_string(),
            os_disk: OsDisk::default(),
            zones: zones.iter().map(|z| z.to_string()).collect(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
        });
        self
    }

    /// Static placement in `net-rg/vnet` with its subnets and NSGs.
    pub fn static_placement(mut self) -> Self {
        let subnet = |name: &str, cidr: &str, nsg: &str| SubnetSpec {
            name: Some(name.to_string()),
            cidr: Some(cidr.to_string()),
            security_group_name: Some(nsg.to_string()),
        };
        self.spec.network = AzureClusterNetwork {
            existing_vnet: Some(ExistingVnet {
                resource_group: "net-rg".to_string(),
                name: "vnet".to_string(),
            }),
            vnet_cidr: Some("10.0.0.0/8".to_string()),
            control_plane_subnet: Some(subnet("cp", "10.0.0.0/16", "cp-nsg")),
            worker_subnet: Some(subnet("workers", "10.1.0.0/16", "workers-nsg")),
            api_server_load_balancer: None,
        };
        self
    }

    pub fn internal_load_balancer(mut self) -> Self {
        self.spec.network.api_server_load_balancer = Some(ApiServerLoadBalancer {
            lb_type: Some(LoadBalancerType::Internal),
        });
        self
    }

    pub fn marketplace_image(mut self) -> Self {
        self.spec.image = ImageSource {
            marketplace: Some(MarketplaceImage {
                publisher: "Canonical".to_string(),
                offer: "ubuntu-24_04-lts".to_string(),
                sku: "server".to_string(),
                version: "latest".to_string(),
            }),
            ..ImageSource::default()
        };
        self
    }

    pub fn build(self) -> AzureCluster {
        let mut c = AzureCluster::new(&self.name, self.spec);
        c.metadata = ObjectMeta {
            name: Some(self.name),
            namespace: Some("ns".to_string()),
            uid: Some(UID.to_string()),
            generation: Some(1),
            ..ObjectMeta::default()
        };
        c
    }
}

pub fn owner() -> Owner {
    Owner::new("AzureCluster", "ns", "c", UID)
}

/// A resource as a GET found it.
pub fn found(owned: bool, provisioning_state: &str, raw: Value) -> Observation {
    Observation {
        exists: true,
        owned,
        provisioning_state: Some(provisioning_state.to_string()),
        drift: Vec::new(),
        raw: Some(raw),
        poll_after: None,
        failure: None,
    }
}

pub fn ours() -> Observation {
    found(true, "Succeeded", Value::Null)
}

pub fn absent() -> Observation {
    Observation::default()
}

pub fn at(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

pub fn condition(type_: &str, status: &str, reason: &str) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: String::new(),
        observed_generation: Some(1),
        last_transition_time: at(1_000),
    }
}

/// An AzureCluster status in `phase` with these conditions.
pub fn status_in(
    phase: Phase,
    conditions: Vec<Condition>,
) -> azop_api::v1alpha1::azure_cluster::AzureClusterStatus {
    let mut s = azop_api::v1alpha1::azure_cluster::AzureClusterStatus::default();
    s.azure.common.phase = Some(phase);
    s.azure.common.conditions = conditions;
    s.azure.common.observed_generation = Some(1);
    s
}

/// Condition `type_` of a status: `(status, reason, message)`; panics when there is none.
pub fn cond<'a, S: azop_api::v1alpha1::HasAzureStatus>(
    s: &'a S,
    type_: &str,
) -> (&'a str, &'a str, &'a str) {
    let c = s
        .azure()
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no condition {type_}"));
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

/// What one step looked like in a pass, for report tests.
pub type Seen = (NodeState, Observation);

/// A pass that saw each step of `plan` as `seen` says (by graph key).
pub fn observed<P, X>(plan: &[Planned<P, X>], seen: impl Fn(&str) -> Seen) -> Observed {
    let mut o = Observed {
        observations: Default::default(),
        states: Default::default(),
        operations: Vec::new(),
        next_poll: None,
        failed_ops: Default::default(),
    };
    for s in plan {
        let (state, obs) = seen(&s.key);
        o.states.insert(s.key.clone(), state);
        o.observations.insert(s.key.clone(), obs);
    }
    o
}

/// What a kind's report gets from a pass that saw `seen` of `plan` (generation 1, at
/// 2,000 s), with the shared status the engine fills (names and resources).
pub fn report_input<'a, K: Kind>(
    plan: &'a [Planned<K::Part, K::Extra>],
    seen: &'a Observed,
    previous: &'a K::Status,
    removing: Vec<String>,
    names: BTreeMap<String, String>,
    scope: &'a AzureScope,
) -> ReportInput<'a, K> {
    let steps = views(plan, seen, SUBSCRIPTION);
    let azure = azop_api::v1alpha1::AzureStatus {
        azure_names: names,
        resources: report_resources(&steps),
        ..Default::default()
    };
    ReportInput {
        steps,
        removing,
        azure,
        previous,
        generation: Some(1),
        scope,
        now: at(2_000),
    }
}

/// A step for engine tests that only have to plan with it: it names a resource, and its I/O
/// fails loudly if a test ever reaches it.
pub struct NamedStep {
    pub resource_type: &'static str,
    pub name: String,
}

#[async_trait::async_trait]
impl crate::engine::Step for NamedStep {
    fn resource_type(&self) -> &'static str {
        self.resource_type
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn id(&self, subscription_id: &str) -> String {
        format!(
            "/subscriptions/{subscription_id}/resourceGroups/rg/providers/{}/{}",
            self.resource_type, self.name
        )
    }

    async fn observe(
        &self,
        _cx: &crate::engine::StepCtx<'_>,
    ) -> Result<Observation, crate::engine::StepError> {
        Err(no_io())
    }

    async fn put(
        &self,
        _cx: &crate::engine::StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<azop_provider::LroHandle>, crate::engine::StepError> {
        Err(no_io())
    }

    async fn delete(
        &self,
        _cx: &crate::engine::StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<azop_provider::LroHandle>, crate::engine::StepError> {
        Err(no_io())
    }
}

fn no_io() -> crate::engine::StepError {
    crate::engine::StepError::Azure(azop_provider::AzureError::Config {
        reason: "a NamedStep does no I/O".to_string(),
    })
}

/// A planned step named `key` (type `test/<key>`) with `deps`.
pub fn node(key: &str, deps: &[&str]) -> crate::engine::Planned<(), ()> {
    crate::engine::Planned::new(
        key,
        deps,
        (),
        NamedStep {
            resource_type: "test/things",
            name: key.to_string(),
        },
    )
}
