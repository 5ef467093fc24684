//! The kubeadm bootstrap (`azure_cluster::kubeadm`) checked with the real tools:
//!
//! - every machine's config (init, control-plane join, worker join with labels and taints),
//!   for a full and a minor-only version, passes `kubeadm config validate` of the testenv's
//!   kubeadm (`AZOP_KUBEADM`, else `testenv.env` in the cache dir, as azop-testenv finds it);
//!   a broken config and an unsupported version are refused by the same command, so the
//!   check is known to look;
//! - the PKI files the init fragment writes are used by `kubeadm init phase certs all` (it
//!   signs its leaf certificates with our ECDSA CAs, the API server's with the endpoint in
//!   its SANs);
//! - the install script's version check and minor-only rewrite, run by bash against the real
//!   kubeadm (`kubeadm version -o short`), give a config kubeadm accepts, and refuse a
//!   kubeadm of another minor;
//! - the scripts parse (`bash -n`), and the ProxyConfig's systemd drop-in is read back into
//!   the environment exactly;
//! - each machine's composed document passes `cloud-init schema --config-file`, alone and
//!   after the ProxyConfig's fragment with a user #cloud-config or script.
//!
//! kubeadm never needs the network here: the versions are full (`vX.Y.Z`), never labels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use azop_api::v1alpha1::azure_cluster::{Taint, TaintEffect};
use azop_api::v1alpha1::proxy_config::{ProxyConfig, ProxyConfigSpec};
use azop_controllers::azure_cluster::boot_scripts::{
    KUBEADM_SCRIPT_PATH, POD_NETWORK_SCRIPT_PATH, kubeadm_script, pod_network_script,
};
use azop_controllers::azure_cluster::kubeadm::{
    CNI_SCRIPT_PATH, CRI_SOCKET, ClusterBootstrap, ClusterPki, Cni, INSTALL_SCRIPT_PATH,
    KUBEADM_CONFIG_PATH, MachineBootstrap, STAMP_DIR, check_size, fragment, kubeadm_config,
};
use azop_controllers::node_bootstrap::{Fragment, compose};
use azop_controllers::proxy_config::inherit::{
    CONTAINERD_DROP_IN, ClusterNetwork, ClusterProxy, proxy_env, systemd_drop_in,
};
use azop_controllers::proxy_config::resolve::effective_proxy_for;

// ---- tools ---------------------------------------------------------------------------------

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("AZOP_CACHE_DIR").or_else(|| std::env::var_os("AZOP_CACHE")) {
        return PathBuf::from(d);
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
        .join(".cache")
        .join("azop")
}

/// `var` from the environment, else from `testenv.env` (what install.sh writes and
/// azop-testenv reads: `make test` sets no AZOP_* variable itself).
fn tool(var: &str, fallback: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let env_file = cache_dir().join("testenv.env");
    std::fs::read_to_string(&env_file)
        .ok()
        .and_then(|text| {
            text.lines()
                .filter_map(|l| l.trim().split_once('='))
                .find(|(k, _)| k.trim() == var)
                .map(|(_, v)| PathBuf::from(v.trim().trim_matches('"')))
        })
        .unwrap_or_else(|| PathBuf::from(fallback))
}

fn kubeadm() -> PathBuf {
    let bin = tool("AZOP_KUBEADM", "kubeadm");
    let ok = Command::new(&bin)
        .args(["version", "-o", "short"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} not found or not runnable: run `make testenv` (crates/testenv/scripts/install.sh builds kubeadm and writes {}), or set AZOP_KUBEADM",
        bin.display(),
        cache_dir().join("testenv.env").display()
    );
    bin
}

