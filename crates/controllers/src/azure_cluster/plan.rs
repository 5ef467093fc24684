//! The resource graph of one AzureCluster (pure): which Azure resources, their specs, and
//! what each depends on.
//!
//! Dynamic placement:
//! ```text
//! resource group ─┬─ control-plane NSG ─┐
//!                 ├─ worker NSG ────────┼─ VNet (both subnets) ─┬─ control-plane NICs ─ VMs
//!                 ├─ NAT public IP ─ NAT gateway ─┘             └─ worker NICs ─ VMs
//!                 └─ API public IP ─ load balancer ─────────────── (control-plane NICs)
//! ```
//! The NAT gateway comes before the VNet (not after, as a naive order would have it) because
//! the subnets reference it: creating the VNet first would cost a second VNet write. The load
//! balancer does not depend on the VNet (a public frontend needs only its IP), so it is built
//! in parallel with the network.
//!
//! Static placement drops the NSGs, VNet, NAT gateway and its IP: NICs join the existing
//! subnets, which the reconcile checks (read-only) before anything is written.

use std::collections::BTreeMap;
use std::sync::Arc;

use azop_api::v1alpha1::azure_cluster::{
    AzureClusterSpec, DEFAULT_CONTROL_PLANE_SUBNET_CIDR, DEFAULT_VNET_CIDR,
    DEFAULT_WORKER_SUBNET_CIDR, LoadBalancerType, NodeRole, OsDiskType,
};
use azop_provider::resources::ArmResource;
use azop_provider::resources::compute::virtual_machine::{
    ImageSource, ObservedVirtualMachine, OsDiskSpec, VirtualMachine, VirtualMachineKey,
    VirtualMachineSpec, VmAspect, changed_aspects,
};
use azop_provider::resources::network::ids;
use azop_provider::resources::network::load_balancer::{
    self, API_SERVER_PORT, Frontend, LoadBalancer, LoadBalancerKey, LoadBalancerSpec,
};
use azop_provider::resources::network::nat_gateway::{NatGateway, NatGatewayKey, NatGatewaySpec};
use azop_provider::resources::network::network_interface::{
    NetworkInterface, NetworkInterfaceKey, NetworkInterfaceSpec,
};
use azop_provider::resources::network::network_security_group::{
    NetworkSecurityGroup, NetworkSecurityGroupKey, NetworkSecurityGroupSpec, RuleAccess,
    RuleDirection, RuleProtocol, SecurityRuleSpec,
};
use azop_provider::resources::network::public_ip::{PublicIp, PublicIpKey, PublicIpSpec};
use azop_provider::resources::network::virtual_network::{
    SubnetSpec, VirtualNetwork, VirtualNetworkKey, VirtualNetworkSpec,
};
use serde_json::Value;

use super::fleet::Survey;
use super::machines::{self, MachinePlan, desired_machines};
use super::names::ClusterNames;
use super::node_steps::{Bootstrap, KeptAsIs, KubeconfigStep, MachineStep, PkiStep};
use super::rollout;
use crate::engine::plan::resource_group;
use crate::engine::{Ownership, Planned, ResourceStep, Rollout, Step, Swap};

/// The admin user on every machine (password login is disabled; the SSH key is the way in).
pub const ADMIN_USERNAME: &str = "azureuser";

/// Which condition a step reports under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    ResourceGroup,
    Network,
    LoadBalancer,
    ControlPlane,
    Workers,
}

impl crate::engine::Part for Part {
    const ALL: &'static [Part] = &[
        Part::ResourceGroup,
        Part::Network,
        Part::LoadBalancer,
        Part::ControlPlane,
        Part::Workers,
    ];

    fn condition_type(self) -> &'static str {
        match self {
            Part::ResourceGroup => "ResourceGroupReady",
            Part::Network => "NetworkReady",
            Part::LoadBalancer => "LoadBalancerReady",
            Part::ControlPlane => "ControlPlaneReady",
            Part::Workers => "WorkersReady",
        }
    }
}

/// One step of an AzureCluster's graph; the machine it belongs to, for NICs and VMs.
pub type PlannedStep = Planned<Part, MachinePlan>;

/// What the reconcile resolved before planning: references read from Kubernetes.
#[derive(Clone)]
pub struct Resolved {
    pub image: ImageSource,
    /// The user's bootstrap data (behind azop's node fragments), when they bring their own.
    pub custom_data: Option<String>,
    /// azop's own bootstrap (no `bootstrapDataSecretRef`): PKI, kubeconfig and kubeadm
    /// customData per machine.
    pub bootstrap: Option<Arc<Bootstrap>>,
    /// The machines in Azure now (and their nodes), read before planning. `None` before the
    /// survey: the machines are then the spec's numbering.
    pub survey: Option<Survey>,
}

/// Whether a machine of `role` is replaced (rather than updated in place) for a change in
/// `aspect` of its VM. What Azure can only give a new VM (an image, an OS disk) replaces any
/// machine; a worker is replaced for a new size too, as a Cluster API MachineDeployment rolls
/// its machines, while a control-plane machine is resized in place (replacing it needs etcd
/// membership changes azop does not make yet). Pure.
pub fn replaced_for(role: NodeRole, aspect: VmAspect) -> bool {
    aspect.needs_new_vm() || (role == NodeRole::Worker && aspect == VmAspect::Size)
}

