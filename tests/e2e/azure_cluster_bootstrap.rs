//! AzureCluster machines bootstrapped by azop (no `bootstrapDataSecretRef`), checked by the
//! real tools rather than by string matching:
//!
//! - every VM's customData (as its guest reads it from azop-armsim) passes `cloud-init
//!   schema`, and the kubeadm configuration it writes passes `kubeadm config validate` of the
//!   kubeadm built from the test API server's Kubernetes version;
//! - the PKI Secrets (`-ca`, `-etcd`, `-proxy`, `-sa`) and `-kubeconfig` exist, owned by the
//!   AzureCluster; the kubeconfig's client certificate verifies with `openssl verify` against
//!   the CA; the CA hash in the workers' join configuration is that CA's;
//! - the PKI works: a second kube-apiserver started with azop's keys (its serving
//!   certificate signed with openssl by azop's CA, for the endpoint's address — what kubeadm
//!   does on the first machine) answers `kubectl --kubeconfig <the Secret> get --raw
//!   /version`; azop-armsim hands out public IPs on loopback so that server can listen at
//!   the cluster's endpoint;
//! - a machine added after the first token expired (the operator's token lifetime is a knob)
//!   gets a fresh token, which azop wrote into that API server first;
//! - deleting the cluster deletes the Secrets with it (garbage collection by the real
//!   kube-controller-manager).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use azop_armsim::SimConfig;
use azop_e2e::azure_cluster as ac;
use azop_e2e::operator::World;
use azop_testenv::{Check, wait_for};
use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use serde_json::json;

const VM_TYPE: &str = "Microsoft.Compute/virtualMachines";
const KUBEADM_CONFIG: &str = azop_controllers::azure_cluster::kubeadm::KUBEADM_CONFIG_PATH;
const PKI_SECRETS: [&str; 4] = ["ca", "etcd", "proxy", "sa"];

/// The Kubernetes version of the test environment's tools (`v1.37.2` → `1.37.2`): kubeadm
/// validates configurations only for the versions it can deploy.
fn tools_version() -> Result<String> {
    let out = run(
        Command::new(azop_testenv::binaries::kubeadm()?).args(["version", "-o", "short"]),
        "kubeadm version",
    )?;
    Ok(out.trim().trim_start_matches('v').to_string())
}

fn small_cluster(name: &str, rg: &str, workers: i64) -> serde_json::Value {
    let mut c = ac::cluster(name, rg, workers);
    // A minor version only: the machines install that minor's newest patch.
    let full = tools_version().unwrap_or_default();
    let minor: Vec<&str> = full.split('.').take(2).collect();
    c["spec"]["kubernetesVersion"] = json!(minor.join("."));
    c["spec"]["controlPlane"]["replicas"] = json!(1);
    c["spec"]["controlPlane"]["zones"] = json!(["1"]);
    c["spec"]["workerPools"][0]["zones"] = json!(["1"]);
    c["spec"]["workerPools"][0]["labels"] = json!({"workload": "general"});
    c
}

/// Each VM's name and customData, as its guest reads it.
fn custom_data(world: &World) -> Vec<(String, String)> {
    ac::by_type(&world.sim.inventory(), VM_TYPE)
        .into_iter()
        .filter_map(|vm| {
            let id = vm["id"].as_str()?;
            let name = vm["name"].as_str()?.to_string();
            Some((name, world.sim.vm_custom_data(id).unwrap_or_default()))
        })
        .collect()
}

