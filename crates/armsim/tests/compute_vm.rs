//! Microsoft.Compute virtual machines, managed disks and images.
#![allow(clippy::unwrap_used)]

mod common;
mod network_support;
use azop_armsim::SimConfig;
use common::*;
use network_support::*;
use serde_json::{Value, json};

async fn nic(c: &Client, name: &str) -> String {
    let v = net_id("rg", "virtualNetworks", "vnet");
    if c.call("GET", &q(&v, NET), None).await.status == 404 {
        put_ok(c, &v, NET, vnet_body(&[("a", "10.0.1.0/24")])).await;
    }
    let id = net_id("rg", "networkInterfaces", name);
    put_ok(c, &id, NET, nic_body(&format!("{v}/subnets/a"))).await;
    id
}

fn vm_body(nic: &str, image: Value, delete_option: &str) -> Value {
    json!({"location": "westeurope", "zones": ["2"], "tags": {"role": "cp"}, "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {"imageReference": image,
            "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Premium_LRS"}, "diskSizeGB": 64, "deleteOption": delete_option}},
        "osProfile": {"computerName": "cp-0", "adminUsername": "azop",
            "customData": "I2Nsb3VkLWNvbmZpZwpzZWNyZXQ6IGh1bnRlcjI=",
            "linuxConfiguration": {"disablePasswordAuthentication": true,
                "ssh": {"publicKeys": [{"path": "/home/azop/.ssh/authorized_keys", "keyData": "ssh-ed25519 AAAA"}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic}]}}})
}

fn ubuntu() -> Value {
    json!({"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"})
}