/// Whether `vm` (as ARM lists it) differs from the machine's VM in an aspect the machine is
/// replaced for. Pure.
pub fn outdated(
    vm_spec: &(VirtualMachineKey, VirtualMachineSpec),
    role: NodeRole,
    vm: &Value,
) -> bool {
    let Ok(observed) = serde_json::from_value::<ObservedVirtualMachine>(vm.clone()) else {
        return false;
    };
    // The owner only shapes the tags, which are not part of a machine's template.
    let owner = azop_provider::Owner::new("AzureCluster", "", "", "");
    let desired = VirtualMachine::desired(&vm_spec.0, &vm_spec.1, &owner);
    changed_aspects(&desired, &observed)
        .into_iter()
        .any(|aspect| replaced_for(role, aspect))
}

/// What differs between a listed VM and the machine the spec describes, as the provider's
/// diff says it (tags left out: they are not part of a machine's template). Pure.
pub fn machine_changes(
    vm_spec: &(VirtualMachineKey, VirtualMachineSpec),
    vm: &Value,
) -> Vec<azop_provider::Difference> {
    let Ok(observed) = serde_json::from_value::<ObservedVirtualMachine>(vm.clone()) else {
        return Vec::new();
    };
    let owner = azop_provider::Owner::new("AzureCluster", "", "", "");
    let desired = VirtualMachine::desired(&vm_spec.0, &vm_spec.1, &owner);
    VirtualMachine::diff(&desired, &observed)
        .into_iter()
        .filter(|d| d.field != "tags")
        .collect()
}

/// The rolling replacement of every worker pool from what the survey found, walked to its
/// end with the controller's own decision ([`rollout::schedule`]), in order (pure).
pub fn rollout(cluster: &str, spec: &AzureClusterSpec, resolved: &Resolved) -> Rollout {
    let mut out = Rollout::default();
    let Some(survey) = resolved.survey.as_ref() else {
        return out;
    };
    let image = &resolved.image;
    let is_outdated =
        |m: &MachinePlan, vm: &Value| outdated(&vm_spec(spec, m, image, None), m.role, vm);
    let listed = super::fleet::by_name(&survey.owned);
    let vm_type = VirtualMachine::RESOURCE_TYPE.to_string();
    for pool in &spec.worker_pools {
        let slots = machines::pool_slots(cluster, pool, survey, is_outdated);
        let replicas = usize::try_from(pool.replicas).unwrap_or(0);
        let (pairs, added, removed) = rollout::swaps(&rollout::schedule(replicas, &slots));
        let name = |i: usize| super::names::worker_machine(cluster, &pool.name, i);
        for (old, new) in pairs {
            let machine = machines::worker(cluster, pool, old);
            let changes = listed
                .get(&machine.name)
                .map(|vm| machine_changes(&vm_spec(spec, &machine, image, None), vm))
                .unwrap_or_default();
            out.swaps.push(Swap {
                pool: pool.name.clone(),
                kind: vm_type.clone(),
                old: name(old),
                new: name(new),
                changes,
            });
        }
        out.added
            .extend(added.into_iter().map(|i| (vm_type.clone(), name(i))));
        out.removed
            .extend(removed.into_iter().map(|i| (vm_type.clone(), name(i))));
    }
    out
}

pub use crate::engine::plan::KEY_RESOURCE_GROUP;
pub const KEY_CP_NSG: &str = "nsg/controlplane";
pub const KEY_WORKER_NSG: &str = "nsg/worker";
pub const KEY_NAT_PIP: &str = "pip/natgw";
pub const KEY_NAT: &str = "natgw";
pub const KEY_VNET: &str = "vnet";
pub const KEY_API_PIP: &str = "pip/apiserver";
pub const KEY_LB: &str = "lb";
pub const KEY_PKI: &str = "secret/pki";
pub const KEY_KUBECONFIG: &str = "secret/kubeconfig";

pub fn nic_key(machine: &str) -> String {
    format!("nic/{machine}")
}

pub fn vm_key(machine: &str) -> String {
    format!("vm/{machine}")
}

fn disk_type(t: OsDiskType) -> &'static str {
    match t {
        OsDiskType::StandardLrs => "Standard_LRS",
        OsDiskType::StandardSsdLrs => "StandardSSD_LRS",
        OsDiskType::PremiumLrs => "Premium_LRS",
    }
}

/// The control-plane NSG's rule: the API server port from anywhere (the public load balancer
/// forwards client traffic with the client's address; its probe is allowed by the default
/// AllowAzureLoadBalancerInBound rule). Everything else stays closed by DenyAllInBound.
pub fn control_plane_rules() -> Vec<SecurityRuleSpec> {
    vec![SecurityRuleSpec {
        name: "allow-apiserver".to_string(),
        priority: 100,
        direction: RuleDirection::Inbound,
        access: RuleAccess::Allow,
        protocol: RuleProtocol::Tcp,
        source_address_prefix: "*".to_string(),
        source_port_range: "*".to_string(),
        destination_address_prefix: "*".to_string(),
        destination_port_range: API_SERVER_PORT.to_string(),
        description: Some("Kubernetes API server through the public load balancer".to_string()),
    }]
}