/// The `write_files` of a #cloud-config document.
fn files(doc: &str) -> Result<Vec<(String, String)>> {
    let v: serde_yaml::Value = serde_yaml::from_str(doc).context("customData is not YAML")?;
    Ok(v["write_files"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["content"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

fn file(doc: &str, path: &str) -> Result<String> {
    files(doc)?
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, c)| c)
        .with_context(|| format!("no {path} in:\n{doc}"))
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("run {what}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("{what} failed: {text}");
    }
    Ok(text)
}

fn cloud_init() -> PathBuf {
    std::env::var_os("AZOP_CLOUD_INIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cloud-init"))
}

/// The real checkers on one machine's customData.
fn check_with_the_tools(dir: &Path, name: &str, doc: &str) -> Result<()> {
    ensure!(doc.starts_with("#cloud-config\n"), "{name}: {doc}");
    let cfg = dir.join(format!("{name}.cloud-config"));
    std::fs::write(&cfg, doc)?;
    let out = run(
        Command::new(cloud_init())
            .args(["schema", "--config-file"])
            .arg(&cfg),
        "cloud-init schema",
    )?;
    ensure!(out.contains("Valid cloud-config"), "{name}: {out}");
    let kubeadm = dir.join(format!("{name}.kubeadm.yaml"));
    std::fs::write(&kubeadm, file(doc, KUBEADM_CONFIG)?)?;
    run(
        Command::new(azop_testenv::binaries::kubeadm()?)
            .args(["config", "validate", "--config"])
            .arg(&kubeadm),
        &format!("kubeadm config validate ({name})"),
    )?;
    Ok(())
}

async fn secret(world: &World, name: &str) -> Result<Option<Secret>> {
    let api: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    Ok(api.get_opt(name).await?)
}

async fn resource_versions(world: &World, names: &[String]) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    for n in names {
        let s = secret(world, n)
            .await?
            .with_context(|| format!("no Secret {n}"))?;
        out.push(s.metadata.resource_version);
    }
    Ok(out)
}

fn data(s: &Secret, key: &str) -> Result<String> {
    let b = s
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .with_context(|| format!("no {key}"))?;
    Ok(String::from_utf8(b.0.clone())?)
}

/// Writes the cluster's PKI and kubeconfig into `dir`; returns the kubeconfig's path.
async fn write_pki(world: &World, cluster: &str, dir: &Path) -> Result<PathBuf> {
    for p in PKI_SECRETS {
        let s = secret(world, &format!("{cluster}-{p}"))
            .await?
            .with_context(|| format!("no Secret {cluster}-{p}"))?;
        ensure!(
            s.type_.as_deref() == Some("cluster.x-k8s.io/secret"),
            "{p}: {:?}",
            s.type_
        );
        let owners = s.metadata.owner_references.clone().unwrap_or_default();
        ensure!(
            owners
                .iter()
                .any(|o| o.kind == "AzureCluster" && o.name == cluster),
            "{p} not owned by the cluster: {owners:?}"
        );
        std::fs::write(dir.join(format!("{p}.crt")), data(&s, "tls.crt")?)?;
        std::fs::write(dir.join(format!("{p}.key")), data(&s, "tls.key")?)?;
    }
    let k = secret(world, &format!("{cluster}-kubeconfig"))
        .await?
        .context("no kubeconfig Secret")?;
    let path = dir.join("kubeconfig");
    std::fs::write(&path, data(&k, "value")?)?;
    Ok(path)
}

/// The kubeconfig's client certificate, verified by openssl against the cluster CA; its
/// subject is Cluster API's admin.
fn verify_kubeconfig(dir: &Path, kubeconfig: &Path, endpoint: &str) -> Result<()> {
    let v: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(kubeconfig)?)?;
    ensure!(
        v["clusters"][0]["cluster"]["server"].as_str() == Some(&format!("https://{endpoint}:6443")),
        "server: {:?}",
        v["clusters"][0]["cluster"]["server"]
    );
    let b64 = |p: &serde_yaml::Value| -> Result<Vec<u8>> {
        Ok(base64::engine::general_purpose::STANDARD.decode(p.as_str().context("field")?)?)
    };
    let client = dir.join("admin.crt");
    std::fs::write(
        &client,
        b64(&v["users"][0]["user"]["client-certificate-data"])?,
    )?;
    let ca_in_kubeconfig = b64(&v["clusters"][0]["cluster"]["certificate-authority-data"])?;
    ensure!(
        ca_in_kubeconfig == std::fs::read(dir.join("ca.crt"))?,
        "the kubeconfig trusts another CA"
    );
    let out = run(
        Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.join("ca.crt"))
            .arg(&client),
        "openssl verify",
    )?;
    ensure!(out.contains(": OK"), "{out}");
    let subject = run(
        Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&client),
        "openssl x509",
    )?;
    ensure!(
        subject.contains("system:masters") && subject.contains("kubernetes-admin"),
        "{subject}"
    );
    // Each CA is a CA; the etcd and front-proxy CAs are not the cluster CA.
    for p in ["ca", "etcd", "proxy"] {
        let text = run(
            Command::new("openssl")
                .args(["x509", "-noout", "-text", "-in"])
                .arg(dir.join(format!("{p}.crt"))),
            "openssl x509",
        )?;
        ensure!(text.contains("CA:TRUE"), "{p}: {text}");
    }
    let wrong = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("etcd.crt"))
        .arg(&client)
        .output()?;
    ensure!(
        !wrong.status.success(),
        "the admin certificate must not verify against the etcd CA"
    );
    Ok(())
}

