//! `spec.reconcilePolicy: DetectOnly`: drift made out of band is reported (`InSync=False`,
//! `status.drift`, a `DriftDetected` Event) and nothing is written to Azure for three
//! resyncs; switching back to Manage corrects it and records the correction.

#![allow(clippy::unwrap_used)]

use anyhow::{Result, ensure};
use azop_armsim::{RequestFilter, SimConfig};
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use azop_e2e::plugin::kubectl_azop;
use kube::api::DynamicObject;
use reqwest::Method;
use serde_json::{Value, json};

const NET: &str = "2024-03-01";

fn drift_of(obj: &DynamicObject) -> Vec<Value> {
    obj.data["status"]["drift"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn record<'a>(drift: &'a [Value], name: &str, state: &str) -> Option<&'a Value> {
    drift
        .iter()
        .find(|r| r["name"] == name && r["state"] == state)
}

fn writes_since(world: &World, from: usize) -> Vec<String> {
    world
        .sim
        .requests(&RequestFilter::default())
        .into_iter()
        .skip(from)
        .filter(|r| !r.path.contains("/oauth2/") && r.method != "GET")
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_only_reports_drift_writes_nothing_then_manage_corrects_it() -> Result<()> {
    let world = World::new("azc-detect", SimConfig::default()).await?;
    let rg = "rg-e2e-detect";
    let op = world.start_operator("a", &["--resync-seconds", "1"])?;
    let created = create(&world, cluster("watch", rg, 1)).await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    or_dump(wait_ready(&world, "watch").await, &[&op]);

    merge_patch(
        &world,
        "watch",
        json!({"spec": {"reconcilePolicy": "DetectOnly"}}),
    )
    .await?;
    // The operator has seen the new generation before anything is changed in Azure.
    or_dump(
        wait_object(&world, "watch", "DetectOnly seen", TIMEOUT, |o| {
            o.data["status"]["observedGeneration"] == o.metadata.generation.unwrap_or(0)
                && condition(o, "InSync").is_some_and(|(s, _, _)| s == "True")
        })
        .await,
        &[&op],
    );

    // A tag on the VNet changed outside azop.
    let vnet_path = resource_path(rg, "Microsoft.Network/virtualNetworks", "watch-vnet");
    let mut vnet = world.arm(Method::GET, &vnet_path, NET, None).await?;
    vnet["tags"]["env"] = json!("tampered");
    world.arm(Method::PUT, &vnet_path, NET, Some(vnet)).await?;
    let from = world.sim.requests(&RequestFilter::default()).len();

    let reported = or_dump(
        wait_object(&world, "watch", "drift reported", TIMEOUT, |o| {
            record(&drift_of(o), "watch-vnet", "Detected").is_some()
                && condition(o, "InSync").is_some_and(|(s, _, _)| s == "False")
        })
        .await,
        &[&op],
    );
    let rec = record(&drift_of(&reported), "watch-vnet", "Detected")
        .cloned()
        .unwrap_or_default();
    let change = &rec["changes"][0];
    ensure!(change["path"] == "tags", "{rec}");
    ensure!(
        change["azure"] == "env=tampered" && change["spec"] == "env=e2e",
        "{rec}"
    );
    let (_, reason, message) = condition(&reported, "InSync").unwrap_or_default();
    ensure!(reason == "DriftDetected", "{reason}: {message}");
    ensure!(message.contains("watch-vnet"), "{message}");
    or_dump(
        wait_event(&world, &uid, "DriftDetected", "watch-vnet").await,
        &[&op],
    );

    // Three more resyncs read the VNet; none writes anything. Resyncs read it from the
    // subscription's listing (docs/scale.md): three more walks of the VNet list.
    or_dump(
        wait_reads(&world, "/providers/microsoft.network/virtualnetworks", 3).await,
        &[&op],
    );
    let writes = writes_since(&world, from);
    ensure!(writes.is_empty(), "DetectOnly wrote: {writes:?}");
    let vnet = world.arm(Method::GET, &vnet_path, NET, None).await?;
    ensure!(vnet["tags"]["env"] == "tampered", "left as it is: {vnet}");
    let still = wait_object(&world, "watch", "still reported", TIMEOUT, |o| {
        record(&drift_of(o), "watch-vnet", "Detected").is_some()
    })
    .await?;
    ensure!(
        record(&drift_of(&still), "watch-vnet", "Detected").map(|r| &r["detectedAt"])
            == Some(&rec["detectedAt"]),
        "the record keeps when the drift was first seen"
    );

    // What `kubectl azop drift` shows of it.
    let dir = tempfile::tempdir()?;
    let shown = kubectl_azop(
        &world,
        dir.path(),
        &["drift", "-n", &world.ns, "-o", "json"],
    )?;
    ensure!(
        shown.code == 0,
        "kubectl azop drift: {}{}",
        shown.stdout,
        shown.stderr
    );
    let rows: Value = serde_json::from_str(&shown.stdout)?;
    ensure!(
        rows.as_array().into_iter().flatten().any(|r| r["resource"]
            .as_str()
            .is_some_and(|s| s.ends_with("watch-vnet"))
            && r["state"] == "Detected"
            && r["path"] == "tags"),
        "kubectl azop drift lists the VNet's tag: {rows}"
    );

    // Back to Manage: the tag is put back, and the correction is on record.
    merge_patch(
        &world,
        "watch",
        json!({"spec": {"reconcilePolicy": "Manage"}}),
    )
    .await?;
    or_dump(
        wait_inventory(&world, "VNet tag restored", TIMEOUT, |inv| {
            find(inv, VNET_TYPE, "watch-vnet").is_some_and(|v| v["tags"]["env"] == "e2e")
        })
        .await,
        &[&op],
    );
    let corrected = or_dump(
        wait_object(&world, "watch", "correction recorded", TIMEOUT, |o| {
            record(&drift_of(o), "watch-vnet", "Corrected").is_some()
                && record(&drift_of(o), "watch-vnet", "Detected").is_none()
                && condition(o, "InSync").is_some_and(|(s, _, _)| s == "True")
        })
        .await,
        &[&op],
    );
    let rec = record(&drift_of(&corrected), "watch-vnet", "Corrected")
        .cloned()
        .unwrap_or_default();
    ensure!(rec["correctedAt"].is_string(), "{rec}");
    Ok(())
}

/// Deleting a DetectOnly object writes nothing to Azure, whatever `deletionPolicy` says
/// (docs/plan.md): with `Orphan` the resources stay as under Orphan, but even azop's marks
/// stay, since removing them is a write; an Event `LeftInAzure` names what stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_detect_only_object_writes_nothing_even_with_orphan() -> Result<()> {
    let world = World::new("azc-detect-delete", SimConfig::default()).await?;
    let rg = "rg-e2e-detect-delete";
    let op = world.start_operator("a", &["--resync-seconds", "1"])?;
    let created = create(&world, cluster("left", rg, 1)).await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    or_dump(wait_ready(&world, "left").await, &[&op]);
    merge_patch(
        &world,
        "left",
        json!({"spec": {"reconcilePolicy": "DetectOnly", "deletionPolicy": "Orphan"}}),
    )
    .await?;
    or_dump(
        wait_object(&world, "left", "DetectOnly seen", TIMEOUT, |o| {
            o.data["status"]["observedGeneration"] == o.metadata.generation.unwrap_or(0)
        })
        .await,
        &[&op],
    );
    let before = world.sim.inventory();
    let marked = |r: &Value| r["tags"]["azop.dev_uid"] == uid.as_str();
    ensure!(before.iter().any(marked), "azop's resources carry the uid");
    let from = world.sim.requests(&RequestFilter::default()).len();

    api(&world)
        .delete("left", &kube::api::DeleteParams::default())
        .await?;
    or_dump(wait_gone(&world, "left").await, &[&op]);

    let writes = writes_since(&world, from);
    ensure!(
        writes.is_empty(),
        "deleting a DetectOnly object wrote: {writes:?}"
    );
    let after = world.sim.inventory();
    ensure!(
        after.len() == before.len()
            && after.iter().filter(|r| marked(r)).count()
                == before.iter().filter(|r| marked(r)).count(),
        "everything stays, marks included: {} before, {} after",
        before.len(),
        after.len()
    );
    or_dump(
        wait_event(&world, &uid, "LeftInAzure", "left-vnet").await,
        &[&op],
    );
    Ok(())
}

