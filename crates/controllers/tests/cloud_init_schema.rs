//! The customData azop composes for IaaS nodes passes cloud-init's own schema check
//! (`cloud-init schema --config-file`, Debian's cloud-init package, which
//! crates/testenv/scripts/install.sh installs): the ProxyConfig's drop-ins and CA alone, in
//! front of a user's #cloud-config, and in the cloud-config part of the multipart document
//! made for a user's script. A deliberately broken document must fail the same check, so the
//! check is known to look.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use azop_api::v1alpha1::proxy_config::{ProxyConfig, ProxyConfigSpec};
use azop_controllers::node_bootstrap::compose;
use azop_controllers::proxy_config::inherit::{
    CONTAINERD_DROP_IN, ClusterNetwork, ClusterProxy, KUBELET_DROP_IN, NODE_CA_PATH,
};
use azop_controllers::proxy_config::resolve::effective_proxy_for;

fn cloud_init() -> PathBuf {
    let bin = std::env::var_os("AZOP_CLOUD_INIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cloud-init"));
    let ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} not found: install Debian's cloud-init (`make testenv` does: crates/testenv/scripts/install.sh), or set AZOP_CLOUD_INIT",
        bin.display()
    );
    bin
}

/// `cloud-init schema` on `doc`: Ok, or the checker's complaint.
fn schema(doc: &str, name: &str) -> Result<(), String> {
    // A directory per call (tests run in parallel), removed once checked: runs leave nothing
    // under /tmp.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("azop-cloud-init-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, doc).unwrap();
    let out = Command::new(cloud_init())
        .args(["schema", "--config-file"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.contains("Valid cloud-config") {
        Ok(())
    } else {
        Err(format!("{text}\n--- document ---\n{doc}"))
    }
}

fn ca_pem() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "corp proxy CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

fn cluster_proxy() -> ClusterProxy {
    let mut p = ProxyConfig::new(
        "corp",
        ProxyConfigSpec {
            http_proxy: Some("http://proxy.corp.example:3128".into()),
            // A percent-encoded password: systemd's specifier escaping must survive YAML.
            https_proxy: Some("http://user:p%40ss@proxy.corp.example:3129".into()),
            no_proxy: vec![".corp.example".into(), "10.20.0.0/16".into()],
            trusted_ca: None,
            default: true,
            reconcile_policy: Default::default(),
            deletion_policy: Default::default(),
        },
    );
    p.metadata.namespace = Some("team-a".into());
    let resolved = effective_proxy_for("team-a", None, &[Arc::new(p)])
        .unwrap()
        .unwrap();
    ClusterProxy::new(
        resolved,
        Some(ca_pem()),
        &ClusterNetwork {
            cidrs: vec!["10.0.0.0/8".into()],
            api_host: Some("20.1.2.3".into()),
        },
    )
}

#[test]
fn the_proxy_drop_ins_alone_are_a_valid_cloud_config() {
    let doc = compose(&[cluster_proxy().iaas_bootstrap()], None)
        .unwrap()
        .unwrap();
    for path in [CONTAINERD_DROP_IN, KUBELET_DROP_IN, NODE_CA_PATH] {
        assert!(doc.contains(path), "{path} missing:\n{doc}");
    }
    schema(&doc, "proxy-only.yaml").unwrap();
}

#[test]
fn the_drop_ins_in_front_of_a_users_cloud_config_are_valid() {
    let user = "#cloud-config\n\
        package_update: true\n\
        packages: [jq]\n\
        write_files:\n  - path: /etc/kubeadm.yaml\n    content: |\n      kind: InitConfiguration\n    permissions: '0600'\n\
        runcmd:\n  - kubeadm init --config /etc/kubeadm.yaml\n  - [systemctl, enable, --now, kubelet]\n";
    schema(user, "user.yaml").unwrap();
    let doc = compose(&[cluster_proxy().iaas_bootstrap()], Some(user))
        .unwrap()
        .unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&doc).unwrap();
    assert_eq!(v["packages"][0], "jq");
    assert_eq!(v["write_files"][0]["path"], CONTAINERD_DROP_IN);
    let last = v["runcmd"].as_sequence().unwrap().last().unwrap().clone();
    assert_eq!(last[0], "systemctl");
    schema(&doc, "combined.yaml").unwrap();
}

#[test]
fn the_cloud_config_part_made_for_a_users_script_is_valid() {
    let doc = compose(
        &[cluster_proxy().iaas_bootstrap()],
        Some("#!/bin/bash\nkubeadm join 10.0.0.4:6443\n"),
    )
    .unwrap()
    .unwrap();
    let boundary = doc
        .lines()
        .next()
        .and_then(|l| l.split("boundary=\"").nth(1))
        .map(|b| b.trim_end_matches('"').to_string())
        .expect("a multipart header");
    let config = doc
        .split(&format!("--{boundary}"))
        .find(|p| p.contains("Content-Type: text/cloud-config"))
        .and_then(|p| p.split_once("\n\n").map(|(_, body)| body.to_string()))
        .expect("a text/cloud-config part");
    schema(&config, "multipart-config.yaml").unwrap();
}

#[test]
fn the_check_finds_a_broken_document() {
    // permissions as a number and runcmd as a mapping: both refused by the schema.
    let bad =
        "#cloud-config\nwrite_files:\n  - path: /etc/x\n    permissions: 420\nruncmd: {a: b}\n";
    let err = schema(bad, "broken.yaml").expect_err("a broken document must fail");
    assert!(err.contains("permissions"), "{err}");
}