/// `sha256:<hex>` of the CA's public key, by openssl (what `kubeadm join` pins).
fn openssl_ca_hash(ca: &Path) -> Result<String> {
    let pubkey = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(ca)
        .output()?;
    ensure!(pubkey.status.success(), "openssl x509 -pubkey");
    let mut der = Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "der"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        der.stdin
            .take()
            .context("stdin")?
            .write_all(&pubkey.stdout)?;
    }
    let der = der.wait_with_output()?;
    ensure!(der.status.success(), "openssl pkey");
    use sha2::Digest;
    let digest = sha2::Sha256::digest(&der.stdout);
    Ok(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

#[tokio::test]
async fn machines_get_kubeadm_bootstrap_data_that_the_real_tools_accept() -> Result<()> {
    let world = World::new("bootstrap", SimConfig::default()).await?;
    // A resync every second: the steady-state check below spans several passes.
    let op = world.start_operator(
        "bootstrap",
        &["--controllers", "azurecluster", "--resync-seconds", "1"],
    )?;
    let mut c = ac::cluster("boot", "rg-boot", 2);
    c["spec"]["kubernetesVersion"] = json!(tools_version()?);
    c["spec"]["workerPools"][0]["taints"] =
        json!([{"key": "dedicated", "value": "general", "effect": "NoSchedule"}]);
    ac::create(&world, c).await?;
    let obj = ac::or_dump(ac::wait_ready(&world, "boot").await, &[&op]);
    let endpoint = obj.data["status"]["controlPlaneEndpoint"]["host"]
        .as_str()
        .context("endpoint")?
        .to_string();

    let dir = world.env.dir().join(format!("bootstrap-{}", world.ns));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = write_pki(&world, "boot", &dir).await?;
    verify_kubeconfig(&dir, &kubeconfig, &endpoint)?;
    let hash = openssl_ca_hash(&dir.join("ca.crt"))?;

    let vms = custom_data(&world);
    ensure!(vms.len() == 5, "3 control-plane and 2 workers: {vms:?}");
    let mut inits = 0;
    for (name, doc) in &vms {
        check_with_the_tools(&dir, name, doc)?;
        let cfg = file(doc, KUBEADM_CONFIG)?;
        ensure!(
            cfg.contains(&format!("{endpoint}:6443")),
            "{name}: the endpoint is not in its configuration:\n{cfg}"
        );
        if cfg.contains("kind: InitConfiguration") {
            inits += 1;
            ensure!(
                name == "boot-cp-0",
                "only the first control-plane machine inits: {name}"
            );
            ensure!(cfg.contains("podSubnet: 192.168.0.0/16"), "{cfg}");
            ensure!(cfg.contains("serviceSubnet: 10.96.0.0/12"), "{cfg}");
        } else {
            ensure!(
                cfg.contains(&hash),
                "{name}: joins without the CA hash {hash}:\n{cfg}"
            );
        }
        if name.contains("general") {
            ensure!(cfg.contains("dedicated"), "{name}: no taint:\n{cfg}");
        }
    }
    ensure!(inits == 1, "exactly one kubeadm init: {inits}");

    // Steady state adds no writes: over several resyncs the Secrets are read, never
    // rewritten (a pass that re-signed the kubeconfig or made a token would bump them).
    let names: Vec<String> = PKI_SECRETS
        .iter()
        .map(|p| format!("boot-{p}"))
        .chain([
            "boot-kubeconfig".to_string(),
            "boot-bootstrap-token".to_string(),
        ])
        .collect();
    let before = resource_versions(&world, &names).await?;
    let passes = ac::operator_requests(&world).len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    ensure!(
        ac::operator_requests(&world).len() > passes,
        "no resync ran during the steady-state check"
    );
    ensure!(
        resource_versions(&world, &names).await? == before,
        "a Secret was rewritten at steady state"
    );

    ac::api(&world)
        .delete("boot", &DeleteParams::default())
        .await?;
    ac::or_dump(ac::wait_gone(&world, "boot").await, &[&op]);
    // Every Secret goes with the cluster, the token record included.
    wait_for(
        "the cluster's Secrets collected",
        Duration::from_secs(60),
        || async {
            let mut left = Vec::new();
            for n in &names {
                match secret(&world, n).await {
                    Ok(Some(_)) => left.push(n.clone()),
                    Ok(None) => {}
                    Err(e) => return Check::Pending(e.to_string()),
                }
            }
            if left.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(format!("left: {left:?}"))
            }
        },
    )
    .await?;
    Ok(())
}