/// Whether the API server sits behind an internal load balancer (static placement only).
pub fn internal_load_balancer(spec: &AzureClusterSpec) -> bool {
    spec.network
        .api_server_load_balancer
        .as_ref()
        .and_then(|l| l.lb_type)
        == Some(LoadBalancerType::Internal)
}

/// The subnets of the cluster (dynamic placement), with their CIDRs or CAPZ's defaults.
pub fn subnet_cidrs(spec: &AzureClusterSpec) -> (String, String, String) {
    let net = &spec.network;
    let vnet = net
        .vnet_cidr
        .clone()
        .unwrap_or_else(|| DEFAULT_VNET_CIDR.to_string());
    let cp = net
        .control_plane_subnet
        .as_ref()
        .and_then(|s| s.cidr.clone())
        .unwrap_or_else(|| DEFAULT_CONTROL_PLANE_SUBNET_CIDR.to_string());
    let worker = net
        .worker_subnet
        .as_ref()
        .and_then(|s| s.cidr.clone())
        .unwrap_or_else(|| DEFAULT_WORKER_SUBNET_CIDR.to_string());
    (vnet, cp, worker)
}

/// Subnet ids the NICs join: ours (dynamic) or the existing ones (static).
pub fn subnet_ids(cluster: &str, spec: &AzureClusterSpec) -> (String, String) {
    let sub = &spec.azure.subscription_id;
    match &spec.network.existing_vnet {
        Some(existing) => {
            let name = |s: &Option<azop_api::v1alpha1::azure_cluster::SubnetSpec>| {
                s.as_ref().and_then(|s| s.name.clone()).unwrap_or_default()
            };
            (
                ids::subnet(
                    sub,
                    &existing.resource_group,
                    &existing.name,
                    &name(&spec.network.control_plane_subnet),
                ),
                ids::subnet(
                    sub,
                    &existing.resource_group,
                    &existing.name,
                    &name(&spec.network.worker_subnet),
                ),
            )
        }
        None => {
            let n = ClusterNames::for_cluster(cluster, internal_load_balancer(spec));
            let rg = &spec.azure.resource_group;
            (
                ids::subnet(sub, rg, &n.vnet, &n.control_plane_subnet),
                ids::subnet(sub, rg, &n.vnet, &n.worker_subnet),
            )
        }
    }
}

/// The VM of machine `m` (pure).
pub fn vm_spec(
    spec: &AzureClusterSpec,
    m: &MachinePlan,
    image: &ImageSource,
    custom_data: Option<String>,
) -> (VirtualMachineKey, VirtualMachineSpec) {
    let az = &spec.azure;
    let rg = &az.resource_group;
    (
        VirtualMachineKey {
            resource_group: rg.clone(),
            name: m.name.clone(),
        },
        VirtualMachineSpec {
            location: az.location.clone(),
            vm_size: m.vm_size.clone(),
            zone: m.zone.clone(),
            image: image.clone(),
            os_disk: OsDiskSpec {
                size_gb: m.os_disk.size_gib,
                storage_account_type: disk_type(m.os_disk.disk_type).to_string(),
            },
            admin_username: ADMIN_USERNAME.to_string(),
            ssh_public_key: spec.ssh_public_key.clone(),
            custom_data,
            nic_ids: vec![ids::network_interface(&az.subscription_id, rg, &m.nic)],
            tags: az.tags.clone(),
        },
    )
}

fn step<S: Step + 'static>(key: &str, deps: &[&str], part: Part, s: S) -> PlannedStep {
    Planned::new(key, deps, part, s)
}

fn machine_step<S: Step + 'static>(
    key: String,
    deps: Vec<String>,
    part: Part,
    machine: &MachinePlan,
    s: S,
) -> PlannedStep {
    PlannedStep {
        key,
        deps,
        part,
        ownership: Ownership::Owned,
        container: false,
        extra: Some(machine.clone()),
        step: Box::new(s),
    }
}

/// The whole graph for `cluster` (pure). `resolved` is `None` while deleting: the image and
/// bootstrap data do not matter then, only names and ids.
pub fn plan(
    cluster: &str,
    spec: &AzureClusterSpec,
    resolved: Option<&Resolved>,
) -> Vec<PlannedStep> {
    let mut g = Graph::new(cluster, spec);
    g.steps
        .push(resource_group(&spec.azure, Part::ResourceGroup));
    if g.dynamic() {
        g.network();
    }
    g.load_balancer();
    let image = resolved.map_or(ImageSource::ManagedImage { id: String::new() }, |r| {
        r.image.clone()
    });
    // While deleting (`resolved` is None) the Secrets are left to the garbage collector.
    let bootstrap = resolved.and_then(|r| r.bootstrap.as_ref());
    if let Some(b) = bootstrap {
        g.bootstrap_secrets(b);
    }
    let custom_data = resolved.and_then(|r| r.custom_data.clone());
    let machines = match resolved.and_then(|r| r.survey.as_ref()) {
        Some(survey) => machines::with_survey(cluster, spec, survey, |m, vm| {
            outdated(&vm_spec(spec, m, &image, None), m.role, vm)
        }),
        None => desired_machines(cluster, spec),
    };
    for m in machines {
        g.machine(&m, &image, custom_data.clone(), bootstrap);
    }
    g.steps
}

