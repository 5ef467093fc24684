//! Helpers shared by the AzureCluster end-to-end tests (`tests/e2e/azure_cluster*.rs`):
//! manifests, waiting for conditions, reading the simulator's inventory and request log,
//! and the object's Events.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use azop_armsim::RequestFilter;
use azop_testenv::{Check, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::operator::{
    CLIENT_SECRET, CREDENTIALS_SECRET, OPERATOR_NAMESPACE, Operator, SUBSCRIPTION, World,
};

/// Generous bound for any one convergence; a healthy run needs a few seconds.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The client id in the credentials Secret: the simulator records it as the principal of
/// every request the operator makes (the test's own calls use another one).
pub const OPERATOR_PRINCIPAL: &str = "azop-e2e";

pub const VM_TYPE: &str = "Microsoft.Compute/virtualMachines";
pub const NIC_TYPE: &str = "Microsoft.Network/networkInterfaces";
pub const DISK_TYPE: &str = "Microsoft.Compute/disks";
pub const NSG_TYPE: &str = "Microsoft.Network/networkSecurityGroups";
pub const VNET_TYPE: &str = "Microsoft.Network/virtualNetworks";

pub fn api(world: &World) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", "AzureCluster"),
        "azureclusters",
    );
    Api::namespaced_with(world.client.clone(), &world.ns, &ar)
}

/// A dynamic-placement cluster: 3 control-plane machines over zones 1–3 and one worker pool
/// `general` over zones 1–2.
pub fn cluster(name: &str, rg: &str, workers: i64) -> Value {
    json!({
        "apiVersion": "azop.dev/v1alpha1",
        "kind": "AzureCluster",
        "metadata": {"name": name},
        "spec": {
            "credentialsRef": {"name": CREDENTIALS_SECRET},
            "subscriptionId": SUBSCRIPTION,
            "location": "westeurope",
            "resourceGroup": rg,
            "createResourceGroup": true,
            "tags": {"env": "e2e"},
            "kubernetesVersion": "1.37",
            "controlPlane": {"replicas": 3, "vmSize": "Standard_D4s_v5", "zones": ["1", "2", "3"]},
            "workerPools": [{"name": "general", "replicas": workers, "vmSize": "Standard_D8s_v5", "zones": ["1", "2"]}],
            "image": {"marketplace": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}},
            "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvS3qkQ8qk3m0n1y6K2c5a8yZ9jv3d9sQ0mL6n4yXw1 e2e@example.com",
        }
    })
}

pub async fn create(world: &World, manifest: Value) -> Result<DynamicObject> {
    let obj: DynamicObject = serde_json::from_value(manifest)?;
    api(world)
        .create(&PostParams::default(), &obj)
        .await
        .context("create AzureCluster")
}

pub async fn merge_patch(world: &World, name: &str, patch: Value) -> Result<()> {
    api(world)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("patch {name}"))?;
    Ok(())
}

