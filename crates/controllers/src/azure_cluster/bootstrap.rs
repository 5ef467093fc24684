//! The machines' bootstrap data (VM `customData`): the user's `bootstrapDataSecretRef` data
//! with azop's node fragments in front of it — today the ProxyConfig's (containerd and
//! kubelet drop-ins, the CA in the system trust store); the kubeadm bootstrap (issue 14) adds
//! its fragment after the proxy's in [`fragments`].
//!
//! customData reaches a VM when it is created (Azure never returns it, so azop never compares
//! it): a ProxyConfig change reaches machines created after it (scale-up, replacement), not
//! the running ones.

use std::sync::Arc;

use azop_api::v1alpha1::azure_cluster::AzureCluster;
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use crate::error::Error;
use crate::node_bootstrap::{self, Fragment};
use crate::proxy_config::{self, inherit};

/// The customData every machine of `cluster` gets, from the user's bootstrap data `user`
/// (already read from its Secret) and the cluster's ProxyConfig, if any.
pub async fn custom_data(
    client: &kube::Client,
    cluster: &AzureCluster,
    user: Option<String>,
) -> Result<Option<String>, Error> {
    let namespace = cluster.namespace().unwrap_or_default();
    let proxy = cluster_proxy(client, &namespace, cluster).await?;
    combine(proxy.as_ref(), user.as_deref())
}

/// The fragments a node gets, in the order they run. Pure.
pub fn fragments(proxy: Option<&inherit::ClusterProxy>) -> Vec<Fragment> {
    // Issue 14 (kubeadm bootstrap) appends its fragment here, after the proxy's, so kubeadm
    // pulls its images with the proxy already configured.
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
