//! `azop plan` against the real kube-apiserver and azop-armsim: every sample's plan matches
//! its golden file (`AZOP_UPDATE_GOLDEN=1` rewrites them), a plan sends nothing but reads to
//! Azure (armsim's request log), a worker VM size change lists the rolling replacement in
//! order, and a tag change lists only tag updates.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};
use azop_armsim::{RequestFilter, SimConfig};
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::{World, azop_binary};
use azop_e2e::plugin::{Ran, kubectl_azop};
use azop_e2e::samples;
use serde_json::Value;

/// `azop plan -o json -f <file>` with the admin kubeconfig, run in `dir` (so the plan's
/// `source` names the file, not the temporary directory).
fn plan(world: &World, dir: &Path, file: &str) -> Result<Ran> {
    let out = Command::new(azop_binary()?)
        .current_dir(dir)
        .args(["plan", "-o", "json", "-f", file, "-n", &world.ns])
        .arg("--kubeconfig")
        .arg(world.env.kubeconfig_path())
        .args(["--arm-endpoint", world.sim.url()])
        .args(["--authority-host", world.sim.url()])
        .env_remove("KUBECONFIG")
        .output()
        .context("run azop plan")?;
    Ok(Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Every request armsim received after the first `from`, as `METHOD path`, that is not a
/// read (token calls aside: a plan signs in).
fn writes_since(world: &World, from: usize) -> Vec<String> {
    world
        .sim
        .requests(&RequestFilter::default())
        .into_iter()
        .skip(from)
        .filter(|r| !r.path.contains("/oauth2/"))
        .filter(|r| !azop_provider::access::is_read(&r.method, &r.path))
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect()
}

fn requests_so_far(world: &World) -> usize {
    world.sim.requests(&RequestFilter::default()).len()
}

/// The plan JSON without what changes from run to run: the namespace and armsim's address.
fn stable(world: &World, json: &str) -> Result<String> {
    let text = json
        .replace(&world.ns, "NAMESPACE")
        .replace(world.sim.url().trim_end_matches('/'), "ARM_ENDPOINT");
    let v: Value = serde_json::from_str(&text).with_context(|| format!("plan JSON: {json}"))?;
    Ok(format!("{}\n", serde_json::to_string_pretty(&v)?))
}

fn golden_dir() -> PathBuf {
    azop_testenv::repo_root().join("tests/golden/plan")
}

/// Compares with the golden file, or writes it under `AZOP_UPDATE_GOLDEN=1`.
fn check_golden(name: &str, got: &str) -> Result<()> {
    let path = golden_dir().join(format!("{name}.json"));
    if std::env::var_os("AZOP_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir())?;
        std::fs::write(&path, got)?;
        return Ok(());
    }
    let want = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} missing: run with AZOP_UPDATE_GOLDEN=1 and review the file",
            path.display()
        )
    })?;
    if want != got {
        bail!(
            "plan of {name} differs from {} (AZOP_UPDATE_GOLDEN=1 rewrites it after review):\n--- want\n{want}\n--- got\n{got}",
            path.display()
        );
    }
    Ok(())
}

