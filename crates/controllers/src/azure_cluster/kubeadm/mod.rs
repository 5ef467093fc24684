//! The kubeadm bootstrap of an AzureCluster's VMs, as a cloud-init [`Fragment`] (pure).
//!
//! A machine is one of three [`MachineBootstrap`]s: the first control-plane machine runs
//! `kubeadm init`, the other control-plane machines `kubeadm join --control-plane`, workers
//! `kubeadm join`. [`fragment`] gives each the files and commands it needs, to be composed
//! *after* the ProxyConfig's fragment (`node_bootstrap::compose(&[proxy, kubeadm], user)`):
//!
//! - [`KUBEADM_CONFIG_PATH`] (0600): the kubeadm configuration ([`kubeadm_config`],
//!   `kubeadm.k8s.io/v1beta4`);
//! - init and control-plane joins: the cluster's CAs and service-account key pair at kubeadm's
//!   own paths under `/etc/kubernetes/pki` (keys 0600), so kubeadm uses them instead of making
//!   its own and no `--upload-certs`/certificate key is needed (as Cluster API does);
//! - [`INSTALL_SCRIPT_PATH`] (0755): installs containerd, kubeadm, kubelet and kubectl for the
//!   version from pkgs.k8s.io (`install_at_boot`), or checks that the image has them at the
//!   right minor and fails clearly otherwise; swap off, `br_netfilter`, `ip_forward`;
//! - init with [`Cni::Calico`]: [`CALICO_INSTALLATION_PATH`] and [`CNI_SCRIPT_PATH`], which
//!   applies the operator's CRDs and the Tigera operator (downloaded at boot from pinned URLs:
//!   far too big for customData) and the Installation after `kubeadm init`.
//!
//! - [`KUBEADM_SCRIPT_PATH`] (0755): kubeadm init/join, retried after a reset
//!   ([`super::boot_scripts`]);
//! - init with [`Cni::ImageDefault`]: also [`POD_NETWORK_SCRIPT_PATH`], which applies the
//!   image's own pod network when it carries one, else runs the Calico script.
//!
//! `runcmd`: the install script, then the kubeadm script, then (init, a CNI) the CNI script;
//! each step runs only when the one before it succeeded (stamp files under [`STAMP_DIR`]).
//!
//! Versions: kubeadm needs a full version. A minor-only spec ("1.33") installs the newest
//! patch of that minor; the file is written with the placeholder `v1.33.0` (which `kubeadm
//! config validate` accepts) and the install script rewrites `kubernetesVersion` to
//! `kubeadm version -o short` before `kubeadm init` runs. See docs/bootstrap.md.

mod checks;
mod config;
mod scripts;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use azop_api::v1alpha1::azure_cluster::Taint;
use serde_yaml::Value;

pub use checks::kubelet_may_set;
use checks::{check_cluster, check_node_name, check_pem, node_labels, taints_value};
use config::{
    cluster_configuration, init_configuration, join_configuration, map, node_registration,
};
pub use scripts::calico_manifest_urls;
use scripts::{calico_installation, calico_script, executable, install_script, secret};

use super::boot_scripts::{self, KUBEADM_SCRIPT_PATH, POD_NETWORK_SCRIPT_PATH};
use crate::node_bootstrap::{Fragment, WriteFile};

/// Where the kubeadm configuration is written (tmpfs: gone after the first reboot, with the
/// bootstrap token in it).
pub const KUBEADM_CONFIG_PATH: &str = "/run/kubeadm/kubeadm.yaml";
/// The install (or check) script.
pub const INSTALL_SCRIPT_PATH: &str = "/usr/local/sbin/azop-install-kubernetes.sh";
/// The script that applies Calico after `kubeadm init`.
pub const CNI_SCRIPT_PATH: &str = "/usr/local/sbin/azop-apply-calico.sh";
/// Calico's Installation (the manifests' URLs are in the CNI script).
pub const CALICO_INSTALLATION_PATH: &str = "/etc/kubernetes/azop/calico-installation.yaml";
/// Stamp files: `install.ok`, `kubeadm.ok`, `cni.ok`.
pub const STAMP_DIR: &str = "/run/azop";
/// containerd's CRI socket.
pub const CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";
/// The API server's port on every control-plane machine (the load balancer's backend port).
pub const API_SERVER_PORT: u16 = 6443;
/// The Calico release whose Tigera operator is applied.
pub const CALICO_VERSION: &str = "v3.32.2";
/// Azure's limit on `osProfile.customData`: "The maximum length of the binary array is
/// 65535 bytes" (the decoded bytes, i.e. the document before base64).
pub const CUSTOM_DATA_LIMIT: usize = 65_535;
/// The default pod CIDR (Calico's).
pub const DEFAULT_POD_CIDR: &str = "192.168.0.0/16";
/// kubeadm's default service CIDR.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

