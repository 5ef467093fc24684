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
//! `runcmd`: the script, then kubeadm, then (init, Calico) the CNI script; each step runs only
//! when the one before it succeeded (stamp files under [`STAMP_DIR`]).
//!
//! Versions: kubeadm needs a full version. A minor-only spec ("1.33") installs the newest
//! patch of that minor; the file is written with the placeholder `v1.33.0` (which `kubeadm
//! config validate` accepts) and the install script rewrites `kubernetesVersion` to
//! `kubeadm version -o short` before `kubeadm init` runs. See docs/bootstrap.md.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use azop_api::v1alpha1::azure_cluster::{Taint, TaintEffect};
use serde_yaml::{Mapping, Value};

use super::boot_scripts::{self, KUBEADM_SCRIPT_PATH, POD_NETWORK_SCRIPT_PATH};
use crate::node_bootstrap::{Fragment, WriteFile};
use crate::proxy_config::inherit::CONTAINERD_DROP_IN;

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

/// The pinned Calico manifests, applied in this order: the operator's CRDs (a separate file
/// since Calico 3.30), then the Tigera operator.
pub fn calico_manifest_urls() -> [String; 2] {
    ["operator-crds.yaml", "tigera-operator.yaml"].map(|f| {
        format!(
            "https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests/{f}"
        )
    })
}

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

// ---- kubeadm documents -------------------------------------------------------------------

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(k), v);
    }
    Value::Mapping(m)
}

fn header(kind: &str) -> [(&'static str, Value); 2] {
    [
        ("apiVersion", Value::from("kubeadm.k8s.io/v1beta4")),
        ("kind", Value::from(kind)),
    ]
}

fn insert(v: &mut Value, key: &str, value: Value) {
    if let Value::Mapping(m) = v {
        m.insert(Value::from(key), value);
    }
}

fn endpoint(c: &ClusterBootstrap) -> String {
    match c.endpoint_host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{}]:{}", c.endpoint_host, c.endpoint_port),
        _ => format!("{}:{}", c.endpoint_host, c.endpoint_port),
    }
}

fn extra_args(pairs: &[(&str, &str)]) -> Value {
    Value::Sequence(
        pairs
            .iter()
            .map(|(n, v)| map([("name", Value::from(*n)), ("value", Value::from(*v))]))
            .collect(),
    )
}

fn node_registration(
    c: &ClusterBootstrap,
    node: &str,
    labels: Option<&str>,
    taints: Option<Value>,
) -> Value {
    let mut args: Vec<(&str, &str)> = Vec::new();
    if c.external_cloud_provider {
        args.push(("cloud-provider", "external"));
    }
    if let Some(l) = labels {
        args.push(("node-labels", l));
    }
    let mut v = map([
        ("name", Value::from(node)),
        ("criSocket", Value::from(CRI_SOCKET)),
    ]);
    if !args.is_empty() {
        insert(&mut v, "kubeletExtraArgs", extra_args(&args));
    }
    if let Some(t) = taints {
        insert(&mut v, "taints", t);
    }
    v
}

fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}h{}m{}s", s / 3600, (s % 3600) / 60, s % 60)
}

fn init_configuration(c: &ClusterBootstrap, node: &str) -> Value {
    let [a, k] = header("InitConfiguration");
    map([
        a,
        k,
        (
            "bootstrapTokens",
            Value::Sequence(vec![map([
                ("token", Value::from(c.token.as_str())),
                ("ttl", Value::from(go_duration(c.token_ttl))),
                (
                    "usages",
                    Value::Sequence(vec!["signing".into(), "authentication".into()]),
                ),
                (
                    "groups",
                    Value::Sequence(vec![
                        "system:bootstrappers:kubeadm:default-node-token".into(),
                    ]),
                ),
            ])]),
        ),
        ("nodeRegistration", node_registration(c, node, None, None)),
        (
            "localAPIEndpoint",
            map([("bindPort", Value::from(API_SERVER_PORT))]),
        ),
        ("timeouts", timeouts()),
    ])
}

/// [`boot_scripts::KUBEADM_TIMEOUTS`] as kubeadm reads them (Go durations).
fn timeouts() -> Value {
    let mut m = Mapping::new();
    for (k, d) in boot_scripts::KUBEADM_TIMEOUTS {
        m.insert(Value::from(k), Value::from(go_duration(d)));
    }
    Value::Mapping(m)
}

