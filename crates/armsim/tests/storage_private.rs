//! A storage account reached privately: a private endpoint to its blob service, the private
//! DNS zone, the zone's VNet link and the endpoint's zone group, which writes the A record.
#![allow(clippy::unwrap_used)]

mod common;
use azop_armsim::SimConfig;
use common::*;
use serde_json::json;

const DNS: &str = "2024-06-01";

#[tokio::test]
async fn endpoint_zone_link_and_group_make_the_a_record() {
    let c = sim(SimConfig::default()).await;
    let rg = c.rg("rg").await;
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/hub");
    let r = c
        .call(
            "PUT",
            &format!("{vnet}?api-version={NET}"),
            Some(json!({"location": "westeurope", "properties": {
                "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]},
                "subnets": [{"name": "pe", "properties": {"addressPrefix": "10.9.1.0/24"}}]}})),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let acct = format!("{rg}/providers/Microsoft.Storage/storageAccounts/azoppriv1");
    let r = c
        .call(
            "PUT",
            &format!("{acct}?api-version={STG}"),
            Some(json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
                "properties": {"publicNetworkAccess": "Disabled"}})),
        )
        .await;
    c.wait_location(&r.header("location").unwrap()).await;

    let zone = format!(
        "{rg}/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net"
    );
    let r = c
        .call(
            "PUT",
            &format!("{zone}?api-version={DNS}"),
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidLocation".into()));
    let r = c
        .call(
            "PUT",
            &format!("{zone}?api-version={DNS}"),
            Some(json!({"location": "global"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    c.wait_async(&r.header("azure-asyncoperation").unwrap())
        .await;
    let link = format!("{zone}/virtualNetworkLinks/hub");
    let r = c
        .call(
            "PUT",
            &format!("{link}?api-version={DNS}"),
            Some(json!({"location": "global", "properties": {"virtualNetwork": {"id": format!("{vnet}-nope")}}})),
        )
        .await;
    assert_eq!(r.code(), "InvalidResourceReference");
    let r = c
        .call(
            "PUT",
            &format!("{link}?api-version={DNS}"),
            Some(json!({"location": "global", "properties": {"virtualNetwork": {"id": vnet}, "registrationEnabled": false}})),
        )
        .await;
    c.wait_async(&r.header("azure-asyncoperation").unwrap())
        .await;

    let pe = format!("{rg}/providers/Microsoft.Network/privateEndpoints/azoppriv1-blob-pe");
    let r = c
        .call(
            "PUT",
            &format!("{pe}?api-version={NET}"),
            Some(json!({"location": "westeurope", "properties": {
                "subnet": {"id": format!("{vnet}/subnets/pe")},
                "privateLinkServiceConnections": [{"name": "blob", "properties": {"privateLinkServiceId": acct, "groupIds": ["blob"]}}]}})),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    c.wait_async(&r.header("azure-asyncoperation").unwrap())
        .await;
    let group = format!("{pe}/privateDnsZoneGroups/default");
    let r = c
        .call(
            "PUT",
            &format!("{group}?api-version={NET}"),
            Some(json!({"properties": {"privateDnsZoneConfigs": [{"name": "blob", "properties": {"privateDnsZoneId": zone}}]}})),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    c.wait_async(&r.header("azure-asyncoperation").unwrap())
        .await;
    let g = c
        .call("GET", &format!("{group}?api-version={NET}"), None)
        .await
        .json();
    let set = &g["properties"]["privateDnsZoneConfigs"][0]["properties"]["recordSets"][0];
    assert_eq!(set["recordSetName"], "azoppriv1");
    assert_eq!(set["fqdn"], "azoppriv1.privatelink.blob.core.windows.net");
    let ip = set["ipAddresses"][0].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.9.1."), "{ip}");
    let z = c
        .call("GET", &format!("{zone}?api-version={DNS}"), None)
        .await
        .json();
    assert_eq!(z["properties"]["numberOfRecordSets"], 2);
    assert_eq!(z["properties"]["numberOfVirtualNetworkLinks"], 1);

    // A zone with links cannot be deleted; the group's delete removes its record.
    let r = c
        .call("DELETE", &format!("{zone}?api-version={DNS}"), None)
        .await;
    assert_eq!((r.status, r.code()), (409, "PreconditionFailed".into()));
    let r = c
        .call("DELETE", &format!("{group}?api-version={NET}"), None)
        .await;
    assert!(r.status < 300, "{}", r.text);
    if let Some(op) = r.header("azure-asyncoperation") {
        c.wait_async(&op).await;
    }
    let z = c
        .call("GET", &format!("{zone}?api-version={DNS}"), None)
        .await
        .json();
    assert_eq!(z["properties"]["numberOfRecordSets"], 1);
}
