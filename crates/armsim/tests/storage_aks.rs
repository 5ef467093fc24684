//! Microsoft.Storage and Microsoft.ContainerService over HTTP.
#![allow(clippy::unwrap_used)]

mod common;
use azop_armsim::SimConfig;
use common::*;
use serde_json::json;
use std::time::Duration;

fn acct_body() -> serde_json::Value {
    json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})
}

#[tokio::test]
async fn storage_account_create_is_202_location_with_stages() {
    let c = sim(SimConfig::default().latency(
        "Microsoft.Storage/storageAccounts",
        Duration::from_millis(400),
    ))
    .await;
    let rg = c.rg("rg").await;
    let a = format!("{rg}/providers/Microsoft.Storage/storageAccounts/stg1?api-version={STG}");
    let r = c.call("PUT", &a, Some(acct_body())).await;
    assert_eq!(r.status, 202);
    assert!(
        r.text.is_empty(),
        "storage create answers with an empty body"
    );
    let loc = r.header("location").unwrap();
    assert!(r.header("retry-after-ms").is_some());
    let g = c.call("GET", &a, None).await.json();
    assert_eq!(g["properties"]["provisioningState"], "Creating");
    assert_eq!(g["properties"]["minimumTlsVersion"], "TLS1_2");
    assert_eq!(g["properties"]["allowBlobPublicAccess"], false);
    assert_eq!(g["properties"]["supportsHttpsTrafficOnly"], true);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        c.call("GET", &a, None).await.json()["properties"]["provisioningState"],
        "ResolvingDNS"
    );
    let done = c.wait_location(&loc).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.json()["properties"]["provisioningState"], "Succeeded");
    assert_eq!(done.json()["name"], "stg1");

    // names are global: another subscription cannot take it
    let other = "/subscriptions/11111111-0000-0000-0000-000000000000/resourceGroups/rg2";
    c.call(
        "PUT",
        &format!("{other}?api-version={RES}"),
        Some(json!({"location": "westeurope"})),
    )
    .await;
    let r = c
        .call(
            "PUT",
            &format!("{other}/providers/Microsoft.Storage/storageAccounts/STG1?api-version={STG}"),
            Some(acct_body()),
        )
        .await;
    assert_eq!(
        r.code(),
        "AccountNameInvalid",
        "upper case is invalid first"
    );
    let r = c
        .call(
            "PUT",
            &format!("{other}/providers/Microsoft.Storage/storageAccounts/stg1?api-version={STG}"),
            Some(acct_body()),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "StorageAccountAlreadyTaken".into())
    );
    let r = c.call("POST", &format!("/subscriptions/{SUB}/providers/Microsoft.Storage/checkNameAvailability?api-version={STG}"),
        Some(json!({"name": "stg1", "type": "Microsoft.Storage/storageAccounts"}))).await;
    assert_eq!(r.json()["nameAvailable"], false);
    assert_eq!(r.json()["reason"], "AlreadyExists");
    let r = c.call("POST", &format!("/subscriptions/{SUB}/providers/Microsoft.Storage/checkNameAvailability?api-version={STG}"),
        Some(json!({"name": "freename", "type": "Microsoft.Storage/storageAccounts"}))).await;
    assert_eq!(r.json()["nameAvailable"], true);

    let keys = c
        .call(
            "POST",
            &format!(
                "{rg}/providers/Microsoft.Storage/storageAccounts/stg1/listKeys?api-version={STG}"
            ),
            None,
        )
        .await;
    assert_eq!(keys.status, 200);
    assert_eq!(keys.json()["keys"].as_array().unwrap().len(), 2);

    // containers: sync 201 then 200; bad names; public access refused
    let cont = format!(
        "{rg}/providers/Microsoft.Storage/storageAccounts/stg1/blobServices/default/containers/vhds?api-version={STG}"
    );
    let r = c.call("PUT", &cont, Some(json!({"properties": {}}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["properties"]["publicAccess"], "None");
    assert_eq!(
        c.call("PUT", &cont, Some(json!({"properties": {}})))
            .await
            .status,
        200
    );
    let bad = cont.replace("/vhds?", "/Bad_Name?");
    assert_eq!(c.call("PUT", &bad, Some(json!({}))).await.status, 400);
    let r = c
        .call(
            "PUT",
            &cont,
            Some(json!({"properties": {"publicAccess": "Blob"}})),
        )
        .await;
    assert_eq!(r.code(), "PublicAccessNotPermitted");
    let list = c.call("GET", &format!("{rg}/providers/Microsoft.Storage/storageAccounts/stg1/blobServices/default/containers?api-version={STG}"), None).await;
    assert_eq!(list.json()["value"].as_array().unwrap().len(), 1);

    // delete is synchronous and takes the containers along
    let r = c.call("DELETE", &a, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(c.call("GET", &cont, None).await.status, 404);
    assert_eq!(c.call("DELETE", &a, None).await.status, 204);
    let r = c
        .call(
            "PUT",
            &format!("{rg}/providers/Microsoft.Storage/storageAccounts/a-b?api-version={STG}"),
            Some(acct_body()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "AccountNameInvalid".into()));
}

#[tokio::test]
async fn storage_vnet_rules_need_the_service_endpoint() {
    let c = sim(SimConfig::default()).await;
    let rg = c.rg("rg").await;
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v1");
    let r = c.call("PUT", &format!("{vnet}?api-version={NET}"), Some(json!({"location": "westeurope", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [
            {"name": "plain", "properties": {"addressPrefix": "10.0.1.0/24"}},
            {"name": "withep", "properties": {"addressPrefix": "10.0.2.0/24", "serviceEndpoints": [{"service": "Microsoft.Storage"}]}}
        ]}}))).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    let with = |subnet: &str| {
        json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
        "properties": {"networkAcls": {"defaultAction": "Deny", "virtualNetworkRules": [{"id": format!("{vnet}/subnets/{subnet}")}]}}})
    };
    let a = format!("{rg}/providers/Microsoft.Storage/storageAccounts/aclacct?api-version={STG}");
    let r = c.call("PUT", &a, Some(with("plain"))).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "NetworkAclsValidationFailure".into())
    );
    let r = c.call("PUT", &a, Some(with("missing"))).await;
    assert_eq!(r.code(), "NetworkAclsValidationFailure");
    let r = c.call("PUT", &a, Some(with("withep"))).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let g = c.call("GET", &a, None).await.json();
    assert_eq!(
        g["properties"]["networkAcls"]["virtualNetworkRules"][0]["state"],
        "Succeeded"
    );
    assert_eq!(g["properties"]["networkAcls"]["bypass"], "AzureServices");
}