fn cluster_configuration(c: &ClusterBootstrap) -> Result<Value, String> {
    let version = KubeVersion::parse(&c.kubernetes_version)?;
    let [a, k] = header("ClusterConfiguration");
    let mut sans = vec![c.endpoint_host.clone()];
    for extra in ["127.0.0.1", "localhost"] {
        if !sans.iter().any(|s| s == extra) {
            sans.push(extra.into());
        }
    }
    Ok(map([
        a,
        k,
        ("clusterName", Value::from(c.cluster_name.as_str())),
        ("kubernetesVersion", Value::from(version.kubeadm_version())),
        ("controlPlaneEndpoint", Value::from(endpoint(c))),
        ("encryptionAlgorithm", Value::from("ECDSA-P256")),
        (
            "networking",
            map([
                ("podSubnet", Value::from(c.pod_cidr.as_str())),
                ("serviceSubnet", Value::from(c.service_cidr.as_str())),
            ]),
        ),
        (
            "apiServer",
            map([(
                "certSANs",
                Value::Sequence(sans.into_iter().map(Value::from).collect()),
            )]),
        ),
        (
            "controllerManager",
            map([("extraArgs", extra_args(&boot_scripts::LEADER_ELECTION))]),
        ),
        (
            "scheduler",
            map([("extraArgs", extra_args(&boot_scripts::LEADER_ELECTION))]),
        ),
    ]))
}

fn join_configuration(
    c: &ClusterBootstrap,
    node_registration: Value,
    control_plane: Option<Value>,
) -> Value {
    let [a, k] = header("JoinConfiguration");
    let mut v = map([
        a,
        k,
        (
            "discovery",
            map([(
                "bootstrapToken",
                map([
                    ("apiServerEndpoint", Value::from(endpoint(c))),
                    ("token", Value::from(c.token.as_str())),
                    (
                        "caCertHashes",
                        Value::Sequence(vec![Value::from(c.ca_cert_hash.as_str())]),
                    ),
                ]),
            )]),
        ),
        ("nodeRegistration", node_registration),
        ("timeouts", timeouts()),
    ]);
    if let Some(cp) = control_plane {
        insert(&mut v, "controlPlane", cp);
    }
    v
}

// ---- checks --------------------------------------------------------------------------------

fn check_cluster(c: &ClusterBootstrap) -> Result<(), String> {
    KubeVersion::parse(&c.kubernetes_version)?;
    if c.endpoint_host.is_empty() || c.endpoint_port == 0 {
        return Err(format!(
            "the API endpoint {:?} port {} is not usable: both are needed",
            c.endpoint_host, c.endpoint_port
        ));
    }
    for (what, cidr) in [("pod", &c.pod_cidr), ("service", &c.service_cidr)] {
        cidr.parse::<ipnet::IpNet>()
            .map_err(|_| format!("the {what} CIDR {cidr:?} is not a CIDR"))?;
    }
    let token_ok = c.token.split_once('.').is_some_and(|(id, secret)| {
        let ok = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        ok(id, 6) && ok(secret, 16)
    });
    if !token_ok {
        return Err("the bootstrap token is not [a-z0-9]{6}.[a-z0-9]{16}".into());
    }
    let hash_ok = c
        .ca_cert_hash
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !hash_ok {
        return Err(format!(
            "the CA certificate hash {:?} is not sha256:<64 hex digits>",
            c.ca_cert_hash
        ));
    }
    Ok(())
}

fn check_node_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "node name {n:?} is not a lowercase DNS-1123 subdomain"
        ))
    }
}

fn check_pem(name: &str, pem: &str, key: bool) -> Result<(), String> {
    let want = if key {
        "-----BEGIN PRIVATE KEY-----"
    } else if name == "sa.pub" {
        "-----BEGIN PUBLIC KEY-----"
    } else {
        "-----BEGIN CERTIFICATE-----"
    };
    if pem.trim_start().starts_with(want) {
        Ok(())
    } else {
        Err(format!(
            "the cluster's {name} is not a PEM starting with {want}"
        ))
    }
}

/// The labels kubelet sets itself (k8s.io/kubelet/pkg/apis: kubeletLabels).
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];
/// The label namespaces (and their subdomains) kubelet may set (kubeletLabelNamespaces).
const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// May kubelet put `key` on its own node with `--node-labels`? kubelet refuses to start with
/// any other label in the kubernetes.io or k8s.io namespaces (and NodeRestriction would refuse
/// it too), e.g. `node-role.kubernetes.io/worker`.
pub fn kubelet_may_set(key: &str) -> bool {
    let Some((ns, _)) = key.split_once('/') else {
        return true;
    };
    let reserved = ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|r| ns == *r || ns.ends_with(&format!(".{r}")));
    if !reserved {
        return true;
    }
    KUBELET_LABELS.contains(&key)
        || KUBELET_LABEL_NAMESPACES
            .iter()
            .any(|a| ns == *a || ns.ends_with(&format!(".{a}")))
}