/// `(status, reason, message)` of a condition.
pub fn condition(obj: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    obj.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// Every condition's message, joined: what a user reading `kubectl describe` sees.
pub fn all_messages(obj: &DynamicObject) -> String {
    obj.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{}={} {}: {}",
                        c["type"].as_str().unwrap_or_default(),
                        c["status"].as_str().unwrap_or_default(),
                        c["reason"].as_str().unwrap_or_default(),
                        c["message"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}

/// Creates `count` AzureClusters `<prefix>0…` (each in its own group `rg-e2e-<name>`, 2
/// workers) in the one subscription and waits for every one to be Ready (the operators'
/// logs dumped if one is not). Their names.
pub async fn create_ready_in_one_subscription(
    world: &World,
    prefix: &str,
    count: usize,
    ops: &[&Operator],
) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    for n in &names {
        or_dump(
            create(world, cluster(n, &format!("rg-e2e-{n}"), 2)).await,
            ops,
        );
    }
    for n in &names {
        or_dump(wait_ready(world, n).await, ops);
    }
    names
}

/// Waits until Ready=True for the current generation.
pub async fn wait_ready(world: &World, name: &str) -> Result<DynamicObject> {
    let api = api(world);
    wait_for(format!("{name} Ready"), TIMEOUT, || async {
        match api.get(name).await {
            Ok(o)
                if condition(&o, "Ready").is_some_and(|c| c.0 == "True")
                    && o.data
                        .pointer("/status/observedGeneration")
                        .and_then(Value::as_i64)
                        == o.metadata.generation =>
            {
                Check::Done(o)
            }
            Ok(o) => Check::Pending(all_messages(&o)),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

/// Waits until `pred` holds for the object; returns it.
pub async fn wait_object(
    world: &World,
    name: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    wait_on(&api(world), name, what, timeout, pred).await
}

/// Waits until `pred` holds for object `name` of any azop kind (`api`); returns it.
pub async fn wait_on(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    let pred = &pred;
    wait_for(format!("{name}: {what}"), timeout, || {
        let api = api.clone();
        async move {
            match api.get(name).await {
                Ok(o) if pred(&o) => Check::Done(o),
                Ok(o) => Check::Pending(all_messages(&o)),
                Err(e) => Check::Pending(e.to_string()),
            }
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

pub async fn wait_gone(world: &World, name: &str) -> Result<()> {
    wait_gone_on(&api(world), name).await
}

/// Waits until object `name` of any azop kind (`api`) is gone.
pub async fn wait_gone_on(api: &Api<DynamicObject>, name: &str) -> Result<()> {
    wait_for(format!("{name} deleted"), TIMEOUT, || async {
        match api.get_opt(name).await {
            Ok(None) => Check::Done(()),
            Ok(Some(o)) => Check::Pending(all_messages(&o)),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

/// Waits until the simulator's inventory satisfies `pred`.
pub async fn wait_inventory(
    world: &World,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&[Value]) -> bool,
) -> Result<Vec<Value>> {
    let pred = &pred;
    wait_for(what.to_string(), timeout, || async move {
        let inv = world.sim.inventory();
        if pred(&inv) {
            Check::Done(inv)
        } else {
            Check::Pending(format!("{:?}", world.inventory()))
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

pub fn by_type<'a>(inv: &'a [Value], t: &str) -> Vec<&'a Value> {
    inv.iter()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(t))
        })
        .collect()
}

/// Names of the resources of one type, sorted.
pub fn names_of(inv: &[Value], t: &str) -> Vec<String> {
    let mut v: Vec<String> = by_type(inv, t)
        .into_iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

pub fn find<'a>(inv: &'a [Value], t: &str, name: &str) -> Option<&'a Value> {
    by_type(inv, t).into_iter().find(|r| r["name"] == name)
}

/// The exact resource set of a dynamic-placement cluster named `name` in `rg` with the given
/// worker machines: `(type, name)` lower-cased and sorted, as [`World::inventory`] gives it.
/// OS disks are implicit resources of their VMs.
pub fn expected_inventory(name: &str, rg: &str, workers: &[&str]) -> Vec<(String, String)> {
    expected_inventory_with(name, rg, 3, workers)
}

/// [`expected_inventory`] with `control_plane` control-plane machines.
pub fn expected_inventory_with(
    name: &str,
    rg: &str,
    control_plane: usize,
    workers: &[&str],
) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "microsoft.resources/resourcegroups".to_string(),
            rg.to_string(),
        ),
        (
            "microsoft.network/networksecuritygroups".into(),
            format!("{name}-controlplane-nsg"),
        ),
        (
            "microsoft.network/networksecuritygroups".into(),
            format!("{name}-node-nsg"),
        ),
        (
            "microsoft.network/publicipaddresses".into(),
            format!("{name}-node-natgw-pip"),
        ),
        (
            "microsoft.network/publicipaddresses".into(),
            format!("{name}-apiserver-pip"),
        ),
        (
            "microsoft.network/natgateways".into(),
            format!("{name}-node-natgw"),
        ),
        (
            "microsoft.network/virtualnetworks".into(),
            format!("{name}-vnet"),
        ),
        (
            "microsoft.network/loadbalancers".into(),
            format!("{name}-public-lb"),
        ),
    ];
    let machines = (0..control_plane)
        .map(|i| format!("{name}-cp-{i}"))
        .chain(workers.iter().map(|w| format!("{name}-{w}")));
    for m in machines {
        out.push((
            "microsoft.network/networkinterfaces".into(),
            format!("{m}-nic"),
        ));
        out.push(("microsoft.compute/virtualmachines".into(), m.clone()));
        out.push(("microsoft.compute/disks".into(), format!("{m}-osdisk")));
    }
    for (t, n) in &mut out {
        *t = t.to_ascii_lowercase();
        *n = n.to_ascii_lowercase();
    }
    out.sort();
    out
}

/// [`World::inventory`] without sub-resources that ARM lists on their own (subnets, rules).
pub fn top_level_inventory(world: &World) -> Vec<(String, String)> {
    world
        .inventory()
        .into_iter()
        .filter(|(t, _)| t.matches('/').count() == 1)
        .collect()
}

/// The operator's requests (not the test's own), without token calls: `(method, lower-case
/// path, status)` in order.
pub fn operator_requests(world: &World) -> Vec<(String, String, u16)> {
    world
        .sim
        .requests(&RequestFilter {
            principal: Some(OPERATOR_PRINCIPAL.to_string()),
            ..RequestFilter::default()
        })
        .into_iter()
        .filter(|r| !r.path.contains("/oauth2/"))
        .map(|r| (r.method, r.path.to_ascii_lowercase(), r.status))
        .collect()
}

/// The operator's writes (PUT, PATCH, POST, DELETE).
pub fn operator_writes(world: &World) -> Vec<(String, String, u16)> {
    operator_requests(world)
        .into_iter()
        .filter(|(m, _, _)| m != "GET")
        .collect()
}

/// How many PUTs the operator sent per resource path (any status).
pub fn puts_per_path(requests: &[(String, String, u16)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (m, p, _) in requests {
        if m == "PUT" {
            *out.entry(p.clone()).or_insert(0) += 1;
        }
    }
    out
}

/// The events.k8s.io/v1 Events regarding the object with this uid: `(reason, note)`.
pub async fn events_for(world: &World, uid: &str) -> Result<Vec<(String, String)>> {
    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.ns);
    let list = events
        .list(&ListParams::default())
        .await
        .context("list Events")?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .and_then(|r| r.uid.as_deref())
                .is_some_and(|u| u == uid)
        })
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect())
}

/// Waits until an Event with `reason` whose note contains `needle` regards the object.
pub async fn wait_event(world: &World, uid: &str, reason: &str, needle: &str) -> Result<String> {
    wait_for(
        format!("Event {reason} mentioning {needle:?}"),
        TIMEOUT,
        || async {
            match events_for(world, uid).await {
                Ok(evs) => match evs.iter().find(|(r, n)| r == reason && n.contains(needle)) {
                    Some((_, n)) => Check::Done(n.clone()),
                    None => Check::Pending(format!("{evs:?}")),
                },
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await
    .map_err(anyhow::Error::from)
}

/// Waits until the operator's log contains `needle`.
pub async fn wait_log(op: &Operator, needle: &str, timeout: Duration) -> Result<()> {
    wait_for(format!("log line {needle:?}"), timeout, || async {
        if op.logs().contains(needle) {
            Check::Done(())
        } else {
            Check::Pending(format!("{} bytes of log", op.logs().len()))
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

/// The credentials Secret's value must never reach a log.
pub fn assert_secret_not_logged(op: &Operator) {
    let logs = op.logs();
    assert!(
        !logs.is_empty(),
        "the operator wrote no log at {}",
        op.log.display()
    );
    assert!(
        !logs.contains(CLIENT_SECRET),
        "the client secret appears in {}",
        op.log.display()
    );
}

/// A log written to a file (as in a container) is plain text: no terminal escape codes.
pub fn assert_log_is_plain_text(op: &Operator) {
    let logs = op.logs();
    assert!(
        !logs.contains('\u{1b}'),
        "escape codes in {}: {:?}",
        op.log.display(),
        logs.lines().next()
    );
}

/// ARM path helpers for the test's own calls.
pub fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}")
}

pub fn resource_path(rg: &str, provider_type: &str, name: &str) -> String {
    format!("{}/providers/{provider_type}/{name}", rg_path(rg))
}

/// Waits until the operator has read `path` (a lower-case fragment) `n` more times: proof that
/// `n` more resyncs ran, without guessing how long they take.
pub async fn wait_reads(world: &World, fragment: &str, n: usize) -> Result<()> {
    let fragment = fragment.to_ascii_lowercase();
    let count = || {
        operator_requests(world)
            .iter()
            .filter(|(m, p, _)| m == "GET" && p.ends_with(&fragment))
            .count()
    };
    let start = count();
    wait_for(format!("{n} more reads of {fragment}"), TIMEOUT, || async {
        let now = count();
        if now >= start + n {
            Check::Done(())
        } else {
            Check::Pending(format!("{} of {n}", now - start))
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

/// Unwraps, or panics with the error and the last lines of each operator's log (the logs live
/// in the test environment's directory, which is removed when the test process ends).
pub fn or_dump<T>(r: Result<T>, ops: &[&Operator]) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            let mut msg = format!("{e:#}");
            for op in ops {
                let logs = op.logs();
                // Per-request lines drown the rest; escape codes make it unreadable.
                let lines: Vec<String> = logs
                    .lines()
                    .filter(|l| !l.contains("arm call"))
                    .map(strip_ansi)
                    .collect();
                let tail = lines[lines.len().saturating_sub(60)..].join("\n");
                msg.push_str(&format!(
                    "\n--- {} (last 60 lines) ---\n{tail}",
                    op.log.display()
                ));
            }
            panic!("{msg}")
        }
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One control-plane machine and one worker, in zone 1: 14 resources, cheap enough for a
/// dozen clusters in one test.
pub fn one_machine_each(name: &str, rg: &str) -> Value {
    let mut c = cluster(name, rg, 1);
    c["spec"]["controlPlane"] = json!({"replicas": 1, "vmSize": "Standard_D4s_v5", "zones": ["1"]});
    c["spec"]["workerPools"][0]["zones"] = json!(["1"]);
    c
}

/// Holders of the world's shard Leases `0..count` (`<lease>-shard-<i>`), by index; `None`
/// for a Lease absent or released.
pub async fn shard_holders(world: &World, count: u32) -> Vec<Option<String>> {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), OPERATOR_NAMESPACE);
    let mut out = Vec::new();
    for i in 0..count {
        let name = format!("{}-shard-{i}", world.lease);
        out.push(
            leases
                .get_opt(&name)
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec?.holder_identity)
                .filter(|h| !h.is_empty()),
        );
    }
    out
}

/// Whether `nsg` holds a security rule named `rule`.
pub fn has_rule(nsg: &Value, rule: &str) -> bool {
    nsg["properties"]["securityRules"]
        .as_array()
        .is_some_and(|rs| rs.iter().any(|r| r["name"] == rule))
}

/// Drift made outside azop: the NSG at `path` PUT back without any security rule, as someone
/// in the portal would (the test's own principal). Returns the NSG as it was before.
pub async fn strip_nsg_rules(world: &World, path: &str, api_version: &str) -> Result<Value> {
    let nsg = world
        .arm(reqwest::Method::GET, path, api_version, None)
        .await?;
    world
        .arm(
            reqwest::Method::PUT,
            path,
            api_version,
            Some(json!({
                "location": nsg["location"],
                "tags": nsg["tags"],
                "properties": {"securityRules": []},
            })),
        )
        .await?;
    Ok(nsg)
}

/// Deletes the named AzureClusters, waits until every one is gone (the operators' logs
/// dumped if one is not), and checks that nothing is left in the simulator.
pub async fn delete_all_and_check_nothing_left(world: &World, names: &[String], ops: &[&Operator]) {
    for n in names {
        or_dump(
            api(world)
                .delete(n, &DeleteParams::default())
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from),
            ops,
        );
    }
    for n in names {
        or_dump(wait_gone(world, n).await, ops);
    }
    let left = top_level_inventory(world);
    assert!(left.is_empty(), "left behind: {left:?}");
}
