//! AzureCluster end to end: the real `azop` binary, the real kube-apiserver, azop-armsim.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use azop_armsim::SimConfig;
use azop_e2e::operator::{CREDENTIALS_SECRET, SUBSCRIPTION, World};
use azop_testenv::{Check, wait_for};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);

fn api(world: &World) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", "AzureCluster"),
        "azureclusters",
    );
    Api::namespaced_with(world.client.clone(), &world.ns, &ar)
}

fn cluster(name: &str, rg: &str, workers: i64) -> Value {
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

async fn create(world: &World, manifest: Value) -> DynamicObject {
    let obj: DynamicObject = serde_json::from_value(manifest).unwrap();
    api(world)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap()
}

fn condition(obj: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
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

async fn wait_ready(world: &World, name: &str) -> DynamicObject {
    let api = api(world);
    wait_for(format!("{name} Ready"), TIMEOUT, || async {
        match api.get(name).await {
            Ok(o) if condition(&o, "Ready").is_some_and(|c| c.0 == "True") => Check::Done(o),
            Ok(o) => Check::Pending(format!("{:?}", o.data.pointer("/status/conditions"))),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .unwrap()
}

async fn wait_gone(world: &World, name: &str) {
    let api = api(world);
    wait_for(format!("{name} deleted"), TIMEOUT, || async {
        match api.get_opt(name).await {
            Ok(None) => Check::Done(()),
            Ok(Some(o)) => Check::Pending(format!("{:?}", o.data.pointer("/status/conditions"))),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .unwrap()
}

fn by_type<'a>(inv: &'a [Value], t: &str) -> Vec<&'a Value> {
    inv.iter()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(t))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_converges_to_exactly_the_expected_resources_then_delete_removes_them() {
    let world = World::new("azc-create", SimConfig::default())
        .await
        .unwrap();
    let mut op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let created = create(&world, cluster("prod", "rg-e2e-create", 2)).await;
    let uid = created.metadata.uid.clone().unwrap();
    let obj = wait_ready(&world, "prod").await;

    // Exactly the expected set.
    let inv = world.sim.inventory();
    let count = |t: &str| by_type(&inv, t).len();
    assert_eq!(count("Microsoft.Resources/resourceGroups"), 1);
    assert_eq!(count("Microsoft.Network/networkSecurityGroups"), 2);
    assert_eq!(count("Microsoft.Network/publicIPAddresses"), 2);
    assert_eq!(count("Microsoft.Network/natGateways"), 1);
    assert_eq!(count("Microsoft.Network/virtualNetworks"), 1);
    assert_eq!(count("Microsoft.Network/loadBalancers"), 1);
    assert_eq!(count("Microsoft.Network/networkInterfaces"), 5);
    assert_eq!(count("Microsoft.Compute/virtualMachines"), 5);
    // Every resource carries our ownership tags and the user's.
    for r in inv
        .iter()
        .filter(|r| r.get("tags").is_some() && !r["type"].as_str().unwrap().contains("/subnets"))
    {
        assert_eq!(r["tags"]["azop.dev/uid"], uid.as_str(), "{}", r["id"]);
        assert_eq!(
            r["tags"]["azop.dev/owner"],
            format!("AzureCluster/{}/prod", world.ns),
            "{}",
            r["id"]
        );
        assert_eq!(r["tags"]["env"], "e2e", "{}", r["id"]);
    }
    // Zones: round-robin.
    let zone_of = |name: &str| {
        by_type(&inv, "Microsoft.Compute/virtualMachines")
            .into_iter()
            .find(|v| v["name"] == name)
            .map(|v| v["zones"][0].as_str().unwrap_or_default().to_string())
            .unwrap()
    };
    assert_eq!(
        [
            zone_of("prod-cp-0"),
            zone_of("prod-cp-1"),
            zone_of("prod-cp-2")
        ],
        ["1", "2", "3"]
    );
    assert_eq!(
        [zone_of("prod-general-0"), zone_of("prod-general-1")],
        ["1", "2"]
    );
    // No public IP on any NIC.
    for nic in by_type(&inv, "Microsoft.Network/networkInterfaces") {
        for cfg in nic["properties"]["ipConfigurations"].as_array().unwrap() {
            assert!(
                cfg["properties"]
                    .get("publicIPAddress")
                    .is_none_or(Value::is_null),
                "{}",
                nic["name"]
            );
        }
    }
    // Load balancer: a 6443 rule; the control-plane NICs (and only they) in its pool.
    let lb = by_type(&inv, "Microsoft.Network/loadBalancers")[0];
    assert_eq!(lb["name"], "prod-public-lb");
    let rule = &lb["properties"]["loadBalancingRules"][0]["properties"];
    assert_eq!(
        (rule["frontendPort"].as_i64(), rule["backendPort"].as_i64()),
        (Some(6443), Some(6443))
    );
    let pool_members: Vec<String> =
        lb["properties"]["backendAddressPools"][0]["properties"]["backendIPConfigurations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_ascii_lowercase())
            .collect();
    assert_eq!(pool_members.len(), 3, "{pool_members:?}");
    assert!(
        pool_members
            .iter()
            .all(|id| id.contains("/networkinterfaces/prod-cp-")),
        "{pool_members:?}"
    );

    // Status: endpoint, nodes, phase, every resource id.
    let status = &obj.data["status"];
    assert_eq!(status["phase"], "Running");
    let pip = by_type(&inv, "Microsoft.Network/publicIPAddresses")
        .into_iter()
        .find(|p| p["name"] == "prod-apiserver-pip")
        .unwrap();
    assert_eq!(
        status["controlPlaneEndpoint"]["host"],
        pip["properties"]["ipAddress"]
    );
    assert_eq!(status["controlPlaneEndpoint"]["port"], 6443);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5);
    assert!(
        nodes.iter().all(|n| n["privateIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10."))
            && n["state"] == "Running"),
        "{nodes:?}"
    );
    assert_eq!(status["failureDomains"], json!(["1", "2", "3"]));
    assert!(status["operations"].as_array().is_none_or(|o| o.is_empty()));
    for part in [
        "ResourceGroupReady",
        "NetworkReady",
        "LoadBalancerReady",
        "ControlPlaneReady",
        "WorkersReady",
    ] {
        assert_eq!(condition(&obj, part).unwrap().0, "True", "{part}");
    }

    // Steady state: several resyncs, reads only.
    let before = world.writes();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = world.writes();
    assert_eq!(before, after, "steady-state resyncs must not write");
    assert!(op.is_running());

    // Delete: everything azop created is gone, including the group it created.
    api(&world)
        .delete("prod", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&world, "prod").await;
    assert!(
        world.sim.inventory().is_empty(),
        "left behind: {:?}",
        world.inventory()
    );
    op.terminate().unwrap();
}

/// A subnet outside its VNet is refused by the API server itself (a CEL rule using the CIDR
/// library), naming the field and the value, while the operator runs: nothing is stored,
/// nothing reaches Azure. The corrected manifest then provisions. (The controller's own
/// `validate()` answer, for servers or rules CEL cannot cover, is tested in the engine's
/// report tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_spec_is_refused_at_admission_and_nothing_reaches_azure() {
    let world = World::new("azc-invalid", SimConfig::default())
        .await
        .unwrap();
    let _op = world.start_operator("a", &[]).unwrap();
    let mut bad = cluster("bad", "rg-e2e-invalid", 1);
    bad["spec"]["network"] =
        json!({"vnetCidr": "10.0.0.0/16", "controlPlaneSubnet": {"cidr": "10.1.0.0/24"}});
    let obj: DynamicObject = serde_json::from_value(bad.clone()).unwrap();
    let err = api(&world)
        .create(&PostParams::default(), &obj)
        .await
        .expect_err("a subnet outside the VNet must be refused at admission");
    let msg = match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422, "{s:?}");
            s.message.clone()
        }
        other => panic!("not an API refusal: {other}"),
    };
    assert!(
        msg.contains("spec.network.controlPlaneSubnet.cidr")
            && msg.contains("subnets must lie inside the VNet"),
        "{msg}"
    );
    // Give the operator a moment: it must have nothing to act on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.arm_requests(),
        0,
        "an invalid spec must not reach Azure"
    );

    // The corrected manifest is accepted and provisions.
    bad["spec"]["network"] =
        json!({"vnetCidr": "10.0.0.0/8", "controlPlaneSubnet": {"cidr": "10.0.0.0/16"}});
    create(&world, bad).await;
    wait_ready(&world, "bad").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_waits_for_its_storage_binding_image_and_wakes_when_it_is_ready() {
    let world = World::new("azc-image", SimConfig::default()).await.unwrap();
    // This test plays the StorageBinding controller itself (it writes the binding's
    // status); tests/e2e/storage_binding_cluster.rs runs both for real.
    let _op = world
        .start_operator("a", &["--controllers", "azurecluster"])
        .unwrap();
    let sb_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", "StorageBinding"),
        "storagebindings",
    );
    let bindings: Api<DynamicObject> =
        Api::namespaced_with(world.client.clone(), &world.ns, &sb_ar);
    let sb: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "azop.dev/v1alpha1", "kind": "StorageBinding",
        "metadata": {"name": "base-images"},
        "spec": {
            "credentialsRef": {"name": CREDENTIALS_SECRET},
            "subscriptionId": SUBSCRIPTION, "location": "westeurope", "resourceGroup": "rg-images",
            "vhd": {"sourceUrl": "https://images.example.com/base.vhd"},
        }
    }))
    .unwrap();
    bindings.create(&PostParams::default(), &sb).await.unwrap();
    let mut c = cluster("img", "rg-e2e-image", 1);
    c["spec"]["image"] = json!({"storageBindingRef": {"name": "base-images"}});
    create(&world, c).await;

    // No image yet: the cluster says so and touches nothing in Azure.
    let api = api(&world);
    wait_for("img waits for its image", TIMEOUT, || async {
        match api.get("img").await {
            Ok(o)
                if condition(&o, "Ready")
                    .is_some_and(|c| c.1 == "MissingReference" && c.2.contains("base-images")) =>
            {
                Check::Done(())
            }
            Ok(o) => Check::Pending(format!("{:?}", o.data.pointer("/status/conditions"))),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .unwrap();
    assert!(world.writes().is_empty(), "{:?}", world.writes());

    // The image appears (as the StorageBinding controller will report it): the watch wakes the
    // cluster well before its 60 s safety-net retry.
    let image_rg = "/subscriptions/".to_string() + SUBSCRIPTION + "/resourceGroups/rg-images";
    world
        .arm(
            reqwest::Method::PUT,
            &image_rg,
            "2021-04-01",
            Some(json!({"location": "westeurope"})),
        )
        .await
        .unwrap();
    let image_id = format!("{image_rg}/providers/Microsoft.Compute/images/base");
    world
        .arm(
            reqwest::Method::PUT,
            &image_id,
            "2024-07-01",
            Some(
                json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {
                "osType": "Linux", "osState": "Generalized",
                "blobUri": "https://azopimages.blob.core.windows.net/vhds/base.vhd"}}}}),
            ),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    bindings
        .patch_status(
            "base-images",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"imageId": image_id}})),
        )
        .await
        .unwrap();
    let obj = wait_ready(&world, "img").await;
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "woken by the retry, not the watch: {:?}",
        started.elapsed()
    );
    let inv = world.sim.inventory();
    for vm in by_type(&inv, "Microsoft.Compute/virtualMachines") {
        assert!(
            vm["properties"]["storageProfile"]["imageReference"]["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&image_id)),
            "{}",
            vm["properties"]["storageProfile"]
        );
    }
    assert_eq!(obj.data["status"]["phase"], "Running");
}

