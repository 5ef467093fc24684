//! What a cluster inherits from its ProxyConfig (pure): the noProxy with the cluster's own
//! networks, the AKS `httpProxyConfig`, and the IaaS nodes' bootstrap pieces (containerd and
//! kubelet systemd drop-ins, the CA in the system trust store).
//!
//! The cluster controllers call [`super::for_cluster`] (I/O: resolves the ProxyConfig and
//! reads its CA) and then [`ClusterProxy::aks_http_proxy_config`] or
//! [`ClusterProxy::iaas_bootstrap`].

use super::resolve::ResolvedProxy;
pub use crate::node_bootstrap::{Fragment, WriteFile};
use azop_api::proxy::effective_no_proxy;
use azop_api::v1alpha1::aks_cluster::AksCluster;
use azop_api::v1alpha1::azure_cluster::AzureCluster;
use azop_provider::resources::containerservice::managed_cluster::HttpProxySpec;

/// Where the IaaS nodes' trust store picks the proxy CA up (`update-ca-certificates` reads
/// `/usr/local/share/ca-certificates/*.crt`).
pub const NODE_CA_PATH: &str = "/usr/local/share/ca-certificates/azop-proxy-ca.crt";
pub const CONTAINERD_DROP_IN: &str = "/etc/systemd/system/containerd.service.d/http-proxy.conf";
pub const KUBELET_DROP_IN: &str = "/etc/systemd/system/kubelet.service.d/http-proxy.conf";

/// The parts of a cluster that must bypass the proxy: its networks and its API server host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterNetwork {
    pub cidrs: Vec<String>,
    pub api_host: Option<String>,
}

impl ClusterNetwork {
    /// The cluster's effective noProxy: the user's entries, azop's fixed ones, then the
    /// cluster's CIDRs and API host.
    pub fn no_proxy(&self, user: &[String]) -> Vec<String> {
        let own: Vec<&str> = self
            .cidrs
            .iter()
            .map(String::as_str)
            .chain(self.api_host.as_deref())
            .collect();
        effective_no_proxy(user, &own)
    }
}

/// An AzureCluster's networks: the VNet (azop's default 10.0.0.0/8 when it creates the VNet),
/// the subnets as given, and the control-plane endpoint once known.
pub fn azure_cluster_network(c: &AzureCluster) -> ClusterNetwork {
    let n = &c.spec.network;
    let mut cidrs = Vec::new();
    match (&n.vnet_cidr, &n.existing_vnet) {
        (Some(v), _) => cidrs.push(v.clone()),
        (None, None) => cidrs.push("10.0.0.0/8".to_string()),
        (None, Some(_)) => {}
    }
    for s in [&n.control_plane_subnet, &n.worker_subnet]
        .into_iter()
        .flatten()
    {
        if let Some(cidr) = &s.cidr {
            cidrs.push(cidr.clone());
        }
    }
    ClusterNetwork {
        cidrs,
        api_host: c
            .status
            .as_ref()
            .and_then(|s| s.control_plane_endpoint.as_ref())
            .map(|e| e.host.clone())
            .filter(|h| !h.is_empty()),
    }
}

/// An AksCluster's networks: pod and service CIDRs as given (AKS adds its own defaults, the
/// nodes' networks and the names its nodes reach the control plane by, to the effective
/// noProxy itself). Not the API server FQDN: it exists only once the cluster does, and adding
/// it to the cluster's httpProxyConfig then would be a second cluster update right after the
/// create, rolling every node.
pub fn aks_cluster_network(c: &AksCluster) -> ClusterNetwork {
    let n = &c.spec.network;
    ClusterNetwork {
        cidrs: [&n.pod_cidr, &n.service_cidr]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        api_host: None,
    }
}

/// A cluster's proxy: the settings, the CA bundle (PEM) and the cluster's noProxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterProxy {
    pub proxy: ResolvedProxy,
    /// Normalised PEM bundle (certificates only), when the ProxyConfig has a trusted CA.
    pub ca_pem: Option<String>,
    pub no_proxy: Vec<String>,
}

impl ClusterProxy {
    pub fn new(proxy: ResolvedProxy, ca_pem: Option<String>, network: &ClusterNetwork) -> Self {
        let no_proxy = network.no_proxy(&proxy.no_proxy);
        ClusterProxy {
            proxy,
            ca_pem,
            no_proxy,
        }
    }