/// One cluster's graph while it is built: what every step shares, and the steps so far.
struct Graph<'a> {
    cluster: &'a str,
    spec: &'a AzureClusterSpec,
    names: ClusterNames,
    steps: Vec<PlannedStep>,
}

impl<'a> Graph<'a> {
    fn new(cluster: &'a str, spec: &'a AzureClusterSpec) -> Self {
        Graph {
            cluster,
            spec,
            names: ClusterNames::for_cluster(cluster, internal_load_balancer(spec)),
            steps: Vec::new(),
        }
    }

    fn dynamic(&self) -> bool {
        self.spec.network.existing_vnet.is_none()
    }

    fn rg(&self) -> &'a String {
        &self.spec.azure.resource_group
    }

    fn sub(&self) -> &'a String {
        &self.spec.azure.subscription_id
    }

    fn location(&self) -> String {
        self.spec.azure.location.clone()
    }

    fn tags(&self) -> BTreeMap<String, String> {
        self.spec.azure.tags.clone()
    }

    /// The step whose observation holds the endpoint's address: the API public IP (assigned
    /// when it is created, long before the load balancer is done, so workers need not wait
    /// for the load balancer), or the internal load balancer's frontend.
    fn endpoint_key(&self) -> &'static str {
        if internal_load_balancer(self.spec) {
            KEY_LB
        } else {
            KEY_API_PIP
        }
    }

    fn nsg(&self, name: &str, rules: Vec<SecurityRuleSpec>) -> ResourceStep<NetworkSecurityGroup> {
        ResourceStep::new(
            name,
            NetworkSecurityGroupKey {
                resource_group: self.rg().clone(),
                name: name.to_string(),
            },
            NetworkSecurityGroupSpec {
                location: self.location(),
                rules,
                tags: self.tags(),
            },
        )
    }

    fn public_ip(&self, name: &str, zones: Vec<String>) -> ResourceStep<PublicIp> {
        ResourceStep::new(
            name,
            PublicIpKey {
                resource_group: self.rg().clone(),
                name: name.to_string(),
            },
            PublicIpSpec {
                location: self.location(),
                zones,
                tags: self.tags(),
            },
        )
    }

    /// Dynamic placement: both NSGs, the NAT gateway and its IP, then the VNet with both
    /// subnets (which reference the NAT gateway: it comes first, so the VNet is written
    /// once).
    fn network(&mut self) {
        let n = self.names.clone();
        let (sub, rg) = (self.sub(), self.rg());
        let rg_dep = &[KEY_RESOURCE_GROUP];
        let cp_nsg = self.nsg(&n.control_plane_nsg, control_plane_rules());
        let worker_nsg = self.nsg(&n.worker_nsg, Vec::new());
        let nat_ip = self.public_ip(&n.nat_gateway_public_ip, Vec::new());
        let nat = ResourceStep::<NatGateway>::new(
            &n.nat_gateway,
            NatGatewayKey {
                resource_group: rg.clone(),
                name: n.nat_gateway.clone(),
            },
            NatGatewaySpec {
                location: self.location(),
                zones: Vec::new(),
                public_ip_ids: vec![ids::public_ip(sub, rg, &n.nat_gateway_public_ip)],
                idle_timeout_minutes: None,
                tags: self.tags(),
            },
        );
        let vnet = self.vnet();
        self.steps.extend([
            step(KEY_CP_NSG, rg_dep, Part::Network, cp_nsg),
            step(KEY_WORKER_NSG, rg_dep, Part::Network, worker_nsg),
            step(KEY_NAT_PIP, rg_dep, Part::Network, nat_ip),
            step(KEY_NAT, &[KEY_NAT_PIP], Part::Network, nat),
            step(
                KEY_VNET,
                &[KEY_CP_NSG, KEY_WORKER_NSG, KEY_NAT],
                Part::Network,
                vnet,
            ),
        ]);
    }

    /// The VNet with the control-plane and worker subnets, each with its NSG, both through
    /// the NAT gateway.
    fn vnet(&self) -> ResourceStep<VirtualNetwork> {
        let n = &self.names;
        let (sub, rg) = (self.sub(), self.rg());
        let (vnet_cidr, cp_cidr, worker_cidr) = subnet_cidrs(self.spec);
        let nat_id = ids::nat_gateway(sub, rg, &n.nat_gateway);
        let subnet = |name: &str, cidr: &str, nsg_name: &str| SubnetSpec {
            name: name.to_string(),
            address_prefix: cidr.to_string(),
            network_security_group_id: Some(ids::network_security_group(sub, rg, nsg_name)),
            nat_gateway_id: Some(nat_id.clone()),
            service_endpoints: Vec::new(),
        };
        ResourceStep::new(
            &n.vnet,
            VirtualNetworkKey {
                resource_group: rg.clone(),
                name: n.vnet.clone(),
            },
            VirtualNetworkSpec {
                location: self.location(),
                address_prefixes: vec![vnet_cidr],
                subnets: vec![
                    subnet(&n.control_plane_subnet, &cp_cidr, &n.control_plane_nsg),
                    subnet(&n.worker_subnet, &worker_cidr, &n.worker_nsg),
                ],
                tags: self.tags(),
            },
        )
    }

    /// The API server's load balancer: public (with its IP, zone-redundant when the control
    /// plane spans zones, so a zone outage does not take the endpoint down with it), or
    /// internal in the control-plane subnet (static placement only, which the
    /// static-placement check has already found).
    fn load_balancer(&mut self) {
        let n = self.names.clone();
        let (sub, rg) = (self.sub(), self.rg());
        let (frontend, lb_deps) = if internal_load_balancer(self.spec) {
            let (cp_subnet, _) = subnet_ids(self.cluster, self.spec);
            (
                Frontend::Internal {
                    subnet_id: cp_subnet,
                },
                [KEY_RESOURCE_GROUP],
            )
        } else {
            let zones = self.spec.control_plane.zones.clone();
            let ip = self.public_ip(&n.api_server_public_ip, zones);
            self.steps.push(step(
                KEY_API_PIP,
                &[KEY_RESOURCE_GROUP],
                Part::LoadBalancer,
                ip,
            ));
            (
                Frontend::Public {
                    public_ip_id: ids::public_ip(sub, rg, &n.api_server_public_ip),
                },
                [KEY_API_PIP],
            )
        };
        let lb = ResourceStep::<LoadBalancer>::new(
            &n.load_balancer,
            self.lb_key(),
            LoadBalancerSpec {
                subscription_id: sub.clone(),
                location: self.location(),
                frontend,
                port: API_SERVER_PORT,
                tags: self.tags(),
            },
        );
        self.steps
            .push(step(KEY_LB, &lb_deps, Part::LoadBalancer, lb));
    }

    fn lb_key(&self) -> LoadBalancerKey {
        LoadBalancerKey {
            resource_group: self.rg().clone(),
            name: self.names.load_balancer.clone(),
        }
    }

    /// azop's own bootstrap: the PKI Secrets first, the admin kubeconfig once the endpoint
    /// has its address.
    fn bootstrap_secrets(&mut self, b: &Arc<Bootstrap>) {
        let endpoint = self.endpoint_key();
        self.steps.extend([
            step(KEY_PKI, &[], Part::ControlPlane, PkiStep::new(b.clone())),
            step(
                KEY_KUBECONFIG,
                &[KEY_PKI, endpoint],
                Part::ControlPlane,
                KubeconfigStep::new(b.clone()),
            ),
        ]);
    }

    /// One machine: its NIC (control-plane NICs in the load balancer's pool), then its VM.
    fn machine(
        &mut self,
        m: &MachinePlan,
        image: &ImageSource,
        custom_data: Option<String>,
        bootstrap: Option<&Arc<Bootstrap>>,
    ) {
        let (cp_subnet, worker_subnet) = subnet_ids(self.cluster, self.spec);
        let (part, subnet_id, pools, mut nic_deps) = match m.role {
            NodeRole::ControlPlane => (
                Part::ControlPlane,
                cp_subnet,
                vec![load_balancer::backend_pool_id(self.sub(), &self.lb_key())],
                vec![KEY_LB.to_string()],
            ),
            NodeRole::Worker => (Part::Workers, worker_subnet, Vec::new(), Vec::new()),
        };
        nic_deps.push(
            if self.dynamic() {
                KEY_VNET
            } else {
                KEY_RESOURCE_GROUP
            }
            .to_string(),
        );
        let nic = ResourceStep::<NetworkInterface>::new(
            &m.nic,
            NetworkInterfaceKey {
                resource_group: self.rg().clone(),
                name: m.nic.clone(),
            },
            NetworkInterfaceSpec {
                location: self.location(),
                subnet_id,
                backend_pool_ids: pools,
                accelerated_networking: false,
                tags: self.tags(),
            },
        );
        self.steps
            .push(machine_step(nic_key(&m.name), nic_deps, part, m, nic));
        self.vm(m, part, image, custom_data, bootstrap);
    }

    /// A machine's VM: bootstrapped by azop (it waits for the PKI and the endpoint's
    /// address, which its customData carries), or with the user's data; an outdated one is
    /// kept as it is until the rollout removes it.
    fn vm(
        &mut self,
        m: &MachinePlan,
        part: Part,
        image: &ImageSource,
        custom_data: Option<String>,
        bootstrap: Option<&Arc<Bootstrap>>,
    ) {
        let (key, spec) = vm_spec(self.spec, m, image, custom_data);
        let vm = ResourceStep::<VirtualMachine>::new(&m.name, key, spec);
        let mut deps = vec![nic_key(&m.name)];
        let Some(b) = bootstrap else {
            let planned = if m.outdated {
                machine_step(vm_key(&m.name), deps, part, m, KeptAsIs(vm))
            } else {
                machine_step(vm_key(&m.name), deps, part, m, vm)
            };
            self.steps.push(planned);
            return;
        };
        let pool = m
            .pool
            .as_ref()
            .and_then(|p| self.spec.worker_pools.iter().find(|w| &w.name == p));
        let machine = MachineStep {
            vm,
            bootstrap: b.clone(),
            machine: m.clone(),
            labels: pool.map(|p| p.labels.clone()).unwrap_or_default(),
            taints: pool.map(|p| p.taints.clone()).unwrap_or_default(),
        };
        deps.extend([KEY_PKI.to_string(), self.endpoint_key().to_string()]);
        let planned = if m.outdated {
            machine_step(vm_key(&m.name), deps, part, m, KeptAsIs(machine))
        } else {
            machine_step(vm_key(&m.name), deps, part, m, machine)
        };
        self.steps.push(planned);
    }
}

