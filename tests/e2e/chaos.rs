//! The seeded chaos suite (issue 26): all four kinds — a default ProxyConfig with a CA, a
//! StorageBinding copying a VHD through Azurite, an AzureCluster booting from the binding's
//! image, an AksCluster — created, scaled and deleted while the operator is SIGKILLed, armsim
//! restarts from its state file, kube-apiserver restarts and ARM answers 429 or 500 for a
//! while, each at a point the seed draws (`azop_e2e::chaos`). After each phase: exactly the
//! resources the objects describe, each VM created once (armsim's request logs, all of them),
//! everything Ready; after the deletion nothing of azop's is left, and the foreign resources
//! the test made first (in azop's resource group and in another one) are exactly as they were,
//! never written by the operator.
//!
//! The seed is printed first (`chaos seed 1/2: AZOP_CHAOS_SEED=…`). `AZOP_CHAOS_SEED=<n>`
//! replays one seed; `AZOP_CHAOS_SEEDS=<n>` runs n fresh seeds (default 2, what `make test`
//! runs). A replay draws the same plan (disruptions, phases, delays, scale targets); the
//! operator's own timing still varies from run to run. docs/testing.md has the figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use azop_armsim::{FaultAction, FaultSpec, LatencyPreset, RequestFilter, RequestRecord, SimConfig};
use azop_e2e::azure_cluster::{
    self as ac, OPERATOR_PRINCIPAL, all_messages, condition, expected_inventory_with,
};
use azop_e2e::chaos::{self, Disruption, Phase, Plan};
use azop_e2e::operator::{CREDENTIALS_SECRET, Operator, SUBSCRIPTION, World};
use azop_e2e::storage_binding::{self as sb, StorageWorld, VhdKind, make_vhd};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use reqwest::Method;
use serde_json::{Value, json};

/// Azure's typical latencies × this: an AKS cluster takes ~11 s, a VM ~3 s, a storage
/// account ~0.6 s — long enough for disruptions to land while operations are in flight.
const LATENCY_SCALE: f64 = 0.03;
/// Bound on one phase's convergence after its last disruption (a healthy phase takes well
/// under a minute; an API server restart on a loaded machine takes up to ~20 s).
const CONVERGE: Duration = Duration::from_secs(300);
/// armsim keeps the last 10,000 requests: a longer log would hide creates.
const LOG_CAPACITY: usize = 10_000;

const RG_IAAS: &str = "rg-chaos-iaas";
const RG_SHARED: &str = "rg-chaos-shared";
const RG_FOREIGN: &str = "rg-chaos-foreign";
const FOREIGN_PIP: &str = "foreign-pip";
const FOREIGN_NSG: &str = "foreign-nsg";
const PROXY: &str = "corp-proxy";
const BINDING: &str = "images";
const CLUSTER: &str = "iaas";
const AKS: &str = "aks";
use sb::NETWORK_API;