fn cloud_init() -> PathBuf {
    let bin = tool("AZOP_CLOUD_INIT", "cloud-init");
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

/// The testenv kubeadm's own version, e.g. "v1.37.2": the tests render configs for it
/// (kubeadm deploys only its own minor and the one before).
fn kubeadm_version() -> String {
    let out = Command::new(kubeadm())
        .args(["version", "-o", "short"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new, empty directory (tests run in parallel: each call gets its own), removed with
/// everything in it when the value is dropped, so runs leave nothing under /tmp.
fn dir(name: &str) -> Scratch {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("azop-kubeadm-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// A test's scratch directory ([`dir`]).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `kubeadm config validate --config` on `yaml`: Ok, or kubeadm's complaint.
fn validate(yaml: &str, name: &str) -> Result<(), String> {
    let scratch = dir("validate");
    let path = scratch.join(name);
    std::fs::write(&path, yaml).unwrap();
    validate_file(&path)
}

fn validate_file(path: &Path) -> Result<(), String> {
    let out = Command::new(kubeadm())
        .args(["config", "validate", "--config"])
        .arg(path)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}\n--- config ---\n{}",
            output_text(&out),
            std::fs::read_to_string(path).unwrap_or_default()
        ))
    }
}

/// `cloud-init schema --config-file` on `doc`.
fn schema(doc: &str, name: &str) -> Result<(), String> {
    let scratch = dir("schema");
    let path = scratch.join(name);
    std::fs::write(&path, doc).unwrap();
    let out = Command::new(cloud_init())
        .args(["schema", "--config-file"])
        .arg(&path)
        .output()
        .unwrap();
    let text = output_text(&out);
    if out.status.success() && text.contains("Valid cloud-config") {
        Ok(())
    } else {
        Err(format!("{text}\n--- document ---\n{doc}"))
    }
}

fn bash(script: &str, path_prefix: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script);
    if let Some(p) = path_prefix {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", p.display()));
    }
    cmd.output().unwrap()
}

// ---- inputs --------------------------------------------------------------------------------

fn ca(cn: &str) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

fn pki() -> ClusterPki {
    let (ca_crt, ca_key) = ca("kubernetes");
    let (etcd_ca_crt, etcd_ca_key) = ca("etcd-ca");
    let (front_proxy_ca_crt, front_proxy_ca_key) = ca("front-proxy-ca");
    let sa = rcgen::KeyPair::generate().unwrap();
    ClusterPki {
        ca_crt,
        ca_key,
        etcd_ca_crt,
        etcd_ca_key,
        front_proxy_ca_crt,
        front_proxy_ca_key,
        sa_pub: sa.public_key_pem(),
        sa_key: sa.serialize_pem(),
    }
}

fn cluster(version: &str) -> ClusterBootstrap {
    ClusterBootstrap {
        cluster_name: "demo".into(),
        kubernetes_version: version.into(),
        endpoint_host: "20.1.2.3".into(),
        endpoint_port: 6443,
        pod_cidr: "192.168.0.0/16".into(),
        service_cidr: "10.96.0.0/12".into(),
        cni: Cni::Calico,
        pki: pki(),
        token: "abcdef.0123456789abcdef".into(),
        token_ttl: Duration::from_secs(2 * 3600),
        // The caller computes it; kubeadm checks only its form offline.
        ca_cert_hash: format!("sha256:{}", "0f".repeat(32)),
        install_at_boot: true,
        external_cloud_provider: true,
    }
}

/// (full, minor-only) versions of the testenv kubeadm: "1.37.2" and "1.37".
fn versions() -> (String, String) {
    let v = kubeadm_version();
    let full = v.trim_start_matches('v').to_string();
    let minor = full.rsplit_once('.').unwrap().0.to_string();
    (full, minor)
}

fn labels() -> BTreeMap<String, String> {
    [
        ("example.com/pool".to_string(), "gpu".to_string()),
        ("node.kubernetes.io/pool".to_string(), "gpu".to_string()),
        ("tier".to_string(), String::new()),
    ]
    .into()
}

fn taints() -> Vec<Taint> {
    vec![
        Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: TaintEffect::NoSchedule,
        },
        Taint {
            key: "example.com/spot".into(),
            value: None,
            effect: TaintEffect::NoExecute,
        },
    ]
}

/// Each machine kind, with a name for the files.
fn machines<'a>(
    labels: &'a BTreeMap<String, String>,
    taints: &'a [Taint],
) -> Vec<(&'static str, MachineBootstrap<'a>)> {
    vec![
        (
            "init",
            MachineBootstrap::Init {
                node_name: "demo-cp-0",
            },
        ),
        (
            "join-cp",
            MachineBootstrap::JoinControlPlane {
                node_name: "demo-cp-1",
            },
        ),
        (
            "join-worker",
            MachineBootstrap::JoinWorker {
                node_name: "demo-pool-0",
                labels,
                taints,
            },
        ),
    ]
}

fn file<'a>(f: &'a Fragment, path: &str) -> &'a str {
    &f.write_files
        .iter()
        .find(|w| w.path == path)
        .unwrap_or_else(|| panic!("{path} not written"))
        .content
}