    /// The managed cluster's `httpProxyConfig` (the provider serialises it into the ARM body:
    /// httpProxy, httpsProxy, noProxy, trustedCa = base64 of the PEM bundle).
    pub fn aks_http_proxy_config(&self) -> HttpProxySpec {
        use base64::Engine;
        HttpProxySpec {
            http_proxy: self.proxy.http_proxy.clone(),
            https_proxy: self.proxy.https_proxy.clone(),
            no_proxy: self.no_proxy.clone(),
            trusted_ca: self
                .ca_pem
                .as_ref()
                .map(|pem| base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())),
        }
    }

    /// The variables, upper and lower case (curl and most tools read lower case, Go and
    /// containerd upper case).
    pub fn env(&self) -> Vec<(String, String)> {
        proxy_env(
            self.proxy.http_proxy.as_deref(),
            self.proxy.https_proxy.as_deref(),
            &self.no_proxy.join(","),
        )
    }

    /// The IaaS nodes' bootstrap pieces, composed with the rest of a node's bootstrap data by
    /// [`crate::node_bootstrap::compose`], which puts them first: `write_files` runs early in
    /// boot, but containerd may already be running then, so the commands reload systemd and
    /// restart it before the bootstrap's own commands (kubeadm) run.
    pub fn iaas_bootstrap(&self) -> ProxyBootstrap {
        let drop_in = systemd_drop_in(&self.env());
        let mut write_files = vec![
            WriteFile::root(CONTAINERD_DROP_IN, drop_in.clone()),
            WriteFile::root(KUBELET_DROP_IN, drop_in),
        ];
        let mut runcmd = Vec::new();
        if let Some(pem) = &self.ca_pem {
            write_files.push(WriteFile::root(NODE_CA_PATH, pem.clone()));
            runcmd.push(vec!["update-ca-certificates".to_string()]);
        }
        runcmd.push(vec!["systemctl".into(), "daemon-reload".into()]);
        // try-restart: restart containerd only if it already runs (then it must re-read its
        // environment); kubelet is started later by kubeadm and reads the drop-in then.
        runcmd.push(vec![
            "systemctl".into(),
            "try-restart".into(),
            "containerd.service".into(),
        ]);
        ProxyBootstrap {
            write_files,
            runcmd,
        }
    }
}

/// HTTP_PROXY, HTTPS_PROXY, NO_PROXY and their lower-case twins; a proxy not set is left out.
pub fn proxy_env(http: Option<&str>, https: Option<&str>, no_proxy: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in [
        ("HTTP_PROXY", http),
        ("HTTPS_PROXY", https),
        ("NO_PROXY", Some(no_proxy)),
    ] {
        if let Some(v) = value {
            out.push((name.to_string(), v.to_string()));
            out.push((name.to_ascii_lowercase(), v.to_string()));
        }
    }
    out
}

/// A `[Service]` drop-in with one `Environment=` per variable. Values are quoted and escaped
/// for systemd: `%` starts a specifier (a percent-encoded password would be mangled), `\`
/// and `"` are escapes inside quotes.
pub fn systemd_drop_in(env: &[(String, String)]) -> String {
    let mut s = String::from("# Written by azop from the cluster's ProxyConfig.\n[Service]\n");
    for (k, v) in env {
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%");
        s.push_str(&format!("Environment=\"{k}={v}\"\n"));
    }
    s
}

