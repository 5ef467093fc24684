//! The rendering of every kind of machine, and the checks that refuse what could not boot.

use super::*;
use azop_api::v1alpha1::azure_cluster::TaintEffect;

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
    let d = docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
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
    let d = docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
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
    let d = docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
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
    let d = docs(&kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).expect("ok"));
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
    assert!(kubeadm_config(&cluster("1.x"), &MachineBootstrap::Init { node_name: "a" }).is_err());
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