#[tokio::test]
async fn vm_lifecycle_disks_nics_and_secrets() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let n = nic(&c, "nic0").await;
    let vm = cmp_id("rg", "virtualMachines", "cp-0");
    let r = c
        .call("PUT", &q(&vm, CMP), Some(vm_body(&n, ubuntu(), "Delete")))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.header("azure-asyncoperation").is_some());
    assert!(!r.text.contains("customData") && !r.text.contains("I2Nsb3Vk"));
    finish(&c, &r).await;
    let got = c.call("GET", &q(&vm, CMP), None).await;
    assert!(
        !got.text.contains("customData"),
        "customData is never echoed back"
    );
    // ... but the guest sees it, decoded; the inventory never shows it.
    assert_eq!(
        c.sim.vm_custom_data(&vm).as_deref(),
        Some("#cloud-config\nsecret: hunter2")
    );
    assert!(!format!("{:?}", c.sim.inventory()).contains("I2Nsb3Vk"));
    let g = got.json();
    let p = &g["properties"];
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(g["zones"], json!(["2"]));
    assert_eq!(
        p["storageProfile"]["imageReference"]["exactVersion"],
        "1.0.0"
    );
    assert_eq!(
        p["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"],
        "ssh-ed25519 AAAA"
    );
    assert!(p["vmId"].as_str().unwrap().len() == 36);
    let disk = p["storageProfile"]["osDisk"]["managedDisk"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        disk.contains("/providers/Microsoft.Compute/disks/cp-0_OsDisk_1_"),
        "{disk}"
    );
    let inv = c.sim.inventory();
    assert!(!serde_json::to_string(&inv).unwrap().contains("I2Nsb3Vk"));

    // the OS disk exists, attached; the NIC points back
    let d = c.call("GET", &q(&disk, DSK), None).await.json();
    assert_eq!(d["properties"]["diskState"], "Attached");
    assert_eq!(d["managedBy"], vm);
    assert_eq!(d["properties"]["diskSizeGB"], 64);
    assert_eq!(d["zones"], json!(["2"]));
    let nj = c.call("GET", &q(&n, NET), None).await.json();
    assert_eq!(nj["properties"]["virtualMachine"]["id"], vm);
    let (s, code) = delete_err(&c, &n, NET).await;
    assert_eq!((s, code.as_str()), (400, "NicInUse"));
    let (s, code) = delete_err(&c, &disk, DSK).await;
    assert_eq!((s, code.as_str()), (409, "OperationNotAllowed"));

    // instance view, as a GET and as $expand
    let iv = c
        .call("GET", &q(&format!("{vm}/instanceView"), CMP), None)
        .await;
    assert_eq!(iv.status, 200, "{}", iv.text);
    let codes: Vec<String> = iv.json()["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes, ["ProvisioningState/succeeded", "PowerState/running"]);
    let ex = c
        .call(
            "GET",
            &format!("{vm}?api-version={CMP}&$expand=instanceView"),
            None,
        )
        .await
        .json();
    assert_eq!(
        ex["properties"]["instanceView"]["statuses"][1]["code"],
        "PowerState/running"
    );
    assert!(g["properties"].get("instanceView").is_none());

    // update: tags via PATCH (200), forbidden changes
    let r = c
        .call(
            "PATCH",
            &q(&vm, CMP),
            Some(json!({"tags": {"role": "worker"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    finish(&c, &r).await;
    let mut moved = vm_body(&n, ubuntu(), "Delete");
    moved["zones"] = json!(["3"]);
    assert_eq!(
        put_err(&c, &vm, CMP, moved).await,
        (409, "PropertyChangeNotAllowed".into())
    );
    let mut renamed = vm_body(&n, ubuntu(), "Delete");
    renamed["properties"]["osProfile"]["adminUsername"] = json!("root2");
    assert_eq!(
        put_err(&c, &vm, CMP, renamed).await.1,
        "PropertyChangeNotAllowed"
    );
    let list = c.call("GET", &q(&format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"), CMP), None).await.json();
    assert_eq!(list["value"][0]["tags"]["role"], "worker");

    // delete: the OS disk goes with it (deleteOption Delete), the NIC stays and is free
    delete_ok(&c, &vm, CMP).await;
    assert_eq!(c.call("GET", &q(&disk, DSK), None).await.status, 404);
    let nj = c.call("GET", &q(&n, NET), None).await.json();
    assert!(nj["properties"].get("virtualMachine").is_none());

    // deleteOption Detach keeps the disk, Unattached
    let r = put_ok(&c, &vm, CMP, vm_body(&n, ubuntu(), "Detach")).await;
    let disk = r["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    delete_ok(&c, &vm, CMP).await;
    let d = c.call("GET", &q(&disk, DSK), None).await.json();
    assert_eq!(d["properties"]["diskState"], "Unattached");
    assert!(d.get("managedBy").is_none());
    delete_ok(&c, &disk, DSK).await;
}

#[tokio::test]
async fn vm_references_are_checked() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let n = nic(&c, "nic0").await;
    let vm = cmp_id("rg", "virtualMachines", "vm");
    let (s, code) = put_err(
        &c,
        &vm,
        CMP,
        vm_body(
            &net_id("rg", "networkInterfaces", "none"),
            ubuntu(),
            "Delete",
        ),
    )
    .await;
    assert_eq!((s, code.as_str()), (404, "NotFound"));
    let (s, code) = put_err(
        &c,
        &vm,
        CMP,
        vm_body(&n, json!({"id": cmp_id("rg", "images", "none")}), "Delete"),
    )
    .await;
    assert_eq!((s, code.as_str()), (404, "NotFound"));
    let (s, code) = put_err(
        &c,
        &vm,
        CMP,
        vm_body(&n, json!({"publisher": "Canonical"}), "Delete"),
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "InvalidParameter"));
    let mut b = vm_body(&n, ubuntu(), "Delete");
    b["properties"]["hardwareProfile"] = json!({});
    assert_eq!(put_err(&c, &vm, CMP, b).await.1, "InvalidParameter");
    let mut b = vm_body(&n, ubuntu(), "Delete");
    b["properties"]["osProfile"]["customData"] = json!("not base64!!");
    assert_eq!(put_err(&c, &vm, CMP, b).await.1, "InvalidParameter");
    let mut b = vm_body(&n, ubuntu(), "Delete");
    b["zones"] = json!(["4"]);
    assert_eq!(put_err(&c, &vm, CMP, b).await.1, "InvalidParameter");
    put_ok(&c, &vm, CMP, vm_body(&n, ubuntu(), "Delete")).await;
    // one NIC, one VM
    let (s, code) = put_err(
        &c,
        &cmp_id("rg", "virtualMachines", "vm2"),
        CMP,
        vm_body(&n, ubuntu(), "Delete"),
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "NicInUse"));
    // missing resource group
    let (s, code) = put_err(
        &c,
        &cmp_id("nope", "virtualMachines", "vm"),
        CMP,
        vm_body(&n, ubuntu(), "Delete"),
    )
    .await;
    assert_eq!((s, code.as_str()), (404, "ResourceGroupNotFound"));
    // unsupported api-version
    let r = c.call("GET", &q(&vm, "2015-01-01"), None).await;
    assert_eq!(r.code(), "NoRegisteredProviderFound");
    for v in ["2024-07-01", "2026-04-01"] {
        assert_eq!(c.call("GET", &q(&vm, v), None).await.status, 200, "{v}");
    }
}

#[tokio::test]
async fn disks_and_images() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let d = cmp_id("rg", "disks", "data0");
    let (s, code) = put_err(&c, &d, DSK, json!({"location": "westeurope", "properties": {"creationData": {"createOption": "Empty"}}})).await;
    assert_eq!((s, code.as_str()), (400, "InvalidParameter"));
    let r = c
        .call(
            "PUT",
            &q(&d, DSK),
            Some(
                json!({"location": "westeurope", "sku": {"name": "Premium_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 128}}),
            ),
        )
        .await;
    assert_eq!(r.status, 202, "disks answer 202 + Location: {}", r.text);
    assert!(r.header("location").is_some());
    finish(&c, &r).await;
    let g = c.call("GET", &q(&d, DSK), None).await.json();
    assert_eq!(g["properties"]["diskState"], "Unattached");
    assert_eq!(g["properties"]["tier"], "P10");
    assert_eq!(
        g["properties"]["diskSizeBytes"],
        128_i64 * 1024 * 1024 * 1024
    );
    assert_eq!(g["sku"], json!({"name": "Premium_LRS", "tier": "Premium"}));
    let (_, code) = put_err(&c, &d, DSK, json!({"location": "westeurope", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 64}})).await;
    assert_eq!(code, "BadRequest", "disks do not shrink");
    put_ok(&c, &d, DSK, json!({"location": "westeurope", "sku": {"name": "Premium_LRS"}, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 256}})).await;

    // an image from a VHD blob, then a VM from it with the data disk attached
    let img = cmp_id("rg", "images", "node");
    let (s, code) = put_err(&c, &img, CMP, json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized", "blobUri": "not a url"}}}})).await;
    assert_eq!((s, code.as_str()), (400, "InvalidParameter"));
    let (_, code) = put_err(&c, &img, CMP, json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Plan9", "osState": "Generalized", "blobUri": "https://a.blob.core.windows.net/vhds/node.vhd"}}}})).await;
    assert_eq!(code, "InvalidParameter");
    let r = c.call("PUT", &q(&img, CMP), Some(json!({"location": "westeurope", "properties": {"hyperVGeneration": "V2", "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized", "blobUri": "https://a.blob.core.windows.net/vhds/node.vhd", "storageAccountType": "Premium_LRS"}}}}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    finish(&c, &r).await;
    let gi = c.call("GET", &q(&img, CMP), None).await.json();
    assert_eq!(
        gi["properties"]["storageProfile"]["osDisk"]["blobUri"],
        "https://a.blob.core.windows.net/vhds/node.vhd"
    );
    assert_eq!(gi["properties"]["hyperVGeneration"], "V2");

    let n = nic(&c, "nic0").await;
    let vm = cmp_id("rg", "virtualMachines", "w0");
    let mut b = vm_body(&n, json!({"id": img}), "Delete");
    b["properties"]["storageProfile"]["dataDisks"] = json!([{"lun": 0, "createOption": "Attach", "managedDisk": {"id": d}, "deleteOption": "Detach"},
        {"lun": 1, "createOption": "Empty", "diskSizeGB": 32, "deleteOption": "Delete"}]);
    let g = put_ok(&c, &vm, CMP, b).await;
    assert_eq!(
        g["properties"]["storageProfile"]["osDisk"]["osType"],
        "Linux"
    );
    let empty = g["properties"]["storageProfile"]["dataDisks"][1]["managedDisk"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.call("GET", &q(&d, DSK), None).await.json()["properties"]["diskState"],
        "Attached"
    );
    assert_eq!(
        c.call("GET", &q(&empty, DSK), None).await.json()["properties"]["diskState"],
        "Attached"
    );
    // an attached disk cannot join another VM
    let n1 = nic(&c, "nic1").await;
    let mut b2 = vm_body(&n1, ubuntu(), "Delete");
    b2["properties"]["storageProfile"]["dataDisks"] =
        json!([{"lun": 0, "createOption": "Attach", "managedDisk": {"id": d}}]);
    assert_eq!(
        put_err(&c, &cmp_id("rg", "virtualMachines", "w1"), CMP, b2).await,
        (409, "OperationNotAllowed".into())
    );
    delete_ok(&c, &vm, CMP).await;
    assert_eq!(c.call("GET", &q(&empty, DSK), None).await.status, 404);
    assert_eq!(
        c.call("GET", &q(&d, DSK), None).await.json()["properties"]["diskState"],
        "Unattached"
    );
    delete_ok(&c, &d, DSK).await;
    delete_ok(&c, &img, CMP).await;
}