fn is_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        None => is_name_part(key),
        Some((prefix, name)) => {
            is_name_part(name)
                && prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }
    }
}

fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_name_part(v)
}

/// `--node-labels` (`k=v,k=v`), None without labels; Err for a label kubelet would refuse.
fn node_labels(labels: &BTreeMap<String, String>) -> Result<Option<String>, String> {
    if labels.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (k, v) in labels {
        if !is_qualified_name(k) {
            return Err(format!("node label key {k:?} is not a valid label key"));
        }
        if !is_label_value(v) {
            return Err(format!(
                "node label {k}: value {v:?} is not a valid label value"
            ));
        }
        if !kubelet_may_set(k) {
            return Err(format!(
                "node label {k}: kubelet may not set labels in the kubernetes.io and k8s.io namespaces on its own node (it would refuse to start and the node would never register); only {} and the *.kubelet.kubernetes.io/ and *.node.kubernetes.io/ namespaces are allowed. Use a label under your own prefix (e.g. example.com/role), or set node-role.kubernetes.io/* with kubectl after the node joins",
                KUBELET_LABELS.join(", ")
            ));
        }
        out.push(format!("{k}={v}"));
    }
    Ok(Some(out.join(",")))
}

fn taints_value(taints: &[Taint]) -> Result<Option<Value>, String> {
    if taints.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for t in taints {
        if !is_qualified_name(&t.key) {
            return Err(format!("taint key {:?} is not a valid key", t.key));
        }
        let mut v = map([("key", Value::from(t.key.as_str()))]);
        if let Some(value) = &t.value {
            if !is_label_value(value) {
                return Err(format!(
                    "taint {}: value {value:?} is not a valid value",
                    t.key
                ));
            }
            insert(&mut v, "value", Value::from(value.as_str()));
        }
        let effect = match t.effect {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        };
        insert(&mut v, "effect", Value::from(effect));
        out.push(v);
    }
    Ok(Some(Value::Sequence(out)))
}

// ---- files ---------------------------------------------------------------------------------

/// Root's, mode 0600: keys and the kubeadm config (it holds the token).
fn secret(path: &str, content: String) -> WriteFile {
    WriteFile {
        permissions: "0600".into(),
        ..WriteFile::root(path, content)
    }
}

/// Root's, mode 0755: the scripts.
fn executable(path: &str, content: String) -> WriteFile {
    WriteFile {
        permissions: "0755".into(),
        ..WriteFile::root(path, content)
    }
}

fn calico_installation(c: &ClusterBootstrap) -> Result<String, String> {
    let doc = serde_yaml::to_string(&map([
        ("apiVersion", Value::from("operator.tigera.io/v1")),
        ("kind", Value::from("Installation")),
        ("metadata", map([("name", Value::from("default"))])),
        (
            "spec",
            map([(
                "calicoNetwork",
                map([
                    ("bgp", Value::from("Disabled")),
                    (
                        "ipPools",
                        Value::Sequence(vec![map([
                            ("name", Value::from("default-ipv4-ippool")),
                            ("cidr", Value::from(c.pod_cidr.as_str())),
                            ("blockSize", Value::from(26)),
                            ("encapsulation", Value::from("VXLAN")),
                            ("natOutgoing", Value::from("Enabled")),
                            ("nodeSelector", Value::from("all()")),
                        ])]),
                    ),
                ]),
            )]),
        ),
    ]))
    .map_err(|e| format!("cannot render Calico's Installation: {e}"))?;
    Ok(format!(
        "# Written by azop: Calico {CALICO_VERSION}, VXLAN (Azure does not carry IP-in-IP), no BGP.\n{doc}"
    ))
}

/// Exports the ProxyConfig's variables from its containerd drop-in, when azop wrote one
/// (`Environment="K=V"` lines; systemd's `%%` is turned back into `%`).
fn proxy_prelude() -> String {
    format!(
        r#"# The ProxyConfig's environment, from its containerd drop-in when azop wrote one: apt,
# curl and kubectl then go through the proxy.
if [ -r {CONTAINERD_DROP_IN} ]; then
  while IFS= read -r line; do
    case "$line" in
      Environment=\"*\")
        kv="${{line#Environment=\"}}"
        kv="${{kv%\"}}"
        kv="$(printf '%s' "$kv" | sed 's/%%/%/g')"
        export "$kv"
        ;;
    esac
  done < {CONTAINERD_DROP_IN}
fi
"#
    )
}

