//! The machines' bootstrap data (VM `customData`). Two ways:
//!
//! - the user brings it (`bootstrapDataSecretRef`): their data with azop's node fragments in
//!   front of it — the ProxyConfig's (containerd and kubelet drop-ins, the CA in the system
//!   trust store), composed here once for every machine;
//! - azop bootstraps (no reference): [`azop_bootstrap`] collects what every machine shares,
//!   and each VM's customData — the proxy's fragment, then kubeadm's ([`super::kubeadm`]) — is
//!   rendered when the VM is created ([`super::node_steps::MachineStep`]), because it carries
//!   the endpoint's address and a join token that is valid then.
//!
//! customData reaches a VM when it is created (Azure never returns it, so azop never compares
//! it): a ProxyConfig change reaches machines created after it (scale-up, replacement), not
//! the running ones.

use std::sync::Arc;
use std::time::Duration;

use azop_api::v1alpha1::azure_cluster::AzureCluster;
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use azop_provider::resources::ArmResource;
use azop_provider::resources::compute::virtual_machine::ImageSource;
use azop_provider::resources::network::load_balancer::{LoadBalancer, LoadBalancerKey};
use azop_provider::resources::network::public_ip::{PublicIp, PublicIpKey};
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::names::ClusterNames;
use super::node_steps::{Bootstrap, EndpointSource};
use super::plan::{Resolved, internal_load_balancer};
use crate::error::Error;
use crate::node_bootstrap::{self, Fragment};
use crate::proxy_config::{self, inherit};

/// Fills in the machines' bootstrap: the user's data behind the proxy's fragment, or azop's
/// own bootstrap when the user brings none.
pub async fn resolve(
    client: &kube::Client,
    cluster: &AzureCluster,
    resolved: &mut Resolved,
    token_ttl: Duration,
) -> Result<(), Error> {
    let namespace = cluster.namespace().unwrap_or_default();
    let proxy = cluster_proxy(client, &namespace, cluster).await?;
    if cluster.spec.bootstrap_data_secret_ref.is_some() {
        resolved.custom_data = combine(proxy.as_ref(), resolved.custom_data.as_deref())?;
    } else {
        resolved.bootstrap = Some(Arc::new(azop_bootstrap(
            cluster,
            &namespace,
            &resolved.image,
            proxy.as_ref(),
            token_ttl,
        )));
    }
    Ok(())
}

/// What every machine of an azop-bootstrapped cluster shares (pure).
pub fn azop_bootstrap(
    cluster: &AzureCluster,
    namespace: &str,
    image: &ImageSource,
    proxy: Option<&inherit::ClusterProxy>,
    token_ttl: Duration,
) -> Bootstrap {
    let spec = &cluster.spec;
    let name = cluster.name_any();
    let sub = &spec.azure.subscription_id;
    let rg = &spec.azure.resource_group;
    let internal = internal_load_balancer(spec);
    let n = ClusterNames::for_cluster(&name, internal);
    let endpoint = if internal {
        EndpointSource {
            path: LoadBalancer::path(
                sub,
                &LoadBalancerKey {
                    resource_group: rg.clone(),
                    name: n.load_balancer.clone(),
                },
            ),
            api_version: LoadBalancer::API_VERSION,
            pointer: "/properties/frontendIPConfigurations/0/properties/privateIPAddress",
        }
    } else {
        EndpointSource {
            path: PublicIp::path(
                sub,
                &PublicIpKey {
                    resource_group: rg.clone(),
                    name: n.api_server_public_ip.clone(),
                },
            ),
            api_version: PublicIp::API_VERSION,
            pointer: "/properties/ipAddress",
        }
    };
    let net = &spec.cluster_network;
    Bootstrap::new(
        &name,
        namespace,
        &spec.kubernetes_version,
        net.pod_cidr(),
        net.service_cidr(),
        net.cni,
        // Marketplace images are plain Ubuntu; azop's own images carry the packages.
        matches!(image, ImageSource::Marketplace { .. }),
        fragments(proxy).into_iter().next(),
        token_ttl,
        endpoint,
    )
}

