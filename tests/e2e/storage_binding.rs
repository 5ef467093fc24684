//! StorageBinding end to end: the real `azop` binary (as the chart's ServiceAccount), the real
//! kube-apiserver, azop-armsim with a real Azurite behind its storage accounts, and VHDs made
//! by the real qemu-img. Each sample becomes Ready with the ARM bodies it should send; the VHD's
//! bytes land in Azurite; deleting removes only what azop created.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use azop_e2e::azure_cluster::{OPERATOR_PRINCIPAL, condition, events_for, wait_event};
use azop_e2e::operator::SUBSCRIPTION;
use azop_e2e::storage_binding::*;
use kube::api::DeleteParams;
use reqwest::Method;
use serde_json::{Value, json};

const RG: &str = "rg-platform-prod";

fn cond(o: &kube::api::DynamicObject, t: &str) -> (String, String, String) {
    condition(o, t).unwrap_or_default()
}

/// The default sample, pointed at a VHD in Azurite: the generated account (checked free
/// first, named in status before its PUT) with secure defaults, the container, the VHD
/// copied byte for byte, checked, and an image from it; deleting removes all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_sample_copies_the_vhd_and_makes_an_image() {
    let sw = StorageWorld::new("sb-default").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    let vhd = make_vhd(VhdKind::Fixed, 4).unwrap();
    let url = sw.upload_source("ubuntu.vhd", &vhd).await.unwrap();
    let docs = sample("storagebinding-default.yaml").unwrap();
    let mut sb = binding_of(&docs).unwrap();
    sb["spec"]["vhd"]["sourceUrl"] = json!(url);
    sw.sas_secret("vhd-source-sas", &sw.source_sas())
        .await
        .unwrap();
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    let started = Instant::now();
    let created = create(w, &sb).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let obj = wait_ready(w, "base-images").await.unwrap();
    let ready_after = started.elapsed();

    let account = azop_api::naming::storage_account_name(&uid);
    assert_eq!(obj.data["status"]["storageAccountName"], account.as_str());
    assert_eq!(obj.data["status"]["containerName"], "azop-vhds");
    assert_eq!(obj.data["status"]["accountCreatedByAzop"], true);
    assert_eq!(obj.data["status"]["containerCreatedByAzop"], true);
    assert_eq!(
        obj.data["status"]["azureNames"]["storageAccount"],
        account.as_str()
    );
    assert_eq!(obj.data["status"]["phase"], "Running");
    let vhd_status = &obj.data["status"]["vhd"];
    assert_eq!(vhd_status["state"], "Succeeded", "{vhd_status}");
    assert_eq!(vhd_status["percent"], 100);
    assert_eq!(vhd_status["totalBytes"], vhd.len() as i64);
    let image_id = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Compute/images/base-images-image"
    );
    assert_eq!(
        obj.data["status"]["imageId"].as_str(),
        Some(image_id.as_str())
    );
    assert_eq!(cond(&obj, "NetworkAccessReady").1, "Public");

    // checkNameAvailability came before the account's PUT, and the PUT body is exactly the
    // secure default.
    let calls = operator_calls(w);
    let check = calls
        .iter()
        .position(|(m, p, _, _)| m == "POST" && p.ends_with("/checkNameAvailability"))
        .expect("checkNameAvailability");
    let acct = account_path(RG, &account);
    let put = calls
        .iter()
        .position(|(m, p, _, _)| m == "PUT" && p.eq_ignore_ascii_case(&acct))
        .expect("account PUT");
    assert!(check < put, "checkNameAvailability must come first");
    assert_eq!(
        calls[check].3,
        Some(json!({"name": account, "type": "Microsoft.Storage/storageAccounts"}))
    );
    let body = calls[put].3.clone().unwrap();
    assert_eq!(
        body,
        json!({
            "sku": {"name": "Standard_LRS"},
            "kind": "StorageV2",
            "location": "westeurope",
            "tags": {"azop.dev/owner": format!("StorageBinding/{}/base-images", w.ns), "azop.dev/uid": uid, "department": "finance", "env": "prod"},
            "properties": {
                "supportsHttpsTrafficOnly": true,
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": false,
                "networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow"}
            }
        }),
        "storage account PUT body"
    );
    let container = container_path(RG, &account, "azop-vhds");
    let cput = calls
        .iter()
        .find(|(m, p, _, _)| m == "PUT" && p.eq_ignore_ascii_case(&container))
        .expect("container PUT");
    assert_eq!(
        cput.3,
        Some(
            json!({"properties": {"publicAccess": "None", "metadata": {"azop_owner": format!("StorageBinding/{}/base-images", w.ns), "azop_uid": uid}}})
        )
    );
    let iput = calls
        .iter()
        .find(|(m, p, _, _)| m == "PUT" && p.eq_ignore_ascii_case(&image_id))
        .expect("image PUT");
    let ib = iput.3.clone().unwrap();
    let os = &ib["properties"]["storageProfile"]["osDisk"];
    assert_eq!(os["osType"], "Linux");
    assert_eq!(os["osState"], "Generalized");
    assert_eq!(ib["properties"]["hyperVGeneration"], "V1");
    assert_eq!(os["blobUri"], vhd_status["blobUrl"]);

    // The bytes landed in Azurite, exactly.
    let dst = sw.account_client(RG, &account).await.unwrap();
    let copied = dst.get("azop-vhds", "base.vhd").await.unwrap();
    assert_eq!(copied.len(), vhd.len());
    assert!(copied == vhd, "the copied VHD differs from the source");
    let props = dst.properties("azop-vhds", "base.vhd").await.unwrap();
    assert_eq!(props.blob_type, "PageBlob");

    // Exactly one copy was started, and Events tell its story.
    assert_eq!(op.logs().matches("started the VHD copy").count(), 1);
    wait_event(w, &uid, "CopySucceeded", "copied and checked")
        .await
        .unwrap();
    let events = events_for(w, &uid).await.unwrap();
    assert!(
        !events.iter().any(|(_, n)| n.contains("sig=")),
        "a SAS reached an Event: {events:?}"
    );
    assert!(!op.logs().contains("sig="), "a SAS reached the log");

    // Delete: the image, the blob, the container and the account go; the group stays.
    let started_delete = Instant::now();
    api(w)
        .delete("base-images", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(w, "base-images").await.unwrap();
    let deleted_after = started_delete.elapsed();
    let inv = w.inventory();
    assert!(
        !inv.iter()
            .any(|(t, _)| t.starts_with("microsoft.storage") || t == "microsoft.compute/images"),
        "left behind: {inv:?}"
    );
    assert!(inv.contains(&(
        "microsoft.resources/resourcegroups".into(),
        RG.to_lowercase()
    )));
    eprintln!(
        "timing: default StorageBinding Ready in {:.2?} (4 MiB VHD), deleted in {:.2?}",
        ready_after, deleted_after
    );
    op.kill();
}

