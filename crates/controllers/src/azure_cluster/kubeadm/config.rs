//! The kubeadm configuration documents (kubeadm.k8s.io/v1beta4) of each kind of machine
//! (pure).

use std::net::IpAddr;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::super::boot_scripts;
use super::{API_SERVER_PORT, CRI_SOCKET, ClusterBootstrap, KubeVersion};

pub(super) fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
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

pub(super) fn insert(v: &mut Value, key: &str, value: Value) {
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

pub(super) fn node_registration(
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

pub(super) fn init_configuration(c: &ClusterBootstrap, node: &str) -> Value {
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

pub(super) fn cluster_configuration(c: &ClusterBootstrap) -> Result<Value, String> {
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

pub(super) fn join_configuration(
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