/// A kube-apiserver for the workload cluster: azop's keys, a serving certificate signed by
/// azop's CA for `endpoint` (made with openssl, as kubeadm makes it on the first machine),
/// listening at `endpoint:6443`, storing in the shared etcd under its own prefix.
fn start_workload_apiserver(
    world: &World,
    dir: &Path,
    endpoint: &str,
) -> Result<std::process::Child> {
    let conf = dir.join("serving.cnf");
    std::fs::write(
        &conf,
        format!(
            "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=IP:{endpoint},DNS:kubernetes,DNS:kubernetes.default\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n"
        ),
    )?;
    run(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=kube-apiserver",
                "-keyout",
            ])
            .arg(dir.join("serving.key"))
            .arg("-out")
            .arg(dir.join("serving.csr")),
        "openssl req",
    )?;
    run(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(dir.join("serving.csr"))
            .arg("-CA")
            .arg(dir.join("ca.crt"))
            .arg("-CAkey")
            .arg(dir.join("ca.key"))
            .args(["-CAcreateserial", "-extensions", "ext", "-extfile"])
            .arg(&conf)
            .arg("-out")
            .arg(dir.join("serving.crt")),
        "openssl x509 -req",
    )?;
    let p = |f: &str| dir.join(f).display().to_string();
    let log = std::fs::File::create(dir.join("workload-apiserver.log"))?;
    Command::new(azop_testenv::binaries::kube_apiserver()?)
        .args([
            format!("--etcd-servers={}", world.env.etcd_url()),
            format!("--etcd-prefix=/workload-{}", world.ns),
            format!("--bind-address={endpoint}"),
            format!("--advertise-address={endpoint}"),
            "--secure-port=6443".to_string(),
            "--endpoint-reconciler-type=none".to_string(),
            format!("--cert-dir={}", dir.display()),
            format!("--tls-cert-file={}", p("serving.crt")),
            format!("--tls-private-key-file={}", p("serving.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--requestheader-client-ca-file={}", p("proxy.crt")),
            "--enable-bootstrap-token-auth=true".to_string(),
            "--authorization-mode=Node,RBAC".to_string(),
            format!("--service-account-key-file={}", p("sa.crt")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_string(),
            "--service-cluster-ip-range=10.96.0.0/12".to_string(),
            "--profiling=false".to_string(),
        ])
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start the workload kube-apiserver")
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String> {
    run(
        Command::new(azop_testenv::binaries::kubectl()?)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args),
        &format!("kubectl {}", args.join(" ")),
    )
}

#[tokio::test]
async fn the_pki_runs_a_real_api_server_and_late_machines_get_a_fresh_token() -> Result<()> {
    // Public IPs on loopback: the cluster's endpoint is an address this machine can serve.
    let pool = "127.50.0.0/16".parse()?;
    let world = World::new("bootstrap-pki", SimConfig::default().public_pool(pool)).await?;
    let ttl = 40;
    let op = world.start_operator(
        "bootstrap-pki",
        &[
            "--controllers",
            "azurecluster",
            "--bootstrap-token-ttl-seconds",
            &ttl.to_string(),
        ],
    )?;
    ac::create(&world, small_cluster("late", "rg-late", 1)).await?;
    let obj = ac::or_dump(ac::wait_ready(&world, "late").await, &[&op]);
    let endpoint = obj.data["status"]["controlPlaneEndpoint"]["host"]
        .as_str()
        .context("endpoint")?
        .to_string();
    ensure!(endpoint.starts_with("127.50."), "{endpoint}");
    let first = secret(&world, "late-bootstrap-token")
        .await?
        .context("no token record")?;
    let first_id = data(&first, "token-id")?;
    let first_expiry = chrono::DateTime::parse_from_rfc3339(&data(&first, "expiration")?)?;

    let dir = world.env.dir().join(format!("workload-{}", world.ns));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = write_pki(&world, "late", &dir).await?;
    let _server = KillOnDrop(start_workload_apiserver(&world, &dir, &endpoint)?);
    let version = wait_for(
        "the workload API server answers with azop's kubeconfig",
        Duration::from_secs(60),
        || async {
            match kubectl(&kubeconfig, &["get", "--raw", "/version"]) {
                Ok(v) => Check::Done(v),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;
    ensure!(version.contains("\"gitVersion\""), "{version}");

    // Past half the token's lifetime a new machine needs a fresh token.
    let wait = first_expiry.signed_duration_since(chrono::Utc::now())
        - chrono::Duration::seconds(ttl / 2)
        + chrono::Duration::seconds(2);
    if let Ok(w) = wait.to_std() {
        tokio::time::sleep(w).await;
    }
    ac::merge_patch(
        &world,
        "late",
        json!({"spec": {"workerPools": [{"name": "general", "replicas": 2, "vmSize": "Standard_D8s_v5", "zones": ["1"]}]}}),
    )
    .await?;
    let record = wait_for("a fresh token", Duration::from_secs(60), || async {
        match secret(&world, "late-bootstrap-token").await {
            Ok(Some(s)) if data(&s, "token-id").ok().as_deref() != Some(first_id.as_str()) => {
                Check::Done(s)
            }
            Ok(_) => Check::Pending("still the first token".into()),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await?;
    let id = data(&record, "token-id")?;
    let value = format!("{id}.{}", data(&record, "token-secret")?);
    let in_workload = kubectl(
        &kubeconfig,
        &[
            "-n",
            "kube-system",
            "get",
            "secret",
            &format!("bootstrap-token-{id}"),
            "-o",
            "jsonpath={.type}",
        ],
    )?;
    ensure!(
        in_workload.trim() == "bootstrap.kubernetes.io/token",
        "{in_workload}"
    );
    ac::or_dump(ac::wait_ready(&world, "late").await, &[&op]);
    let new_vm = custom_data(&world)
        .into_iter()
        .find(|(n, _)| n == "late-general-1")
        .context("late-general-1")?;
    let cfg = file(&new_vm.1, KUBEADM_CONFIG)?;
    ensure!(
        cfg.contains(&value),
        "the new machine joins with the fresh token:\n{cfg}"
    );
    // The token is usable for authentication against the real server: kubeadm's discovery.
    let as_token = dir.join("kubeconfig-token");
    let v: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&kubeconfig)?)?;
    let server = v["clusters"][0]["cluster"]["server"]
        .as_str()
        .context("server")?;
    std::fs::write(
        &as_token,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: w\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: t\n  user:\n    token: {value}\ncontexts:\n- name: w\n  context: {{cluster: w, user: t}}\ncurrent-context: w\n",
            dir.join("ca.crt").display()
        ),
    )?;
    let who = kubectl(
        &as_token,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    )?;
    ensure!(who.trim() == format!("system:bootstrap:{id}"), "{who}");
    Ok(())
}

/// One round of what the workload cluster's kubelets would do: a Ready Node for every
/// provisioned VM of the cluster, and pods being deleted (evicted) confirmed gone. There is no
/// kubelet here; the rest (cordon, evictions, PodDisruptionBudgets, Node deletion) is the real
/// API server's.
async fn play_kubelets(world: &World, client: &kube::Client) {
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::PostParams;
    let nodes: Api<Node> = Api::all(client.clone());
    for vm in ac::by_type(&world.sim.inventory(), VM_TYPE) {
        let state = vm["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("Succeeded");
        let Some(name) = vm["name"].as_str() else {
            continue;
        };
        if state != "Succeeded" {
            continue;
        }
        let now = chrono::Utc::now().to_rfc3339();
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}]}
        }))
        .unwrap();
        let _ = nodes.create(&PostParams::default(), &node).await;
    }
    let pods: Api<Pod> = Api::all(client.clone());
    if let Ok(list) = pods.list(&Default::default()).await {
        // A bound pod runs and is Ready (the API server lets a Pending pod be evicted
        // whatever its budget says).
        for p in list.items.iter().filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running")
        }) {
            let ns = p.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let now = chrono::Utc::now().to_rfc3339();
            let status = json!({"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
            let _ = api
                .patch_status(
                    p.metadata.name.as_deref().unwrap_or_default(),
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&status),
                )
                .await;
        }
        for p in list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
        {
            let ns = p.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let _ = api
                .delete(
                    p.metadata.name.as_deref().unwrap_or_default(),
                    &DeleteParams::default().grace_period(0),
                )
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_drains_old_nodes_through_the_workload_cluster() -> Result<()> {
    use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::PostParams;
    use std::sync::atomic::{AtomicBool, Ordering};

    let pool = "127.51.0.0/16".parse()?;
    let world = World::new("bootstrap-drain", SimConfig::default().public_pool(pool)).await?;
    // Node readiness is read at each pass: a short resync, so status follows the nodes the
    // test registers after the cluster is Ready.
    let op = world.start_operator(
        "bootstrap-drain",
        &["--controllers", "azurecluster", "--resync-seconds", "2"],
    )?;
    ac::create(&world, small_cluster("drain", "rg-drain", 2)).await?;
    let obj = ac::or_dump(ac::wait_ready(&world, "drain").await, &[&op]);
    let endpoint = obj.data["status"]["controlPlaneEndpoint"]["host"]
        .as_str()
        .context("endpoint")?
        .to_string();
    let dir = world.env.dir().join(format!("workload-{}", world.ns));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = write_pki(&world, "drain", &dir).await?;
    let _server = KillOnDrop(start_workload_apiserver(&world, &dir, &endpoint)?);
    let client = azop_controllers::azure_cluster::node_steps::workload_client(
        &std::fs::read_to_string(&kubeconfig)?,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    wait_for(
        "the workload API server",
        Duration::from_secs(60),
        || async {
            match kubectl(&kubeconfig, &["get", "--raw", "/readyz"]) {
                Ok(v) => Check::Done(v),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;

    // A workload on the machine that goes first (the highest old index), guarded by a
    // PodDisruptionBudget that refuses its eviction.
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "default"}}))?;
    let _ = Api::<ServiceAccount>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &sa)
        .await;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"nodeName": "drain-general-1", "automountServiceAccountToken": false,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10"}]}
    }))?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod).await?;
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}
    }))?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    pdbs.create(&PostParams::default(), &pdb).await?;

    let stop = AtomicBool::new(false);
    let kubelets = async {
        while !stop.load(Ordering::Relaxed) {
            play_kubelets(&world, &client).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let steps = async {
        let r = drain_steps(&world, &client, &pdbs).await;
        stop.store(true, Ordering::Relaxed);
        r
    };
    let ((), result) = tokio::join!(kubelets, steps);
    ac::or_dump(result, &[&op]);

    // Exactly the machines of the spec, and their nodes: the removed machines' Nodes were
    // deleted by azop, the workload's pod left its node before the VM went.
    let obj = ac::or_dump(ac::wait_ready(&world, "drain").await, &[&op]);
    let nodes = obj.data["status"]["nodes"].as_array().context("nodes")?;
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["name"].as_str()).collect();
    ensure!(
        names == ["drain-cp-0", "drain-general-2", "drain-general-3"],
        "{names:?}"
    );
    ensure!(nodes.iter().all(|n| n["node"] == "Ready"), "{nodes:?}");
    let left: Vec<String> = Api::<Node>::all(client.clone())
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    ensure!(
        left == ["drain-cp-0", "drain-general-2", "drain-general-3"],
        "{left:?}"
    );
    Ok(())
}