fn cluster_proxy() -> ClusterProxy {
    let mut p = ProxyConfig::new(
        "corp",
        ProxyConfigSpec {
            http_proxy: Some("http://proxy.corp.example:3128".into()),
            https_proxy: Some("http://user:p%40ss@proxy.corp.example:3129".into()),
            no_proxy: vec![".corp.example".into()],
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
        Some(ca("corp proxy CA").0),
        &ClusterNetwork {
            cidrs: vec!["10.0.0.0/8".into()],
            api_host: Some("20.1.2.3".into()),
        },
    )
}

// ---- kubeadm config validate ---------------------------------------------------------------

#[test]
fn every_machines_config_passes_kubeadm_config_validate() {
    let (full, minor) = versions();
    let (labels, taints) = (labels(), taints());
    for version in [&full, &minor] {
        let c = cluster(version);
        for (name, m) in machines(&labels, &taints) {
            let yaml = kubeadm_config(&c, &m).unwrap();
            validate(&yaml, &format!("{name}-{version}.yaml"))
                .unwrap_or_else(|e| panic!("{name} with version {version}: {e}"));
            // The file the fragment writes is that same config.
            assert_eq!(file(&fragment(&c, &m).unwrap(), KUBEADM_CONFIG_PATH), yaml);
        }
    }
}

#[test]
fn the_check_refuses_a_broken_config_and_an_unsupported_version() {
    let (full, _) = versions();
    let c = cluster(&full);
    let yaml = kubeadm_config(&c, &MachineBootstrap::Init { node_name: "cp-0" }).unwrap();
    assert!(yaml.contains("podSubnet: 192.168.0.0/16"), "{yaml}");
    let broken = yaml.replace("podSubnet: 192.168.0.0/16", "podSubnet: 192.168.0.0/33");
    let e = validate(&broken, "broken.yaml").expect_err("a bad podSubnet must be refused");
    assert!(e.contains("podSubnet"), "{e}");

    // kubeadm deploys only its own minor and the one before: 1.33 with kubeadm 1.37 is
    // refused (on a VM the install script makes kubeadm the cluster's own minor).
    let old = cluster("1.30.2");
    let yaml = kubeadm_config(&old, &MachineBootstrap::Init { node_name: "cp-0" }).unwrap();
    let e = validate(&yaml, "old.yaml").expect_err("an unsupported version must be refused");
    assert!(e.contains("control plane version"), "{e}");
}

// ---- PKI -------------------------------------------------------------------------------------

#[test]
fn kubeadm_signs_its_certificates_with_the_written_cas() {
    let (full, _) = versions();
    let c = cluster(&full);
    let f = fragment(
        &c,
        &MachineBootstrap::Init {
            node_name: "demo-cp-0",
        },
    )
    .unwrap();
    let root = dir("pki");
    let pki_dir = root.join("pki");
    for w in &f.write_files {
        if let Some(rel) = w.path.strip_prefix("/etc/kubernetes/pki/") {
            let p = pki_dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &w.content).unwrap();
        }
    }
    // The rendered config, pointed at the temp dir and at a fixed node address.
    let mut docs: Vec<serde_yaml::Value> = file(&f, KUBEADM_CONFIG_PATH)
        .split("\n---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    docs[0]["localAPIEndpoint"]["advertiseAddress"] = "10.0.0.4".into();
    docs[1]["certificatesDir"] = pki_dir.display().to_string().into();
    let config = docs
        .iter()
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let config_path = root.join("kubeadm.yaml");
    std::fs::write(&config_path, &config).unwrap();
    let out = Command::new(kubeadm())
        .args(["init", "phase", "certs", "all", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    for ca in ["ca", "front-proxy-ca", "etcd/ca"] {
        assert!(
            text.contains(&format!("Using existing {ca} certificate authority")),
            "kubeadm made its own {ca}:\n{text}"
        );
    }
    assert!(text.contains("Using the existing \"sa\" key"), "{text}");
    // Our CA files are unchanged, and the API server's certificate is signed by our CA.
    assert_eq!(
        std::fs::read_to_string(pki_dir.join("ca.crt")).unwrap(),
        c.pki.ca_crt
    );
    let pem = std::fs::read(pki_dir.join("apiserver.crt")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    assert_eq!(cert.issuer().to_string(), "CN=kubernetes");
    let sans = cert
        .subject_alternative_name()
        .unwrap()
        .expect("SANs")
        .value
        .general_names
        .iter()
        .map(|g| match g {
            x509_parser::extensions::GeneralName::IPAddress(b) if b.len() == 4 => {
                std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
            }
            other => format!("{other}"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        sans.contains("20.1.2.3") && sans.contains("127.0.0.1"),
        "{sans}"
    );
}

// ---- scripts -----------------------------------------------------------------------------

#[test]
fn the_scripts_parse() {
    let (full, _) = versions();
    let mut c = cluster(&full);
    c.cni = Cni::ImageDefault;
    for install in [true, false] {
        c.install_at_boot = install;
        let f = fragment(&c, &MachineBootstrap::Init { node_name: "cp-0" }).unwrap();
        for path in [
            INSTALL_SCRIPT_PATH,
            CNI_SCRIPT_PATH,
            KUBEADM_SCRIPT_PATH,
            POD_NETWORK_SCRIPT_PATH,
        ] {
            let out = Command::new("bash")
                .args(["-n", "-c", file(&f, path)])
                .output()
                .unwrap();
            assert!(out.status.success(), "{path}: {}", output_text(&out));
        }
        for cmd in &f.runcmd {
            if cmd[0] == "sh" {
                let out = Command::new("sh")
                    .args(["-n", "-c", &cmd[2]])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{cmd:?}: {}", output_text(&out));
            }
        }
    }
}

#[test]
fn each_step_runs_only_after_the_one_before_succeeded() {
    let (full, _) = versions();
    let f = fragment(
        &cluster(&full),
        &MachineBootstrap::Init { node_name: "cp-0" },
    )
    .unwrap();
    // The stamps in a temp dir (never /run/azop of the machine running the tests), and
    // `kubeadm`/the CNI script replaced by `true`: only the guards are under test.
    let stamps = dir("stamps");
    let run = |cmd: &[String]| {
        assert_eq!(cmd[..2], ["sh".to_string(), "-c".to_string()]);
        let text = cmd[2]
            .replace(STAMP_DIR, &stamps.display().to_string())
            .replace(&format!("then {KUBEADM_SCRIPT_PATH} init"), "then true")
            .replace(&format!("then {CNI_SCRIPT_PATH}"), "then true");
        Command::new("sh").args(["-c", &text]).output().unwrap()
    };
    // No install stamp: kubeadm is not run, and the log says why.
    let out = run(&f.runcmd[1]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains(&format!(
            "not running {KUBEADM_SCRIPT_PATH} init: {INSTALL_SCRIPT_PATH} failed"
        )),
        "{}",
        output_text(&out)
    );
    let out = run(&f.runcmd[2]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("kubeadm init failed"),
        "{}",
        output_text(&out)
    );
    // With it, each step runs and leaves its own stamp.
    std::fs::write(stamps.join("install.ok"), "").unwrap();
    assert!(run(&f.runcmd[1]).status.success());
    assert!(stamps.join("kubeadm.ok").exists());
    assert!(run(&f.runcmd[2]).status.success());
    assert!(stamps.join("cni.ok").exists());
}

/// A `kubeadm` that fails its first `failures` runs of init/join (logging every call to
/// `calls`), and a stamp dir with a CA under a fake `/etc/kubernetes/pki` the script keeps.
fn flaky_kubeadm(failures: u32) -> (Scratch, PathBuf) {
    let bin = dir("flaky-bin");
    let calls = bin.join("calls");
    let script = format!(
        r#"#!/bin/sh
echo "$@" >> {calls}
case "$1" in
  init|join)
    n=$(grep -c -E '^(init|join)' {calls})
    [ "$n" -gt {failures} ] || {{ echo "timed out waiting for the condition" >&2; exit 1; }} ;;
esac
exit 0
"#,
        calls = calls.display()
    );
    let k = bin.join("kubeadm");
    std::fs::write(&k, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, calls)
}

/// The kubeadm script with its paths (config, /etc/kubernetes/pki, /etc/azop) under `root`
/// and no waiting between attempts.
fn kubeadm_script_at(root: &Path) -> String {
    kubeadm_script(
        &root.join("kubeadm.yaml").display().to_string(),
        CRI_SOCKET,
        &root.join("stamps").display().to_string(),
    )
    .replace(
        "/etc/kubernetes/pki",
        &root.join("pki").display().to_string(),
    )
    .replace("/etc/azop", &root.join("azop").display().to_string())
    .replace("sleep 10", "true")
    .replace("sleep 5", "true")
}

/// A `curl` that answers the HTTP codes in `codes` in turn (the last one from then on), as
/// `-w '%{http_code}'` prints them, logging its arguments to `calls`, in `bin`.
fn fake_curl(bin: &Path, codes: &[&str]) -> PathBuf {
    let calls = bin.join("curl-calls");
    let list = codes.join(" ");
    let script = format!(
        r#"#!/bin/sh
echo "$@" >> {calls}
n=$(wc -l < {calls})
set -- {list}
i=1
code=$1
for c in "$@"; do [ "$i" -le "$n" ] && code=$c; i=$((i + 1)); done
printf '%s' "$code"
[ "$code" = 200 ]
"#,
        calls = calls.display()
    );
    let c = bin.join("curl");
    std::fs::write(&c, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o755)).unwrap();
    calls
}

/// The worker's join configuration azop renders (endpoint 20.1.2.3:6443).
fn join_config() -> String {
    let (full, _) = versions();
    let (labels, taints) = (labels(), taints());
    let worker = machines(&labels, &taints)
        .into_iter()
        .map(|(_, m)| m)
        .find(|m| matches!(m, MachineBootstrap::JoinWorker { .. }))
        .unwrap();
    kubeadm_config(&cluster(&full), &worker).unwrap()
}

#[test]
fn a_join_waits_until_cluster_info_is_readable_then_joins() {
    let root = dir("wait-cluster-info");
    std::fs::write(root.join("kubeadm.yaml"), join_config()).unwrap();
    let (bin, calls) = flaky_kubeadm(0);
    // Not listening, then listening but cluster-info not published or not yet readable
    // anonymously, then readable.
    let curl_calls = fake_curl(&bin, &["000", "000", "404", "403", "200"]);
    let out = bash(
        &format!("set -- join\n{}", kubeadm_script_at(&root)),
        Some(&bin),
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let curl_log = std::fs::read_to_string(&curl_calls).unwrap();
    assert_eq!(curl_log.lines().count(), 5, "{curl_log}");
    assert!(
        curl_log.contains(
            "https://20.1.2.3:6443/api/v1/namespaces/kube-public/configmaps/cluster-info"
        ),
        "{curl_log}"
    );
    assert!(
        text.contains("waiting up to 900 s for cluster-info at 20.1.2.3:6443"),
        "{text}"
    );
    assert!(
        text.contains("waiting for cluster-info at 20.1.2.3:6443: 000 after "),
        "{text}"
    );
    assert!(
        text.contains("cluster-info at 20.1.2.3:6443 is readable after"),
        "{text}"
    );
    let log = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        log.lines()
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["join"],
        "{log}"
    );
}

#[test]
fn a_join_whose_cluster_info_never_answers_still_runs_kubeadm_when_the_wait_ends() {
    let root = dir("wait-cluster-info-timeout");
    std::fs::write(root.join("kubeadm.yaml"), join_config()).unwrap();
    let (bin, calls) = flaky_kubeadm(0);
    let curl_calls = fake_curl(&bin, &["000"]);
    let script = kubeadm_script_at(&root);
    assert!(script.contains("WAIT_SECONDS=900"), "{script}");
    let out = bash(
        &format!(
            "set -- join\n{}",
            script.replace("WAIT_SECONDS=900", "WAIT_SECONDS=0")
        ),
        Some(&bin),
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    // The elapsed seconds depend on the clock (a loaded machine crosses a second boundary
    // between the start and the end of the wait), so only the message's fixed parts are checked.
    assert!(
        text.contains("cluster-info at 20.1.2.3:6443 not readable after "),
        "{text}"
    );
    assert!(
        text.contains(" s (last answer: 000): running kubeadm join anyway"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&curl_calls)
            .unwrap()
            .lines()
            .count(),
        1
    );
    assert!(std::fs::read_to_string(&calls).unwrap().starts_with("join"));
}

#[test]
fn init_does_not_wait_for_cluster_info() {
    let root = dir("init-no-wait");
    std::fs::write(root.join("kubeadm.yaml"), "kubernetesVersion: v1.37.2\n").unwrap();
    let (bin, calls) = flaky_kubeadm(0);
    let curl_calls = fake_curl(&bin, &["000"]);
    let out = bash(
        &format!("set -- init\n{}", kubeadm_script_at(&root)),
        Some(&bin),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(!curl_calls.exists(), "init must not call curl");
    assert!(std::fs::read_to_string(&calls).unwrap().starts_with("init"));
}

#[test]
fn kubeadm_is_retried_after_a_reset_and_the_cas_survive_it() {
    let root = dir("retry");
    std::fs::write(
        root.join("kubeadm.yaml"),
        "kubernetesVersion: v1.37.2
",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("pki/etcd")).unwrap();
    std::fs::write(root.join("pki/ca.crt"), "the cluster's CA").unwrap();
    let (bin, calls) = flaky_kubeadm(2);
    // `kubeadm reset` removes the pki directory, as the real one does.
    let script = kubeadm_script_at(&root).replace(
        &format!("kubeadm reset -f --cri-socket \"{CRI_SOCKET}\" || true"),
        &format!(
            "kubeadm reset -f --cri-socket \"{CRI_SOCKET}\" || true; rm -rf {}",
            root.join("pki").display()
        ),
    );
    let out = bash(&format!("set -- init\n{script}"), Some(&bin));
    assert!(out.status.success(), "{}", output_text(&out));
    let log = std::fs::read_to_string(&calls).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(lines, ["init", "reset", "init", "reset", "init"], "{log}");
    assert!(
        output_text(&out).contains("kubeadm init failed (attempt 2 of 3)"),
        "{}",
        output_text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("pki/ca.crt")).unwrap(),
        "the cluster's CA"
    );

    // Three failures: it gives up, saying so.
    let root = dir("retry-fail");
    std::fs::write(root.join("kubeadm.yaml"), "").unwrap();
    let (bin, calls) = flaky_kubeadm(5);
    let out = bash(
        &format!("set -- join\n{}", kubeadm_script_at(&root)),
        Some(&bin),
    );
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("kubeadm join failed 3 times"),
        "{}",
        output_text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&calls)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("join"))
            .count(),
        3
    );
}

#[test]
fn an_image_preloading_another_version_is_refused_before_kubeadm_runs() {
    let root = dir("image-version");
    std::fs::write(
        root.join("kubeadm.yaml"),
        "kubernetesVersion: \"v1.37.1\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("azop")).unwrap();
    std::fs::write(
        root.join("azop/node-image.env"),
        "AZOP_KUBERNETES_VERSION=v1.37.2\n",
    )
    .unwrap();
    let (bin, calls) = flaky_kubeadm(0);
    let out = bash(
        &format!("set -- init\n{}", kubeadm_script_at(&root)),
        Some(&bin),
    );
    assert!(!out.status.success());
    assert!(
        output_text(&out)
            .contains("this image preloads Kubernetes v1.37.2; the cluster asks for v1.37.1"),
        "{}",
        output_text(&out)
    );
    assert!(!calls.exists(), "kubeadm must not run");
    // The same version goes on.
    std::fs::write(root.join("kubeadm.yaml"), "kubernetesVersion: v1.37.2\n").unwrap();
    let out = bash(
        &format!("set -- init\n{}", kubeadm_script_at(&root)),
        Some(&bin),
    );
    assert!(out.status.success(), "{}", output_text(&out));
}

#[test]
fn the_pod_network_is_the_images_when_it_carries_one_else_calico() {
    let root = dir("pod-network");
    let calico = root.join("calico.sh");
    std::fs::write(&calico, "#!/bin/sh\necho calico-applied\n").unwrap();
    let apply = root.join("apply-cni");
    std::fs::write(&apply, "#!/bin/sh\necho image-cni \"$1\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [&calico, &apply] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let script = |env: &Path| {
        pod_network_script("192.168.0.0/16", &calico.display().to_string())
            .replace("/etc/azop/node-image.env", &env.display().to_string())
    };
    let env = root.join("node-image.env");
    // No node-image.env: Calico.
    let out = bash(&script(&env), None);
    assert!(
        output_text(&out).contains("calico-applied"),
        "{}",
        output_text(&out)
    );
    std::fs::write(
        &env,
        format!("AZOP_CNI=flannel\nAZOP_CNI_APPLY={}\n", apply.display()),
    )
    .unwrap();
    let out = bash(&script(&env), None);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("image-cni 192.168.0.0/16"),
        "{}",
        output_text(&out)
    );
    assert!(!output_text(&out).contains("calico-applied"));
}

/// The install script's header (variables, `fail`) and its version check and minor-only
/// rewrite (from `HAVE=` up to the systemctl lines), with CONFIG pointed at `config`.
fn version_part(script: &str, config: &Path) -> String {
    let header: String = script
        .lines()
        .take_while(|l| !l.starts_with("fail()"))
        .chain(script.lines().filter(|l| l.starts_with("fail()")))
        .map(|l| {
            if l.starts_with("CONFIG=") {
                format!("CONFIG=\"{}\"\n", config.display())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let start = script
        .find("HAVE=\"$(kubeadm version")
        .expect("the version check");
    let end = script
        .find("systemctl enable --now containerd")
        .expect("the systemctl lines");
    assert!(start < end);
    format!("{header}{}", &script[start..end])
}

/// A directory with the real kubeadm and a `kubelet` that says `version`.
fn fake_node_bin(version: &str) -> Scratch {
    let bin = dir(&format!("bin-{version}"));
    std::os::unix::fs::symlink(kubeadm(), bin.join("kubeadm")).unwrap();
    let kubelet = bin.join("kubelet");
    std::fs::write(
        &kubelet,
        format!("#!/bin/sh\necho 'Kubernetes {version}'\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kubelet, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn a_minor_only_version_becomes_the_installed_kubeadms_version() {
    let (full, minor) = versions();
    let have = kubeadm_version();
    let c = cluster(&minor);
    let f = fragment(&c, &MachineBootstrap::Init { node_name: "cp-0" }).unwrap();
    let scratch = dir("rewrite");
    let config = scratch.join("kubeadm.yaml");
    let written = file(&f, KUBEADM_CONFIG_PATH);
    let placeholder = format!("kubernetesVersion: v{minor}.0\n");
    assert!(written.contains(&placeholder), "{written}");
    std::fs::write(&config, written).unwrap();
    // As written (placeholder) kubeadm accepts it ...
    validate_file(&config).unwrap();
    let bin = fake_node_bin(&have);
    let out = bash(
        &version_part(file(&f, INSTALL_SCRIPT_PATH), &config),
        Some(&bin),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    // ... and after the script it names the installed kubeadm's version, still valid.
    let rewritten = std::fs::read_to_string(&config).unwrap();
    assert!(
        rewritten.contains(&format!("kubernetesVersion: v{full}\n")),
        "{rewritten}"
    );
    assert!(!rewritten.contains(&placeholder) || full.ends_with(".0"));
    validate_file(&config).unwrap();

    // A full version is left as it is.
    let c = cluster(&full);
    let f = fragment(&c, &MachineBootstrap::Init { node_name: "cp-0" }).unwrap();
    std::fs::write(&config, file(&f, KUBEADM_CONFIG_PATH)).unwrap();
    let out = bash(
        &version_part(file(&f, INSTALL_SCRIPT_PATH), &config),
        Some(&bin),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        file(&f, KUBEADM_CONFIG_PATH)
    );
}

#[test]
fn the_script_refuses_binaries_of_another_minor() {
    let have = kubeadm_version();
    // The cluster wants 1.36; the image has the testenv's kubeadm (1.37).
    let v = have.trim_start_matches('v');
    let mut parts = v.split('.');
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    let other = format!("{major}.{}", minor.parse::<u32>().unwrap() - 1);
    let mut c = cluster(&other);
    c.install_at_boot = false;
    let f = fragment(
        &c,
        &MachineBootstrap::JoinControlPlane { node_name: "cp-1" },
    )
    .unwrap();
    let scratch = dir("minor");
    let config = scratch.join("kubeadm.yaml");
    std::fs::write(&config, file(&f, KUBEADM_CONFIG_PATH)).unwrap();
    let out = bash(
        &version_part(file(&f, INSTALL_SCRIPT_PATH), &config),
        Some(&fake_node_bin(&have)),
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "kubeadm is {have}, the cluster wants Kubernetes {other}"
        )),
        "{text}"
    );
    // And a kubelet of another minor with the right kubeadm.
    let c = cluster(v);
    let f = fragment(
        &c,
        &MachineBootstrap::JoinControlPlane { node_name: "cp-1" },
    )
    .unwrap();
    let out = bash(
        &version_part(file(&f, INSTALL_SCRIPT_PATH), &config),
        Some(&fake_node_bin(&format!("v{other}.9"))),
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("kubelet is Kubernetes"), "{text}");
}

#[test]
fn the_scripts_read_the_proxy_drop_in_back_exactly() {
    let (full, _) = versions();
    let f = fragment(
        &cluster(&full),
        &MachineBootstrap::Init { node_name: "cp-0" },
    )
    .unwrap();
    let https = "http://user:p%40ss@proxy.corp.example:3129";
    let env = proxy_env(
        Some("http://proxy.corp.example:3128"),
        Some(https),
        "localhost,20.1.2.3",
    );
    let scratch = dir("drop-in");
    let drop_in = scratch.join("http-proxy.conf");
    std::fs::write(&drop_in, systemd_drop_in(&env)).unwrap();
    for path in [INSTALL_SCRIPT_PATH, CNI_SCRIPT_PATH] {
        let script = file(&f, path);
        let start = script
            .find("if [ -r /etc/systemd/system/containerd.service.d/")
            .expect("the proxy prelude");
        let end = start + script[start..].find("\nfi\n").expect("its end") + 4;
        let prelude =
            script[start..end].replace(CONTAINERD_DROP_IN, &drop_in.display().to_string());
        let out = bash(
            &format!(
                "set -euo pipefail\n{prelude}printf '%s|%s|%s' \"$HTTPS_PROXY\" \"$https_proxy\" \"$NO_PROXY\""
            ),
            None,
        );
        assert!(out.status.success(), "{}", output_text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{https}|{https}|localhost,20.1.2.3"),
            "{path}"
        );
    }
}

// ---- cloud-init ------------------------------------------------------------------------------

#[test]
fn every_machines_document_passes_cloud_init_schema() {
    let (full, minor) = versions();
    let (labels, taints) = (labels(), taints());
    for version in [&full, &minor] {
        let c = cluster(version);
        for (name, m) in machines(&labels, &taints) {
            let doc = compose(&[fragment(&c, &m).unwrap()], None)
                .unwrap()
                .unwrap();
            check_size(&doc).unwrap();
            schema(&doc, &format!("{name}-{version}.yaml")).unwrap();
        }
    }
}

#[test]
fn after_the_proxy_with_user_data_the_documents_are_valid() {
    let (full, _) = versions();
    let c = cluster(&full);
    let proxy = cluster_proxy().iaas_bootstrap();
    let user = "#cloud-config\npackages: [jq]\nruncmd:\n  - [echo, user-step]\n";
    let (labels, taints) = (labels(), taints());
    for (name, m) in machines(&labels, &taints) {
        let ours = fragment(&c, &m).unwrap();
        let doc = compose(&[proxy.clone(), ours.clone()], Some(user))
            .unwrap()
            .unwrap();
        check_size(&doc).unwrap();
        eprintln!(
            "{name} with the proxy and a user cloud-config: {} bytes",
            doc.len()
        );
        schema(&doc, &format!("{name}-with-proxy.yaml")).unwrap();
        // Order: the proxy's commands, ours (install, kubeadm, CNI), then the user's.
        let v: serde_yaml::Value = serde_yaml::from_str(&doc).unwrap();
        let cmds: Vec<String> = v["runcmd"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| serde_yaml::to_string(c).unwrap())
            .collect();
        let at = |needle: &str| {
            cmds.iter()
                .position(|c| c.contains(needle))
                .unwrap_or_else(|| panic!("{needle} not in {cmds:?}"))
        };
        assert!(at("daemon-reload") < at(INSTALL_SCRIPT_PATH), "{cmds:?}");
        assert!(
            at(INSTALL_SCRIPT_PATH) < at(KUBEADM_SCRIPT_PATH),
            "{cmds:?}"
        );
        assert!(at(KUBEADM_SCRIPT_PATH) < at("user-step"), "{cmds:?}");
        assert_eq!(v["packages"][0], "jq");

        // With a user script: the multipart document's cloud-config part is valid, and the
        // commands script parses.
        let doc = compose(&[proxy.clone(), ours], Some("#!/bin/bash\necho user\n"))
            .unwrap()
            .unwrap();
        check_size(&doc).unwrap();
        let boundary = doc
            .lines()
            .next()
            .and_then(|l| l.split("boundary=\"").nth(1))
            .map(|b| b.trim_end_matches('"').to_string())
            .expect("a multipart header");
        let part = |kind: &str| {
            doc.split(&format!("--{boundary}"))
                .find(|p| p.contains(kind))
                .and_then(|p| p.split_once("\n\n").map(|(_, body)| body.to_string()))
                .unwrap_or_else(|| panic!("no {kind} part"))
        };
        schema(
            &part("text/cloud-config"),
            &format!("{name}-multipart.yaml"),
        )
        .unwrap();
        let script = part("filename=\"00-azop.sh\"");
        assert!(script.contains(INSTALL_SCRIPT_PATH), "{script}");
        let out = Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", output_text(&out));
    }
}