/// The pod network the first control-plane machine installs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cni {
    /// Calico through the Tigera operator, VXLAN (Azure's network does not carry IP-in-IP).
    #[default]
    Calico,
    /// None: the nodes stay NotReady until the user installs one.
    None,
    /// The image's own pod network when it carries one (azop's node image: flannel, no
    /// download), else Calico; decided on the machine ([`super::boot_scripts`]).
    ImageDefault,
}

/// The cluster's CAs and service-account key pair, PEM (ECDSA P-256, PKCS#8 keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPki {
    pub ca_crt: String,
    pub ca_key: String,
    pub etcd_ca_crt: String,
    pub etcd_ca_key: String,
    pub front_proxy_ca_crt: String,
    pub front_proxy_ca_key: String,
    pub sa_pub: String,
    pub sa_key: String,
}

/// What every machine of a cluster shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterBootstrap {
    pub cluster_name: String,
    /// The spec's version: "1.33" or "1.33.2" (a leading v is tolerated).
    pub kubernetes_version: String,
    /// The API load balancer's frontend IP (or DNS name).
    pub endpoint_host: String,
    /// The frontend's port (6443).
    pub endpoint_port: u16,
    pub pod_cidr: String,
    pub service_cidr: String,
    pub cni: Cni,
    pub pki: ClusterPki,
    /// Bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub token: String,
    pub token_ttl: Duration,
    /// `sha256:<hex>` of the cluster CA's SubjectPublicKeyInfo.
    pub ca_cert_hash: String,
    /// Install containerd and the Kubernetes packages at boot (marketplace images); else
    /// check the image has them.
    pub install_at_boot: bool,
    /// kubelet `--cloud-provider=external`: only when cloud-provider-azure (its
    /// cloud-controller-manager and cloud-node-manager) is deployed, else every node keeps the
    /// `node.cloudprovider.kubernetes.io/uninitialized` taint and nothing without a
    /// toleration (CoreDNS) is ever scheduled.
    pub external_cloud_provider: bool,
}

/// What one machine does.
#[derive(Clone, Copy, Debug)]
pub enum MachineBootstrap<'a> {
    /// The first control-plane machine: `kubeadm init`.
    Init { node_name: &'a str },
    /// Another control-plane machine: `kubeadm join --control-plane`.
    JoinControlPlane { node_name: &'a str },
    /// A worker: `kubeadm join` with its pool's labels and taints.
    JoinWorker {
        node_name: &'a str,
        labels: &'a BTreeMap<String, String>,
        taints: &'a [Taint],
    },
}

impl MachineBootstrap<'_> {
    fn node_name(&self) -> &str {
        match self {
            MachineBootstrap::Init { node_name }
            | MachineBootstrap::JoinControlPlane { node_name }
            | MachineBootstrap::JoinWorker { node_name, .. } => node_name,
        }
    }
}

/// A Kubernetes version from the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    /// None: the newest patch of the minor, found at boot.
    pub patch: Option<u32>,
}

impl KubeVersion {
    /// Parses "1.33" or "1.33.2" (a leading "v" is tolerated).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("kubernetesVersion {s:?} is not MAJOR.MINOR or MAJOR.MINOR.PATCH");
        let t = s.strip_prefix('v').unwrap_or(s);
        let parts: Vec<&str> = t.split('.').collect();
        if !(2..=3).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let num = |p: &str| p.parse::<u32>().map_err(|_| bad());
        Ok(KubeVersion {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: parts.get(2).map(|p| num(p)).transpose()?,
        })
    }

    /// "1.33": the pkgs.k8s.io repository's minor.
    pub fn minor_string(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// What the kubeadm config names: the full version, or for a minor-only spec the
    /// placeholder `vX.Y.0` (rewritten at boot to the installed kubeadm's version).
    pub fn kubeadm_version(&self) -> String {
        format!("v{}.{}.{}", self.major, self.minor, self.patch.unwrap_or(0))
    }
}

/// The kubeadm configuration of machine `m` (multi-document YAML, kubeadm.k8s.io/v1beta4).
pub fn kubeadm_config(c: &ClusterBootstrap, m: &MachineBootstrap) -> Result<String, String> {
    check_cluster(c)?;
    let node = m.node_name();
    check_node_name(node)?;
    let docs: Vec<Value> = match m {
        MachineBootstrap::Init { .. } => {
            vec![init_configuration(c, node), cluster_configuration(c)?]
        }
        MachineBootstrap::JoinControlPlane { .. } => vec![join_configuration(
            c,
            node_registration(c, node, None, None),
            Some(map([(
                "localAPIEndpoint",
                map([("bindPort", Value::from(API_SERVER_PORT))]),
            )])),
        )],
        MachineBootstrap::JoinWorker { labels, taints, .. } => {
            let labels = node_labels(labels)?;
            let taints = taints_value(taints)?;
            vec![join_configuration(
                c,
                node_registration(c, node, labels.as_deref(), taints),
                None,
            )]
        }
    };
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(
            &serde_yaml::to_string(d).map_err(|e| format!("cannot render kubeadm config: {e}"))?,
        );
    }
    Ok(out)
}