/// The proxy's part of a node's bootstrap data: one [`Fragment`] for
/// [`crate::node_bootstrap::compose`], put before anything else the node runs.
pub type ProxyBootstrap = Fragment;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_config::resolve::{Via, effective_proxy_for, tests::proxy};
    use azop_api::v1alpha1::azure_cluster::{ApiEndpoint, AzureClusterStatus, SubnetSpec};

    fn resolved() -> ResolvedProxy {
        let ps = vec![std::sync::Arc::new(proxy("a", "corp", true))];
        effective_proxy_for("a", None, &ps)
            .expect("ok")
            .expect("some")
    }

    fn net() -> ClusterNetwork {
        ClusterNetwork {
            cidrs: vec!["10.0.0.0/8".into(), "10.1.0.0/16".into()],
            api_host: Some("20.1.2.3".into()),
        }
    }

    #[test]
    fn aks_gets_http_proxy_config_with_cluster_no_proxy_and_base64_ca() {
        let cp = ClusterProxy::new(resolved(), Some("PEM\n".into()), &net());
        let h = cp.aks_http_proxy_config();
        assert_eq!(h.http_proxy.as_deref(), Some("http://proxy.corp:3128"));
        assert_eq!(h.https_proxy.as_deref(), Some("http://proxy.corp:3129"));
        assert_eq!(
            h.no_proxy,
            vec![
                ".corp.example.com",
                "169.254.169.254",
                "168.63.129.16",
                "localhost",
                "127.0.0.1",
                ".svc",
                ".cluster.local",
                "10.0.0.0/8",
                "10.1.0.0/16",
                "20.1.2.3"
            ]
        );
        assert_eq!(h.trusted_ca.as_deref(), Some("UEVNCg=="));
        let no_ca = ClusterProxy::new(resolved(), None, &net()).aks_http_proxy_config();
        assert_eq!(no_ca.trusted_ca, None);
    }

    #[test]
    fn iaas_nodes_get_drop_ins_the_ca_and_the_commands() {
        let cp = ClusterProxy::new(resolved(), Some("CA-PEM".into()), &net());
        let b = cp.iaas_bootstrap();
        let paths: Vec<_> = b.write_files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![CONTAINERD_DROP_IN, KUBELET_DROP_IN, NODE_CA_PATH]
        );
        let drop_in = &b.write_files[0].content;
        for line in [
            "[Service]",
            "Environment=\"HTTP_PROXY=http://proxy.corp:3128\"",
            "Environment=\"http_proxy=http://proxy.corp:3128\"",
            "Environment=\"HTTPS_PROXY=http://proxy.corp:3129\"",
            "Environment=\"https_proxy=http://proxy.corp:3129\"",
        ] {
            assert!(
                drop_in.lines().any(|l| l == line),
                "{line} missing in\n{drop_in}"
            );
        }
        let no_proxy = drop_in
            .lines()
            .find(|l| l.starts_with("Environment=\"NO_PROXY="))
            .expect("NO_PROXY");
        assert!(no_proxy.contains("169.254.169.254") && no_proxy.contains("20.1.2.3"));
        assert!(drop_in.contains("Environment=\"no_proxy="));
        assert_eq!(b.write_files[2].content, "CA-PEM");
        assert_eq!(b.runcmd[0], vec!["update-ca-certificates"]);
        // Without a CA: no CA file and no update-ca-certificates.
        let b = ClusterProxy::new(resolved(), None, &net()).iaas_bootstrap();
        assert_eq!(b.write_files.len(), 2);
        assert!(b.runcmd.iter().all(|c| c[0] != "update-ca-certificates"));
    }

    #[test]
    fn an_unset_proxy_is_left_out_and_systemd_specials_are_escaped() {
        let env = proxy_env(None, Some("http://u:p%40ss@h:1"), "a,b");
        let names: Vec<_> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            vec!["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"]
        );
        let d = systemd_drop_in(&env);
        assert!(
            d.contains("Environment=\"HTTPS_PROXY=http://u:p%%40ss@h:1\""),
            "{d}"
        );
        let d = systemd_drop_in(&[("X".into(), "a\"b\\c".into())]);
        assert!(d.contains(r#"Environment="X=a\"b\\c""#), "{d}");
    }

    #[test]
    fn azure_cluster_network_uses_defaults_given_cidrs_and_the_endpoint() {
        let mut c: AzureCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "azop.dev/v1alpha1", "kind": "AzureCluster",
            "metadata": {"name": "c", "namespace": "a"},
            "spec": {
                "subscriptionId": "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "location": "westeurope", "resourceGroup": "rg",
                "kubernetesVersion": "1.33.1",
                "network": {},
                "controlPlane": {"replicas": 1, "vmSize": "Standard_D2s_v3"},
                "image": {"managedImageId": "/x"},
                "sshPublicKey": "ssh-ed25519 AAAA"
            }
        }))
        .expect("cluster");
        assert_eq!(azure_cluster_network(&c).cidrs, vec!["10.0.0.0/8"]);
        c.spec.network.vnet_cidr = Some("172.16.0.0/12".into());
        c.spec.network.worker_subnet = Some(SubnetSpec {
            cidr: Some("172.17.0.0/16".into()),
            ..SubnetSpec::default()
        });
        c.status = Some(AzureClusterStatus {
            control_plane_endpoint: Some(ApiEndpoint {
                host: "52.1.1.1".into(),
                port: 6443,
            }),
            ..AzureClusterStatus::default()
        });
        let n = azure_cluster_network(&c);
        assert_eq!(n.cidrs, vec!["172.16.0.0/12", "172.17.0.0/16"]);
        assert_eq!(n.api_host.as_deref(), Some("52.1.1.1"));
        assert_eq!(resolved().via, Via::NamespaceDefault);
    }
}
