//! AksCluster end to end: the real `azop` binary as the chart's ServiceAccount, the real
//! kube-apiserver (with kube-controller-manager's garbage collector), azop-armsim playing AKS.
//!
//! Each test takes one of the Palette samples from apply to delete, through what users do to
//! a running cluster: scale, upgrade, auto-upgrade past the spec, pools added and removed,
//! the autoscaler at work, channel and admin group changes, a ProxyConfig inherited, a
//! certificate rotation, and checks the ARM side and the kubeconfig Secrets at each step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azop_armsim::SimConfig;
use azop_e2e::aks_cluster::{
    self as aks, CLUSTER_TYPE, cluster_id, create, generation, kubeconfig_file,
    kubeconfigs_point_here, kubectl_get, kubectl_version, managed_cluster, merge_patch, pools,
    resource_group, sample, wait_gone, wait_object, wait_ready,
};
use azop_e2e::azure_cluster::{condition, events_for, operator_writes};
use azop_e2e::operator::World;
use azop_testenv::{Check, wait_for};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

fn writes_since(world: &World, from: usize) -> Vec<(String, String, u16)> {
    operator_writes(world).into_iter().skip(from).collect()
}

fn pool_named<'a>(pools: &'a [Value], name: &str) -> &'a Value {
    pools
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no pool {name} in {pools:?}"))
}