/// The replacement, step by step, while the kubelets are played beside it.
async fn drain_steps(
    world: &World,
    client: &kube::Client,
    pdbs: &Api<k8s_openapi::api::policy::v1::PodDisruptionBudget>,
) -> Result<()> {
    use k8s_openapi::api::core::v1::Node;
    // The nodes registered: status shows them Ready next to the VMs.
    ac::wait_object(
        world,
        "drain",
        "every node Ready in status",
        ac::TIMEOUT,
        |o| {
            o.data["status"]["nodes"]
                .as_array()
                .is_some_and(|ns| ns.len() == 3 && ns.iter().all(|n| n["node"] == "Ready"))
        },
    )
    .await?;
    ac::merge_patch(
        world,
        "drain",
        json!({"spec": {"workerPools": [{"name": "general", "replicas": 2, "vmSize": "Standard_D16s_v5", "zones": ["1"]}]}}),
    )
    .await?;
    ac::wait_inventory(world, "the new machine provisioned", ac::TIMEOUT, |inv| {
        ac::find(inv, VM_TYPE, "drain-general-2")
            .is_some_and(|v| v["properties"]["provisioningState"] == "Succeeded")
    })
    .await
    .map_err(|e| {
        let states: Vec<String> = ac::by_type(&world.sim.inventory(), VM_TYPE)
            .iter()
            .map(|v| format!("{} {}", v["name"], v["properties"]["provisioningState"]))
            .collect();
        e.context(format!("{states:?}"))
    })?;
    // The new machine comes up; the old one with the workload is cordoned, and its eviction
    // refused by the budget: the machine stays, and no second new machine is made.
    let obj = ac::wait_object(world, "drain", "the eviction refused", ac::TIMEOUT, |o| {
        ac::condition(o, "WorkersReady")
            .is_some_and(|(_, reason, m)| reason == "Replacing" && m.contains("eviction refused"))
    })
    .await?;
    let (_, _, message) = ac::condition(&obj, "WorkersReady").context("WorkersReady")?;
    ensure!(
        message.contains("drain-general-1, draining its node"),
        "{message}"
    );
    let nodes: Api<Node> = Api::all(client.clone());
    let old = nodes.get("drain-general-1").await?;
    ensure!(
        old.spec.and_then(|s| s.unschedulable) == Some(true),
        "the node is cordoned before its machine goes"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let vms = ac::names_of(&world.sim.inventory(), VM_TYPE);
    ensure!(
        vms.contains(&"drain-general-1".to_string())
            && !vms.contains(&"drain-general-3".to_string()),
        "held by the budget: the old machine stays and no other comes: {vms:?}"
    );
    // The budget lifted: the pod is evicted, the machine goes, the next one follows.
    pdbs.delete("web", &DeleteParams::default()).await?;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), "default");
    wait_for("the pod evicted", Duration::from_secs(60), || async {
        match pods.get_opt("web").await {
            Ok(None) => Check::Done(()),
            Ok(Some(_)) => Check::Pending("still there".into()),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await?;
    ac::wait_inventory(
        world,
        "the old machines replaced",
        Duration::from_secs(120),
        |inv| ac::names_of(inv, VM_TYPE) == ["drain-cp-0", "drain-general-2", "drain-general-3"],
    )
    .await?;
    Ok(())
}
