//! [`MachineStep`]: a VM whose customData is rendered when it is created — the endpoint
//! address read from this pass's observation of the public IP (or internal frontend), the PKI
//! from its Secrets, a join token that is still valid. An existing VM is updated without
//! customData: Azure refuses a change of it, and never returns it. [`KeptAsIs`]: an outdated
//! machine, read and never written until the rollout removes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azop_api::v1alpha1::azure_cluster::{NodeRole, Taint};
use azop_provider::resources::{self, compute::virtual_machine::VirtualMachine};
use azop_provider::{LroHandle, Owner};

use super::Bootstrap;
use crate::azure_cluster::kubeadm;
use crate::azure_cluster::machines::{self, MachinePlan};
use crate::azure_cluster::pki::{self, ClusterPki};
use crate::azure_cluster::tokens::Token;
use crate::engine::{Observation, ResourceStep, Step, StepCtx, StepError};
use crate::node_bootstrap::{self, Fragment};

/// A VM that azop bootstraps: customData rendered when it is created.
pub struct MachineStep {
    pub vm: ResourceStep<VirtualMachine>,
    pub bootstrap: Arc<Bootstrap>,
    pub machine: MachinePlan,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

impl MachineStep {
    /// Whether this machine runs `kubeadm init`: the first control-plane machine.
    fn initialises(&self) -> bool {
        self.machine.role == NodeRole::ControlPlane && self.machine.index == 0
    }

    /// The customData of a new machine: its inputs read (the endpoint's address from this
    /// pass's observation, the PKI, a join token), then rendered ([`render`], pure).
    async fn custom_data(&self, cx: &StepCtx<'_>) -> Result<String, StepError> {
        let b = &self.bootstrap;
        let not_yet = |what: &str| StepError::NotReady {
            message: format!("the machine waits for {what}"),
        };
        let host = b
            .endpoint_host(cx)
            .await?
            .ok_or_else(|| not_yet("the API endpoint's address"))?;
        let pki = b
            .read_pki(cx)
            .await?
            .ok_or_else(|| not_yet("the cluster's PKI Secrets"))?;
        let token = b.token(cx, self.initialises()).await?;
        render(self, host, pki, &token)
    }
}

/// A machine's customData (pure): the ProxyConfig's fragment, then kubeadm's — `init` for the
/// first control-plane machine, a control-plane join for the others, a worker join with its
/// pool's labels and taints — within Azure's size limit. What cannot be rendered is an
/// invalid spec.
pub fn render(
    m: &MachineStep,
    host: String,
    pki: ClusterPki,
    token: &Token,
) -> Result<String, StepError> {
    let b = &m.bootstrap;
    let invalid = |message: String| StepError::InvalidSpec { message };
    let hash = pki::ca_cert_hash(&pki.ca.cert).map_err(invalid)?;
    let cluster = kubeadm::ClusterBootstrap {
        cluster_name: b.cluster.clone(),
        kubernetes_version: b.kubernetes_version.clone(),
        endpoint_host: host,
        endpoint_port: kubeadm::API_SERVER_PORT,
        pod_cidr: b.pod_cidr.clone(),
        service_cidr: b.service_cidr.clone(),
        cni: super::super::boot_scripts::pod_network(b.cni, b.install_at_boot),
        pki: kubeadm::ClusterPki {
            ca_crt: pki.ca.cert,
            ca_key: pki.ca.key,
            etcd_ca_crt: pki.etcd.cert,
            etcd_ca_key: pki.etcd.key,
            front_proxy_ca_crt: pki.front_proxy.cert,
            front_proxy_ca_key: pki.front_proxy.key,
            sa_pub: pki.service_account.cert,
            sa_key: pki.service_account.key,
        },
        token: token.value(),
        token_ttl: b.token_ttl,
        ca_cert_hash: hash,
        install_at_boot: b.install_at_boot,
        // azop does not deploy cloud-provider-azure: with `external` every node would keep
        // the uninitialized taint (docs/bootstrap.md).
        external_cloud_provider: false,
    };
    let node_name = m.machine.name.as_str();
    let machine = match (m.machine.role, m.initialises()) {
        (NodeRole::ControlPlane, true) => kubeadm::MachineBootstrap::Init { node_name },
        (NodeRole::ControlPlane, false) => {
            kubeadm::MachineBootstrap::JoinControlPlane { node_name }
        }
        (NodeRole::Worker, _) => kubeadm::MachineBootstrap::JoinWorker {
            node_name,
            labels: &m.labels,
            taints: &m.taints,
        },
    };
    let fragment = kubeadm::fragment(&cluster, &machine).map_err(invalid)?;
    let fragments: Vec<Fragment> = b.proxy.iter().cloned().chain([fragment]).collect();
    let doc = node_bootstrap::compose(&fragments, None)
        .map_err(invalid)?
        .unwrap_or_default();
    kubeadm::check_size(&doc).map_err(invalid)?;
    Ok(doc)
}

#[async_trait]
impl Step for MachineStep {
    fn resource_type(&self) -> &'static str {
        self.vm.resource_type()
    }