async fn secret_gone(world: &World, name: &str) {
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    wait_for(
        format!("Secret {name} garbage-collected"),
        aks::TIMEOUT,
        || async {
            match secrets.get_opt(name).await {
                Ok(None) => Check::Done(()),
                Ok(Some(_)) => Check::Pending("still there".to_string()),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await
    .unwrap();
}

/// Lets a few resyncs (one a second) go by.
async fn resyncs() {
    tokio::time::sleep(Duration::from_secs(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_sample_from_apply_to_delete() {
    let world = World::new("aks-free", SimConfig::default()).await.unwrap();
    kubeconfigs_point_here(&world).await.unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    let _op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let manifest = sample("akscluster-free.yaml", &world.ns).unwrap();
    let created = create(&world, &manifest).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let obj = wait_ready(&world, "dev-aks").await.unwrap();

    // The ARM side: exactly what the sample says, plus azop's defaults and ownership.
    let mc = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(mc["sku"], json!({"name": "Base", "tier": "Free"}));
    let p = &mc["properties"];
    assert_eq!(p["kubernetesVersion"], "1.35");
    assert_eq!(p["currentKubernetesVersion"], "1.35.4");
    assert_eq!(p["supportPlan"], "KubernetesOfficial");
    assert_eq!(
        p["autoUpgradeProfile"],
        json!({"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"})
    );
    assert_eq!(p["networkProfile"]["networkPlugin"], "azure");
    assert_eq!(p["networkProfile"]["networkPluginMode"], "overlay");
    assert_eq!(p["oidcIssuerProfile"]["enabled"], true);
    assert!(p.get("aadProfile").is_none_or(Value::is_null));
    assert_eq!(p["dnsPrefix"], "dev-aks");
    assert_eq!(mc["tags"]["env"], "dev");
    assert_eq!(mc["tags"]["azop.dev/uid"], uid.as_str());
    assert_eq!(
        mc["tags"]["azop.dev/owner"],
        format!("AksCluster/{}/dev-aks", world.ns)
    );
    let ps = pools(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(ps.len(), 2);
    let system = &pool_named(&ps, "system")["properties"];
    assert_eq!(
        (
            system["mode"].as_str(),
            system["count"].as_i64(),
            system["vmSize"].as_str()
        ),
        (Some("System"), Some(1), Some("Standard_B4ms"))
    );
    let win = &pool_named(&ps, "win")["properties"];
    assert_eq!(
        (win["mode"].as_str(), win["osType"].as_str()),
        (Some("User"), Some("Windows"))
    );
    for pool in &ps {
        assert_eq!(
            pool["properties"]["tags"]["azop.dev/uid"],
            uid.as_str(),
            "{pool}"
        );
        assert_eq!(pool["properties"]["tags"]["env"], "dev", "{pool}");
        assert_eq!(pool["properties"]["currentOrchestratorVersion"], "1.35.4");
    }
    // The cluster PUT carried the System pool; the User pool came after, as its own resource.
    let writes = operator_writes(&world);
    let puts: Vec<&str> = writes
        .iter()
        .filter(|(m, _, s)| m == "PUT" && *s < 300)
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert!(puts[0].ends_with("/managedclusters/dev-aks"), "{puts:?}");
    assert_eq!(puts.len(), 2, "one cluster PUT, one pool PUT: {puts:?}");
    assert!(puts[1].ends_with("/agentpools/win"), "{puts:?}");

    // Status users read.
    let s = &obj.data["status"];
    assert_eq!(s["phase"], "Running");
    assert_eq!(s["kubernetesVersion"], "1.35.4");
    assert_eq!(s["provisioningState"], "Succeeded");
    assert_eq!(s["powerState"], "Running");
    assert_eq!(s["nodeResourceGroup"], "MC_rg-dev_dev-aks_westeurope");
    assert!(
        s["fqdn"]
            .as_str()
            .unwrap()
            .ends_with(".hcp.westeurope.azmk8s.io"),
        "{s}"
    );
    assert!(
        s["oidcIssuerURL"]
            .as_str()
            .unwrap()
            .starts_with("https://westeurope.oic."),
        "{s}"
    );
    assert_eq!(s["kubeconfigSecretRef"]["name"], "dev-aks-kubeconfig");
    assert_eq!(
        s["userKubeconfigSecretRef"]["name"],
        "dev-aks-kubeconfig-user"
    );
    assert_eq!(s["nodePools"].as_array().unwrap().len(), 2);
    for c in [
        "ResourceGroupReady",
        "ControlPlaneReady",
        "NodePoolsReady",
        "KubeconfigReady",
    ] {
        assert_eq!(condition(&obj, c).unwrap().0, "True", "{c}");
    }
    let table = kubectl_get(&world).unwrap();
    let header = table.lines().next().unwrap();
    for col in ["READY", "PHASE", "VERSION", "TIER", "CHANNEL"] {
        assert!(header.contains(col), "{table}");
    }
    assert!(
        table.contains("1.35.4") && table.contains("Free") && table.contains("patch"),
        "{table}"
    );

    // The kubeconfig Secrets: Cluster API's shape, owned by the AksCluster, and they work.
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    for name in ["dev-aks-kubeconfig", "dev-aks-kubeconfig-user"] {
        let sec = secrets.get(name).await.unwrap();
        assert_eq!(sec.type_.as_deref(), Some("cluster.x-k8s.io/secret"));
        let owner = &sec.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("AksCluster", uid.as_str())
        );
        let (file, _) = kubeconfig_file(&world, name).await.unwrap();
        let version = kubectl_version(&file).unwrap();
        assert!(version.contains("gitVersion"), "{version}");
    }

    // Steady state: reads only.
    resyncs().await;
    let before = operator_writes(&world).len();
    resyncs().await;
    assert_eq!(
        writes_since(&world, before),
        vec![],
        "steady state writes nothing"
    );

    // Scale the System pool: one PUT of that pool, nothing else.
    let before = operator_writes(&world).len();
    merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"nodePools": [
            {"name": "system", "mode": "System", "vmSize": "Standard_B4ms", "count": 2},
            {"name": "win", "mode": "User", "osType": "Windows", "vmSize": "Standard_D4s_v5", "count": 1}
        ]}}),
    )
    .await
    .unwrap();
    wait_ready(&world, "dev-aks").await.unwrap();
    let w = writes_since(&world, before);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].1.ends_with("/agentpools/system"), "{w:?}");
    let ps = pools(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(pool_named(&ps, "system")["properties"]["count"], 2);

    // Upgrade one minor: the control plane first, then the pools.
    let before = operator_writes(&world).len();
    merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"kubernetesVersion": "1.36"}}),
    )
    .await
    .unwrap();
    let obj = wait_object(&world, "dev-aks", "runs 1.36 everywhere", |o| {
        o.data.pointer("/status/kubernetesVersion") == Some(&json!("1.36.3"))
            && condition(o, "Ready").is_some_and(|c| c.0 == "True")
            && o.data["status"]["nodePools"]
                .as_array()
                .is_some_and(|ps| ps.iter().all(|p| p["kubernetesVersion"] == "1.36.3"))
    })
    .await
    .unwrap();
    let w: Vec<String> = writes_since(&world, before)
        .into_iter()
        .filter(|(m, _, s)| m == "PUT" && *s < 300)
        .map(|(_, p, _)| p)
        .collect();
    assert!(
        w[0].ends_with("/managedclusters/dev-aks"),
        "control plane first: {w:?}"
    );
    assert!(w[1..].iter().all(|p| p.contains("/agentpools/")), "{w:?}");
    let events = events_for(&world, &uid).await.unwrap();
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "Upgrading" && n.contains("from Kubernetes 1.35.4 to 1.36")),
        "{events:?}"
    );
    assert_eq!(obj.data["status"]["phase"], "Running");

    // Auto-upgrade moves the cluster past the spec: reported, never undone.
    let id = cluster_id("rg-dev", "dev-aks");
    world.sim.aks_auto_upgrade(&id, "1.37").unwrap();
    let before = operator_writes(&world).len();
    wait_object(&world, "dev-aks", "status shows 1.37.2", |o| {
        o.data.pointer("/status/kubernetesVersion") == Some(&json!("1.37.2"))
    })
    .await
    .unwrap();
    resyncs().await;
    assert_eq!(
        writes_since(&world, before)
            .iter()
            .filter(|(m, p, _)| m == "PUT" && p.ends_with("/managedclusters/dev-aks"))
            .count(),
        0,
        "no downgrade attempted"
    );
    // A spec version below what runs is refused at admission.
    let err = merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"kubernetesVersion": "1.36.3"}}),
    )
    .await
    .expect_err("below what runs");
    assert!(
        format!("{err:#}").contains("below the version the cluster already runs"),
        "{err:#}"
    );
    // A change of something else sends the running version (AKS would refuse a downgrade).
    merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"tags": {"env": "dev", "team": "a"}}}),
    )
    .await
    .unwrap();
    wait_ready(&world, "dev-aks").await.unwrap();
    let mc = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(mc["properties"]["currentKubernetesVersion"], "1.37.2");
    assert_eq!(mc["tags"]["team"], "a");
    // Skipping a minor (past both the spec's 1.36 and the running 1.37) is refused at
    // admission too.
    let err = merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"kubernetesVersion": "1.39"}}),
    )
    .await
    .expect_err("skip");
    assert!(
        format!("{err:#}").contains("one minor version at a time"),
        "{err:#}"
    );

    // A pool added, one removed.
    let before = operator_writes(&world).len();
    merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"nodePools": [
            {"name": "system", "mode": "System", "vmSize": "Standard_B4ms", "count": 2},
            {"name": "batch", "mode": "User", "vmSize": "Standard_D8s_v5", "count": 1, "labels": {"workload": "batch"}}
        ]}}),
    )
    .await
    .unwrap();
    wait_object(&world, "dev-aks", "pools system and batch", |o| {
        condition(o, "Ready").is_some_and(|c| c.0 == "True")
            && o.data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
                == o.metadata.generation
            && o.data["status"]["nodePools"].as_array().is_some_and(|p| {
                p.iter()
                    .filter_map(|p| p["name"].as_str())
                    .collect::<Vec<_>>()
                    == vec!["system", "batch"]
            })
    })
    .await
    .unwrap();
    let ps = pools(&world, "rg-dev", "dev-aks").await.unwrap();
    let names: Vec<&str> = ps.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, vec!["batch", "system"]);
    assert_eq!(
        pool_named(&ps, "batch")["properties"]["nodeLabels"]["workload"],
        "batch"
    );
    assert_eq!(
        pool_named(&ps, "batch")["properties"]["currentOrchestratorVersion"],
        "1.37.2",
        "a new pool runs what the control plane runs"
    );
    let w = writes_since(&world, before);
    assert!(
        w.iter()
            .any(|(m, p, _)| m == "PUT" && p.ends_with("/agentpools/batch")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|(m, p, _)| m == "DELETE" && p.ends_with("/agentpools/win")),
        "{w:?}"
    );

    // A certificate rotation: both Secrets are fetched again, and still work.
    let (_, old) = kubeconfig_file(&world, "dev-aks-kubeconfig").await.unwrap();
    world.sim.aks_rotate_credentials(&id).unwrap();
    let secrets2 = secrets.clone();
    wait_for("admin kubeconfig rotated".to_string(), aks::TIMEOUT, || {
        let secrets = secrets2.clone();
        let old = old.clone();
        async move {
            let now = secrets
                .get("dev-aks-kubeconfig")
                .await
                .ok()
                .and_then(|s| s.data)
                .and_then(|d| d.get("value").cloned())
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .unwrap_or_default();
            if now != old && !now.is_empty() {
                Check::Done(())
            } else {
                Check::Pending("unchanged".into())
            }
        }
    })
    .await
    .unwrap();
    let (file, _) = kubeconfig_file(&world, "dev-aks-kubeconfig").await.unwrap();
    kubectl_version(&file).unwrap();

    // Delete: the managed cluster goes, the object goes, the Secrets are garbage-collected.
    api_delete(&world, "dev-aks").await;
    wait_gone(&world, "dev-aks").await.unwrap();
    let inv = world.sim.inventory();
    assert!(
        !inv.iter().any(|r| r["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(CLUSTER_TYPE))),
        "{inv:?}"
    );
    secret_gone(&world, "dev-aks-kubeconfig").await;
    secret_gone(&world, "dev-aks-kubeconfig-user").await;
    // The resource group was the user's: it stays.
    assert!(
        world
            .inventory()
            .iter()
            .any(|(t, n)| t == "microsoft.resources/resourcegroups" && n == "rg-dev")
    );
}

async fn api_delete(world: &World, name: &str) {
    aks::api(world)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aad_sample_with_autoscaler_channel_admin_groups_and_an_inherited_proxy() {
    let world = World::new("aks-aad", SimConfig::default()).await.unwrap();
    kubeconfigs_point_here(&world).await.unwrap();
    resource_group(&world, "rg-platform-prod").await.unwrap();
    let _op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let manifest = sample("akscluster-standard-rapid-aad.yaml", &world.ns).unwrap();
    create(&world, &manifest).await.unwrap();
    wait_ready(&world, "payments-aks").await.unwrap();

    let rg = "rg-platform-prod";
    let mc = managed_cluster(&world, rg, "payments-aks").await.unwrap();
    assert_eq!(mc["sku"], json!({"name": "Base", "tier": "Standard"}));
    let p = &mc["properties"];
    assert_eq!(p["autoUpgradeProfile"]["upgradeChannel"], "rapid");
    assert_eq!(p["aadProfile"]["managed"], true);
    assert_eq!(p["aadProfile"]["enableAzureRBAC"], true);
    assert_eq!(
        p["aadProfile"]["adminGroupObjectIDs"],
        json!(["3c5e7a91-2b4d-4f6a-8c1e-5d7f9a0b2c4e"])
    );
    let net = &p["networkProfile"];
    assert_eq!(
        (
            net["networkPlugin"].as_str(),
            net["networkPluginMode"].as_str(),
            net["podCidr"].as_str(),
            net["serviceCidr"].as_str(),
            net["dnsServiceIP"].as_str()
        ),
        (
            Some("azure"),
            Some("overlay"),
            Some("192.168.0.0/16"),
            Some("10.0.0.0/16"),
            Some("10.0.0.10")
        )
    );
    assert_eq!(
        p["apiServerAccessProfile"]["authorizedIPRanges"],
        json!(["203.0.113.0/24"])
    );
    assert_eq!(p["linuxProfile"]["adminUsername"], "azureuser");
    assert!(p.get("httpProxyConfig").is_none_or(Value::is_null));
    let ps = pools(&world, rg, "payments-aks").await.unwrap();
    let apps = &pool_named(&ps, "apps")["properties"];
    assert_eq!(
        (
            apps["enableAutoScaling"].as_bool(),
            apps["minCount"].as_i64(),
            apps["maxCount"].as_i64(),
            apps["count"].as_i64()
        ),
        (Some(true), Some(2), Some(10), Some(2))
    );
    assert_eq!(apps["availabilityZones"], json!(["1", "2", "3"]));
    assert_eq!(pool_named(&ps, "system")["properties"]["maxPods"], 110);

    // Entra ID: the user kubeconfig runs kubelogin; the admin one works.
    let (_, user) = kubeconfig_file(&world, "payments-aks-kubeconfig-user")
        .await
        .unwrap();
    assert!(
        user.contains("command: kubelogin") && !user.contains("token:"),
        "{user}"
    );
    let (admin, _) = kubeconfig_file(&world, "payments-aks-kubeconfig")
        .await
        .unwrap();
    kubectl_version(&admin).unwrap();

    // The autoscaler resizes a pool: azop leaves the count alone.
    let apps_id = format!("{}/agentPools/apps", cluster_id(rg, "payments-aks"));
    world.sim.aks_autoscale(&apps_id, 7).unwrap();
    let before = operator_writes(&world).len();
    wait_object(&world, "payments-aks", "status shows 7 apps nodes", |o| {
        o.data["status"]["nodePools"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "apps" && p["count"] == 7))
    })
    .await
    .unwrap();
    resyncs().await;
    assert_eq!(
        writes_since(&world, before),
        vec![],
        "the autoscaler's count is not drift"
    );
    // A new range: the pool is updated, with the autoscaler's count.
    let mut pools_spec = manifest["spec"]["nodePools"].clone();
    pools_spec[1]["autoscale"] = json!({"min": 2, "max": 12});
    merge_patch(
        &world,
        "payments-aks",
        json!({"spec": {"nodePools": pools_spec}}),
    )
    .await
    .unwrap();
    wait_ready(&world, "payments-aks").await.unwrap();
    let ps = pools(&world, rg, "payments-aks").await.unwrap();
    let apps = &pool_named(&ps, "apps")["properties"];
    assert_eq!(
        (apps["maxCount"].as_i64(), apps["count"].as_i64()),
        (Some(12), Some(7))
    );

    // Channel and admin groups change in place.
    merge_patch(
        &world,
        "payments-aks",
        json!({"spec": {"managedControlPlane": {
            "autoUpgradeProfile": {"upgradeChannel": "stable"},
            "aadProfile": {"managed": true, "adminGroupObjectIDs": ["3c5e7a91-2b4d-4f6a-8c1e-5d7f9a0b2c4e", "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"]}
        }}}),
    )
    .await
    .unwrap();
    wait_ready(&world, "payments-aks").await.unwrap();
    let mc = managed_cluster(&world, rg, "payments-aks").await.unwrap();
    assert_eq!(
        mc["properties"]["autoUpgradeProfile"]["upgradeChannel"],
        "stable"
    );
    assert_eq!(
        mc["properties"]["aadProfile"]["adminGroupObjectIDs"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // A namespace default ProxyConfig appears: the cluster inherits it (httpProxyConfig).
    let proxy = json!({
        "apiVersion": "azop.dev/v1alpha1", "kind": "ProxyConfig",
        "metadata": {"name": "corp", "namespace": world.ns},
        "spec": {"httpProxy": "http://proxy.corp.example:3128", "httpsProxy": "http://proxy.corp.example:3128",
                 "noProxy": [".corp.example"], "default": true}
    });
    let proxies = azop_e2e::objects::api_for(&world.client, &proxy, &world.ns)
        .await
        .unwrap();
    proxies
        .create(
            &PostParams::default(),
            &azop_e2e::objects::to_dynamic(&proxy, &world.ns).unwrap(),
        )
        .await
        .unwrap();
    let world_ref = &world;
    wait_for(
        "httpProxyConfig on the managed cluster".to_string(),
        aks::TIMEOUT,
        || async move {
            match managed_cluster(world_ref, rg, "payments-aks").await {
                Ok(mc)
                    if mc["properties"]["httpProxyConfig"]["httpsProxy"]
                        == "http://proxy.corp.example:3128" =>
                {
                    Check::Done(mc)
                }
                Ok(mc) => Check::Pending(format!("{}", mc["properties"]["httpProxyConfig"])),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await
    .unwrap();
    wait_ready(&world, "payments-aks").await.unwrap();
    let mc = managed_cluster(&world, rg, "payments-aks").await.unwrap();
    let no_proxy: Vec<&str> = mc["properties"]["httpProxyConfig"]["noProxy"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        ".corp.example",
        "169.254.169.254",
        "168.63.129.16",
        "192.168.0.0/16",
        "10.0.0.0/16",
    ] {
        assert!(no_proxy.contains(&want), "{want} missing in {no_proxy:?}");
    }

    api_delete(&world, "payments-aks").await;
    wait_gone(&world, "payments-aks").await.unwrap();
    secret_gone(&world, "payments-aks-kubeconfig").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_aks_does_not_offer_is_reported_with_the_offered_ones_and_nothing_is_written() {
    let world = World::new("aks-versions", SimConfig::default())
        .await
        .unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    let _op = world.start_operator("a", &[]).unwrap();
    let mut manifest = sample("akscluster-free.yaml", &world.ns).unwrap();
    manifest["spec"]["kubernetesVersion"] = json!("1.29");
    create(&world, &manifest).await.unwrap();
    let obj = wait_object(&world, "dev-aks", "KubernetesVersionNotOffered", |o| {
        condition(o, "Ready").is_some_and(|c| c.1 == "KubernetesVersionNotOffered")
    })
    .await
    .unwrap();
    let (_, _, message) = condition(&obj, "Ready").unwrap();
    assert!(
        message.contains("Kubernetes 1.29 is not offered by AKS in westeurope; offered: 1.35 (up to 1.35.4), 1.36 (up to 1.36.3), 1.37 (up to 1.37.2)"),
        "{message}"
    );
    assert!(
        !operator_writes(&world).iter().any(|(m, _, _)| m == "PUT"),
        "{:?}",
        operator_writes(&world)
    );
    // Fixed: it goes ahead.
    merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"kubernetesVersion": "1.36"}}),
    )
    .await
    .unwrap();
    let g = generation(&world, "dev-aks").await.unwrap();
    let obj = wait_ready(&world, "dev-aks").await.unwrap();
    assert_eq!(obj.metadata.generation, Some(g));
    assert_eq!(obj.data["status"]["kubernetesVersion"], "1.36.3");
}

/// The recorded bodies of the operator's PUTs to paths containing `path` (2xx only).
fn put_bodies(world: &World, path: &str) -> Vec<Value> {
    world
        .sim
        .requests(&azop_armsim::RequestFilter {
            method: Some("PUT".into()),
            path: Some(path.into()),
            ..Default::default()
        })
        .into_iter()
        .filter(|r| r.status < 300)
        .filter_map(|r| r.body)
        .collect()
}

/// A Palette `kubernetes-aks` profile (tests/e2e/testdata, written from Palette's documented
/// keys, not an azop sample) pasted unchanged into `spec.managedControlPlane` reaches AKS with
/// the same meaning; then what users change on a running cluster is changed in place:
/// an add-on turned off, VPA off, a taint, maintenance windows added and one removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_palette_aks_profile_reaches_aks_unchanged_in_meaning() {
    let world = World::new("aks-palette", SimConfig::default())
        .await
        .unwrap();
    kubeconfigs_point_here(&world).await.unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    let _op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let profile: Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            azop_testenv::repo_root().join("tests/e2e/testdata/palette-aks-profile.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut manifest = sample("akscluster-free.yaml", &world.ns).unwrap();
    manifest["spec"]["kubernetesVersion"] = json!("1.37");
    manifest["spec"]["managedControlPlane"] = profile["managedControlPlane"].clone();
    manifest["spec"]["nodePools"] = json!([
        {"name": "system", "mode": "System", "vmSize": "Standard_D4s_v5", "count": 2,
         "osSKU": "AzureLinux", "taints": ["CriticalAddonsOnly=true:NoSchedule"],
         "upgradeSettings": {"maxSurge": "33%"}},
        {"name": "spot", "mode": "User", "vmSize": "Standard_D8s_v5", "autoscale": {"min": 0, "max": 5},
         "scaleSetPriority": "Spot", "taints": ["workload=batch:NoSchedule"], "labels": {"workload": "batch"}}
    ]);
    let created = create(&world, &manifest).await.unwrap();
    let obj = match wait_ready(&world, "dev-aks").await {
        Ok(o) => o,
        Err(e) => panic!(
            "{e:#}\nevents: {:?}",
            events_for(&world, created.metadata.uid.as_deref().unwrap_or_default()).await
        ),
    };

    // What the first cluster PUT said, key by key, against the profile.
    let body = put_bodies(&world, "/managedclusters/dev-aks")
        .into_iter()
        .next()
        .expect("a cluster PUT");
    assert_eq!(body["sku"], json!({"name": "Base", "tier": "Standard"}));
    let id_base = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities";
    assert_eq!(
        body["identity"],
        json!({"type": "UserAssigned", "userAssignedIdentities": {format!("{id_base}/palette-aks-cp"): {}}})
    );
    let p = &body["properties"];
    assert_eq!(p["autoUpgradeProfile"]["upgradeChannel"], "rapid");
    assert_eq!(
        p["aadProfile"],
        json!({"managed": true, "enableAzureRBAC": true, "adminGroupObjectIDs": ["aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"]})
    );
    assert_eq!(
        p["disableLocalAccounts"], true,
        "Palette's aadProfile.disableLocalAccounts"
    );
    assert_eq!(p["oidcIssuerProfile"], json!({"enabled": true}));
    assert_eq!(
        p["securityProfile"],
        json!({"workloadIdentity": {"enabled": true}})
    );
    assert_eq!(
        p["identityProfile"],
        json!({"kubeletidentity": {"resourceId": format!("{id_base}/palette-aks-kubelet")}})
    );
    assert_eq!(
        p["addonProfiles"],
        json!({
            "azurepolicy": {"enabled": true},
            "azureKeyvaultSecretsProvider": {"enabled": true, "config": {"enableSecretRotation": "true", "rotationPollInterval": "5m"}},
            "omsagent": {"enabled": true, "config": {"logAnalyticsWorkspaceResourceID": "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourcegroups/rg-logs/providers/microsoft.operationalinsights/workspaces/palette-logs"}}
        })
    );
    assert_eq!(
        p["autoScalerProfile"],
        json!({"balance-similar-node-groups": "true", "expander": "least-waste", "max-node-provision-time": "15m",
               "scale-down-unneeded-time": "5m", "skip-nodes-with-local-storage": "false"})
    );
    assert_eq!(
        p["workloadAutoScalerProfile"],
        json!({"keda": {"enabled": true}, "verticalPodAutoscaler": {"enabled": true}})
    );
    let system = &p["agentPoolProfiles"][0];
    assert_eq!(
        (
            &system["osSKU"],
            &system["nodeTaints"],
            &system["upgradeSettings"]
        ),
        (
            &json!("AzureLinux"),
            &json!(["CriticalAddonsOnly=true:NoSchedule"]),
            &json!({"maxSurge": "33%"})
        )
    );
    let spot = put_bodies(&world, "/agentpools/spot")
        .into_iter()
        .next()
        .expect("a spot pool PUT");
    assert_eq!(spot["properties"]["scaleSetPriority"], "Spot");
    assert_eq!(
        spot["properties"]["nodeTaints"],
        json!(["workload=batch:NoSchedule"])
    );
    assert!(
        spot["properties"].get("scaleSetEvictionPolicy").is_none(),
        "AKS's default"
    );

    // Status: the identities AKS made for the add-ons and the kubelet, to grant roles to.
    let s = &obj.data["status"];
    let addons = s["addonProfiles"].as_array().unwrap();
    assert_eq!(addons.len(), 3, "{addons:?}");
    assert!(
        addons
            .iter()
            .all(|a| a["enabled"] == true && a["identity"]["objectId"].is_string()),
        "{addons:?}"
    );
    assert_eq!(
        s["kubeletIdentity"]["resourceId"],
        format!("{id_base}/palette-aks-kubelet")
    );
    // Local accounts are off: only the user kubeconfig, and kubectl can load it.
    assert!(s.get("kubeconfigSecretRef").is_none_or(Value::is_null));
    let (file, _) = kubeconfig_file(&world, "dev-aks-kubeconfig-user")
        .await
        .unwrap();
    let out = std::process::Command::new(azop_testenv::binaries::kubectl().unwrap())
        .arg("--kubeconfig")
        .arg(&file)
        .args(["config", "view", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["users"][0]["user"]["exec"]["command"], "kubelogin");

    // A steady state writes nothing: the profile matches what AKS reports back.
    let before = operator_writes(&world).len();
    resyncs().await;
    assert_eq!(writes_since(&world, before), vec![]);

    // Day 2, in place: Azure Policy and VPA off, a taint changed, maintenance windows set.
    let mut cp = profile["managedControlPlane"].clone();
    cp["addonProfiles"][0]["enabled"] = json!(false);
    cp["workloadAutoScalerProfile"]["verticalPodAutoscaler"]["enabled"] = json!(false);
    cp["autoUpgradeProfile"]["nodeOSUpgradeChannel"] = json!("SecurityPatch");
    cp["maintenanceWindows"] = json!({
        "autoUpgrade": {"schedule": {"weekly": {"intervalWeeks": 2, "dayOfWeek": "Sunday"}},
                        "durationHours": 8, "utcOffset": "+02:00", "startTime": "01:00"},
        "nodeOSUpgrade": {"schedule": {"daily": {"intervalDays": 1}}, "startTime": "23:00"}
    });
    let mut pools_spec = manifest["spec"]["nodePools"].clone();
    pools_spec[1]["taints"] = json!(["workload=batch:NoExecute"]);
    let before = operator_writes(&world).len();
    merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"managedControlPlane": cp, "nodePools": pools_spec}}),
    )
    .await
    .unwrap();
    let g = generation(&world, "dev-aks").await.unwrap();
    let obj = wait_object(
        &world,
        "dev-aks",
        "Ready at the new generation with windows",
        |o| {
            condition(o, "Ready").is_some_and(|c| c.0 == "True")
                && o.metadata.generation == Some(g)
                && o.data.pointer("/status/observedGeneration") == Some(&json!(g))
                && o.data["status"]["maintenanceConfigurations"]
                    .as_array()
                    .map(Vec::len)
                    == Some(2)
        },
    )
    .await
    .unwrap();
    let mc = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    let p = &mc["properties"];
    assert_eq!(p["addonProfiles"]["azurepolicy"]["enabled"], false);
    assert_eq!(p["addonProfiles"]["omsagent"]["enabled"], true, "untouched");
    assert_eq!(
        p["workloadAutoScalerProfile"]["verticalPodAutoscaler"]["enabled"],
        false
    );
    assert_eq!(p["workloadAutoScalerProfile"]["keda"]["enabled"], true);
    let ps = pools(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(
        pool_named(&ps, "spot")["properties"]["nodeTaints"],
        json!([
            "workload=batch:NoExecute",
            "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
        ])
    );
    let writes = writes_since(&world, before);
    // Updates in place, nothing deleted (the user kubeconfig is fetched again: the cluster's
    // eTag moved).
    assert!(
        writes
            .iter()
            .all(|(m, p, _)| m == "PUT"
                || (m == "POST" && p.ends_with("/listclusterusercredential"))),
        "updates in place, nothing deleted: {writes:?}"
    );
    let window = |name: &str| {
        let path = format!(
            "{}/maintenanceConfigurations/{name}",
            cluster_id("rg-dev", "dev-aks")
        );
        let world = &world;
        async move {
            world
                .arm(reqwest::Method::GET, &path, aks::AKS_API, None)
                .await
        }
    };
    let auto = window("aksManagedAutoUpgradeSchedule").await.unwrap();
    assert_eq!(
        auto["properties"]["maintenanceWindow"]["schedule"]["weekly"],
        json!({"intervalWeeks": 2, "dayOfWeek": "Sunday"})
    );
    let os = window("aksManagedNodeOSUpgradeSchedule").await.unwrap();
    assert_eq!(os["properties"]["maintenanceWindow"]["durationHours"], 24);
    assert!(
        condition(&obj, "ControlPlaneReady").is_some_and(|c| c
            .2
            .contains("maintenance windows: aksManagedAutoUpgradeSchedule")),
        "{:?}",
        condition(&obj, "ControlPlaneReady")
    );

    // A window removed from the spec is removed from AKS; the other stays.
    merge_patch(
        &world,
        "dev-aks",
        json!({"spec": {"managedControlPlane": {"maintenanceWindows": {"autoUpgrade": null}}}}),
    )
    .await
    .unwrap();
    wait_object(&world, "dev-aks", "one window left", |o| {
        o.data["status"]["maintenanceConfigurations"] == json!(["aksManagedNodeOSUpgradeSchedule"])
    })
    .await
    .unwrap();
    assert!(
        window("aksManagedAutoUpgradeSchedule").await.is_err(),
        "deleted"
    );
    assert!(window("aksManagedNodeOSUpgradeSchedule").await.is_ok());

    api_delete(&world, "dev-aks").await;
    wait_gone(&world, "dev-aks").await.unwrap();
}

fn has_marks(tags: &Value) -> bool {
    tags.get("azop.dev/uid").is_some() || tags.get("azop.dev/owner").is_some()
}

fn cluster_state(obj: &kube::api::DynamicObject) -> Option<String> {
    obj.data
        .pointer("/status/resources")?
        .as_array()?
        .iter()
        .find(|r| {
            r["kind"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case(CLUSTER_TYPE))
        })?
        .get("state")?
        .as_str()
        .map(str::to_string)
}

/// deletionPolicy Orphan keeps the AKS cluster and changes nothing but azop's marks (the
/// cluster's tags through the Tags API, each pool's tags); a new object of the same name
/// leaves it alone (NotOwned) until it opts in with adoptExisting, then owns and manages it,
/// and — with the default policy — deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_cluster_stays_and_is_adopted_only_on_request() {
    let world = World::new("aks-orphan", SimConfig::default())
        .await
        .unwrap();
    kubeconfigs_point_here(&world).await.unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    let _op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let mut manifest = sample("akscluster-free.yaml", &world.ns).unwrap();
    manifest["spec"]["deletionPolicy"] = json!("Orphan");
    let first = create(&world, &manifest).await.unwrap();
    let first_uid = first.metadata.uid.clone().unwrap();
    wait_ready(&world, "dev-aks").await.unwrap();
    let mc_before = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(mc_before["tags"]["azop.dev/uid"], first_uid.as_str());
    let pools_before = pools(&world, "rg-dev", "dev-aks").await.unwrap();

    let before = operator_writes(&world).len();
    api_delete(&world, "dev-aks").await;
    wait_gone(&world, "dev-aks").await.unwrap();

    // Only the marks went: a Tags API PATCH for the cluster, a PUT of each pool as it was.
    let writes = writes_since(&world, before);
    assert!(
        writes.iter().all(|(m, p, _)| (m == "PATCH"
            && p.ends_with("/managedclusters/dev-aks/providers/microsoft.resources/tags/default"))
            || (m == "PUT" && p.contains("/managedclusters/dev-aks/agentpools/"))),
        "{writes:?}"
    );
    assert!(writes.iter().any(|(m, _, _)| m == "PATCH"), "{writes:?}");
    let mc = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    assert!(!has_marks(&mc["tags"]), "{}", mc["tags"]);
    assert_eq!(mc["tags"]["env"], "dev");
    assert_eq!(mc["sku"], mc_before["sku"]);
    assert_eq!(
        mc["properties"]["currentKubernetesVersion"],
        mc_before["properties"]["currentKubernetesVersion"]
    );
    let ps = pools(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(ps.len(), pools_before.len());
    for (p, b) in ps.iter().zip(&pools_before) {
        assert!(!has_marks(&p["properties"]["tags"]), "{p}");
        assert_eq!(p["properties"]["tags"]["env"], "dev", "{p}");
        for field in ["count", "vmSize", "mode", "osType", "orchestratorVersion"] {
            assert_eq!(
                p["properties"][field], b["properties"][field],
                "{field}: {p}"
            );
        }
    }
    let events = events_for(&world, &first_uid).await.unwrap();
    assert!(
        events.iter().any(|(r, n)| r == "Orphaned"
            && n.contains("Microsoft.ContainerService/managedClusters dev-aks")),
        "{events:?}"
    );
    secret_gone(&world, "dev-aks-kubeconfig").await;

    // A new object of the same name does not take the cluster by name.
    let again = sample("akscluster-free.yaml", &world.ns).unwrap();
    let second = create(&world, &again).await.unwrap();
    let second_uid = second.metadata.uid.clone().unwrap();
    wait_object(&world, "dev-aks", "cluster NotOwned", |o| {
        cluster_state(o).as_deref() == Some("NotOwned")
    })
    .await
    .unwrap();
    resyncs().await;
    let before = operator_writes(&world).len();
    resyncs().await;
    assert_eq!(
        writes_since(&world, before),
        vec![],
        "a cluster not adopted is never written"
    );
    let mc = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    assert!(!has_marks(&mc["tags"]), "{}", mc["tags"]);

    // Opting in adopts it: marks written by the next PUT, pools too; then it is managed.
    merge_patch(&world, "dev-aks", json!({"spec": {"adoptExisting": true}}))
        .await
        .unwrap();
    let obj = wait_ready(&world, "dev-aks").await.unwrap();
    assert_eq!(cluster_state(&obj).as_deref(), Some("Succeeded"));
    let mc = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(mc["tags"]["azop.dev/uid"], second_uid.as_str());
    assert_eq!(
        mc["tags"]["azop.dev/owner"],
        format!("AksCluster/{}/dev-aks", world.ns)
    );
    for p in pools(&world, "rg-dev", "dev-aks").await.unwrap() {
        assert_eq!(
            p["properties"]["tags"]["azop.dev/uid"],
            second_uid.as_str(),
            "{p}"
        );
    }
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    wait_for("the adopted cluster's kubeconfig", aks::TIMEOUT, || async {
        match secrets.get_opt("dev-aks-kubeconfig").await {
            Ok(Some(_)) => Check::Done(()),
            Ok(None) => Check::Pending("not yet".to_string()),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .unwrap();

    // Owned now: the default policy deletes it with the object.
    api_delete(&world, "dev-aks").await;
    wait_gone(&world, "dev-aks").await.unwrap();
    assert!(managed_cluster(&world, "rg-dev", "dev-aks").await.is_err());
}

/// A cluster that carries another object's uid is never adopted, whatever the spec says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_never_takes_a_cluster_another_object_owns() {
    let world = World::new("aks-adopt-other", SimConfig::default())
        .await
        .unwrap();
    kubeconfigs_point_here(&world).await.unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    let _op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    // Made outside azop, but tagged as if another azop object owned it.
    let body = json!({
        "location": "westeurope",
        "tags": {"azop.dev/uid": "someone-else", "azop.dev/owner": "AksCluster/other/dev-aks"},
        "properties": {
            "dnsPrefix": "dev-aks",
            "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 1, "vmSize": "Standard_B4ms", "osType": "Linux"}]
        }
    });
    world
        .arm(
            reqwest::Method::PUT,
            &cluster_id("rg-dev", "dev-aks"),
            aks::AKS_API,
            Some(body),
        )
        .await
        .unwrap();
    let mut manifest = sample("akscluster-free.yaml", &world.ns).unwrap();
    manifest["spec"]["adoptExisting"] = json!(true);
    create(&world, &manifest).await.unwrap();
    wait_object(&world, "dev-aks", "cluster NotOwned", |o| {
        cluster_state(o).as_deref() == Some("NotOwned")
    })
    .await
    .unwrap();
    resyncs().await;
    assert!(
        operator_writes(&world)
            .iter()
            .all(|(_, p, _)| !p.contains("/managedclusters/dev-aks")),
        "{:?}",
        operator_writes(&world)
    );
    let mc = managed_cluster(&world, "rg-dev", "dev-aks").await.unwrap();
    assert_eq!(mc["tags"]["azop.dev/uid"], "someone-else");
    // Deleting the object leaves it too.
    api_delete(&world, "dev-aks").await;
    wait_gone(&world, "dev-aks").await.unwrap();
    assert!(managed_cluster(&world, "rg-dev", "dev-aks").await.is_ok());
}
