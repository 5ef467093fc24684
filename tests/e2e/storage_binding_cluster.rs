//! `config/samples/azurecluster-dynamic.yaml` with its StorageBinding (`base-images`, the
//! default sample): the cluster waits for the binding's image, then every VM boots from it;
//! the binding is not deleted while the cluster uses it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use azop_e2e::azure_cluster::{self as ac, VM_TYPE, by_type, condition};
use azop_e2e::storage_binding::*;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

const RG: &str = "rg-platform-prod";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_cluster_boots_from_the_binding_image_and_holds_its_deletion() {
    let sw = StorageWorld::new("sb-cluster").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    let mut op = w
        .start_operator("a", &["--controllers", "azurecluster,storagebinding"])
        .unwrap();
    // The cluster first: it waits for a binding that does not exist yet.
    let cluster_docs = sample("azurecluster-dynamic.yaml").unwrap();
    let cluster = cluster_docs
        .iter()
        .find(|d| d["kind"] == "AzureCluster")
        .cloned()
        .unwrap();
    let obj: kube::api::DynamicObject = azop_e2e::objects::to_dynamic(&cluster, &w.ns).unwrap();
    ac::api(w)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
    let waiting = ac::wait_object(w, "prod-weu", "waiting for the binding", TIMEOUT, |o| {
        condition(o, "Ready")
            .is_some_and(|c| c.1 == "MissingReference" && c.2.contains("base-images"))
    })
    .await
    .unwrap();
    assert!(
        waiting.data["status"]
            .get("nodes")
            .is_none_or(|n| n.as_array().is_none_or(|a| a.is_empty()))
    );

    let vhd = make_vhd(VhdKind::Fixed, 4).unwrap();
    let url = sw.upload_source("ubuntu.vhd", &vhd).await.unwrap();
    let mut sb = binding_of(&sample("storagebinding-default.yaml").unwrap()).unwrap();
    sb["spec"]["vhd"]["sourceUrl"] = json!(url);
    sw.sas_secret("vhd-source-sas", &sw.source_sas())
        .await
        .unwrap();
    let started = Instant::now();
    create(w, &sb).await.unwrap();
    let binding = wait_ready(w, "base-images").await.unwrap();
    let image_id = binding.data["status"]["imageId"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster = ac::wait_ready(w, "prod-weu").await.unwrap();
    eprintln!(
        "timing: binding + 6-VM cluster Ready {:.2?} after the binding was created",
        started.elapsed()
    );
    assert_eq!(cluster.data["status"]["nodes"].as_array().unwrap().len(), 6);
    let inv = w.sim.inventory();
    let vms = by_type(&inv, VM_TYPE);
    assert_eq!(vms.len(), 6);
    for vm in vms {
        let id = vm
            .pointer("/properties/storageProfile/imageReference/id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        assert!(
            id.eq_ignore_ascii_case(&image_id),
            "{} boots from {id:?}",
            vm["name"]
        );
    }

    // In use: the binding's deletion waits, naming the cluster.
    api(w)
        .delete("base-images", &DeleteParams::default())
        .await
        .unwrap();
    let held = wait_reason(w, "base-images", "Ready", "InUse")
        .await
        .unwrap();
    let (_, _, message) = condition(&held, "Ready").unwrap();
    assert!(message.contains("prod-weu"), "{message}");
    assert!(
        !w.inventory()
            .iter()
            .all(|(t, _)| t != "microsoft.compute/images"),
        "the image must stay while the cluster uses it"
    );
    assert!(
        writes_to(w, "/images/")
            .iter()
            .all(|(m, _, _, _)| m != "DELETE")
    );

    // Once the cluster is gone, the binding goes too.
    ac::api(w)
        .delete("prod-weu", &DeleteParams::default())
        .await
        .unwrap();
    ac::wait_gone(w, "prod-weu").await.unwrap();
    wait_gone(w, "base-images").await.unwrap();
    let inv = w.inventory();
    assert!(
        !inv.iter()
            .any(|(t, _)| t.starts_with("microsoft.storage") || t.starts_with("microsoft.compute")),
        "left behind: {inv:?}"
    );
    op.kill();
}