    fn name(&self) -> &str {
        self.vm.name()
    }

    fn id(&self, subscription_id: &str) -> String {
        self.vm.id(subscription_id)
    }

    fn desired(&self, owner: &Owner) -> Option<serde_json::Value> {
        self.vm.desired(owner)
    }

    fn creates_conditionally(&self) -> bool {
        self.vm.creates_conditionally()
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let mut seen = self.vm.observe(cx).await?;
        if seen.exists {
            seen.poll_after = machines::join_poll(&self.machine);
        }
        Ok(seen)
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let mut spec = self.vm.spec.clone();
        // A new machine gets its bootstrap (and is created only if nothing of its name
        // exists); an update never sends customData (Azure refuses a change of it).
        if seen.exists {
            spec.custom_data = None;
            return Ok(resources::put_desired::<VirtualMachine>(
                cx.session,
                &self.vm.key,
                &spec,
                cx.owner,
            )
            .await?);
        }
        spec.custom_data = Some(self.custom_data(cx).await?);
        crate::engine::step::create::<VirtualMachine>(cx, &self.vm.key, &spec).await
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        self.vm.delete(cx, seen).await
    }

    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        self.vm.disown(cx).await
    }
}

/// How often a pass runs while a pool replaces machines.
pub const REPLACEMENT_POLL: Duration = Duration::from_secs(5);

/// An outdated machine as observed (pure): no drift (so nothing is PUT), and a look again
/// soon, because a replacement waits on things nothing wakes azop for (a new machine's node
/// turning Ready) — rather than back off.
pub fn kept_as_is(mut seen: Observation) -> Observation {
    seen.drift.clear();
    seen.poll_after = Some(REPLACEMENT_POLL);
    seen
}

/// A machine that no longer matches its pool, kept as it is until its replacement is ready:
/// read like any VM, never written (no drift is reported, so nothing is PUT; if it vanished,
/// it is not re-created). Its removal is the sweep's.
pub struct KeptAsIs<S: Step>(pub S);

#[async_trait]
impl<S: Step> Step for KeptAsIs<S> {
    fn resource_type(&self) -> &'static str {
        self.0.resource_type()
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn id(&self, subscription_id: &str) -> String {
        self.0.id(subscription_id)
    }

    fn desired(&self, owner: &Owner) -> Option<serde_json::Value> {
        self.0.desired(owner)
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        Ok(kept_as_is(self.0.observe(cx).await?))
    }

    async fn put(
        &self,
        _cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(None)
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        self.0.delete(cx, seen).await
    }

    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        self.0.disown(cx).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use azop_provider::Difference;
    use azop_provider::resources::compute::virtual_machine::{
        ImageSource, OsDiskSpec, VirtualMachineKey, VirtualMachineSpec,
    };
    use time::OffsetDateTime;

    use super::*;
    use crate::azure_cluster::bootstrap::azop_bootstrap;
    use crate::azure_cluster::machines::desired_machines;
    use crate::azure_cluster::pki::{CertKey, Purpose};
    use crate::testing::{cluster, managed_image_id};

    fn vm(name: &str) -> ResourceStep<VirtualMachine> {
        ResourceStep::new(
            name,
            VirtualMachineKey {
                resource_group: "rg".into(),
                name: name.into(),
            },
            VirtualMachineSpec {
                location: "westeurope".into(),
                vm_size: "Standard_D4s_v5".into(),
                zone: None,
                image: ImageSource::ManagedImage {
                    id: managed_image_id("base"),
                },
                os_disk: OsDiskSpec {
                    size_gb: 64,
                    storage_account_type: "Premium_LRS".into(),
                },
                admin_username: "azureuser".into(),
                ssh_public_key: String::new(),
                custom_data: None,
                nic_ids: vec![],
                tags: BTreeMap::new(),
            },
        )
    }