fn seeds() -> Vec<u64> {
    let replay = std::env::var("AZOP_CHAOS_SEED").ok();
    let count = std::env::var("AZOP_CHAOS_SEEDS").ok();
    chaos::seeds(replay.as_deref(), count.as_deref(), rand::random)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_chaos_over_every_kind_converges_exactly_and_leaves_nothing() {
    let seeds = seeds();
    let mut failures = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        eprintln!(
            "chaos seed {}/{}: AZOP_CHAOS_SEED={seed}",
            i + 1,
            seeds.len()
        );
        let started = Instant::now();
        match run_seed(*seed).await {
            Ok(summary) => eprintln!(
                "chaos seed {seed}: converged in {:.0?} — {summary}",
                started.elapsed()
            ),
            Err(e) => {
                eprintln!(
                    "chaos seed {seed}: FAILED after {:.0?}: {e:#}",
                    started.elapsed()
                );
                failures.push(format!(
                    "AZOP_CHAOS_SEED={seed} (replay: AZOP_CHAOS_SEED={seed} cargo test -p azop-e2e --test chaos -- --nocapture): {e:#}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} chaos seeds failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n\n")
    );
}

/// One seed's world: the operator in its current incarnation, the request logs of armsim's
/// earlier lives, and what happened.
struct Run {
    sw: StorageWorld,
    op: Operator,
    incarnation: usize,
    /// Request logs of the simulator's earlier lives (each restart starts a new one).
    old_logs: Vec<Vec<RequestRecord>>,
    /// Exits the test did not cause, each with its reason (the test restarts the operator as
    /// kubelet would).
    exits: Vec<String>,
    disruptions: usize,
}

impl Run {
    fn world(&self) -> &World {
        &self.sw.world
    }

    /// Starts the next operator process: a new identity, as a replacement pod has.
    fn start_operator(&mut self) -> Result<()> {
        self.incarnation += 1;
        let name = format!("chaos-{}", self.incarnation);
        self.op = self.sw.world.start_operator(&name, &[])?;
        Ok(())
    }

    /// A process that is gone must have died of something a restart is the answer to —
    /// never a panic.
    fn check_log(op: &Operator) -> Result<()> {
        let logs = op.logs();
        ensure!(
            !logs.contains("panicked"),
            "the operator panicked ({}):\n{}",
            op.log.display(),
            tail(&logs, 40)
        );
        ensure!(
            !logs.contains(azop_e2e::operator::CLIENT_SECRET),
            "the client secret appears in {}",
            op.log.display()
        );
        Ok(())
    }

    /// Plays kubelet: an operator that exited is restarted; why it exited is recorded. Its
    /// only expected reason is losing leadership while the API server was away (by design:
    /// it exits so the restart rebuilds every cache).
    fn tend(&mut self) -> Result<()> {
        if self.op.is_running() {
            return Ok(());
        }
        Run::check_log(&self.op)?;
        let logs = self.op.logs();
        let reason = if logs.contains("lost leadership") {
            "lost leadership".to_string()
        } else {
            bail!(
                "operator chaos-{} exited on its own, not for lost leadership:\n{}",
                self.incarnation,
                tail(&logs, 40)
            )
        };
        self.exits
            .push(format!("chaos-{}: {reason}", self.incarnation));
        self.start_operator()
    }

    async fn sleep_tending(&mut self, d: Duration) -> Result<()> {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.tend()?;
            let left = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(Duration::from_millis(200).min(left)).await;
        }
        Ok(())
    }

    async fn disrupt(&mut self, d: &Disruption) -> Result<()> {
        self.disruptions += 1;
        match d {
            Disruption::KillOperator => {
                self.op.kill();
                Run::check_log(&self.op)?;
                self.start_operator()?;
            }
            Disruption::RestartSim => {
                let log = self.sw.world.restart_sim().await?;
                self.old_logs.push(log);
            }
            Disruption::RestartApiserver => {
                let away = self
                    .world()
                    .env
                    .restart_apiserver()
                    .await
                    .context("restart kube-apiserver")?;
                eprintln!("  kube-apiserver back after {away:.1?}");
            }
            Disruption::FaultWindow {
                status,
                method,
                path,
                millis,
            } => {
                let code = if *status == 429 {
                    "TooManyRequests"
                } else {
                    "InternalServerError"
                };
                self.world()
                    .sim
                    .add_fault(FaultSpec {
                        method: method.map(str::to_string),
                        path: path.to_string(),
                        times: None,
                        after: 0,
                        action: FaultAction::Respond {
                            status: *status,
                            code: code.into(),
                            message: format!("chaos: {code}"),
                            retry_after: (*status == 429).then_some(1),
                        },
                    })
                    .map_err(|e| anyhow::anyhow!("add fault: {e:?}"))?;
                self.sleep_tending(Duration::from_millis(*millis)).await?;
                // A simulator restarted meanwhile has no faults left: clearing is harmless.
                self.world().sim.clear_faults();
            }
        }
        Ok(())
    }

    async fn run_phase(&mut self, plan: &Plan, phase: Phase) -> Result<()> {
        for step in plan.steps(phase) {
            self.sleep_tending(step.delay).await?;
            eprintln!("  {phase:?}: after {:?}, {:?}", step.delay, step.disruption);
            self.disrupt(&step.disruption).await?;
        }
        Ok(())
    }

    /// Every request of every simulator life, the current one last.
    fn all_requests(&self) -> Vec<RequestRecord> {
        let mut all: Vec<RequestRecord> = self.old_logs.iter().flatten().cloned().collect();
        all.extend(self.world().sim.requests(&RequestFilter::default()));
        all
    }

    /// Waits (tending the operator) until `done` holds; the error names the last state.
    async fn converge<F, Fut>(&mut self, what: &str, mut done: F) -> Result<()>
    where
        F: FnMut(kube::Client, String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<String>>>,
    {
        let until = Instant::now() + CONVERGE;
        loop {
            self.tend()?;
            let last = match done(self.world().client.clone(), self.world().ns.clone()).await {
                Ok(None) => return Ok(()),
                Ok(Some(pending)) => pending,
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > until {
                bail!(
                    "{what}: not within {CONVERGE:?}; last seen: {last}\n--- operator log ---\n{}",
                    tail(&strip_calls(&self.op.logs()), 60)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn strip_calls(logs: &str) -> String {
    logs.lines()
        .filter(|l| !l.contains("arm call"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn dyn_api(world: &World, kind: &str) -> Api<DynamicObject> {
    let plural = format!("{}s", kind.to_ascii_lowercase());
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", kind),
        &plural,
    );
    Api::namespaced_with(world.client.clone(), &world.ns, &ar)
}

const KINDS: [(&str, &str); 4] = [
    ("ProxyConfig", PROXY),
    ("StorageBinding", BINDING),
    ("AzureCluster", CLUSTER),
    ("AksCluster", AKS),
];

fn is_ready(o: &DynamicObject) -> bool {
    condition(o, "Ready").is_some_and(|c| c.0 == "True")
        && o.data
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            == o.metadata.generation
}

/// `None` when all four objects are Ready at their generation, else what is not.
async fn all_ready(client: kube::Client, ns: String) -> Result<Option<String>> {
    let mut pending = Vec::new();
    for (kind, name) in KINDS {
        let api = kinds_api(&client, &ns, kind);
        let o = api.get(name).await.with_context(|| format!("get {kind}"))?;
        if !is_ready(&o) {
            pending.push(format!("{kind} {name}: {}", all_messages(&o)));
        }
    }
    Ok((!pending.is_empty()).then(|| pending.join(" || ")))
}

/// `None` when all four objects are gone, else which are left.
async fn all_gone(client: kube::Client, ns: String) -> Result<Option<String>> {
    let mut left = Vec::new();
    for (kind, name) in KINDS {
        if let Some(o) = kinds_api(&client, &ns, kind).get_opt(name).await? {
            left.push(format!("{kind} {name}: {}", all_messages(&o)));
        }
    }
    Ok((!left.is_empty()).then(|| left.join(" || ")))
}

fn kinds_api(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let plural = format!("{}s", kind.to_ascii_lowercase());
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", kind),
        &plural,
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// Retries a Kubernetes call while the API server is away (a restart in progress).
async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e)
                if Instant::now() < until && !matches!(&e, kube::Error::Api(s) if s.code < 500) =>
            {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(e).context(what.to_string()),
        }
    }
}

fn proxy_config() -> Value {
    json!({
        "apiVersion": "azop.dev/v1alpha1", "kind": "ProxyConfig",
        "metadata": {"name": PROXY},
        "spec": {
            "httpProxy": "http://proxy.corp.example.com:3128",
            "httpsProxy": "http://proxy.corp.example.com:3128",
            "noProxy": [".corp.example.com"],
            "trustedCA": {"secretRef": {"name": "proxy-ca", "key": "ca.crt"}},
            "default": true,
        }
    })
}

fn binding(source_url: &str) -> Value {
    json!({
        "apiVersion": "azop.dev/v1alpha1", "kind": "StorageBinding",
        "metadata": {"name": BINDING},
        "spec": {
            "credentialsRef": {"name": CREDENTIALS_SECRET},
            "subscriptionId": SUBSCRIPTION,
            "location": "westeurope",
            "resourceGroup": RG_SHARED,
            "tags": {"env": "chaos"},
            "vhd": {"sourceUrl": source_url, "sourceSasSecretRef": {"name": "vhd-source-sas", "key": "sas"}},
        }
    })
}

fn worker_pools(replicas: usize) -> Value {
    json!([{"name": "general", "replicas": replicas, "vmSize": "Standard_D8s_v5", "zones": ["1", "2"]}])
}

fn cluster(workers: usize) -> Value {
    let mut c = ac::cluster(CLUSTER, RG_IAAS, 0);
    c["spec"]["controlPlane"] = json!({"replicas": 1, "vmSize": "Standard_D4s_v5", "zones": ["1"]});
    c["spec"]["workerPools"] = worker_pools(workers);
    c["spec"]["image"] = json!({"storageBindingRef": {"name": BINDING}});
    c
}

fn aks_pools(system: usize) -> Value {
    json!([
        {"name": "system", "mode": "System", "vmSize": "Standard_B4ms", "count": system},
        {"name": "apps", "mode": "User", "vmSize": "Standard_D4s_v5", "count": 1},
    ])
}

fn aks(system: usize) -> Value {
    json!({
        "apiVersion": "azop.dev/v1alpha1", "kind": "AksCluster",
        "metadata": {"name": AKS},
        "spec": {
            "credentialsRef": {"name": CREDENTIALS_SECRET},
            "subscriptionId": SUBSCRIPTION,
            "location": "westeurope",
            "resourceGroup": RG_SHARED,
            "tags": {"env": "chaos"},
            "kubernetesVersion": "1.36",
            "managedControlPlane": {"sku": "Free", "autoUpgradeProfile": {"upgradeChannel": "patch"}},
            "nodePools": aks_pools(system),
        }
    })
}

/// The foreign resources: azop's resource group for the binding and the AKS cluster, made
/// by the platform team, with someone else's public IP in it; and another team's group with
/// an NSG. Returns their paths and ARM JSON as they are now.
async fn foreign_resources(world: &World) -> Result<Vec<(String, Value)>> {
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    let shared = format!("{sub}/resourceGroups/{RG_SHARED}");
    let foreign = format!("{sub}/resourceGroups/{RG_FOREIGN}");
    let pip = format!("{shared}/providers/Microsoft.Network/publicIPAddresses/{FOREIGN_PIP}");
    let nsg = format!("{foreign}/providers/Microsoft.Network/networkSecurityGroups/{FOREIGN_NSG}");
    let rg_body = |team: &str| json!({"location": "westeurope", "tags": {"team": team}});
    world
        .arm(Method::PUT, &shared, sb::RG_API, Some(rg_body("platform")))
        .await?;
    world
        .arm(Method::PUT, &foreign, sb::RG_API, Some(rg_body("other")))
        .await?;
    world
        .arm(
            Method::PUT,
            &pip,
            NETWORK_API,
            Some(json!({
                "location": "westeurope", "tags": {"team": "other"},
                "sku": {"name": "Standard"},
                "properties": {"publicIPAllocationMethod": "Static"},
            })),
        )
        .await?;
    world
        .arm(
            Method::PUT,
            &nsg,
            NETWORK_API,
            Some(json!({"location": "westeurope", "tags": {"team": "other"}})),
        )
        .await?;
    let mut out = Vec::new();
    for (path, api) in [
        (shared, sb::RG_API),
        (foreign, sb::RG_API),
        (pip, NETWORK_API),
        (nsg, NETWORK_API),
    ] {
        let now = world.arm(Method::GET, &path, api, None).await?;
        out.push((path, now));
    }
    Ok(out)
}

/// The top-level inventory the objects describe, the foreign resources included.
fn expected_top_level(workers: usize, account: &str, image: &str) -> Vec<(String, String)> {
    let names: Vec<String> = (0..workers).map(|i| format!("general-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut out = expected_inventory_with(CLUSTER, RG_IAAS, 1, &names);
    out.extend(foreign_top_level());
    for (t, n) in [
        ("microsoft.storage/storageaccounts", account),
        ("microsoft.compute/images", image),
        ("microsoft.containerservice/managedclusters", AKS),
    ] {
        out.push((t.to_string(), n.to_ascii_lowercase()));
    }
    out.sort();
    out
}

fn foreign_top_level() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("microsoft.resources/resourcegroups", RG_SHARED),
        ("microsoft.resources/resourcegroups", RG_FOREIGN),
        ("microsoft.network/publicipaddresses", FOREIGN_PIP),
        ("microsoft.network/networksecuritygroups", FOREIGN_NSG),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n.to_string()))
    .collect();
    out.sort();
    out
}

/// Checks the world against the objects at `workers` worker machines and `aks_nodes` system
/// nodes: the exact top-level set, the AKS pools and their counts, one container.
async fn check_inventory(run: &Run, workers: usize, aks_nodes: usize) -> Result<()> {
    let world = run.world();
    let b = retry("get the StorageBinding", || {
        let api = dyn_api(world, "StorageBinding");
        async move { api.get(BINDING).await }
    })
    .await?;
    let uid = b.metadata.uid.clone().context("binding uid")?;
    let account = azop_api::naming::storage_account_name(&uid);
    let image = b
        .data
        .pointer("/status/imageId")
        .and_then(Value::as_str)
        .and_then(|id| id.rsplit('/').next())
        .context("the binding's status has no imageId")?
        .to_string();
    let got = ac::top_level_inventory(world);
    let want = expected_top_level(workers, &account, &image);
    if got != want {
        let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).collect();
        let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).collect();
        bail!("the resource set differs: extra {extra:?}, missing {missing:?}");
    }
    let pools: Vec<String> = world
        .inventory()
        .into_iter()
        .filter(|(t, _)| t == "microsoft.containerservice/managedclusters/agentpools")
        .map(|(_, n)| n)
        .collect();
    ensure!(pools == ["apps", "system"], "AKS pools {pools:?}");
    let mc = world
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG_SHARED}/providers/Microsoft.ContainerService/managedClusters/{AKS}"
            ),
            "2026-10-01",
            None,
        )
        .await?;
    let counts: BTreeMap<String, i64> = mc
        .pointer("/properties/agentPoolProfiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["count"].as_i64()?)))
        .collect();
    ensure!(
        counts
            == BTreeMap::from([
                ("apps".to_string(), 1),
                ("system".to_string(), aks_nodes as i64)
            ]),
        "AKS pool counts {counts:?}, want system={aks_nodes}"
    );
    ensure!(
        mc.pointer("/properties/httpProxyConfig/httpProxy")
            .and_then(Value::as_str)
            == Some("http://proxy.corp.example.com:3128"),
        "the AKS cluster did not inherit the namespace's default proxy: {:?}",
        mc.pointer("/properties/httpProxyConfig")
    );
    let containers = world
        .inventory()
        .into_iter()
        .filter(|(t, _)| t.ends_with("/blobservices/containers"))
        .count();
    ensure!(containers == 1, "{containers} blob containers");
    Ok(())
}

/// Each VM azop's objects ever had was created (PUT answered 201) exactly once, no resource
/// was created twice, and no log overflowed.
fn check_creates(run: &Run, vms: &[String]) -> Result<()> {
    let current = run.world().sim.requests(&RequestFilter::default()).len();
    for (i, len) in run
        .old_logs
        .iter()
        .map(Vec::len)
        .chain([current])
        .enumerate()
    {
        ensure!(
            len < LOG_CAPACITY,
            "armsim's log of life {i} reached its capacity ({LOG_CAPACITY}): requests may be missing"
        );
    }
    let requests = run.all_requests();
    let mut creates: BTreeMap<String, usize> = BTreeMap::new();
    for r in requests
        .iter()
        .filter(|r| r.principal.as_deref() == Some(OPERATOR_PRINCIPAL))
        .filter(|r| r.method == "PUT" && r.status == 201)
    {
        *creates.entry(r.path.to_ascii_lowercase()).or_insert(0) += 1;
    }
    let twice: Vec<_> = creates.iter().filter(|(_, n)| **n > 1).collect();
    ensure!(twice.is_empty(), "created more than once: {twice:?}");
    for vm in vms {
        let suffix = format!("/providers/microsoft.compute/virtualmachines/{vm}");
        let n = creates
            .iter()
            .filter(|(p, _)| p.ends_with(&suffix))
            .map(|(_, n)| *n)
            .sum::<usize>();
        ensure!(n == 1, "VM {vm} created {n} times");
    }
    let vm_creates = creates
        .keys()
        .filter(|p| p.contains("/providers/microsoft.compute/virtualmachines/"))
        .count();
    ensure!(
        vm_creates == vms.len(),
        "{vm_creates} VMs created, {} expected",
        vms.len()
    );
    Ok(())
}

/// The foreign resources are as they were (etags included) and the operator never wrote to
/// them.
async fn check_foreign(run: &Run, before: &[(String, Value)]) -> Result<()> {
    for (path, was) in before {
        let api = if path.contains("/providers/") {
            NETWORK_API
        } else {
            sb::RG_API
        };
        let now = run.world().arm(Method::GET, path, api, None).await?;
        ensure!(&now == was, "{path} changed:\nbefore {was}\nafter  {now}");
    }
    let foreign = [FOREIGN_PIP, FOREIGN_NSG, RG_FOREIGN];
    let writes: Vec<String> = run
        .all_requests()
        .into_iter()
        .filter(|r| r.principal.as_deref() == Some(OPERATOR_PRINCIPAL) && r.method != "GET")
        .filter(|r| {
            let p = r.path.to_ascii_lowercase();
            foreign.iter().any(|f| p.contains(&f.to_ascii_lowercase()))
                || p.ends_with(&format!("/resourcegroups/{RG_SHARED}"))
        })
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect();
    ensure!(
        writes.is_empty(),
        "the operator wrote to foreign resources: {writes:?}"
    );
    Ok(())
}

/// The ConfigMaps an owner reference ties to `uid`.
async fn owned_config_maps(world: &World, uid: &str) -> Result<Vec<String>> {
    let maps: Api<ConfigMap> = Api::namespaced(world.client.clone(), &world.ns);
    let l = retry("list ConfigMaps", || {
        let maps = maps.clone();
        async move { maps.list(&ListParams::default()).await }
    })
    .await?;
    Ok(l.items
        .iter()
        .filter(|m| {
            m.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        })
        .filter_map(|m| m.metadata.name.clone())
        .collect())
}

async fn run_seed(seed: u64) -> Result<String> {
    let plan = chaos::plan(seed);
    eprintln!(
        "  plan: workers {:?}, AKS system nodes {:?}\n  create {:?}\n  scale {:?}\n  delete {:?}",
        plan.workers, plan.aks_nodes, plan.create, plan.scale, plan.delete
    );
    let state = tempfile::tempdir().context("state directory")?;
    let config = SimConfig::default()
        .latency_preset(LatencyPreset::Realistic)
        .latency_scale(LATENCY_SCALE)
        .state_file(state.path().join("armsim-state.json"));
    let sw = StorageWorld::with("chaos", config, true).await?;
    let op = sw.world.start_operator("chaos-1", &[])?;
    let mut run = Run {
        sw,
        op,
        incarnation: 1,
        old_logs: Vec::new(),
        exits: Vec::new(),
        disruptions: 0,
    };
    let before = foreign_resources(run.world()).await?;

    // Create: the Secrets, then the four objects at once.
    let world = run.world();
    let vhd = make_vhd(VhdKind::Fixed, 4)?;
    let url = run.sw.upload_source("base.vhd", &vhd).await?;
    run.sw
        .sas_secret("vhd-source-sas", &run.sw.source_sas())
        .await?;
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "proxy-ca"},
                "stringData": {"ca.crt": world.env.ca_pem()},
            }))?,
        )
        .await
        .context("create the proxy CA Secret")?;
    for (kind, manifest) in [
        ("ProxyConfig", proxy_config()),
        ("StorageBinding", binding(&url)),
        ("AzureCluster", cluster(plan.workers.0)),
        ("AksCluster", aks(plan.aks_nodes.0)),
    ] {
        let obj = azop_e2e::objects::to_dynamic(&manifest, &world.ns)?;
        dyn_api(world, kind)
            .create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("create {kind}"))?;
    }
    run.run_phase(&plan, Phase::Create).await?;
    run.converge("create: all four Ready", all_ready).await?;
    check_inventory(&run, plan.workers.0, plan.aks_nodes.0).await?;
    eprintln!("  create converged");

    // Scale: more workers, more AKS system nodes.
    let world = run.world();
    let scale = [
        (
            "AzureCluster",
            CLUSTER,
            json!({"spec": {"workerPools": worker_pools(plan.workers.1)}}),
        ),
        (
            "AksCluster",
            AKS,
            json!({"spec": {"nodePools": aks_pools(plan.aks_nodes.1)}}),
        ),
    ];
    for (kind, name, patch) in scale {
        retry(&format!("scale {kind}"), || {
            let api = dyn_api(world, kind);
            let patch = patch.clone();
            async move {
                api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
            }
        })
        .await?;
    }
    run.run_phase(&plan, Phase::Scale).await?;
    run.converge("scale: all four Ready", all_ready).await?;
    check_inventory(&run, plan.workers.1, plan.aks_nodes.1).await?;
    eprintln!("  scale converged");

    // Delete all four at once; the binding waits for the cluster that uses its image.
    let world = run.world();
    let proxy = retry("get the ProxyConfig", || {
        let api = dyn_api(world, "ProxyConfig");
        async move { api.get(PROXY).await }
    })
    .await?;
    let uid = proxy.metadata.uid.clone().unwrap_or_default();
    let bundles = owned_config_maps(world, &uid).await?;
    ensure!(
        !bundles.is_empty(),
        "the ProxyConfig has no CA bundle ConfigMap"
    );
    for (kind, name) in KINDS {
        retry(&format!("delete {kind}"), || {
            let api = dyn_api(world, kind);
            async move { api.delete(name, &DeleteParams::default()).await }
        })
        .await?;
    }
    run.run_phase(&plan, Phase::Delete).await?;
    run.converge("delete: all four gone", all_gone).await?;
    let got = ac::top_level_inventory(run.world());
    ensure!(
        got == foreign_top_level(),
        "left behind after the deletion: {:?}",
        got.iter()
            .filter(|r| !foreign_top_level().contains(r))
            .collect::<Vec<_>>()
    );
    check_foreign(&run, &before).await?;
    let vms: Vec<String> = std::iter::once(format!("{CLUSTER}-cp-0"))
        .chain((0..plan.workers.1).map(|i| format!("{CLUSTER}-general-{i}")))
        .collect();
    check_creates(&run, &vms)?;
    // The ProxyConfig's CA bundle ConfigMap goes with it (garbage collector, owner reference).
    let world = run.world();
    let maps: Api<ConfigMap> = Api::namespaced(world.client.clone(), &world.ns);
    azop_testenv::wait_for(
        "the ProxyConfig's bundle collected",
        Duration::from_secs(60),
        || {
            let maps = maps.clone();
            let uid = uid.clone();
            async move {
                match maps.list(&ListParams::default()).await {
                    Ok(l) => {
                        let owned: Vec<String> = l
                            .items
                            .iter()
                            .filter(|m| {
                                m.metadata
                                    .owner_references
                                    .iter()
                                    .flatten()
                                    .any(|o| o.uid == uid)
                            })
                            .filter_map(|m| m.metadata.name.clone())
                            .collect();
                        if owned.is_empty() {
                            azop_testenv::Check::Done(())
                        } else {
                            azop_testenv::Check::Pending(format!("{owned:?}"))
                        }
                    }
                    Err(e) => azop_testenv::Check::Pending(e.to_string()),
                }
            }
        },
    )
    .await?;
    run.op.kill();
    Run::check_log(&run.op)?;
    Ok(format!(
        "{} disruptions, {} operator processes, exits not caused by the test: {:?}, {} ARM requests over {} armsim lives",
        run.disruptions,
        run.incarnation,
        run.exits,
        run.all_requests().len(),
        run.old_logs.len() + 1
    ))
}