/// A name someone else holds moves the binding to the next candidate, the same one every
/// time, recorded before its PUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_account_name_moves_to_the_next_candidate() {
    let sw = StorageWorld::new("sb-collide").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    sw.resource_group("rg-someone-else").await.unwrap();
    let docs = sample("storagebinding-default.yaml").unwrap();
    let mut sb = binding_of(&docs).unwrap();
    sb["spec"].as_object_mut().unwrap().remove("vhd");
    sb["metadata"]["name"] = json!("collide");
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    // The uid is known only once the object exists: hold the operator off with a missing
    // credentials Secret until the first candidate has been taken.
    sb["spec"]["credentialsRef"]["name"] = json!("not-yet");
    let created = create(w, &sb).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    wait_reason(w, "collide", "Ready", "MissingReference")
        .await
        .unwrap();
    let first = azop_api::naming::storage_account_candidate(&uid, 0);
    w.arm(
        Method::PUT,
        &account_path("rg-someone-else", &first),
        STORAGE_API,
        Some(
            json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        ),
    )
    .await
    .unwrap();
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(w.client.clone(), &w.ns);
    let mut creds = secrets
        .get(azop_e2e::operator::CREDENTIALS_SECRET)
        .await
        .unwrap();
    creds.metadata = kube::api::ObjectMeta {
        name: Some("not-yet".into()),
        ..Default::default()
    };
    secrets.create(&Default::default(), &creds).await.unwrap();
    let obj = wait_ready(w, "collide").await.unwrap();
    let second = azop_api::naming::storage_account_candidate(&uid, 1);
    assert_eq!(obj.data["status"]["storageAccountName"], second.as_str());
    // The taken name was asked about, and never written.
    assert!(writes_to(w, &format!("/storageAccounts/{first}")).is_empty());
    let checks: Vec<Value> = operator_calls(w)
        .into_iter()
        .filter(|(m, p, _, _)| m == "POST" && p.ends_with("/checkNameAvailability"))
        .filter_map(|c| c.3)
        .collect();
    assert_eq!(checks[0]["name"], first.as_str());
    assert_eq!(checks[1]["name"], second.as_str());
    // The someone-else account is untouched after our delete.
    api(w)
        .delete("collide", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(w, "collide").await.unwrap();
    w.arm(
        Method::GET,
        &account_path("rg-someone-else", &first),
        STORAGE_API,
        None,
    )
    .await
    .unwrap();
    op.kill();
}