fn install_script(c: &ClusterBootstrap, v: &KubeVersion) -> String {
    let minor = v.minor_string();
    let patch = v.patch.map(|p| p.to_string()).unwrap_or_default();
    let install = if c.install_at_boot { "1" } else { "0" };
    let prelude = proxy_prelude();
    format!(
        r#"#!/bin/bash
# Written by azop: containerd, kubeadm, kubelet and kubectl for Kubernetes {minor}, then the
# kernel settings kubeadm's preflight checks. INSTALL=1 installs them from pkgs.k8s.io;
# INSTALL=0 checks the image has them.
set -euo pipefail
MINOR="{minor}"
PATCH="{patch}"
INSTALL={install}
CONFIG="{KUBEADM_CONFIG_PATH}"
fail() {{ echo "azop: $*" >&2; exit 1; }}
# Network steps are retried (the first boot's network, the proxy, a mirror may be slow).
retry() {{
  local n
  for n in 1 2 3 4 5 6; do
    "$@" && return 0
    echo "azop: attempt $n of '$*' failed; retrying in 10s" >&2
    sleep 10
  done
  fail "giving up on '$*'"
}}
{prelude}
# Swap off (kubelet refuses swap by default), now and after a reboot.
swapoff -a
sed -i -E 's@^([^#].*[[:space:]]swap[[:space:]].*)$@#\1@' /etc/fstab
# Bridged traffic through iptables, IP forwarding.
printf 'overlay\nbr_netfilter\n' > /etc/modules-load.d/azop-kubernetes.conf
modprobe overlay
modprobe br_netfilter
printf 'net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n' > /etc/sysctl.d/99-azop-kubernetes.conf
sysctl --system >/dev/null || true  # an unrelated bad entry must not stop us: ours are checked
for k in net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward; do
  [ "$(sysctl -n "$k")" = 1 ] || fail "sysctl $k is not 1"
done

if [ "$INSTALL" = 1 ]; then
  command -v apt-get >/dev/null || fail "installing Kubernetes at boot needs a Debian or Ubuntu image (apt-get not found)"
  export DEBIAN_FRONTEND=noninteractive
  # The first boot's unattended-upgrades may hold dpkg's lock: wait for it.
  APT="apt-get -q -o DPkg::Lock::Timeout=600"
  retry $APT update
  retry $APT install -y apt-transport-https ca-certificates curl gpg containerd
  mkdir -p -m 755 /etc/apt/keyrings
  retry curl -fsSL -o /etc/apt/keyrings/kubernetes-apt-keyring.asc "https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/Release.key"
  gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg /etc/apt/keyrings/kubernetes-apt-keyring.asc
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/ /" > /etc/apt/sources.list.d/kubernetes.list
  retry $APT update
  if [ -n "$PATCH" ]; then
    PKG="$(apt-cache madison kubeadm | awk '{{print $3}}' | grep -m1 "^$MINOR\.$PATCH-" || true)"
    [ -n "$PKG" ] || fail "Kubernetes $MINOR.$PATCH is not in https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/"
    retry $APT install -y "kubelet=$PKG" "kubeadm=$PKG" "kubectl=$PKG"
  else
    retry $APT install -y kubelet kubeadm kubectl
  fi
  apt-mark hold kubelet kubeadm kubectl
  mkdir -p /etc/containerd
  containerd config default > /etc/containerd/config.toml
  sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
  grep -q 'SystemdCgroup = true' /etc/containerd/config.toml || fail "could not set SystemdCgroup = true in /etc/containerd/config.toml"
  systemctl restart containerd
else
  for b in containerd kubeadm kubelet kubectl; do
    command -v "$b" >/dev/null || fail "the image has no $b: use an image with containerd and Kubernetes $MINOR installed, or a marketplace image (azop then installs them at boot)"
  done
fi
HAVE="$(kubeadm version -o short)"
case "$HAVE" in
  "v$MINOR".*) ;;
  *) fail "kubeadm is $HAVE, the cluster wants Kubernetes $MINOR" ;;
esac
case "$(kubelet --version)" in
  *" v$MINOR".*) ;;
  *) fail "kubelet is $(kubelet --version), the cluster wants Kubernetes $MINOR" ;;
esac
# A minor-only version: the config names vX.Y.0 until the installed patch is known.
if [ -z "$PATCH" ] && grep -q '^kubernetesVersion:' "$CONFIG"; then
  sed -i "s/^kubernetesVersion:.*/kubernetesVersion: $HAVE/" "$CONFIG"