#[cfg(test)]
mod tests {
    use azop_provider::resources::compute::virtual_machine::ImageSource;
    use serde_json::Value;

    use super::*;
    use crate::engine::Ownership;
    use crate::testing::{self, ClusterFixture, cluster, managed_image_id, owner};

    fn resolved(image: ImageSource) -> Resolved {
        Resolved {
            image,
            custom_data: None,
            bootstrap: None,
            survey: None,
        }
    }

    fn managed() -> Resolved {
        resolved(ImageSource::ManagedImage {
            id: managed_image_id("base"),
        })
    }

    fn planned(c: ClusterFixture) -> Vec<PlannedStep> {
        let c = c.build();
        plan("c", &c.spec, Some(&managed()))
    }

    fn keys(steps: &[PlannedStep]) -> Vec<&str> {
        steps.iter().map(|s| s.key.as_str()).collect()
    }

    fn step<'a>(steps: &'a [PlannedStep], key: &str) -> &'a PlannedStep {
        steps
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("no step {key} in {:?}", keys(steps)))
    }

    fn deps<'a>(steps: &'a [PlannedStep], key: &str) -> Vec<&'a str> {
        step(steps, key).deps.iter().map(String::as_str).collect()
    }

    fn body(steps: &[PlannedStep], key: &str) -> Value {
        step(steps, key)
            .step
            .desired(&owner())
            .expect("a provider resource")
    }

    fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
    }

    #[test]
    fn dynamic_placement_builds_the_whole_network() {
        let steps = planned(cluster("c"));
        assert_eq!(
            keys(&steps),
            vec![
                KEY_RESOURCE_GROUP,
                KEY_CP_NSG,
                KEY_WORKER_NSG,
                KEY_NAT_PIP,
                KEY_NAT,
                KEY_VNET,
                KEY_API_PIP,
                KEY_LB,
                "nic/c-cp-0",
                "vm/c-cp-0",
            ]
        );
        // Table: key → dependencies.
        let table: &[(&str, &[&str])] = &[
            (KEY_RESOURCE_GROUP, &[]),
            (KEY_CP_NSG, &[KEY_RESOURCE_GROUP]),
            (KEY_WORKER_NSG, &[KEY_RESOURCE_GROUP]),
            (KEY_NAT_PIP, &[KEY_RESOURCE_GROUP]),
            (KEY_NAT, &[KEY_NAT_PIP]),
            (KEY_VNET, &[KEY_CP_NSG, KEY_WORKER_NSG, KEY_NAT]),
            (KEY_API_PIP, &[KEY_RESOURCE_GROUP]),
            (KEY_LB, &[KEY_API_PIP]),
            ("nic/c-cp-0", &[KEY_LB, KEY_VNET]),
            ("vm/c-cp-0", &["nic/c-cp-0"]),
        ];
        for (key, want) in table {
            assert_eq!(deps(&steps, key), *want, "{key}");
        }
        let parts: Vec<(&str, Part)> = steps.iter().map(|s| (s.key.as_str(), s.part)).collect();
        assert!(parts.contains(&(KEY_VNET, Part::Network)));
        assert!(parts.contains(&(KEY_LB, Part::LoadBalancer)));
        assert!(parts.contains(&("vm/c-cp-0", Part::ControlPlane)));
        let rg = step(&steps, KEY_RESOURCE_GROUP);
        assert_eq!(rg.ownership, Ownership::OwnedOrExisting);
        assert!(rg.container);
        assert!(steps.iter().filter(|s| s.container).count() == 1);
        // The subnets use the NAT gateway and their NSGs.
        let vnet = body(&steps, KEY_VNET);
        let n = ClusterNames::for_cluster("c", false);
        for i in 0..2 {
            let subnet = format!("/properties/subnets/{i}/properties");
            assert!(
                text(&vnet, &format!("{subnet}/natGateway/id"))
                    .ends_with(&format!("/natGateways/{}", n.nat_gateway)),
                "{vnet}"
            );
            assert!(
                text(&vnet, &format!("{subnet}/networkSecurityGroup/id"))
                    .contains("/networkSecurityGroups/"),
                "{vnet}"
            );
        }
    }

    #[test]
    fn an_existing_resource_group_is_observed_never_owned() {
        let steps = planned(cluster("c").existing_resource_group());
        assert_eq!(
            step(&steps, KEY_RESOURCE_GROUP).ownership,
            Ownership::Existing
        );
        assert!(
            steps
                .iter()
                .filter(|s| s.key != KEY_RESOURCE_GROUP)
                .all(|s| s.ownership == Ownership::Owned)
        );
    }

    #[test]
    fn static_placement_joins_the_existing_subnets() {
        let steps = planned(cluster("c").static_placement().pool("w", 1, &[]));
        assert_eq!(
            keys(&steps),
            vec![
                KEY_RESOURCE_GROUP,
                KEY_API_PIP,
                KEY_LB,
                "nic/c-cp-0",
                "vm/c-cp-0",
                "nic/c-w-0",
                "vm/c-w-0",
            ]
        );
        assert_eq!(deps(&steps, "nic/c-cp-0"), vec![KEY_LB, KEY_RESOURCE_GROUP]);
        assert_eq!(deps(&steps, "nic/c-w-0"), vec![KEY_RESOURCE_GROUP]);
        let subnet = "/properties/ipConfigurations/0/properties/subnet/id";
        let cp = body(&steps, "nic/c-cp-0");
        assert!(
            text(&cp, subnet).ends_with(
                "/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/cp"
            ),
            "{cp}"
        );
        let w = body(&steps, "nic/c-w-0");
        assert!(
            text(&w, subnet).ends_with("/virtualNetworks/vnet/subnets/workers"),
            "{w}"
        );
        // Only control-plane NICs join the load balancer's pool.
        assert!(
            cp.pointer(
                "/properties/ipConfigurations/0/properties/loadBalancerBackendAddressPools/0/id"
            )
            .is_some(),
            "{cp}"
        );
        assert!(
            w.pointer(
                "/properties/ipConfigurations/0/properties/loadBalancerBackendAddressPools/0/id"
            )
            .is_none(),
            "{w}"
        );
    }

    #[test]
    fn an_internal_load_balancer_has_no_public_ip() {
        let steps = planned(cluster("c").static_placement().internal_load_balancer());
        assert!(!keys(&steps).contains(&KEY_API_PIP));
        assert_eq!(deps(&steps, KEY_LB), vec![KEY_RESOURCE_GROUP]);
        assert_eq!(step(&steps, KEY_LB).step.name(), "c-internal-lb");
        let lb = body(&steps, KEY_LB);
        assert!(
            text(
                &lb,
                "/properties/frontendIPConfigurations/0/properties/subnet/id"
            )
            .ends_with("/virtualNetworks/vnet/subnets/cp"),
            "{lb}"
        );
        assert!(
            lb.pointer("/properties/frontendIPConfigurations/0/properties/publicIPAddress")
                .is_none(),
            "{lb}"
        );
    }

    fn machines(steps: &[PlannedStep]) -> Vec<(String, Option<String>)> {
        steps
            .iter()
            .filter(|s| s.key.starts_with("vm/"))
            .filter_map(|s| s.extra.as_ref())
            .map(|m| (m.name.clone(), m.zone.clone()))
            .collect()
    }

    #[test]
    fn scaling_adds_and_removes_the_highest_index_keeping_the_spread() {
        let z = |s: &str| Some(s.to_string());
        type Row = (ClusterFixture, Vec<(String, Option<String>)>);
        let table: Vec<Row> = vec![
            (
                cluster("c").control_plane(3, &["1", "2", "3"]),
                vec![
                    ("c-cp-0".into(), z("1")),
                    ("c-cp-1".into(), z("2")),
                    ("c-cp-2".into(), z("3")),
                ],
            ),
            (
                cluster("c").pool("w", 3, &["1", "2"]),
                vec![
                    ("c-cp-0".into(), None),
                    ("c-w-0".into(), z("1")),
                    ("c-w-1".into(), z("2")),
                    ("c-w-2".into(), z("1")),
                ],
            ),
            // Scaled down from 3: the highest index goes, the rest keep their zones.
            (
                cluster("c").pool("w", 2, &["1", "2"]),
                vec![
                    ("c-cp-0".into(), None),
                    ("c-w-0".into(), z("1")),
                    ("c-w-1".into(), z("2")),
                ],
            ),
            (
                cluster("c").pool("w", 0, &[]),
                vec![("c-cp-0".into(), None)],
            ),
        ];
        for (fixture, want) in table {
            let spec = format!("{:?}", fixture.spec.worker_pools);
            let steps = planned(fixture);
            assert_eq!(machines(&steps), want, "{spec}");
            for (name, _) in &want {
                assert_eq!(deps(&steps, &vm_key(name)), vec![nic_key(name)]);
            }
        }
    }

    #[test]
    fn an_azop_bootstrapped_cluster_gets_its_secrets_first_and_vms_that_wait_for_them() {
        let c = cluster("c").pool("w", 2, &[]).build();
        let mut r = managed();
        r.bootstrap = Some(Arc::new(super::super::bootstrap::azop_bootstrap(
            &c,
            "ns",
            &r.image,
            None,
            std::time::Duration::from_secs(3600),
        )));
        let steps = plan("c", &c.spec, Some(&r));
        assert_eq!(deps(&steps, KEY_PKI), Vec::<&str>::new());
        assert_eq!(deps(&steps, KEY_KUBECONFIG), vec![KEY_PKI, KEY_API_PIP]);
        assert_eq!(step(&steps, KEY_PKI).part, Part::ControlPlane);
        for m in ["c-cp-0", "c-w-0", "c-w-1"] {
            let key = vm_key(m);
            assert_eq!(
                deps(&steps, &key),
                vec![nic_key(m).as_str(), KEY_PKI, KEY_API_PIP],
                "{m}"
            );
            // customData is made when the VM is created, never in the plan's body.
            assert!(
                body(&steps, &key)
                    .pointer("/properties/osProfile/customData")
                    .is_none(),
                "{m}"
            );
        }
        // While deleting (no resolved references) the Secrets are the garbage collector's.
        let deleting = plan("c", &c.spec, None);
        assert!(!keys(&deleting).contains(&KEY_PKI));
        assert!(!keys(&deleting).contains(&KEY_KUBECONFIG));
        // With the user's bootstrap data, azop makes no PKI.
        let user = plan("c", &c.spec, Some(&managed()));
        assert!(!keys(&user).contains(&KEY_PKI));
    }

    /// A VM as ARM lists it: the body azop would PUT for `m`, provisioned.
    fn listed(
        c: &azop_api::v1alpha1::azure_cluster::AzureCluster,
        m: &MachinePlan,
        image: &ImageSource,
    ) -> Value {
        let (key, spec) = vm_spec(&c.spec, m, image, None);
        let mut v =
            serde_json::to_value(VirtualMachine::desired(&key, &spec, &owner())).expect("json");
        v["name"] = Value::from(m.name.clone());
        v["id"] = Value::from(format!(
            "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{}",
            testing::SUBSCRIPTION,
            m.name
        ));
        v["properties"]["provisioningState"] = Value::from("Succeeded");
        v
    }

    /// Each VM of the plan with whether it is outdated.
    fn vms_outdated(steps: &[PlannedStep]) -> Vec<(&str, bool)> {
        steps
            .iter()
            .filter(|s| s.key.starts_with("vm/"))
            .map(|s| (s.step.name(), s.extra.as_ref().is_some_and(|m| m.outdated)))
            .collect()
    }

    #[test]
    fn outdated_workers_are_kept_as_they_are_while_a_new_one_comes_first() {
        let old = cluster("c").pool("w", 2, &[]).build();
        let mut new = old.clone();
        new.spec.worker_pools[0].vm_size = "Standard_D16s_v5".into();
        let image = managed().image;
        let machines = desired_machines("c", &old.spec);
        let survey = Survey {
            owned: machines.iter().map(|m| listed(&old, m, &image)).collect(),
            ..Survey::default()
        };
        let mut r = managed();
        r.survey = Some(survey);

        // Nothing changed: the same machines, none outdated, nothing to write.
        let same = plan("c", &old.spec, Some(&r));
        assert_eq!(
            vms_outdated(&same),
            vec![("c-cp-0", false), ("c-w-0", false), ("c-w-1", false)]
        );

        // A new VM size: both old machines kept as they are, one new machine first.
        let steps = plan("c", &new.spec, Some(&r));
        assert_eq!(
            vms_outdated(&steps),
            vec![
                ("c-cp-0", false),
                ("c-w-0", true),
                ("c-w-1", true),
                ("c-w-2", false)
            ]
        );
        assert_eq!(
            text(
                &body(&steps, "vm/c-w-2"),
                "/properties/hardwareProfile/vmSize"
            ),
            "Standard_D16s_v5"
        );

        // The control plane's VM size is resized in place; its image is not.
        let mut bigger_cp = old.clone();
        bigger_cp.spec.control_plane.vm_size = "Standard_D8s_v5".into();
        let cp = &machines[0];
        let (k, v) = vm_spec(
            &bigger_cp.spec,
            &MachinePlan {
                vm_size: "Standard_D8s_v5".into(),
                ..cp.clone()
            },
            &image,
            None,
        );
        assert!(!outdated(
            &(k, v),
            NodeRole::ControlPlane,
            &listed(&old, cp, &image)
        ));
        let other = ImageSource::ManagedImage {
            id: managed_image_id("other"),
        };
        let (k, v) = vm_spec(&old.spec, cp, &other, None);
        assert!(outdated(
            &(k.clone(), v.clone()),
            NodeRole::ControlPlane,
            &listed(&old, cp, &image)
        ));
        assert!(outdated(
            &(k, v),
            NodeRole::Worker,
            &listed(&old, cp, &image)
        ));
        // A bigger OS disk replaces a worker.
        let mut disk = machines[1].clone();
        disk.os_disk.size_gib = 128;
        let (k, v) = vm_spec(&old.spec, &disk, &image, None);
        assert!(outdated(
            &(k, v),
            NodeRole::Worker,
            &listed(&old, &machines[1], &image)
        ));
    }

    #[test]
    fn the_image_source_reaches_every_vm() {
        let image = "/properties/storageProfile/imageReference";
        let managed_vm = body(&planned(cluster("c").pool("w", 1, &[])), "vm/c-w-0");
        assert_eq!(
            text(&managed_vm, &format!("{image}/id")),
            managed_image_id("base"),
        );
        let c = cluster("c").marketplace_image().build();
        let market = resolved(ImageSource::Marketplace {
            publisher: "Canonical".into(),
            offer: "ubuntu-24_04-lts".into(),
            sku: "server".into(),
            version: "latest".into(),
        });
        let steps = plan("c", &c.spec, Some(&market));
        let vm = body(&steps, "vm/c-cp-0");
        assert_eq!(text(&vm, &format!("{image}/publisher")), "Canonical");
        assert_eq!(text(&vm, &format!("{image}/sku")), "server");
        assert!(vm.pointer(&format!("{image}/id")).is_none(), "{vm}");
    }

    #[test]
    fn deleting_plans_the_same_resources_without_references() {
        let c = cluster("c").pool("w", 2, &["1"]).build();
        let with = plan("c", &c.spec, Some(&managed()));
        let without = plan("c", &c.spec, None);
        let ids = |steps: &[PlannedStep]| -> Vec<String> {
            steps
                .iter()
                .map(|s| s.step.id(testing::SUBSCRIPTION))
                .collect()
        };
        assert_eq!(ids(&with), ids(&without));
    }
}