/// The sample's documents with every namespace set to the world's, as one YAML stream.
fn in_namespace(docs: &[Value], ns: &str) -> Result<String> {
    let mut out = String::new();
    for d in docs {
        let mut d = d.clone();
        d["metadata"]["namespace"] = Value::from(ns);
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&d)?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sample_plans_as_its_golden_file_and_sends_only_reads() -> Result<()> {
    let world = World::new("plan-samples", SimConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let valid = samples::valid_samples(&azop_testenv::samples_dir())?;
    ensure!(!valid.is_empty(), "config/samples holds no valid sample");
    // The resource groups the samples use without creating them exist, as they would in
    // the subscription a platform team plans against; nothing else does.
    let existing = existing_groups(&valid);
    for rg in &existing {
        world
            .arm(
                reqwest::Method::PUT,
                &rg_path(rg),
                "2021-04-01",
                Some(serde_json::json!({"location": "westeurope"})),
            )
            .await?;
    }
    let before_all = world.inventory();
    let mut failures = Vec::new();
    for (path, docs) in &valid {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("sample name")?
            .to_string();
        let file = format!("{stem}.yaml");
        std::fs::write(dir.path().join(&file), in_namespace(docs, &world.ns)?)?;
        let before = requests_so_far(&world);
        let ran = plan(&world, dir.path(), &file)?;
        let writes = writes_since(&world, before);
        ensure!(
            writes.is_empty(),
            "plan of {stem} wrote to Azure: {writes:?}"
        );
        let report: Value = serde_json::from_str(&ran.stdout)
            .with_context(|| format!("plan of {stem}: {}\n{}", ran.stdout, ran.stderr))?;
        ensure!(
            report["exitCode"].as_i64() == Some(i64::from(ran.code)),
            "plan of {stem}: exit code {} but the report says {}",
            ran.code,
            report["exitCode"]
        );
        // Nothing of the samples exists in this armsim yet: a sample with an Azure kind has
        // something to do or waits for something (2), or is refused (1) — never "no
        // changes". A ProxyConfig has nothing in Azure.
        let azure_kinds = docs
            .iter()
            .any(|d| d["apiVersion"] == "azop.dev/v1alpha1" && d["kind"] != "ProxyConfig");
        ensure!(
            !azure_kinds || ran.code == 1 || ran.code == 2,
            "plan of {stem}: exit {}\n{}",
            ran.code,
            ran.stdout
        );
        if let Err(e) = check_golden(&stem, &stable(&world, &ran.stdout)?) {
            failures.push(format!("{e:#}"));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Nothing was created by any of it.
    ensure!(
        world.inventory() == before_all,
        "armsim holds more resources after plans only: {:?}",
        world.inventory()
    );
    Ok(())
}

/// Resource groups the samples name without `createResourceGroup: true`, sorted.
fn existing_groups(samples: &[(PathBuf, Vec<Value>)]) -> Vec<String> {
    let mut out: Vec<String> = samples
        .iter()
        .flat_map(|(_, docs)| docs)
        .filter(|d| d["apiVersion"] == "azop.dev/v1alpha1")
        .filter(|d| d["spec"]["createResourceGroup"] != true)
        .filter_map(|d| d["spec"]["resourceGroup"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn rows(report: &Value) -> Vec<Value> {
    report["objects"][0]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn yaml_of(manifest: &Value) -> Result<String> {
    Ok(serde_yaml::to_string(manifest)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_cluster_plans_its_rollout_in_order_and_a_tag_change_as_tag_updates() -> Result<()>
{
    let world = World::new("plan-changes", SimConfig::default()).await?;
    let rg = "rg-e2e-plan";
    let mut op = world.start_operator("a", &["--resync-seconds", "2"])?;
    create(&world, cluster("planned", rg, 2)).await?;
    or_dump(wait_ready(&world, "planned").await, &[&op]);
    // The plan is compared with a cluster at rest: the operator stops, so every request
    // armsim receives from here on is the plan's.
    op.terminate()?;
    let dir = tempfile::tempdir()?;

    // The spec as it is: nothing to do.
    std::fs::write(
        dir.path().join("same.yaml"),
        yaml_of(&cluster("planned", rg, 2))?,
    )?;
    let before = requests_so_far(&world);
    let same = plan(&world, dir.path(), "same.yaml")?;
    ensure!(
        same.code == 0,
        "unchanged spec: exit {}\n{}{}",
        same.code,
        same.stdout,
        same.stderr
    );

    // A worker VM size change: the pool's machines are replaced one by one, in order.
    let mut bigger = cluster("planned", rg, 2);
    bigger["spec"]["workerPools"][0]["vmSize"] = Value::from("Standard_D16s_v5");
    std::fs::write(dir.path().join("bigger.yaml"), yaml_of(&bigger)?)?;
    let ran = plan(&world, dir.path(), "bigger.yaml")?;
    ensure!(
        ran.code == 2,
        "vm size: exit {}\n{}{}",
        ran.code,
        ran.stdout,
        ran.stderr
    );
    let report: Value = serde_json::from_str(&ran.stdout)?;
    let replaced: Vec<(String, u64, String)> = rows(&report)
        .iter()
        .filter(|r| r["action"] == "replace")
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["order"].as_u64().unwrap_or_default(),
                r["replacedBy"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // The operator's order: the highest index first, each after its replacement is ready.
    let want = [
        (
            "planned-general-1".to_string(),
            1,
            "planned-general-2".to_string(),
        ),
        (
            "planned-general-0".to_string(),
            2,
            "planned-general-3".to_string(),
        ),
    ];
    ensure!(
        replaced == want,
        "both workers replaced in order: {replaced:?}\n{}",
        ran.stdout
    );
    for r in rows(&report).iter().filter(|r| r["action"] == "replace") {
        let paths: Vec<&str> = r["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["path"].as_str())
            .collect();
        ensure!(
            paths.iter().any(|p| p.contains("vmSize")),
            "a replacement says why: {r}"
        );
    }
    ensure!(
        rows(&report)
            .iter()
            .filter(|r| r["kind"] != VM_TYPE && r["kind"] != NIC_TYPE && r["kind"] != DISK_TYPE)
            .all(|r| r["action"] == "untouched"),
        "only the workers change: {}",
        ran.stdout
    );

    // A tag change: updates of tags, nothing created, replaced or deleted.
    let mut retagged = cluster("planned", rg, 2);
    retagged["spec"]["tags"]["env"] = Value::from("prod");
    std::fs::write(dir.path().join("retagged.yaml"), yaml_of(&retagged)?)?;
    let ran = plan(&world, dir.path(), "retagged.yaml")?;
    ensure!(
        ran.code == 2,
        "tags: exit {}\n{}{}",
        ran.code,
        ran.stdout,
        ran.stderr
    );
    let report: Value = serde_json::from_str(&ran.stdout)?;
    let all = rows(&report);
    let updates: Vec<&Value> = all.iter().filter(|r| r["action"] == "update").collect();
    ensure!(!updates.is_empty(), "tag updates listed: {}", ran.stdout);
    for r in &all {
        ensure!(
            r["action"] == "update" || r["action"] == "untouched",
            "a tag change only updates: {r}"
        );
    }
    for r in &updates {
        let changes = r["changes"].as_array().cloned().unwrap_or_default();
        ensure!(
            !changes.is_empty() && changes.iter().all(|c| c["path"] == "tags"),
            "only tags change: {r}"
        );
        ensure!(
            changes.iter().all(
                |c| c["spec"].as_str().is_some_and(|s| s.contains("env=prod"))
                    && c["azure"].as_str().is_some_and(|s| s.contains("env=e2e"))
            ),
            "old → new: {r}"
        );
    }

    // The same plan through kubectl, as a plugin: the same verdict and exit code.
    let via_kubectl = kubectl_azop(
        &world,
        dir.path(),
        &[
            "plan",
            "-f",
            "retagged.yaml",
            "-o",
            "json",
            "-n",
            &world.ns,
            "--arm-endpoint",
            world.sim.url(),
            "--authority-host",
            world.sim.url(),
        ],
    )?;
    ensure!(
        via_kubectl.code == 2,
        "kubectl azop plan: exit {}\n{}{}",
        via_kubectl.code,
        via_kubectl.stdout,
        via_kubectl.stderr
    );
    let again: Value = serde_json::from_str(&via_kubectl.stdout)?;
    ensure!(again["summary"] == report["summary"], "{again}");
    let status = kubectl_azop(
        &world,
        dir.path(),
        &["status", "-n", &world.ns, "-o", "json"],
    )?;
    ensure!(
        status.code == 0,
        "kubectl azop status: {}{}",
        status.stdout,
        status.stderr
    );
    let listed: Value = serde_json::from_str(&status.stdout)?;
    ensure!(
        listed.to_string().contains("\"planned\""),
        "status lists the cluster: {listed}"
    );
    let table = kubectl_azop(&world, dir.path(), &["status", "-A"])?;
    ensure!(
        table.code == 0 && table.stdout.contains("planned"),
        "kubectl azop status -A: {}{}",
        table.stdout,
        table.stderr
    );

    let writes = writes_since(&world, before);
    ensure!(writes.is_empty(), "the plans wrote to Azure: {writes:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_from_admission_from_validation_and_from_what_azop_does_not_own() -> Result<()>
{
    let world = World::new("plan-refusals", SimConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let start = requests_so_far(&world);

    // Every create-case invalid sample: refused by the API server's dry run (schema, CEL) or
    // by azop's own validation (InvalidSpec); exit 1 either way.
    let invalid = samples::invalid_samples(&azop_testenv::samples_dir())?;
    let mut failures = Vec::new();
    let mut seen = (0, 0);
    for s in invalid.iter().filter(|s| s.docs.len() == 1) {
        let file = "invalid.yaml";
        std::fs::write(dir.path().join(file), in_namespace(&s.docs, &world.ns)?)?;
        let ran = plan(&world, dir.path(), file)?;
        let report: Value = serde_json::from_str(&ran.stdout)
            .with_context(|| format!("{}: {}{}", s.path.display(), ran.stdout, ran.stderr))?;
        let o = &report["objects"][0];
        let leaf = samples::field_leaf(&s.header.field);
        let ok = match s.header.layer {
            samples::Layer::Schema | samples::Layer::Cel => {
                seen.0 += 1;
                o["admissionRefusal"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(leaf))
            }
            samples::Layer::Validate => {
                seen.1 += 1;
                o["refusals"].as_array().is_some_and(|rs| {
                    rs.iter().any(|r| {
                        r["reason"] == "InvalidSpec"
                            && r["message"].as_str().is_some_and(|m| m.contains(leaf))
                    })
                }) || o["admissionRefusal"].is_object()
            }
        };
        if ran.code != 1 || !ok {
            failures.push(format!(
                "{} ({:?} {}): exit {}, {o}",
                s.path.display(),
                s.header.layer,
                s.header.field,
                ran.code
            ));
        }
    }
    ensure!(seen.0 > 0, "no schema or CEL invalid sample planned");
    ensure!(failures.is_empty(), "{}", failures.join("\n"));

    // A VNet of the name azop would use, made by someone else: NotOwned, nothing planned on it.
    let rg = "rg-e2e-notmine";
    world
        .arm(
            reqwest::Method::PUT,
            &rg_path(rg),
            "2021-04-01",
            Some(serde_json::json!({"location": "westeurope"})),
        )
        .await?;
    world
        .arm(
            reqwest::Method::PUT,
            &resource_path(rg, "Microsoft.Network/virtualNetworks", "notmine-vnet"),
            "2024-03-01",
            Some(serde_json::json!({
                "location": "westeurope",
                "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}},
            })),
        )
        .await?;
    let from = requests_so_far(&world);
    let mut theirs = cluster("notmine", rg, 1);
    theirs["spec"]["createResourceGroup"] = Value::from(false);
    std::fs::write(dir.path().join("theirs.yaml"), yaml_of(&theirs)?)?;
    let ran = plan(&world, dir.path(), "theirs.yaml")?;
    ensure!(ran.code == 1, "NotOwned: exit {}\n{}", ran.code, ran.stdout);
    let report: Value = serde_json::from_str(&ran.stdout)?;
    let refusals = report["objects"][0]["refusals"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        refusals.iter().any(|r| r["reason"] == "NotOwned"
            && r["message"]
                .as_str()
                .is_some_and(|m| m.contains("notmine-vnet"))),
        "{}",
        ran.stdout
    );
    ensure!(
        rows(&report)
            .iter()
            .any(|r| r["name"] == "notmine-vnet" && r["action"] == "refused"),
        "{}",
        ran.stdout
    );
    let writes = writes_since(&world, from);
    ensure!(writes.is_empty(), "the plan wrote: {writes:?}");
    // The invalid samples' plans wrote nothing either (the PUTs above are the test's own).
    let before_setup: Vec<String> = world
        .sim
        .requests(&RequestFilter::default())
        .into_iter()
        .skip(start)
        .take(from.saturating_sub(start))
        .filter(|r| {
            !r.path.contains("/oauth2/") && !azop_provider::access::is_read(&r.method, &r.path)
        })
        .filter(|r| !r.path.to_ascii_lowercase().contains("rg-e2e-notmine"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    ensure!(
        before_setup.is_empty(),
        "plans of invalid samples wrote: {before_setup:?}"
    );
    Ok(())
}

/// The AKS features main gained after the plan was written go through the same read-only
/// session: planning the adoption (`adoptExisting`) of a cluster made outside azop, whose
/// planned maintenance differs from the spec, lists the adoption and the maintenance
/// change, and writes nothing — not the marks, not the maintenance configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_a_cluster_with_other_maintenance_windows_is_planned_without_a_write() -> Result<()>
{
    let world = World::new("plan-adopt", SimConfig::default()).await?;
    let (rg, name) = ("rg-analytics", "analytics-aks");
    azop_e2e::aks_cluster::resource_group(&world, rg).await?;
    let id = azop_e2e::aks_cluster::cluster_id(rg, name);
    let api = azop_e2e::aks_cluster::AKS_API;
    // Made outside azop (no azop.dev marks), with its own auto-upgrade window.
    world
        .arm(
            reqwest::Method::PUT,
            &id,
            api,
            Some(serde_json::json!({
                "location": "westeurope",
                "tags": {"department": "analytics"},
                "properties": {
                    "dnsPrefix": name,
                    "kubernetesVersion": "1.37",
                    "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 3,
                        "vmSize": "Standard_D4s_v5", "osType": "Linux"}]
                }
            })),
        )
        .await?;
    let window = format!("{id}/maintenanceConfigurations/aksManagedAutoUpgradeSchedule");
    world
        .arm(
            reqwest::Method::PUT,
            &window,
            api,
            Some(serde_json::json!({"properties": {"maintenanceWindow": {
                "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Monday"}},
                "durationHours": 4, "utcOffset": "+00:00", "startTime": "03:00"
            }}})),
        )
        .await?;
    let cluster_before = world.arm(reqwest::Method::GET, &id, api, None).await?;
    let window_before = world.arm(reqwest::Method::GET, &window, api, None).await?;

    let mut manifest =
        azop_e2e::aks_cluster::sample("akscluster-governed-autoscaled.yaml", &world.ns)?;
    manifest["spec"]["adoptExisting"] = Value::Bool(true);
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("adopt.yaml"), yaml_of(&manifest)?)?;
    let before = requests_so_far(&world);
    let ran = plan(&world, dir.path(), "adopt.yaml")?;
    let writes = writes_since(&world, before);
    ensure!(writes.is_empty(), "the adoption plan wrote: {writes:?}");
    ensure!(
        ran.code == 2,
        "adoption: exit {}\n{}{}",
        ran.code,
        ran.stdout,
        ran.stderr
    );
    let report: Value = serde_json::from_str(&ran.stdout)?;
    let rows = rows(&report);
    let action_of = |kind: &str, n: &str| {
        rows.iter()
            .find(|r| r["kind"] == kind && r["name"] == n)
            .and_then(|r| r["action"].as_str())
            .map(str::to_string)
    };
    let cluster_action = action_of("Microsoft.ContainerService/managedClusters", name);
    ensure!(
        cluster_action.as_deref() == Some("update"),
        "the adopted cluster should be an update (marks and spec), got {cluster_action:?}\n{}",
        ran.stdout
    );
    let window_action = action_of(
        "Microsoft.ContainerService/managedClusters/maintenanceConfigurations",
        "aksManagedAutoUpgradeSchedule",
    );
    ensure!(
        window_action.as_deref() == Some("update"),
        "the differing window should be an update, got {window_action:?}\n{}",
        ran.stdout
    );
    // And Azure is as it was: no marks, the window unchanged.
    let cluster_after = world.arm(reqwest::Method::GET, &id, api, None).await?;
    ensure!(
        cluster_after["tags"] == cluster_before["tags"]
            && cluster_after["tags"].get("azop.dev_uid").is_none(),
        "the cluster's tags changed: {}",
        cluster_after["tags"]
    );
    let window_after = world.arm(reqwest::Method::GET, &window, api, None).await?;
    ensure!(
        window_after["properties"] == window_before["properties"],
        "the window changed: {window_after}"
    );
    Ok(())
}

/// The plugin's read-side commands as a user runs them through kubectl: `kubeconfig` writes
/// a cluster's kubeconfig to a file and merges it into an existing one that the real kubectl
/// then loads (existing contexts kept); a missing cluster exits 1 naming it; `why` explains a
/// write Azure refused (the condition chain, each link with its fix) and says nothing blocks
/// a Ready object; `status -o yaml` parses, `-A` lists two namespaces, `-n` only one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_writes_kubeconfigs_explains_blocked_objects_and_lists_namespaces() -> Result<()>
{
    use azop_armsim::{FaultAction, FaultSpec};
    let world = World::new("plan-plugin", SimConfig::default()).await?;
    let other = World::new("plan-plugin-other", SimConfig::default()).await?;
    azop_e2e::aks_cluster::resource_group(&world, "rg-dev").await?;
    // The resource group write of `denied` is refused, as for a principal without the role.
    world.sim.add_fault(FaultSpec {
        method: Some("PUT".into()),
        path: "/subscriptions/*/resourcegroups/rg-e2e-plugin-denied".into(),
        times: None,
        after: 0,
        action: FaultAction::Respond {
            status: 403,
            code: "AuthorizationFailed".into(),
            message: "The client 'azop-e2e' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourcegroups/write' over scope '/subscriptions/x/resourcegroups/rg-e2e-plugin-denied'.".into(),
            retry_after: None,
        },
    })?;
    let op = world.start_operator("a", &["--resync-seconds", "2"])?;
    let manifest = azop_e2e::aks_cluster::sample("akscluster-free.yaml", &world.ns)?;
    azop_e2e::aks_cluster::create(&world, &manifest).await?;
    create(&world, cluster("denied", "rg-e2e-plugin-denied", 1)).await?;
    // Never reconciled (no operator watches `other`): listed all the same.
    create(&other, cluster("elsewhere", "rg-e2e-plugin-other", 1)).await?;
    or_dump(
        azop_e2e::aks_cluster::wait_ready(&world, "dev-aks").await,
        &[&op],
    );
    or_dump(
        wait_object(&world, "denied", "refused write reported", TIMEOUT, |o| {
            condition(o, "Ready").is_some_and(|(s, _, m)| {
                s == "False" && all_messages(o).contains("AuthorizationFailed") && !m.is_empty()
            })
        })
        .await,
        &[&op],
    );
    let dir = tempfile::tempdir()?;
    let ns = world.ns.clone();
    let kubectl = azop_testenv::binaries::kubectl()?;
    let view = |file: &Path| -> Result<Value> {
        let out = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(file)
            .args(["config", "view", "-o", "json"])
            .env_remove("KUBECONFIG")
            .output()?;
        ensure!(
            out.status.success(),
            "kubectl config view of {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let names = |v: &Value, key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect()
    };

    // --file: the Secret's kubeconfig, which the real kubectl loads.
    let file = dir.path().join("dev-aks.kubeconfig");
    let file_arg = file.to_string_lossy().into_owned();
    let ran = kubectl_azop(
        &world,
        dir.path(),
        &["kubeconfig", "dev-aks", "-n", &ns, "--file", &file_arg],
    )?;
    ensure!(
        ran.code == 0,
        "kubeconfig --file: {}{}",
        ran.stdout,
        ran.stderr
    );
    let (_, secret_text) =
        azop_e2e::aks_cluster::kubeconfig_file(&world, "dev-aks-kubeconfig").await?;
    ensure!(
        std::fs::read_to_string(&file)? == secret_text,
        "the file holds the Secret's kubeconfig"
    );
    let written = view(&file)?;
    let new_contexts = names(&written, "contexts");
    ensure!(!new_contexts.is_empty(), "no context in {written}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
        ensure!(
            mode == 0o600,
            "the kubeconfig holds credentials: mode {mode:o}"
        );
    }

    // --merge into an existing kubeconfig: its context stays, the cluster's becomes current.
    let mine = dir.path().join("config");
    std::fs::write(
        &mine,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: home\n  cluster:\n    server: https://home.example.com:6443\nusers:\n- name: me\n  user:\n    token: abc\ncontexts:\n- name: home\n  context:\n    cluster: home\n    user: me\ncurrent-context: home\n",
    )?;
    let mine_arg = mine.to_string_lossy().into_owned();
    let ran = kubectl_azop(
        &world,
        dir.path(),
        &["kubeconfig", "aks/dev-aks", "-n", &ns, "--merge", &mine_arg],
    )?;
    ensure!(
        ran.code == 0,
        "kubeconfig --merge: {}{}",
        ran.stdout,
        ran.stderr
    );
    let merged = view(&mine)?;
    let contexts = names(&merged, "contexts");
    ensure!(
        contexts.contains(&"home".to_string()),
        "home kept: {contexts:?}"
    );
    for c in &new_contexts {
        ensure!(contexts.contains(c), "{c} merged: {contexts:?}");
    }
    ensure!(
        names(&merged, "clusters").contains(&"home".to_string())
            && names(&merged, "users").contains(&"me".to_string()),
        "home's cluster and user kept: {merged}"
    );
    ensure!(
        merged["current-context"] == written["current-context"],
        "the cluster's context is current: {}",
        merged["current-context"]
    );

    // A cluster that does not exist: exit 1, saying which.
    let ran = kubectl_azop(&world, dir.path(), &["kubeconfig", "nosuch", "-n", &ns])?;
    ensure!(
        ran.code == 1 && ran.stderr.contains("nosuch") && ran.stdout.is_empty(),
        "missing cluster: exit {}\n{}{}",
        ran.code,
        ran.stdout,
        ran.stderr
    );

    // why: the refused write, Ready → the part it names, each with a fix.
    let ran = kubectl_azop(&world, dir.path(), &["why", "azc/denied", "-n", &ns])?;
    ensure!(
        ran.code == 0
            && ran.stdout.contains("is not Ready")
            && ran.stdout.contains("AuthorizationFailed")
            && ran.stdout.contains("fix: "),
        "why denied: exit {}\n{}{}",
        ran.code,
        ran.stdout,
        ran.stderr
    );
    let ran = kubectl_azop(
        &world,
        dir.path(),
        &["why", "azc/denied", "-n", &ns, "-o", "json"],
    )?;
    let links: Vec<Value> = serde_json::from_str(&ran.stdout)
        .with_context(|| format!("why -o json: {}{}", ran.stdout, ran.stderr))?;
    ensure!(
        links.len() >= 2 && links[0]["condition"] == "Ready" && links[0]["status"] == "False",
        "Ready first, then its part: {links:?}"
    );
    let part = &links[1];
    ensure!(
        part["condition"] != "Ready"
            && part["message"]
                .as_str()
                .is_some_and(|m| m.contains("AuthorizationFailed"))
            && part["fix"].as_str().is_some_and(|f| {
                !f.is_empty() && !f.starts_with("see the message") && !f.starts_with("nothing")
            }),
        "the refused part with a fix: {part}"
    );
    let ran = kubectl_azop(&world, dir.path(), &["why", "dev-aks", "-n", &ns])?;
    ensure!(
        ran.code == 0 && ran.stdout.contains("nothing blocks it"),
        "why dev-aks: {}{}",
        ran.stdout,
        ran.stderr
    );
    let ran = kubectl_azop(
        &world,
        dir.path(),
        &["why", "dev-aks", "-n", &ns, "-o", "json"],
    )?;
    let none: Vec<Value> = serde_json::from_str(&ran.stdout)
        .with_context(|| format!("why -o json: {}{}", ran.stdout, ran.stderr))?;
    ensure!(none.is_empty(), "nothing blocks a Ready cluster: {none:?}");

    // status -o yaml parses; -n shows one namespace, -A both.
    let ran = kubectl_azop(&world, dir.path(), &["status", "-n", &ns, "-o", "yaml"])?;
    ensure!(
        ran.code == 0,
        "status -o yaml: {}{}",
        ran.stdout,
        ran.stderr
    );
    let listed: Value = serde_yaml::from_str(&ran.stdout)
        .with_context(|| format!("status -o yaml: {}", ran.stdout))?;
    let text = listed.to_string();
    ensure!(
        text.contains("\"dev-aks\"") && text.contains("\"denied\"") && !text.contains("elsewhere"),
        "-n lists this namespace's objects only: {text}"
    );
    let ran = kubectl_azop(&world, dir.path(), &["status", "-A", "-o", "json"])?;
    ensure!(ran.code == 0, "status -A: {}{}", ran.stdout, ran.stderr);
    let all: Value = serde_json::from_str(&ran.stdout)?;
    let text = all.to_string();
    for want in [
        ns.as_str(),
        other.ns.as_str(),
        "\"dev-aks\"",
        "\"elsewhere\"",
    ] {
        ensure!(text.contains(want), "-A lists {want}: {text}");
    }
    let ran = kubectl_azop(
        &world,
        dir.path(),
        &["status", "-n", &other.ns, "-o", "json"],
    )?;
    let theirs: Value = serde_json::from_str(&ran.stdout)?;
    let text = theirs.to_string();
    ensure!(
        text.contains("\"elsewhere\"") && !text.contains("dev-aks"),
        "-n {}: {text}",
        other.ns
    );
    Ok(())
}