fn cluster(version: &str) -> serde_json::Value {
    json!({"location": "westeurope", "sku": {"name": "Base", "tier": "Standard"},
        "properties": {"kubernetesVersion": version, "dnsPrefix": "c1",
            "autoUpgradeProfile": {"upgradeChannel": "rapid"},
            "aadProfile": {"managed": true, "enableAzureRBAC": true, "adminGroupObjectIDs": ["g1"]},
            "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 3, "vmSize": "Standard_D4s_v5"}]}})
}

#[tokio::test]
async fn managed_clusters_lro_busy_pools_credentials_and_downgrade() {
    let c = sim(SimConfig::default().latency(
        "Microsoft.ContainerService/managedClusters",
        Duration::from_millis(300),
    ))
    .await;
    let rg = c.rg("rg").await;
    let url =
        format!("{rg}/providers/Microsoft.ContainerService/managedClusters/c1?api-version={AKS}");
    let r = c.call("PUT", &url, Some(cluster("1.35"))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let body = r.json();
    assert_eq!(body["properties"]["provisioningState"], "Creating");
    assert_eq!(body["properties"]["currentKubernetesVersion"], "1.35.4");
    assert!(
        body["properties"]["fqdn"]
            .as_str()
            .unwrap()
            .ends_with(".hcp.westeurope.azmk8s.io")
    );
    let op = r.header("azure-asyncoperation").unwrap();
    let busy = c.call("PUT", &url, Some(cluster("1.35"))).await;
    assert_eq!(
        (busy.status, busy.code()),
        (409, "OperationNotAllowed".into())
    );
    assert_eq!(
        c.call("GET", &url, None).await.json()["properties"]["provisioningState"],
        "Creating"
    );
    assert_eq!(c.wait_async(&op).await["status"], "Succeeded");
    let g = c.call("GET", &url, None).await.json();
    assert_eq!(g["properties"]["provisioningState"], "Succeeded");
    assert_eq!(g["sku"]["tier"], "Standard");

    let pools = c
        .call("GET", &url.replace("?api", "/agentPools?api"), None)
        .await
        .json();
    assert_eq!(pools["value"][0]["name"], "system");
    assert_eq!(pools["value"][0]["properties"]["count"], 3);
    let user = url.replace("?api", "/agentPools/user1?api");
    let r = c
        .call(
            "PUT",
            &user,
            Some(json!({"properties": {"count": 2, "mode": "User"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    c.wait_async(&r.header("azure-asyncoperation").unwrap())
        .await;
    let g = c.call("GET", &url, None).await.json();
    assert_eq!(
        g["properties"]["agentPoolProfiles"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "profiles mirror the pools"
    );
    let sys = url.replace("?api", "/agentPools/system?api");
    assert_eq!(
        c.call("DELETE", &sys, None).await.status,
        400,
        "the last system pool stays"
    );

    let creds = c
        .call(
            "POST",
            &url.replace("?api", "/listClusterUserCredential?api"),
            None,
        )
        .await
        .json();
    let kc = {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(creds["kubeconfigs"][0]["value"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert!(kc.contains("server: https://c1-"), "{kc}");
    let admin = c
        .call(
            "POST",
            &url.replace("?api", "/listClusterAdminCredential?api"),
            None,
        )
        .await
        .json();
    assert_eq!(admin["kubeconfigs"][0]["name"], "clusterAdmin");

    let r = c.call("PUT", &url, Some(cluster("1.36"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["properties"]["provisioningState"], "Updating");
    c.wait_async(&r.header("azure-asyncoperation").unwrap())
        .await;
    let r = c.call("PUT", &url, Some(cluster("1.35"))).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "NotAllowedK8sVersionDowngrading".into())
    );
    let r = c.call("PUT", &url, Some(cluster("1.20"))).await;
    assert_eq!(r.code(), "K8sVersionNotSupported");

    let r = c.call("DELETE", &url, None).await;
    assert_eq!(r.status, 202);
    assert!(r.header("azure-asyncoperation").is_some() && r.header("location").is_some());
    let done = c.wait_location(&r.header("location").unwrap()).await;
    assert_eq!(done.status, 204);
    assert_eq!(c.call("GET", &url, None).await.code(), "ResourceNotFound");
    assert_eq!(
        c.call("GET", &sys, None).await.status,
        404,
        "pools went with the cluster"
    );
}