fi
systemctl enable --now containerd
systemctl enable kubelet
mkdir -p {STAMP_DIR}
touch {STAMP_DIR}/install.ok
"#
    )
}

fn calico_script() -> String {
    let prelude = proxy_prelude();
    let [crds, operator] = calico_manifest_urls();
    format!(
        r#"#!/bin/bash
# Written by azop: Calico {CALICO_VERSION} (the operator's CRDs and the Tigera operator, downloaded
# from their pinned URLs, then the Installation) with the admin kubeconfig, through the local API server (no
# round-trip through the load balancer).
set -euo pipefail
{prelude}
export KUBECONFIG=/etc/kubernetes/admin.conf
kc() {{ kubectl --server=https://127.0.0.1:{API_SERVER_PORT} "$@"; }}
retry() {{
  local n
  for n in $(seq 1 30); do
    "$@" && return 0
    echo "azop: attempt $n of '$*' failed; retrying in 10s" >&2
    sleep 10
  done
  echo "azop: giving up on '$*'" >&2
  return 1
}}
retry kc get --raw=/readyz
retry kc apply --server-side --force-conflicts -f {crds}
retry kc apply --server-side --force-conflicts -f {operator}
retry kc wait --for=condition=Established --timeout=60s crd/installations.operator.tigera.io
retry kc apply --server-side --force-conflicts -f {CALICO_INSTALLATION_PATH}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const PEM_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
    const PEM_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";

    fn cluster(version: &str) -> ClusterBootstrap {
        ClusterBootstrap {
            cluster_name: "demo".into(),
            kubernetes_version: version.into(),
            endpoint_host: "20.1.2.3".into(),
            endpoint_port: 6443,
            pod_cidr: DEFAULT_POD_CIDR.into(),
            service_cidr: DEFAULT_SERVICE_CIDR.into(),
            cni: Cni::Calico,
            pki: ClusterPki {
                ca_crt: PEM_CERT.into(),
                ca_key: PEM_KEY.into(),
                etcd_ca_crt: PEM_CERT.into(),
                etcd_ca_key: PEM_KEY.into(),
                front_proxy_ca_crt: PEM_CERT.into(),
                front_proxy_ca_key: PEM_KEY.into(),
                sa_pub: PEM_PUB.into(),
                sa_key: PEM_KEY.into(),
            },
            token: "abcdef.0123456789abcdef".into(),
            token_ttl: Duration::from_secs(24 * 3600),
            ca_cert_hash: format!("sha256:{}", "ab".repeat(32)),
            install_at_boot: true,
            external_cloud_provider: false,
        }
    }

    fn docs(yaml: &str) -> Vec<Value> {
        yaml.split("\n---\n")
            .map(|d| serde_yaml::from_str(d).expect("yaml"))
            .collect()
    }

    fn paths(f: &Fragment) -> Vec<&str> {
        f.write_files.iter().map(|w| w.path.as_str()).collect()
    }

    #[test]
    fn init_has_the_token_the_sans_and_the_cluster_settings() {
        let c = cluster("1.33.2");
        let d =
            docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0]["kind"], "InitConfiguration");
        assert_eq!(
            d[0]["bootstrapTokens"][0]["token"],
            "abcdef.0123456789abcdef"
        );
        assert_eq!(d[0]["bootstrapTokens"][0]["ttl"], "24h0m0s");
        assert_eq!(d[0]["nodeRegistration"]["name"], "cp-0");
        assert_eq!(d[0]["nodeRegistration"]["criSocket"], CRI_SOCKET);
        assert!(d[0]["nodeRegistration"].get("kubeletExtraArgs").is_none());
        assert_eq!(d[0]["localAPIEndpoint"]["bindPort"], 6443);
        // kubeadm's timeouts, raised for slow first boots.
        assert_eq!(d[0]["timeouts"]["kubernetesAPICall"], "0h5m0s");
        assert_eq!(
            d[0]["timeouts"]["controlPlaneComponentHealthCheck"],
            "0h10m0s"
        );
        let join = docs(
            &kubeadm_config(
                &c,
                &MachineBootstrap::JoinControlPlane { node_name: "cp-1" },
            )
            .expect("ok"),
        );
        assert_eq!(join[0]["timeouts"]["discovery"], "0h15m0s");
        assert_eq!(d[1]["kind"], "ClusterConfiguration");
        assert_eq!(d[1]["kubernetesVersion"], "v1.33.2");
        assert_eq!(d[1]["controlPlaneEndpoint"], "20.1.2.3:6443");
        assert_eq!(d[1]["encryptionAlgorithm"], "ECDSA-P256");
        for component in ["controllerManager", "scheduler"] {
            assert_eq!(
                d[1][component]["extraArgs"][1],
                map([
                    ("name", Value::from("leader-elect-renew-deadline")),
                    ("value", Value::from("40s"))
                ]),
                "{component}"
            );
        }
        assert_eq!(d[1]["networking"]["podSubnet"], "192.168.0.0/16");
        let sans = d[1]["apiServer"]["certSANs"].as_sequence().expect("seq");
        assert!(sans.contains(&Value::from("20.1.2.3")), "{sans:?}");
        assert!(sans.contains(&Value::from("127.0.0.1")), "{sans:?}");
    }

    #[test]
    fn the_external_cloud_provider_is_a_kubelet_arg_when_asked_for() {
        let mut c = cluster("1.33.2");
        c.external_cloud_provider = true;
        let d =
            docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
        let args = &d[0]["nodeRegistration"]["kubeletExtraArgs"];
        assert_eq!(args[0]["name"], "cloud-provider");
        assert_eq!(args[0]["value"], "external");
    }

    #[test]
    fn joins_discover_with_the_token_and_hash() {
        let c = cluster("1.33.2");
        let d = docs(
            &kubeadm_config(
                &c,
                &MachineBootstrap::JoinControlPlane { node_name: "cp-1" },
            )
            .expect("ok"),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["kind"], "JoinConfiguration");
        let bt = &d[0]["discovery"]["bootstrapToken"];
        assert_eq!(bt["apiServerEndpoint"], "20.1.2.3:6443");
        assert_eq!(bt["token"], "abcdef.0123456789abcdef");
        assert_eq!(bt["caCertHashes"][0], Value::from(c.ca_cert_hash.as_str()));
        assert_eq!(d[0]["controlPlane"]["localAPIEndpoint"]["bindPort"], 6443);
        assert!(d[0].get("certificateKey").is_none());

        let labels = BTreeMap::new();
        let w = docs(
            &kubeadm_config(
                &c,
                &MachineBootstrap::JoinWorker {
                    node_name: "w-0",
                    labels: &labels,
                    taints: &[],
                },
            )
            .expect("ok"),
        );
        assert!(w[0].get("controlPlane").is_none());
        assert!(w[0]["nodeRegistration"].get("taints").is_none());
    }

    #[test]
    fn an_ipv6_endpoint_is_bracketed() {
        let mut c = cluster("1.33.2");
        c.endpoint_host = "fd00::10".into();
        let d =
            docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
        assert_eq!(d[1]["controlPlaneEndpoint"], "[fd00::10]:6443");
    }

    #[test]
    fn worker_labels_and_taints_reach_kubelet_and_kubeadm() {
        let c = cluster("1.33.2");
        let labels: BTreeMap<String, String> = [
            ("example.com/pool".to_string(), "gpu".to_string()),
            ("node.kubernetes.io/role".to_string(), "gpu".to_string()),
            ("tier".to_string(), String::new()),
        ]
        .into();
        let taints = vec![
            Taint {
                key: "dedicated".into(),
                value: Some("gpu".into()),
                effect: TaintEffect::NoSchedule,
            },
            Taint {
                key: "example.com/spot".into(),
                value: None,
                effect: TaintEffect::PreferNoSchedule,
            },
        ];
        let d = docs(
            &kubeadm_config(
                &c,
                &MachineBootstrap::JoinWorker {
                    node_name: "w-0",
                    labels: &labels,
                    taints: &taints,
                },
            )
            .expect("ok"),
        );
        let nr = &d[0]["nodeRegistration"];
        assert_eq!(nr["kubeletExtraArgs"][0]["name"], "node-labels");
        assert_eq!(
            nr["kubeletExtraArgs"][0]["value"],
            "example.com/pool=gpu,node.kubernetes.io/role=gpu,tier="
        );
        assert_eq!(nr["taints"][0]["key"], "dedicated");
        assert_eq!(nr["taints"][0]["value"], "gpu");
        assert_eq!(nr["taints"][0]["effect"], "NoSchedule");
        assert!(nr["taints"][1].get("value").is_none());
        assert_eq!(nr["taints"][1]["effect"], "PreferNoSchedule");
    }

    #[test]
    fn labels_kubelet_refuses_are_refused_here() {
        let c = cluster("1.33.2");
        for key in [
            "node-role.kubernetes.io/worker",
            "kubernetes.io/role",
            "node-restriction.kubernetes.io/x",
            "example.k8s.io/x",
        ] {
            let labels: BTreeMap<String, String> = [(key.to_string(), String::new())].into();
            let e = kubeadm_config(
                &c,
                &MachineBootstrap::JoinWorker {
                    node_name: "w-0",
                    labels: &labels,
                    taints: &[],
                },
            )
            .expect_err(key);
            assert!(e.contains(key) && e.contains("kubelet may not set"), "{e}");
        }
        for key in [
            "topology.kubernetes.io/zone",
            "node.kubernetes.io/instance-type",
            "x.kubelet.kubernetes.io/y",
            "example.com/x",
            "plain",
        ] {
            assert!(kubelet_may_set(key), "{key}");
        }
        let bad: BTreeMap<String, String> = [("a".to_string(), "b,c=d".to_string())].into();
        let e = kubeadm_config(
            &c,
            &MachineBootstrap::JoinWorker {
                node_name: "w-0",
                labels: &bad,
                taints: &[],
            },
        )
        .expect_err("a comma would split the flag");
        assert!(e.contains("not a valid label value"), "{e}");
    }

    #[test]
    fn versions_full_minor_only_and_bad() {
        assert_eq!(
            KubeVersion::parse("1.33.2"),
            Ok(KubeVersion {
                major: 1,
                minor: 33,
                patch: Some(2)
            })
        );
        assert_eq!(
            KubeVersion::parse("v1.33").map(|v| v.kubeadm_version()),
            Ok("v1.33.0".into())
        );
        for bad in ["", "1", "1.33.", "1.33.2.1", "1.x", "latest"] {
            assert!(KubeVersion::parse(bad).is_err(), "{bad}");
        }
        let c = cluster("1.33");
        let d =
            docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
        assert_eq!(d[1]["kubernetesVersion"], "v1.33.0");
        let f = fragment(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok");
        let script = &f.write_files[0].content;
        assert!(script.contains("MINOR=\"1.33\"\nPATCH=\"\"\n"), "{script}");
        assert!(script.contains("s/^kubernetesVersion:.*/kubernetesVersion: $HAVE/"));
        assert!(script.contains("https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/"));
        let full = fragment(
            &cluster("1.33.2"),
            &MachineBootstrap::Init { node_name: "cp-0" },
        )
        .expect("ok");
        assert!(full.write_files[0].content.contains("PATCH=\"2\"\n"));
        assert!(
            kubeadm_config(&cluster("1.x"), &MachineBootstrap::Init { node_name: "a" }).is_err()
        );
    }

    #[test]
    fn install_or_check_is_chosen_by_install_at_boot() {
        let mut c = cluster("1.33.2");
        let m = MachineBootstrap::JoinControlPlane { node_name: "cp-1" };
        assert!(
            fragment(&c, &m).expect("ok").write_files[0]
                .content
                .contains("\nINSTALL=1\n")
        );
        c.install_at_boot = false;
        assert!(
            fragment(&c, &m).expect("ok").write_files[0]
                .content
                .contains("\nINSTALL=0\n")
        );
    }

    #[test]
    fn the_fragments_files_and_commands_per_machine() {
        let c = cluster("1.33.2");
        let init = fragment(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok");
        let p = paths(&init);
        for want in [
            INSTALL_SCRIPT_PATH,
            KUBEADM_CONFIG_PATH,
            "/etc/kubernetes/pki/ca.crt",
            "/etc/kubernetes/pki/ca.key",
            "/etc/kubernetes/pki/etcd/ca.key",
            "/etc/kubernetes/pki/front-proxy-ca.key",
            "/etc/kubernetes/pki/sa.pub",
            "/etc/kubernetes/pki/sa.key",
            CALICO_INSTALLATION_PATH,
            CNI_SCRIPT_PATH,
        ] {
            assert!(p.contains(&want), "{want} missing: {p:?}");
        }
        for f in &init.write_files {
            let want = if f.path.ends_with(".key") || f.path == KUBEADM_CONFIG_PATH {
                "0600"
            } else if f.path.ends_with(".sh") {
                "0755"
            } else {
                "0644"
            };
            assert_eq!(f.permissions, want, "{}", f.path);
        }
        assert_eq!(init.runcmd.len(), 3);
        assert_eq!(init.runcmd[0], vec![INSTALL_SCRIPT_PATH.to_string()]);
        assert!(init.runcmd[1][2].contains(&format!("then {KUBEADM_SCRIPT_PATH} init &&")));
        assert!(init.runcmd[2][2].contains(CNI_SCRIPT_PATH));
        let kubeadm_script = &init
            .write_files
            .iter()
            .find(|f| f.path == KUBEADM_SCRIPT_PATH)
            .expect("kubeadm script")
            .content;
        assert!(kubeadm_script.contains("CONFIG=\"/run/kubeadm/kubeadm.yaml\""));
        let inst = init
            .write_files
            .iter()
            .find(|f| f.path == CALICO_INSTALLATION_PATH)
            .expect("installation");
        let cni = &init
            .write_files
            .iter()
            .find(|f| f.path == CNI_SCRIPT_PATH)
            .expect("cni script")
            .content;
        let [crds, operator] = calico_manifest_urls();
        let (a, b) = (
            cni.find(&crds).expect("crds"),
            cni.find(&operator).expect("op"),
        );
        let w = cni
            .find("crd/installations.operator.tigera.io")
            .expect("wait");
        let i = cni.find(CALICO_INSTALLATION_PATH).expect("installation");
        assert!(a < b && b < w && w < i, "{cni}");
        assert!(operator.contains(CALICO_VERSION));
        assert!(inst.content.contains("encapsulation: VXLAN"));
        assert!(inst.content.contains("cidr: 192.168.0.0/16"));

        let cp = fragment(
            &c,
            &MachineBootstrap::JoinControlPlane { node_name: "cp-1" },
        )
        .expect("ok");
        assert!(paths(&cp).contains(&"/etc/kubernetes/pki/ca.key"));
        assert!(!paths(&cp).contains(&CNI_SCRIPT_PATH));
        assert_eq!(cp.runcmd.len(), 2);
        assert!(cp.runcmd[1][2].contains(&format!("then {KUBEADM_SCRIPT_PATH} join &&")));

        let labels = BTreeMap::new();
        let w = fragment(
            &c,
            &MachineBootstrap::JoinWorker {
                node_name: "w-0",
                labels: &labels,
                taints: &[],
            },
        )
        .expect("ok");
        assert_eq!(
            paths(&w),
            vec![
                INSTALL_SCRIPT_PATH,
                KUBEADM_CONFIG_PATH,
                KUBEADM_SCRIPT_PATH
            ]
        );

        let mut none = c.clone();
        none.cni = Cni::None;
        let n = fragment(&none, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok");
        assert_eq!(n.runcmd.len(), 2);
        assert!(!paths(&n).contains(&CNI_SCRIPT_PATH));

        // The image's pod network: the dispatching script runs, Calico's stays as the
        // fallback.
        let mut image = c.clone();
        image.cni = Cni::ImageDefault;
        let i = fragment(&image, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok");
        assert!(i.runcmd[2][2].contains(&format!("then {POD_NETWORK_SCRIPT_PATH} &&")));
        assert!(paths(&i).contains(&CNI_SCRIPT_PATH));
        assert!(paths(&i).contains(&POD_NETWORK_SCRIPT_PATH));
    }

    #[test]
    fn bad_inputs_are_refused_with_a_reason() {
        let m = MachineBootstrap::Init { node_name: "cp-0" };
        let mut c = cluster("1.33.2");
        c.token = "ABCDEF.0123456789abcdef".into();
        assert!(kubeadm_config(&c, &m).expect_err("token").contains("token"));
        let mut c = cluster("1.33.2");
        c.ca_cert_hash = "abc".into();
        assert!(kubeadm_config(&c, &m).expect_err("hash").contains("hash"));
        let mut c = cluster("1.33.2");
        c.pod_cidr = "192.168.0.0/33".into();
        assert!(
            kubeadm_config(&c, &m)
                .expect_err("cidr")
                .contains("pod CIDR")
        );
        let c = cluster("1.33.2");
        assert!(
            kubeadm_config(&c, &MachineBootstrap::Init { node_name: "CP_0" })
                .expect_err("name")
                .contains("node name")
        );
        let mut c = cluster("1.33.2");
        c.pki.ca_key = PEM_CERT.into();
        assert!(fragment(&c, &m).expect_err("pem").contains("ca.key"));
    }

    #[test]
    fn the_size_check_names_the_size_and_the_limit() {
        assert!(check_size(&"x".repeat(CUSTOM_DATA_LIMIT)).is_ok());
        let e = check_size(&"x".repeat(CUSTOM_DATA_LIMIT + 10)).expect_err("too big");
        assert!(e.contains("65545 bytes") && e.contains("65535"), "{e}");
        assert!(e.contains("bootstrapDataSecretRef"), "{e}");
        // A real init fragment is far below the limit.
        let f = fragment(
            &cluster("1.33.2"),
            &MachineBootstrap::Init { node_name: "cp-0" },
        )
        .expect("ok");
        let doc = crate::node_bootstrap::compose(&[f], None)
            .expect("ok")
            .expect("some");
        check_size(&doc).expect("fits");
    }
}