    fn pki() -> ClusterPki {
        let now = OffsetDateTime::now_utc();
        let pair =
            |p: Purpose| -> CertKey { crate::azure_cluster::pki::generate(p, now).expect("pki") };
        ClusterPki {
            ca: pair(Purpose::ClusterCa),
            etcd: pair(Purpose::EtcdCa),
            front_proxy: pair(Purpose::FrontProxyCa),
            service_account: pair(Purpose::ServiceAccount),
        }
    }

    /// Machine `index` of a cluster with 3 control-plane machines and a pool `w` of 2, as the
    /// plan makes it.
    fn machine_step(index: usize) -> MachineStep {
        let mut c = cluster("c").control_plane(3, &[]).pool("w", 2, &[]).build();
        c.spec.worker_pools[0].labels = BTreeMap::from([("tier".into(), "web".into())]);
        let image = ImageSource::ManagedImage {
            id: managed_image_id("base"),
        };
        let b = Arc::new(azop_bootstrap(
            &c,
            "ns",
            &image,
            None,
            Duration::from_secs(3600),
        ));
        let m = desired_machines("c", &c.spec).remove(index);
        MachineStep {
            vm: vm(&m.name),
            bootstrap: b,
            labels: c.spec.worker_pools[0].labels.clone(),
            taints: vec![],
            machine: m,
        }
    }

    /// The first control-plane machine inits, the others join as control plane, workers join
    /// with their pool's labels; each names the endpoint and the token.
    #[test]
    fn each_machine_gets_its_kubeadm_role() {
        let token = Token::generate(OffsetDateTime::now_utc(), Duration::from_secs(3600));
        let doc =
            |i: usize| render(&machine_step(i), "20.1.2.3".into(), pki(), &token).expect("renders");
        let (init, join_cp, worker) = (doc(0), doc(1), doc(3));
        let script = crate::azure_cluster::boot_scripts::KUBEADM_SCRIPT_PATH;
        assert!(init.contains(&format!("{script} init")), "{init}");
        assert!(init.contains("kind: InitConfiguration"), "{init}");
        assert!(
            join_cp.contains(&format!("{script} join")) && join_cp.contains("controlPlane:"),
            "{join_cp}"
        );
        // (`controlPlane:` the key: every config has `controlPlaneComponentHealthCheck`.)
        assert!(!worker.contains("controlPlane:"), "{worker}");
        assert!(worker.contains("tier=web"), "{worker}");
        for d in [&init, &join_cp, &worker] {
            assert!(d.contains("20.1.2.3:6443"), "{d}");
            assert!(d.contains(&token.value()), "{d}");
        }
        // Only control-plane machines carry the CA keys.
        assert!(init.contains("/etc/kubernetes/pki/ca.key"));
        assert!(!worker.contains("/etc/kubernetes/pki/ca.key"));
    }

    /// What cannot be rendered is an invalid spec, never a retry.
    #[test]
    fn a_bootstrap_that_cannot_render_is_an_invalid_spec() {
        let token = Token::generate(OffsetDateTime::now_utc(), Duration::from_secs(3600));
        let mut broken = pki();
        broken.ca.cert = "not a certificate".into();
        let e = render(&machine_step(0), "20.1.2.3".into(), broken, &token).expect_err("refused");
        assert!(matches!(e, StepError::InvalidSpec { .. }), "{e:?}");
        let mut m = machine_step(3);
        m.labels = BTreeMap::from([("node-role.kubernetes.io/control-plane".into(), "".into())]);
        let e = render(&m, "20.1.2.3".into(), pki(), &token).expect_err("refused");
        assert!(matches!(e, StepError::InvalidSpec { .. }), "{e:?}");
    }

    /// An outdated machine is never written (no drift) and is looked at again soon.
    #[test]
    fn an_outdated_machine_shows_no_drift_and_asks_to_be_looked_at_soon() {
        let seen = Observation {
            drift: vec![Difference {
                field: "properties.hardwareProfile.vmSize".into(),
                desired: "Standard_D8s_v5".into(),
                observed: "Standard_D4s_v5".into(),
            }],
            ..Observation::found(true, vec![], None)
        };
        let kept = kept_as_is(seen);
        assert!(kept.drift.is_empty());
        assert_eq!(kept.poll_after, Some(REPLACEMENT_POLL));
        assert!(kept.exists && kept.owned);
    }
}