/// VnetRestricted: a subnet without the Microsoft.Storage service endpoint is named in the
/// condition and nothing is written; once the endpoint is added, the account gets default
/// action Deny and a rule per subnet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vnet_restricted_sample_needs_the_service_endpoint() {
    let sw = StorageWorld::new("sb-vnet").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    sw.resource_group("rg-network-hub").await.unwrap();
    build_vnet(
        w,
        "rg-network-hub",
        "vnet-spoke-weu",
        &[("snet-k8s-nodes", true)],
    )
    .await
    .unwrap();
    build_vnet(w, "rg-network-hub", "vnet-hub", &[("snet-gateway", false)])
        .await
        .unwrap();
    let docs = sample("storagebinding-vnet-restricted.yaml").unwrap();
    let mut sb = binding_of(&docs).unwrap();
    let vhd = make_vhd(VhdKind::Fixed, 2).unwrap();
    sb["spec"]["vhd"]["sourceUrl"] = json!(format!(
        "{}?{}",
        sw.upload_source("base.vhd", &vhd).await.unwrap(),
        sw.source_sas()
    ));
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    create(w, &sb).await.unwrap();
    let obj = wait_reason(
        w,
        "images-vnet-only",
        "Ready",
        "SubnetMissingServiceEndpoint",
    )
    .await
    .unwrap();
    let (_, _, message) = cond(&obj, "Ready");
    assert!(
        message.contains("vnet-hub/subnets/snet-gateway"),
        "{message}"
    );
    assert!(!message.contains("snet-k8s-nodes"), "{message}");
    assert!(
        writes_to(w, "Microsoft.Storage/storageAccounts/").is_empty(),
        "nothing may be written while a subnet is wrong"
    );
    build_vnet(w, "rg-network-hub", "vnet-hub", &[("snet-gateway", true)])
        .await
        .unwrap();
    let obj = wait_ready(w, "images-vnet-only").await.unwrap();
    let account = obj.data["status"]["storageAccountName"]
        .as_str()
        .unwrap()
        .to_string();
    let put = writes_to(w, &account_path(RG, &account))
        .into_iter()
        .find(|(m, _, _, _)| m == "PUT")
        .unwrap();
    let acls = &put.3.unwrap()["properties"]["networkAcls"];
    assert_eq!(acls["defaultAction"], "Deny");
    let rules: Vec<&str> = acls["virtualNetworkRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules.iter().any(|r| r.ends_with("/snet-k8s-nodes")));
    assert_eq!(cond(&obj, "NetworkAccessReady").1, "VnetRestricted");
    op.kill();
}