/// The same for a StorageBinding: a tag of its storage account changed out of band is
/// reported (`status.drift`, `InSync=False`, a `DriftDetected` Event) and left alone for
/// three resyncs under DetectOnly; back under Manage it is put back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_only_storage_binding_reports_a_changed_account_tag_then_manage_corrects_it()
-> Result<()> {
    use azop_e2e::storage_binding as sb;
    let sw = sb::StorageWorld::new("sb-detect").await?;
    let w = &sw.world;
    let rg = "rg-platform-prod";
    sw.resource_group(rg).await?;
    let url = sw
        .upload_source("ubuntu.vhd", &sb::make_vhd(sb::VhdKind::Fixed, 4)?)
        .await?;
    let mut binding = sb::binding_of(&sb::sample("storagebinding-default.yaml")?)?;
    binding["spec"]["vhd"]["sourceUrl"] = json!(url);
    sw.sas_secret("vhd-source-sas", &sw.source_sas()).await?;
    let op = w.start_operator(
        "a",
        &["--controllers", "storagebinding", "--resync-seconds", "1"],
    )?;
    let created = sb::create(w, &binding).await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    or_dump(sb::wait_ready(w, "base-images").await, &[&op]);
    let account = azop_api::naming::storage_account_name(&uid);

    let api = sb::api(w);
    api.patch(
        "base-images",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"reconcilePolicy": "DetectOnly"}})),
    )
    .await?;
    or_dump(
        sb::wait(w, "base-images", "DetectOnly seen", |o| {
            o.data["status"]["observedGeneration"] == o.metadata.generation.unwrap_or(0)
                && condition(o, "InSync").is_some_and(|(s, _, _)| s == "True")
        })
        .await,
        &[&op],
    );

    // The account's env tag changed outside azop (the sample says env=prod).
    let path = sb::account_path(rg, &account);
    let before = w.arm(Method::GET, &path, sb::STORAGE_API, None).await?;
    let mut tags = before["tags"].clone();
    ensure!(tags["env"] == "prod", "the sample's tag: {before}");
    tags["env"] = json!("tampered");
    w.arm(
        Method::PATCH,
        &path,
        sb::STORAGE_API,
        Some(json!({"tags": tags})),
    )
    .await?;
    let from = w.sim.requests(&RequestFilter::default()).len();

    let reported = or_dump(
        sb::wait(w, "base-images", "drift reported", |o| {
            record(&drift_of(o), &account, "Detected").is_some()
                && condition(o, "InSync").is_some_and(|(s, _, _)| s == "False")
        })
        .await,
        &[&op],
    );
    let rec = record(&drift_of(&reported), &account, "Detected")
        .cloned()
        .unwrap_or_default();
    ensure!(
        rec["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["path"] == "tags"
                && c["azure"]
                    .as_str()
                    .is_some_and(|s| s.contains("env=tampered"))
                && c["spec"].as_str().is_some_and(|s| s.contains("env=prod"))),
        "{rec}"
    );
    let (_, reason, message) = condition(&reported, "InSync").unwrap_or_default();
    ensure!(reason == "DriftDetected", "{reason}: {message}");
    ensure!(message.contains(&account), "{message}");
    or_dump(wait_event(w, &uid, "DriftDetected", &account).await, &[&op]);

    // Three more resyncs read the account (from the subscription's listing: three more walks
    // of the storage account list); nothing but reads goes out.
    or_dump(
        wait_reads(w, "/providers/microsoft.storage/storageaccounts", 3).await,
        &[&op],
    );
    let writes: Vec<String> = w
        .sim
        .requests(&RequestFilter::default())
        .into_iter()
        .skip(from)
        .filter(|r| {
            !r.path.contains("/oauth2/") && !azop_provider::access::is_read(&r.method, &r.path)
        })
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect();
    ensure!(writes.is_empty(), "DetectOnly wrote: {writes:?}");
    let now = w.arm(Method::GET, &path, sb::STORAGE_API, None).await?;
    ensure!(now["tags"]["env"] == "tampered", "left as it is: {now}");

    // Back to Manage: the tag is put back and the correction recorded.
    api.patch(
        "base-images",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"reconcilePolicy": "Manage"}})),
    )
    .await?;
    let corrected = or_dump(
        sb::wait(w, "base-images", "correction recorded", |o| {
            record(&drift_of(o), &account, "Corrected").is_some()
                && record(&drift_of(o), &account, "Detected").is_none()
                && condition(o, "InSync").is_some_and(|(s, _, _)| s == "True")
        })
        .await,
        &[&op],
    );
    ensure!(
        record(&drift_of(&corrected), &account, "Corrected")
            .is_some_and(|r| r["correctedAt"].is_string()),
        "{}",
        corrected.data["status"]["drift"]
    );
    let after = w.arm(Method::GET, &path, sb::STORAGE_API, None).await?;
    ensure!(after["tags"] == before["tags"], "tags restored: {after}");
    Ok(())
}