/// deletionPolicy Orphan: deleting the AzureCluster deletes nothing — no VM, no network, not
/// the resource group azop created. Every resource stays as it was, without azop's two tags
/// (removed through the Tags API; the user's tags stay), and the object goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_cluster_keeps_every_resource_without_azops_marks() {
    let world = World::new("azc-orphan", SimConfig::default())
        .await
        .unwrap();
    let mut op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let mut manifest = cluster("keep", "rg-e2e-orphan", 1);
    manifest["spec"]["deletionPolicy"] = json!("Orphan");
    create(&world, manifest).await;
    wait_ready(&world, "keep").await;
    let tagged = |r: &Value| {
        r.get("tags")
            .is_some_and(|t| t.get("azop.dev/uid").is_some() || t.get("azop.dev/owner").is_some())
    };
    let strip = |r: &Value| {
        let mut r = r.clone();
        if let Some(t) = r.get_mut("tags").and_then(Value::as_object_mut) {
            t.remove("azop.dev/uid");
            t.remove("azop.dev/owner");
        }
        // What changes with any write, the Tags API's too: the etags (sub-resources show
        // their parent's) and systemData.
        fn unversioned(v: &mut Value) {
            match v {
                Value::Object(o) => {
                    o.remove("etag");
                    o.remove("systemData");
                    o.values_mut().for_each(unversioned);
                }
                Value::Array(a) => a.iter_mut().for_each(unversioned),
                _ => {}
            }
        }
        unversioned(&mut r);
        r
    };
    let before = world.sim.inventory();
    assert!(before.iter().any(tagged));
    let writes_before = world.writes().len();

    api(&world)
        .delete("keep", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&world, "keep").await;

    let after = world.sim.inventory();
    assert_eq!(after.len(), before.len(), "nothing deleted");
    for (a, b) in after.iter().zip(&before) {
        assert!(!tagged(a), "still marked: {}", a["id"]);
        assert_eq!(strip(a), strip(b), "changed beyond its marks: {}", a["id"]);
    }
    for r in after.iter().filter(|r| r.get("tags").is_some()) {
        assert_eq!(r["tags"]["env"], "e2e", "{}", r["id"]);
    }
    let writes: Vec<String> = world.writes().into_iter().skip(writes_before).collect();
    assert!(
        writes.iter().all(|w| w.starts_with("PATCH ")
            && w.to_ascii_lowercase()
                .contains("/providers/microsoft.resources/tags/default")),
        "only the Tags API: {writes:?}"
    );
    op.terminate().unwrap();
}