/// Private: public network access off, a private endpoint in the hub subnet with its DNS zone
/// group, the zone linked to the VNet, both marked shared. Delete removes the endpoint and
/// account; the shared zone and its link stay while another binding uses them and go with the
/// last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_sample_gets_an_endpoint_and_dns() {
    let sw = StorageWorld::new("sb-private").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    sw.resource_group("rg-network-hub").await.unwrap();
    build_vnet(
        w,
        "rg-network-hub",
        "vnet-hub",
        &[("snet-private-endpoints", false)],
    )
    .await
    .unwrap();
    let docs = sample("storagebinding-private.yaml").unwrap();
    let mut sb = binding_of(&docs).unwrap();
    let vhd = make_vhd(VhdKind::Fixed, 2).unwrap();
    sb["spec"]["vhd"]["sourceUrl"] = json!(format!(
        "{}?{}",
        sw.upload_source("base.vhd", &vhd).await.unwrap(),
        sw.source_sas()
    ));
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    create(w, &sb).await.unwrap();
    let obj = wait_ready(w, "images-private").await.unwrap();
    let account = obj.data["status"]["storageAccountName"]
        .as_str()
        .unwrap()
        .to_string();
    let put = writes_to(w, &account_path(RG, &account))
        .into_iter()
        .find(|(m, _, _, _)| m == "PUT")
        .unwrap()
        .3
        .unwrap();
    assert_eq!(put["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(put["properties"]["networkAcls"]["defaultAction"], "Deny");
    let pe_name = format!("{account}-blob-pe");
    let pe_path = format!(
        "{}/providers/Microsoft.Network/privateEndpoints/{pe_name}",
        rg_path(RG)
    );
    let pe = writes_to(w, &pe_path)
        .into_iter()
        .find(|(m, p, _, _)| m == "PUT" && p.eq_ignore_ascii_case(&pe_path))
        .unwrap()
        .3
        .unwrap();
    let subnet = sb["spec"]["networkAccess"]["privateEndpointSubnetId"]
        .as_str()
        .unwrap();
    assert_eq!(pe["properties"]["subnet"]["id"], subnet);
    let conn = &pe["properties"]["privateLinkServiceConnections"][0]["properties"];
    assert_eq!(conn["groupIds"], json!(["blob"]));
    assert!(
        conn["privateLinkServiceId"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&account_path(RG, &account))
    );
    let zone = format!(
        "{}/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net",
        rg_path(RG)
    );
    let group = writes_to(w, &format!("{pe_path}/privateDnsZoneGroups/default"))
        .into_iter()
        .find(|(m, _, _, _)| m == "PUT")
        .unwrap()
        .3
        .unwrap();
    assert!(
        group["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&zone)
    );
    let link = writes_to(w, &format!("{zone}/virtualNetworkLinks/vnet-hub"))
        .into_iter()
        .find(|(m, _, _, _)| m == "PUT")
        .unwrap()
        .3
        .unwrap();
    assert!(
        link["properties"]["virtualNetwork"]["id"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&vnet_path("rg-network-hub", "vnet-hub"))
    );
    // The endpoint's A record is in the zone.
    let inv = w.inventory();
    assert!(
        inv.contains(&(
            "microsoft.network/privatednszones/a".into(),
            account.clone()
        )),
        "{inv:?}"
    );
    assert_eq!(cond(&obj, "NetworkAccessReady").1, "Private");

    // The shared zone and link claim no owner: marked shared, no binding's uid.
    for path in [zone.clone(), format!("{zone}/virtualNetworkLinks/vnet-hub")] {
        let put = writes_to(w, &path)
            .into_iter()
            .find(|(m, p, _, _)| m == "PUT" && p.eq_ignore_ascii_case(&path))
            .unwrap()
            .3
            .unwrap();
        assert_eq!(put["tags"]["azop.dev/shared"], "true", "{put}");
        assert!(put["tags"].get("azop.dev/uid").is_none(), "{put}");
        assert!(put["tags"].get("azop.dev/owner").is_none(), "{put}");
    }

    // A second binding resolves through the same zone.
    let mut second = sb.clone();
    second["metadata"]["name"] = json!("images-private-2");
    create(w, &second).await.unwrap();
    let obj2 = wait_ready(w, "images-private-2").await.unwrap();
    let account2 = obj2.data["status"]["storageAccountName"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(account, account2);

    api(w)
        .delete("images-private", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(w, "images-private").await.unwrap();
    let inv = w.inventory();
    assert!(
        !inv.iter()
            .any(|(t, n)| t == "microsoft.storage/storageaccounts" && *n == account),
        "{inv:?}"
    );
    assert!(
        inv.iter()
            .any(|(t, _)| t == "microsoft.network/privatednszones"),
        "the zone stays while another binding uses it: {inv:?}"
    );
    assert!(
        inv.iter()
            .any(|(t, _)| t == "microsoft.network/privatednszones/virtualnetworklinks")
    );

    // The last user goes: so do the zone and its link.
    api(w)
        .delete("images-private-2", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(w, "images-private-2").await.unwrap();
    let inv = w.inventory();
    for gone in [
        "microsoft.network/privateendpoints",
        "microsoft.storage/storageaccounts",
        "microsoft.compute/images",
        "microsoft.network/privatednszones",
        "microsoft.network/privatednszones/virtualnetworklinks",
    ] {
        assert!(!inv.iter().any(|(t, _)| t == gone), "{gone} left: {inv:?}");
    }
    op.kill();
}

/// Custom: an existing account and container are attached (checked, never written), the VHD
/// is copied from the same account without a SAS, and deleting leaves them as they were.
/// A missing custom account is a condition before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_account_is_attached_and_left_untouched() {
    let sw = StorageWorld::new("sb-custom").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    let docs = sample("storagebinding-custom.yaml").unwrap();
    let sb = binding_of(&docs).unwrap();
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    // First without the account: a condition, no write.
    create(w, &sb).await.unwrap();
    let obj = wait_reason(
        w,
        "images-existing-account",
        "Ready",
        "StorageAccountNotFound",
    )
    .await
    .unwrap();
    assert!(cond(&obj, "Ready").2.contains("contosoimages01"));
    assert!(
        writes_to(w, "/providers/").is_empty(),
        "{:?}",
        writes_to(w, "/providers/")
    );
    api(w)
        .delete("images-existing-account", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(w, "images-existing-account").await.unwrap();

    // The user's account, container and source VHD.
    sw.resource_group("rg-shared-storage").await.unwrap();
    let acct = account_path("rg-shared-storage", "contosoimages01");
    w.arm(
        Method::PUT,
        &acct,
        STORAGE_API,
        Some(json!({"location": "westeurope", "sku": {"name": "Standard_GRS"}, "kind": "StorageV2", "tags": {"owner": "storage-team"},
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false}})),
    )
    .await
    .unwrap();
    for c in ["k8s-base-images", "staging"] {
        w.arm(
            Method::PUT,
            &container_path("rg-shared-storage", "contosoimages01", c),
            STORAGE_API,
            Some(json!({"properties": {}})),
        )
        .await
        .unwrap();
    }
    let before = w.arm(Method::GET, &acct, STORAGE_API, None).await.unwrap();
    let user = sw
        .account_client("rg-shared-storage", "contosoimages01")
        .await
        .unwrap();
    let vhd = make_vhd(VhdKind::Fixed, 3).unwrap();
    upload(&user, "staging", "ubuntu-2404.vhd", &vhd)
        .await
        .unwrap();
    let mut sb = sb.clone();
    sb["spec"]["vhd"]["sourceUrl"] = json!(user.url("staging/ubuntu-2404.vhd"));
    let started = Instant::now();
    create(w, &sb).await.unwrap();
    let obj = wait_ready(w, "images-existing-account").await.unwrap();
    eprintln!(
        "timing: custom-account StorageBinding Ready in {:.2?} (3 MiB VHD)",
        started.elapsed()
    );
    assert_eq!(obj.data["status"]["accountCreatedByAzop"], false);
    assert_eq!(obj.data["status"]["containerCreatedByAzop"], false);
    assert_eq!(obj.data["status"]["storageAccountName"], "contosoimages01");
    let copied = user
        .get("k8s-base-images", "ubuntu/2404/k8s-1.37.vhd")
        .await
        .unwrap();
    assert!(copied == vhd, "copied bytes differ");
    // Never written: no PUT, PATCH or DELETE on the account or its containers.
    let touched = writes_to(w, &acct);
    assert!(
        touched
            .iter()
            .all(|(m, p, _, _)| m == "POST" && p.ends_with("/listKeys")),
        "{touched:?}"
    );

    api(w)
        .delete("images-existing-account", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(w, "images-existing-account").await.unwrap();
    let after = w.arm(Method::GET, &acct, STORAGE_API, None).await.unwrap();
    assert_eq!(before, after, "the user's account changed");
    w.arm(
        Method::GET,
        &container_path("rg-shared-storage", "contosoimages01", "k8s-base-images"),
        STORAGE_API,
        None,
    )
    .await
    .unwrap();
    // The blob azop copied is gone, the user's source stays.
    assert!(
        user.properties("k8s-base-images", "ubuntu/2404/k8s-1.37.vhd")
            .await
            .is_err()
    );
    user.properties("staging", "ubuntu-2404.vhd").await.unwrap();
    assert!(
        !w.inventory()
            .iter()
            .any(|(t, _)| t == "microsoft.compute/images")
    );
    op.kill();
}

/// What Azure would refuse later is refused first: a dynamic VHD and one that is not a whole
/// number of MiB get VhdReady=False with the reason, and no image is attempted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vhd_azure_cannot_use_is_refused_before_the_image() {
    let sw = StorageWorld::new("sb-badvhd").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    let docs = sample("storagebinding-default.yaml").unwrap();
    sw.sas_secret("vhd-source-sas", &sw.source_sas())
        .await
        .unwrap();
    for (name, kind, needle) in [
        ("dynamic", VhdKind::Dynamic, "dynamic"),
        ("unaligned", VhdKind::FixedUnaligned, "whole number of MiB"),
    ] {
        let vhd = make_vhd(kind, 2).unwrap();
        let url = sw
            .upload_source(&format!("{name}.vhd"), &vhd)
            .await
            .unwrap();
        let mut sb = binding_of(&docs).unwrap();
        sb["metadata"]["name"] = json!(name);
        sb["spec"]["vhd"]["sourceUrl"] = json!(url);
        create(w, &sb).await.unwrap();
        let obj = wait_reason(w, name, "VhdReady", "VhdInvalid")
            .await
            .unwrap();
        let (status, _, message) = cond(&obj, "VhdReady");
        assert_eq!(status, "False");
        assert!(message.contains(needle), "{message}");
        assert_eq!(obj.data["status"]["vhd"]["state"], "Failed");
        assert!(obj.data["status"].get("imageId").is_none());
        assert!(writes_to(w, &format!("/images/{name}-image")).is_empty());
    }
    op.kill();
}

/// A source that does not exist and a SAS that expired each end in a condition that says
/// so, with Azure's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_source_and_expired_sas_are_conditions() {
    let sw = StorageWorld::new("sb-badsrc").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    let vhd = make_vhd(VhdKind::Fixed, 2).unwrap();
    let url = sw.upload_source("base.vhd", &vhd).await.unwrap();
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    let docs = sample("storagebinding-default.yaml").unwrap();

    let mut missing = binding_of(&docs).unwrap();
    missing["metadata"]["name"] = json!("missing-source");
    missing["spec"]["vhd"]["sourceUrl"] = json!(url.replace("base.vhd", "nope.vhd"));
    missing["spec"]["vhd"]["sourceSasSecretRef"]["name"] = json!("good-sas");
    sw.sas_secret("good-sas", &sw.source_sas()).await.unwrap();
    create(w, &missing).await.unwrap();
    let obj = wait(
        w,
        "missing-source",
        "VhdReady False with Azure's reason",
        |o| {
            condition(o, "VhdReady")
                .is_some_and(|c| c.0 == "False" && c.2.contains("start blob copy"))
        },
    )
    .await
    .unwrap();
    let msg = cond(&obj, "VhdReady").2;
    assert!(!msg.contains("sig="), "the SAS is in the condition: {msg}");

    let mut expired = binding_of(&docs).unwrap();
    expired["metadata"]["name"] = json!("expired-sas");
    expired["spec"]["vhd"]["sourceUrl"] = json!(url);
    expired["spec"]["vhd"]["sourceSasSecretRef"]["name"] = json!("old-sas");
    let old = sw
        .source
        .account_sas_until("r", chrono::Utc::now() - chrono::Duration::hours(1));
    sw.sas_secret("old-sas", &old).await.unwrap();
    create(w, &expired).await.unwrap();
    let obj = wait(w, "expired-sas", "VhdReady False", |o| {
        condition(o, "VhdReady").is_some_and(|c| c.0 == "False" && c.2.contains("start blob copy"))
    })
    .await
    .unwrap();
    let msg = cond(&obj, "VhdReady").2;
    assert!(!msg.contains("sig="), "the SAS is in the condition: {msg}");
    eprintln!("expired SAS: {msg}");
    // A fresh SAS in the same Secret heals it without touching the spec.
    sw.sas_secret("old-sas", &sw.source_sas()).await.unwrap();
    wait_ready(w, "expired-sas").await.unwrap();
    assert!(!op.logs().contains("sig="), "a SAS reached the log");
    op.kill();
}

/// SIGKILL right after the copy started: the next operator finds the copy (by reading the
/// destination blob) and goes on; no second Copy Blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_operator_resumes_the_copy_without_a_second_one() {
    let sw = StorageWorld::new("sb-kill").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    let vhd = make_vhd(VhdKind::Fixed, 4).unwrap();
    let url = sw.upload_source("base.vhd", &vhd).await.unwrap();
    sw.sas_secret("vhd-source-sas", &sw.source_sas())
        .await
        .unwrap();
    let docs = sample("storagebinding-default.yaml").unwrap();
    let mut sb = binding_of(&docs).unwrap();
    sb["spec"]["vhd"]["sourceUrl"] = json!(url);
    let mut a = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    create(w, &sb).await.unwrap();
    azop_e2e::azure_cluster::wait_log(&a, "started the VHD copy", TIMEOUT)
        .await
        .unwrap();
    a.kill();
    let mut b = w
        .start_operator("b", &["--controllers", "storagebinding"])
        .unwrap();
    let obj = wait_ready(w, "base-images").await.unwrap();
    let copies = a.logs().matches("started the VHD copy").count()
        + b.logs().matches("started the VHD copy").count();
    assert_eq!(copies, 1, "the copy was started again after the restart");
    let account = obj.data["status"]["storageAccountName"].as_str().unwrap();
    let dst = sw.account_client(RG, account).await.unwrap();
    assert!(dst.get("azop-vhds", "base.vhd").await.unwrap() == vhd);
    assert!(obj.data["status"]["vhd"]["copyId"].is_string());
    b.kill();
    let _ = OPERATOR_PRINCIPAL;
    let _ = Duration::ZERO;
}

/// Bindings with fixed VHDs of 4, 32 and 128 MiB each become Ready and are deleted; the
/// create-to-Ready and copy times it prints are the figures in docs/benchmarks.md
/// (`cargo test -p azop-e2e --test storage_binding -- --nocapture vhds_of_several_sizes`).
/// Times are printed, never asserted: these machines are noisy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vhds_of_several_sizes_become_ready_with_their_times() {
    let sw = StorageWorld::new("sb-measure").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    sw.sas_secret("vhd-source-sas", &sw.source_sas())
        .await
        .unwrap();
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    let docs = sample("storagebinding-default.yaml").unwrap();
    for mib in [4usize, 32, 128] {
        let vhd = make_vhd(VhdKind::Fixed, mib).unwrap();
        let url = sw
            .upload_source(&format!("m{mib}.vhd"), &vhd)
            .await
            .unwrap();
        let name = format!("measure-{mib}");
        let mut sb = binding_of(&docs).unwrap();
        sb["metadata"]["name"] = json!(name);
        sb["spec"]["vhd"]["sourceUrl"] = json!(url);
        let t0 = Instant::now();
        create(w, &sb).await.unwrap();
        wait(w, &name, "account ready", |o| {
            condition(o, "StorageAccountReady").is_some_and(|c| c.0 == "True")
        })
        .await
        .unwrap();
        let account = t0.elapsed();
        wait(w, &name, "VHD copied", |o| {
            condition(o, "VhdReady").is_some_and(|c| c.0 == "True")
        })
        .await
        .unwrap();
        let copied = t0.elapsed();
        wait_ready(w, &name).await.unwrap();
        let ready = t0.elapsed();
        let t1 = Instant::now();
        api(w)
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
        wait_gone(w, &name).await.unwrap();
        eprintln!(
            "measure: {mib} MiB VHD: account+container {:.2?}, copied+checked {:.2?} (copy {:.2?}), Ready {:.2?}, deleted {:.2?}",
            account,
            copied,
            copied - account,
            ready,
            t1.elapsed()
        );
    }
    op.kill();
}

/// deletionPolicy Orphan: deleting the binding deletes nothing. The account, the container,
/// the copied VHD and the image stay, as they were, without azop's marks (the tags through
/// the Tags API, the container's and the blob's metadata); the user's own tags stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_binding_leaves_everything_without_its_marks() {
    let sw = StorageWorld::new("sb-orphan").await.unwrap();
    let w = &sw.world;
    sw.resource_group(RG).await.unwrap();
    let vhd = make_vhd(VhdKind::Fixed, 2).unwrap();
    let url = sw.upload_source("ubuntu.vhd", &vhd).await.unwrap();
    let docs = sample("storagebinding-default.yaml").unwrap();
    let mut sb = binding_of(&docs).unwrap();
    sb["spec"]["vhd"]["sourceUrl"] = json!(url);
    sb["spec"]["deletionPolicy"] = json!("Orphan");
    sw.sas_secret("vhd-source-sas", &sw.source_sas())
        .await
        .unwrap();
    let mut op = w
        .start_operator("a", &["--controllers", "storagebinding"])
        .unwrap();
    let created = create(w, &sb).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    wait_ready(w, "base-images").await.unwrap();
    let account = azop_api::naming::storage_account_name(&uid);
    let acct = account_path(RG, &account);
    let image = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Compute/images/base-images-image"
    );
    let container = container_path(RG, &account, "azop-vhds");
    let acct_before = w.arm(Method::GET, &acct, STORAGE_API, None).await.unwrap();
    let dst = sw.account_client(RG, &account).await.unwrap();
    let blob_before = dst.properties("azop-vhds", "base.vhd").await.unwrap();
    assert_eq!(
        blob_before.metadata.get("azop_uid").map(String::as_str),
        Some(uid.as_str())
    );
    let writes_before = operator_calls(w)
        .iter()
        .filter(|(m, _, _, _)| m != "GET")
        .count();

    api(w)
        .delete("base-images", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(w, "base-images").await.unwrap();

    let writes: Vec<(String, String)> = operator_calls(w)
        .into_iter()
        .filter(|(m, _, _, _)| m != "GET")
        .skip(writes_before)
        .map(|(m, p, _, _)| (m, p))
        .collect();
    assert!(
        !writes.iter().any(|(m, _)| m == "DELETE"),
        "nothing deleted: {writes:?}"
    );
    let acct_after = w.arm(Method::GET, &acct, STORAGE_API, None).await.unwrap();
    assert!(
        acct_after["tags"].get("azop.dev/uid").is_none(),
        "{acct_after}"
    );
    assert!(
        acct_after["tags"].get("azop.dev/owner").is_none(),
        "{acct_after}"
    );
    assert_eq!(acct_after["tags"]["department"], "finance");
    assert_eq!(acct_after["sku"], acct_before["sku"]);
    assert_eq!(
        acct_after["properties"]["networkAcls"],
        acct_before["properties"]["networkAcls"]
    );
    let img = w
        .arm(Method::GET, &image, "2024-07-01", None)
        .await
        .unwrap();
    assert!(img["tags"].get("azop.dev/uid").is_none(), "{img}");
    assert_eq!(img["tags"]["env"], "prod");
    let c = w
        .arm(Method::GET, &container, STORAGE_API, None)
        .await
        .unwrap();
    let meta = &c["properties"]["metadata"];
    assert!(
        meta.get("azop_uid").is_none() && meta.get("azop_owner").is_none(),
        "{c}"
    );
    let blob_after = dst.properties("azop-vhds", "base.vhd").await.unwrap();
    assert!(blob_after.metadata.is_empty(), "{:?}", blob_after.metadata);
    assert_eq!(blob_after.length, blob_before.length);
    assert_eq!(blob_after.copy_status, blob_before.copy_status);
    let copied = dst.get("azop-vhds", "base.vhd").await.unwrap();
    assert!(copied == vhd, "the orphaned VHD changed");
    let events = events_for(w, &uid).await.unwrap();
    assert!(events.iter().any(|(r, _)| r == "Orphaned"), "{events:?}");
    op.kill();
}
