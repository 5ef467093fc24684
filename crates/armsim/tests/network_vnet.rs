//! Microsoft.Network virtual networks, subnets and network security groups.
#![allow(clippy::unwrap_used)]

mod common;
mod network_support;
use azop_armsim::SimConfig;
use common::*;
use network_support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn vnet_inline_subnets_and_child_subnets_are_one_view() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let v = net_id("rg", "virtualNetworks", "vnet");
    let r = c
        .call(
            "PUT",
            &q(&v, NET),
            Some(vnet_body(&[("a", "10.0.1.0/24"), ("b", "10.0.2.0/24")])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.header("azure-asyncoperation").is_some());
    assert!(r.json()["etag"].as_str().unwrap().starts_with("W/\""));
    finish(&c, &r).await;
    let got = c.call("GET", &q(&v, NET), None).await.json();
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    let subnets = got["properties"]["subnets"].as_array().unwrap();
    assert_eq!(subnets.len(), 2);
    assert_eq!(subnets[0]["id"], format!("{v}/subnets/a"));
    assert_eq!(
        subnets[0]["type"],
        "Microsoft.Network/virtualNetworks/subnets"
    );
    assert_eq!(
        subnets[0]["properties"]["privateEndpointNetworkPolicies"],
        "Disabled"
    );

    // the child view
    let a = c
        .call("GET", &q(&format!("{v}/subnets/a"), NET), None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["properties"]["addressPrefix"], "10.0.1.0/24");
    let list = c
        .call("GET", &q(&format!("{v}/subnets"), NET), None)
        .await
        .json();
    assert_eq!(list["value"].as_array().unwrap().len(), 2);

    // a subnet PUT as a child shows up inline and changes the VNet's etag
    let before = got["etag"].clone();
    put_ok(
        &c,
        &format!("{v}/subnets/c"),
        NET,
        json!({"properties": {"addressPrefix": "10.0.3.0/24",
        "serviceEndpoints": [{"service": "Microsoft.Storage"}]}}),
    )
    .await;
    let got = c.call("GET", &q(&v, NET), None).await.json();
    assert_ne!(got["etag"], before);
    let names: Vec<&str> = got["properties"]["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let c_sub = &got["properties"]["subnets"][2];
    assert_eq!(
        c_sub["properties"]["serviceEndpoints"][0]["service"],
        "Microsoft.Storage"
    );
    assert_eq!(
        c_sub["properties"]["serviceEndpoints"][0]["locations"][0],
        "westeurope"
    );

    // a VNet PUT replaces the list: b and c go
    let r = c
        .call("PUT", &q(&v, NET), Some(vnet_body(&[("a", "10.0.1.0/24")])))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    finish(&c, &r).await;
    let gone = c
        .call("GET", &q(&format!("{v}/subnets/b"), NET), None)
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.code(), "NotFound");
    let got = c.call("GET", &q(&v, NET), None).await.json();
    assert_eq!(got["properties"]["subnets"].as_array().unwrap().len(), 1);

    // a PATCH of tags leaves the subnets alone
    let r = c
        .call("PATCH", &q(&v, NET), Some(json!({"tags": {"k": "v"}})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    finish(&c, &r).await;
    let got = c.call("GET", &q(&v, NET), None).await.json();
    assert_eq!(got["tags"]["k"], "v");
    assert_eq!(got["properties"]["subnets"].as_array().unwrap().len(), 1);

    // a subnet deleted as a child; then the VNet (202 + Location + Azure-AsyncOperation)
    delete_ok(&c, &format!("{v}/subnets/a"), NET).await;
    let got = c.call("GET", &q(&v, NET), None).await.json();
    assert_eq!(got["properties"]["subnets"].as_array().unwrap().len(), 0);
    delete_ok(&c, &v, NET).await;
    let missing = c.call("GET", &q(&v, NET), None).await;
    assert_eq!(missing.code(), "ResourceNotFound");
}

#[tokio::test]
async fn subnet_prefixes_are_checked() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let v = net_id("rg", "virtualNetworks", "vnet");
    let (s, code) = put_err(&c, &v, NET, vnet_body(&[("a", "10.0.1.5/24")])).await;
    assert_eq!((s, code.as_str()), (400, "NetcfgInvalidSubnet"));
    let (_, code) = put_err(&c, &v, NET, vnet_body(&[("a", "banana")])).await;
    assert_eq!(code, "NetcfgInvalidSubnet");
    let (_, code) = put_err(&c, &v, NET, vnet_body(&[("a", "10.1.0.0/24")])).await;
    assert_eq!(code, "NetcfgSubnetRangeOutsideVnet");
    let (_, code) = put_err(
        &c,
        &v,
        NET,
        vnet_body(&[("a", "10.0.0.0/23"), ("b", "10.0.1.0/24")]),
    )
    .await;
    assert_eq!(code, "NetcfgSubnetRangesOverlap");
    let (_, code) = put_err(&c, &v, NET, json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/99"]}}})).await;
    assert_eq!(code, "InvalidAddressPrefixFormat");
    let (_, code) = put_err(
        &c,
        &v,
        NET,
        json!({"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
    )
    .await;
    assert_eq!(code, "LocationRequired");

    put_ok(&c, &v, NET, vnet_body(&[("a", "10.0.1.0/24")])).await;
    let (_, code) = put_err(
        &c,
        &format!("{v}/subnets/b"),
        NET,
        json!({"properties": {"addressPrefix": "10.0.1.128/25"}}),
    )
    .await;
    assert_eq!(code, "NetcfgSubnetRangesOverlap");
    let (_, code) = put_err(
        &c,
        &format!("{v}/subnets/b"),
        NET,
        json!({"properties": {"addressPrefix": "192.168.0.0/24"}}),
    )
    .await;
    assert_eq!(code, "NetcfgSubnetRangeOutsideVnet");
    // a subnet of a missing VNet
    let (s, code) = put_err(
        &c,
        &format!("{}/subnets/x", net_id("rg", "virtualNetworks", "nope")),
        NET,
        json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
    )
    .await;
    assert_eq!((s, code.as_str()), (404, "ParentResourceNotFound"));
}

#[tokio::test]
async fn subnet_references_back_references_and_in_use_refusals() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let v = net_id("rg", "virtualNetworks", "vnet");
    let nsg = net_id("rg", "networkSecurityGroups", "nsg");
    let mut body = vnet_body(&[("a", "10.0.1.0/24")]);
    body["properties"]["subnets"][0]["properties"]["networkSecurityGroup"] = json!({"id": nsg});
    let (s, code) = put_err(&c, &v, NET, body.clone()).await;
    assert_eq!((s, code.as_str()), (400, "InvalidResourceReference"));

    put_ok(&c, &nsg, NET, json!({"location": "westeurope"})).await;
    put_ok(&c, &v, NET, body).await;
    let subnet = format!("{v}/subnets/a");
    let got = c.call("GET", &q(&nsg, NET), None).await.json();
    assert_eq!(
        ids(&got["properties"]["subnets"]),
        std::slice::from_ref(&subnet)
    );
    let sn = c.call("GET", &q(&subnet, NET), None).await.json();
    assert_eq!(sn["properties"]["networkSecurityGroup"]["id"], nsg);

    let nic = net_id("rg", "networkInterfaces", "nic");
    put_ok(&c, &nic, NET, nic_body(&subnet)).await;
    let sn = c.call("GET", &q(&subnet, NET), None).await.json();
    assert_eq!(
        ids(&sn["properties"]["ipConfigurations"]),
        [format!("{nic}/ipConfigurations/ipconfig1")]
    );
    let vnet = c.call("GET", &q(&v, NET), None).await.json();
    assert_eq!(
        ids(&vnet["properties"]["subnets"][0]["properties"]["ipConfigurations"]).len(),
        1
    );

    // in use: dropping it from the VNet, deleting it, deleting the VNet, deleting the NSG
    let (s, code) = put_err(&c, &v, NET, vnet_body(&[])).await;
    assert_eq!((s, code.as_str()), (400, "InUseSubnetCannotBeDeleted"));
    let (_, code) = delete_err(&c, &subnet, NET).await;
    assert_eq!(code, "InUseSubnetCannotBeDeleted");
    let (_, code) = delete_err(&c, &v, NET).await;
    assert_eq!(code, "InUseSubnetCannotBeDeleted");
    let (s, code) = delete_err(&c, &nsg, NET).await;
    assert_eq!(
        (s, code.as_str()),
        (400, "InUseNetworkSecurityGroupCannotBeDeleted")
    );

    delete_ok(&c, &nic, NET).await;
    let sn = c.call("GET", &q(&subnet, NET), None).await.json();
    assert!(sn["properties"].get("ipConfigurations").is_none());
    // omit the subnet now: allowed, and the NSG is free
    put_ok(&c, &v, NET, vnet_body(&[])).await;
    delete_ok(&c, &nsg, NET).await;
    // deleting something that does not exist: 204
    let r = c.call("DELETE", &q(&nsg, NET), None).await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn concurrent_writes_to_one_vnet_are_refused() {
    let cfg = SimConfig::default()
        .latency(
            "Microsoft.Network/virtualNetworks",
            Duration::from_millis(400),
        )
        .latency(
            "Microsoft.Network/virtualNetworks/subnets",
            Duration::from_millis(400),
        );
    let c = sim(cfg).await;
    c.rg("rg").await;
    let v = net_id("rg", "virtualNetworks", "vnet");
    let r = c
        .call("PUT", &q(&v, NET), Some(vnet_body(&[("a", "10.0.1.0/24")])))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["properties"]["provisioningState"], "Creating");
    let again = c
        .call("PUT", &q(&v, NET), Some(vnet_body(&[("a", "10.0.1.0/24")])))
        .await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (409, "AnotherOperationInProgress")
    );
    let sub = c
        .call(
            "PUT",
            &q(&format!("{v}/subnets/b"), NET),
            Some(json!({"properties": {"addressPrefix": "10.0.2.0/24"}})),
        )
        .await;
    assert_eq!(
        (sub.status, sub.code().as_str()),
        (409, "AnotherOperationInProgress")
    );
    finish(&c, &r).await;

    // a running subnet operation locks the VNet too
    let sub = c
        .call(
            "PUT",
            &q(&format!("{v}/subnets/b"), NET),
            Some(json!({"properties": {"addressPrefix": "10.0.2.0/24"}})),
        )
        .await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let again = c
        .call("PUT", &q(&v, NET), Some(vnet_body(&[("a", "10.0.1.0/24")])))
        .await;
    assert_eq!(again.code(), "AnotherOperationInProgress");
    let del = c.call("DELETE", &q(&v, NET), None).await;
    assert_eq!(del.code(), "AnotherOperationInProgress");
    finish(&c, &sub).await;
    let ok = c
        .call(
            "PUT",
            &q(&format!("{v}/subnets/c"), NET),
            Some(json!({"properties": {"addressPrefix": "10.0.3.0/24"}})),
        )
        .await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn nsg_rules_defaults_and_validation() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let nsg = net_id("rg", "networkSecurityGroups", "nsg");
    let rule = |name: &str, prio: i64, dir: &str| {
        json!({"name": name, "properties": {
        "priority": prio, "protocol": "Tcp", "access": "Allow", "direction": dir,
        "sourcePortRange": "*", "destinationPortRange": "6443",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*"}})
    };
    let body = |rules: Vec<serde_json::Value>| json!({"location": "westeurope", "properties": {"securityRules": rules}});

    let got = put_ok(
        &c,
        &nsg,
        NET,
        body(vec![
            rule("api", 100, "Inbound"),
            rule("out", 100, "Outbound"),
        ]),
    )
    .await;
    let defaults = got["properties"]["defaultSecurityRules"]
        .as_array()
        .unwrap();
    let summary: Vec<(String, i64, String, String)> = defaults
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["properties"]["priority"].as_i64().unwrap(),
                r["properties"]["direction"].as_str().unwrap().to_string(),
                r["properties"]["access"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("AllowVnetInBound", 65000, "Inbound", "Allow"),
        ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow"),
        ("DenyAllInBound", 65500, "Inbound", "Deny"),
        ("AllowVnetOutBound", 65000, "Outbound", "Allow"),
        ("AllowInternetOutBound", 65001, "Outbound", "Allow"),
        ("DenyAllOutBound", 65500, "Outbound", "Deny"),
    ];
    assert_eq!(
        summary,
        expect.map(|(a, b, c, d)| (a.to_string(), b, c.to_string(), d.to_string()))
    );
    assert_eq!(
        defaults[1]["properties"]["sourceAddressPrefix"],
        "AzureLoadBalancer"
    );
    assert_eq!(
        defaults[4]["properties"]["destinationAddressPrefix"],
        "Internet"
    );
    assert_eq!(
        got["properties"]["securityRules"][0]["id"],
        format!("{nsg}/securityRules/api")
    );
    assert_eq!(
        got["properties"]["securityRules"][0]["properties"]["provisioningState"],
        "Succeeded"
    );

    for (bad, code) in [
        (rule("x", 50, "Inbound"), "SecurityRuleInvalidPriority"),
        (rule("x", 4097, "Inbound"), "SecurityRuleInvalidPriority"),
        (rule("x", 100, "Inbound"), "SecurityRuleConflict"),
        (
            rule("x", 200, "Sideways"),
            "SecurityRuleParameterContainsUnsupportedValue",
        ),
    ] {
        let (s, got) = put_err(&c, &nsg, NET, body(vec![rule("api", 100, "Inbound"), bad])).await;
        assert_eq!((s, got.as_str()), (400, code));
    }
    let mut bad = rule("x", 200, "Inbound");
    bad["properties"]["protocol"] = json!("Gre");
    assert_eq!(
        put_err(&c, &nsg, NET, body(vec![bad])).await.1,
        "SecurityRuleInvalidProtocol"
    );
    let mut bad = rule("x", 200, "Inbound");
    bad["properties"]["destinationPortRange"] = json!("70000");
    assert_eq!(
        put_err(&c, &nsg, NET, body(vec![bad])).await.1,
        "SecurityRuleInvalidPortRange"
    );
    for p in ["Udp", "Icmp", "Esp", "Ah", "*"] {
        let mut ok = rule("x", 300, "Inbound");
        ok["properties"]["protocol"] = json!(p);
        ok["properties"]["destinationPortRange"] = json!("1000-2000");
        put_ok(&c, &nsg, NET, body(vec![rule("api", 100, "Inbound"), ok])).await;
    }

    // the child resource: conflicts with inline rules are caught, and it shows inline
    let child = format!("{nsg}/securityRules/ssh");
    let (_, code) = put_err(
        &c,
        &child,
        NET,
        json!({"properties": rule("ssh", 100, "Inbound")["properties"]}),
    )
    .await;
    assert_eq!(code, "SecurityRuleConflict");
    put_ok(
        &c,
        &child,
        NET,
        json!({"properties": rule("ssh", 110, "Inbound")["properties"]}),
    )
    .await;
    let got = c.call("GET", &q(&nsg, NET), None).await.json();
    let names: Vec<&str> = got["properties"]["securityRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "ssh", "x"]);
    let list = c
        .call("GET", &q(&format!("{nsg}/securityRules"), NET), None)
        .await
        .json();
    assert_eq!(list["value"].as_array().unwrap().len(), 3);
    delete_ok(&c, &child, NET).await;
    delete_ok(&c, &nsg, NET).await;
}