/// The fragments in front of the user's bootstrap data, in the order they run. Pure. (azop's
/// own bootstrap puts kubeadm's fragment after these, so kubeadm pulls its images with the
/// proxy already configured.)
pub fn fragments(proxy: Option<&inherit::ClusterProxy>) -> Vec<Fragment> {
    proxy.map(|p| p.iaas_bootstrap()).into_iter().collect()
}

/// The fragments composed with the user's data; a document that cannot be combined is an
/// invalid spec (fixed in the Secret, whose watch wakes the cluster). Pure.
pub fn combine(
    proxy: Option<&inherit::ClusterProxy>,
    user: Option<&str>,
) -> Result<Option<String>, Error> {
    node_bootstrap::compose(&fragments(proxy), user).map_err(|e| Error::InvalidSpec {
        message: format!("spec.bootstrapDataSecretRef: {e}"),
    })
}

/// The cluster's proxy: its `proxyConfigRef`, else its namespace's default (one LIST of the
/// namespace's ProxyConfigs: the engine's resolve has no cache of them).
async fn cluster_proxy(
    client: &kube::Client,
    namespace: &str,
    cluster: &AzureCluster,
) -> Result<Option<inherit::ClusterProxy>, Error> {
    let api: Api<ProxyConfig> = Api::namespaced(client.clone(), namespace);
    let proxies: Vec<Arc<ProxyConfig>> = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(format!("list the ProxyConfigs of namespace {namespace}"), e))?
        .items
        .into_iter()
        .map(Arc::new)
        .collect();
    let reference = cluster
        .spec
        .proxy_config_ref
        .as_ref()
        .map(|r| r.name.as_str());
    proxy_config::for_cluster(
        client,
        &proxies,
        namespace,
        reference,
        &inherit::azure_cluster_network(cluster),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_config::inherit::{CONTAINERD_DROP_IN, ClusterNetwork, ClusterProxy};
    use crate::proxy_config::resolve::effective_proxy_for;

    fn proxy() -> ClusterProxy {
        let mut p = azop_api::v1alpha1::proxy_config::ProxyConfig::new(
            "corp",
            azop_api::v1alpha1::proxy_config::ProxyConfigSpec {
                http_proxy: Some("http://proxy.corp:3128".into()),
                https_proxy: None,
                no_proxy: vec![],
                trusted_ca: None,
                default: true,
                reconcile_policy: Default::default(),
                deletion_policy: Default::default(),
            },
        );
        p.metadata.namespace = Some("a".into());
        let resolved = effective_proxy_for("a", None, &[Arc::new(p)])
            .expect("ok")
            .expect("some");
        ClusterProxy::new(resolved, None, &ClusterNetwork::default())
    }

    #[test]
    fn without_a_proxy_the_users_data_is_sent_as_given() {
        assert_eq!(
            combine(None, Some("#!/bin/sh\n")).expect("ok").as_deref(),
            Some("#!/bin/sh\n")
        );
        assert_eq!(combine(None, None).expect("ok"), None);
    }

    #[test]
    fn with_a_proxy_its_drop_ins_come_first() {
        let p = proxy();
        let doc = combine(Some(&p), Some("#cloud-config\nruncmd: [kubeadm init]\n"))
            .expect("ok")
            .expect("some");
        let v: serde_yaml::Value = serde_yaml::from_str(&doc).expect("yaml");
        assert_eq!(v["write_files"][0]["path"], CONTAINERD_DROP_IN);
        let cmds = v["runcmd"].as_sequence().expect("runcmd");
        assert_eq!(cmds.last(), Some(&serde_yaml::Value::from("kubeadm init")));
    }

    #[test]
    fn bootstrap_data_azop_cannot_combine_is_an_invalid_spec() {
        let p = proxy();
        let e = combine(Some(&p), Some("#include\nhttps://x\n")).expect_err("refused");
        assert!(
            matches!(e, Error::InvalidSpec { ref message } if message.starts_with("spec.bootstrapDataSecretRef: ")),
            "{e:?}"
        );
    }
}