/// The cloud-init fragment of machine `m` (see the module docs).
pub fn fragment(c: &ClusterBootstrap, m: &MachineBootstrap) -> Result<Fragment, String> {
    let config = kubeadm_config(c, m)?;
    let version = KubeVersion::parse(&c.kubernetes_version)?;
    let mut write_files = vec![executable(INSTALL_SCRIPT_PATH, install_script(c, &version))];
    write_files.push(secret(KUBEADM_CONFIG_PATH, config));
    let control_plane = !matches!(m, MachineBootstrap::JoinWorker { .. });
    if control_plane {
        let p = &c.pki;
        for (path, content, key) in [
            ("ca.crt", &p.ca_crt, false),
            ("ca.key", &p.ca_key, true),
            ("etcd/ca.crt", &p.etcd_ca_crt, false),
            ("etcd/ca.key", &p.etcd_ca_key, true),
            ("front-proxy-ca.crt", &p.front_proxy_ca_crt, false),
            ("front-proxy-ca.key", &p.front_proxy_ca_key, true),
            ("sa.pub", &p.sa_pub, false),
            ("sa.key", &p.sa_key, true),
        ] {
            check_pem(path, content, key)?;
            let path = format!("/etc/kubernetes/pki/{path}");
            write_files.push(if key {
                secret(&path, content.clone())
            } else {
                WriteFile::root(&path, content.clone())
            });
        }
    }
    let stamp = |s: &str| format!("{STAMP_DIR}/{s}");
    let kubeadm = match m {
        MachineBootstrap::Init { .. } => "init",
        _ => "join",
    };
    write_files.push(executable(
        KUBEADM_SCRIPT_PATH,
        boot_scripts::kubeadm_script(KUBEADM_CONFIG_PATH, CRI_SOCKET, STAMP_DIR),
    ));
    let mut runcmd = vec![
        vec![INSTALL_SCRIPT_PATH.to_string()],
        vec![
            "sh".into(),
            "-c".into(),
            guarded(
                &stamp("install.ok"),
                &format!("{KUBEADM_SCRIPT_PATH} {kubeadm}"),
                &stamp("kubeadm.ok"),
                INSTALL_SCRIPT_PATH,
            ),
        ],
    ];
    if matches!(m, MachineBootstrap::Init { .. }) && c.cni != Cni::None {
        write_files.push(WriteFile::root(
            CALICO_INSTALLATION_PATH,
            calico_installation(c)?,
        ));
        write_files.push(executable(CNI_SCRIPT_PATH, calico_script()));
        let cni_step = if c.cni == Cni::ImageDefault {
            write_files.push(executable(
                POD_NETWORK_SCRIPT_PATH,
                boot_scripts::pod_network_script(&c.pod_cidr, CNI_SCRIPT_PATH),
            ));
            POD_NETWORK_SCRIPT_PATH
        } else {
            CNI_SCRIPT_PATH
        };
        runcmd.push(vec![
            "sh".into(),
            "-c".into(),
            guarded(
                &stamp("kubeadm.ok"),
                cni_step,
                &stamp("cni.ok"),
                &format!("kubeadm {kubeadm}"),
            ),
        ]);
    }
    Ok(Fragment {
        write_files,
        runcmd,
    })
}

/// `command` when the step before it left `stamp_before`, then `stamp_after`; else a
/// message naming the step that failed (cloud-init's runcmd has no `set -e`).
fn guarded(stamp_before: &str, command: &str, stamp_after: &str, step_before: &str) -> String {
    format!(
        "if [ -e {stamp_before} ]; then {command} && touch {stamp_after}; else echo 'azop: not running {command}: {step_before} failed (see /var/log/cloud-init-output.log)' >&2; exit 1; fi"
    )
}

/// Fails when `doc` (the composed customData) is over Azure's limit.
pub fn check_size(doc: &str) -> Result<(), String> {
    let n = doc.len();
    if n <= CUSTOM_DATA_LIMIT {
        return Ok(());
    }
    Err(format!(
        "the machine's bootstrap data is {n} bytes, over Azure's customData limit of {CUSTOM_DATA_LIMIT} bytes (before base64) by {}: shrink the user's bootstrap data (spec.bootstrapDataSecretRef) — download large files at boot instead of embedding them — or the ProxyConfig's trusted CA bundle",
        n - CUSTOM_DATA_LIMIT
    ))
}
