//! Microsoft.Network public IPs, NAT gateways, load balancers, NICs and private endpoints.
#![allow(clippy::unwrap_used)]

mod common;
mod network_support;
use azop_armsim::SimConfig;
use common::*;
use network_support::*;
use serde_json::json;

fn pip_body(sku: &str, method: Option<&str>) -> serde_json::Value {
    let mut b = json!({"location": "westeurope", "sku": {"name": sku}, "properties": {}});
    if let Some(m) = method {
        b["properties"]["publicIPAllocationMethod"] = json!(m);
    }
    b
}

#[tokio::test]
async fn public_ips_sku_allocation_and_in_use() {
    let c = sim(SimConfig::default().public_pool_offset(0)).await;
    c.rg("rg").await;
    let p1 = net_id("rg", "publicIPAddresses", "p1");
    let (s, code) = put_err(&c, &p1, NET, pip_body("Standard", Some("Dynamic"))).await;
    assert_eq!(
        (s, code.as_str()),
        (400, "StandardSkuPublicIPAddressesMustBeStatic")
    );
    let a = put_ok(&c, &p1, NET, pip_body("Standard", None)).await;
    assert_eq!(a["properties"]["publicIPAllocationMethod"], "Static");
    assert_eq!(a["sku"], json!({"name": "Standard", "tier": "Regional"}));
    assert_eq!(a["properties"]["ipAddress"], "127.50.0.4");
    let b = put_ok(
        &c,
        &net_id("rg", "publicIPAddresses", "p2"),
        NET,
        pip_body("Standard", Some("Static")),
    )
    .await;
    assert_eq!(b["properties"]["ipAddress"], "127.50.0.5");
    let basic = put_ok(
        &c,
        &net_id("rg", "publicIPAddresses", "p3"),
        NET,
        pip_body("Basic", None),
    )
    .await;
    assert_eq!(basic["properties"]["publicIPAllocationMethod"], "Dynamic");
    assert!(basic["properties"].get("ipAddress").is_none());
    // an update keeps the address and tags change
    let mut upd = pip_body("Standard", None);
    upd["tags"] = json!({"t": "1"});
    let a2 = put_ok(&c, &p1, NET, upd).await;
    assert_eq!(a2["properties"]["ipAddress"], "127.50.0.4");
    assert_ne!(a2["etag"], a["etag"]);
    let (_, code) = put_err(&c, &p1, NET, pip_body("Basic", Some("Static"))).await;
    assert_eq!(code, "PublicIPSkuUpdateNotSupported");

    // a NAT gateway holds it: back-reference and refused delete
    let nat = net_id("rg", "natGateways", "nat");
    let (_, code) = put_err(&c, &nat, NET, json!({"location": "westeurope", "sku": {"name": "Standard"}, "properties": {"publicIpAddresses": [{"id": net_id("rg", "publicIPAddresses", "p3")}]}})).await;
    assert_eq!(code, "NatGatewayCannotUseBasicSkuPublicIp");
    let (_, code) = put_err(&c, &nat, NET, json!({"location": "westeurope", "properties": {"publicIpAddresses": [{"id": net_id("rg", "publicIPAddresses", "none")}]}})).await;
    assert_eq!(code, "InvalidResourceReference");
    let n = put_ok(
        &c,
        &nat,
        NET,
        json!({"location": "westeurope", "sku": {"name": "Standard"}, "zones": ["1"],
        "properties": {"idleTimeoutInMinutes": 10, "publicIpAddresses": [{"id": p1}]}}),
    )
    .await;
    assert_eq!(n["properties"]["idleTimeoutInMinutes"], 10);
    assert_eq!(n["zones"], json!(["1"]));
    let a = c.call("GET", &q(&p1, NET), None).await.json();
    assert_eq!(a["properties"]["natGateway"]["id"], nat);
    let (s, code) = delete_err(&c, &p1, NET).await;
    assert_eq!(
        (s, code.as_str()),
        (400, "PublicIPAddressInUseCannotBeDeleted")
    );
    // a second holder of the same IP is refused
    let (_, code) = put_err(
        &c,
        &net_id("rg", "natGateways", "nat2"),
        NET,
        json!({"location": "westeurope", "properties": {"publicIpAddresses": [{"id": p1}]}}),
    )
    .await;
    assert_eq!(code, "PublicIPAddressInUse");

    // a subnet uses the NAT gateway
    let v = net_id("rg", "virtualNetworks", "vnet");
    let mut vb = vnet_body(&[("a", "10.0.1.0/24")]);
    vb["properties"]["subnets"][0]["properties"]["natGateway"] = json!({"id": nat});
    put_ok(&c, &v, NET, vb).await;
    let n = c.call("GET", &q(&nat, NET), None).await.json();
    assert_eq!(ids(&n["properties"]["subnets"]), [format!("{v}/subnets/a")]);
    assert_eq!(
        delete_err(&c, &nat, NET).await.1,
        "InUseNatGatewayCannotBeDeleted"
    );
    put_ok(&c, &v, NET, vnet_body(&[("a", "10.0.1.0/24")])).await;
    delete_ok(&c, &nat, NET).await;
    delete_ok(&c, &p1, NET).await;
}

fn lb_body(sku: &str, pip: &str, lb: &str, probe_name: &str) -> serde_json::Value {
    json!({"location": "westeurope", "sku": {"name": sku}, "properties": {
        "frontendIPConfigurations": [{"name": "fe", "properties": {"publicIPAddress": {"id": pip}}}],
        "backendAddressPools": [{"name": "pool"}],
        "probes": [{"name": "probe", "properties": {"protocol": "Tcp", "port": 6443}}],
        "loadBalancingRules": [{"name": "api", "properties": {
            "frontendIPConfiguration": {"id": format!("{lb}/frontendIPConfigurations/fe")},
            "backendAddressPool": {"id": format!("{lb}/backendAddressPools/pool")},
            "probe": {"id": format!("{lb}/probes/{probe_name}")},
            "protocol": "Tcp", "frontendPort": 6443, "backendPort": 6443}}],
        "outboundRules": [{"name": "out", "properties": {
            "frontendIPConfigurations": [{"id": format!("{lb}/frontendIPConfigurations/fe")}],
            "backendAddressPool": {"id": format!("{lb}/backendAddressPools/pool")}, "protocol": "All"}}]}})
}

#[tokio::test]
async fn load_balancers_references_and_back_references() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let std_ip = net_id("rg", "publicIPAddresses", "std");
    let basic_ip = net_id("rg", "publicIPAddresses", "basic");
    put_ok(&c, &std_ip, NET, pip_body("Standard", None)).await;
    put_ok(&c, &basic_ip, NET, pip_body("Basic", Some("Static"))).await;
    let lb = net_id("rg", "loadBalancers", "lb");

    let (s, code) = put_err(&c, &lb, NET, lb_body("Standard", &basic_ip, &lb, "probe")).await;
    assert_eq!((s, code.as_str()), (400, "PublicIPAndLBSkuDoNotMatch"));
    let (_, code) = put_err(
        &c,
        &lb,
        NET,
        lb_body(
            "Standard",
            &net_id("rg", "publicIPAddresses", "none"),
            &lb,
            "probe",
        ),
    )
    .await;
    assert_eq!(code, "InvalidResourceReference");
    let (_, code) = put_err(
        &c,
        &lb,
        NET,
        lb_body("Standard", &std_ip, &lb, "nosuchprobe"),
    )
    .await;
    assert_eq!(
        code, "InvalidResourceReference",
        "rules must reference the LB's own children"
    );

    let r = c
        .call(
            "PUT",
            &q(&lb, NET),
            Some(lb_body("Standard", &std_ip, &lb, "probe")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    finish(&c, &r).await;
    let got = c.call("GET", &q(&lb, NET), None).await.json();
    let p = &got["properties"];
    let fe = &p["frontendIPConfigurations"][0];
    assert_eq!(fe["id"], format!("{lb}/frontendIPConfigurations/fe"));
    assert_eq!(fe["etag"], got["etag"]);
    assert_eq!(
        ids(&fe["properties"]["loadBalancingRules"]),
        [format!("{lb}/loadBalancingRules/api")]
    );
    assert_eq!(
        ids(&fe["properties"]["outboundRules"]),
        [format!("{lb}/outboundRules/out")]
    );
    assert_eq!(
        ids(&p["probes"][0]["properties"]["loadBalancingRules"]),
        [format!("{lb}/loadBalancingRules/api")]
    );
    assert_eq!(
        ids(&p["backendAddressPools"][0]["properties"]["loadBalancingRules"]),
        [format!("{lb}/loadBalancingRules/api")]
    );
    assert_eq!(
        p["loadBalancingRules"][0]["properties"]["idleTimeoutInMinutes"],
        4
    );
    assert_eq!(p["probes"][0]["properties"]["intervalInSeconds"], 15);
    let ip = c.call("GET", &q(&std_ip, NET), None).await.json();
    assert_eq!(
        ip["properties"]["ipConfiguration"]["id"],
        format!("{lb}/frontendIPConfigurations/fe")
    );

    // a NIC joins the pool: backendIPConfigurations
    let v = net_id("rg", "virtualNetworks", "vnet");
    put_ok(&c, &v, NET, vnet_body(&[("a", "10.0.1.0/24")])).await;
    let nic = net_id("rg", "networkInterfaces", "nic");
    let mut nb = nic_body(&format!("{v}/subnets/a"));
    nb["properties"]["ipConfigurations"][0]["properties"]["loadBalancerBackendAddressPools"] =
        json!([{"id": format!("{lb}/backendAddressPools/nope")}]);
    assert_eq!(
        put_err(&c, &nic, NET, nb.clone()).await.1,
        "InvalidResourceReference"
    );
    nb["properties"]["ipConfigurations"][0]["properties"]["loadBalancerBackendAddressPools"] =
        json!([{"id": format!("{lb}/backendAddressPools/pool")}]);
    put_ok(&c, &nic, NET, nb).await;
    let got = c.call("GET", &q(&lb, NET), None).await.json();
    assert_eq!(
        ids(&got["properties"]["backendAddressPools"][0]["properties"]["backendIPConfigurations"]),
        [format!("{nic}/ipConfigurations/ipconfig1")]
    );
    assert_eq!(
        delete_err(&c, &std_ip, NET).await.1,
        "PublicIPAddressInUseCannotBeDeleted"
    );

    // an internal Basic LB: private frontend takes an address from the subnet
    let ilb = net_id("rg", "loadBalancers", "ilb");
    let body = json!({"location": "westeurope", "properties": {"frontendIPConfigurations": [{"name": "fe", "properties": {"subnet": {"id": format!("{v}/subnets/a")}}}]}});
    let got = put_ok(&c, &ilb, NET, body).await;
    assert_eq!(got["sku"]["name"], "Basic");
    assert_eq!(
        got["properties"]["frontendIPConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.5",
        "10.0.1.4 is the NIC's"
    );
    let (_, code) = put_err(&c, &ilb, NET, json!({"location": "westeurope", "properties": {"frontendIPConfigurations": [{"name": "fe", "properties": {"publicIPAddress": {"id": std_ip}}}]}})).await;
    assert_eq!(
        code, "PublicIPAndLBSkuDoNotMatch",
        "Basic LB with a Standard IP"
    );
    let (_, code) = put_err(&c, &ilb, NET, json!({"location": "westeurope", "properties": {"frontendIPConfigurations": [{"name": "fe", "properties": {}}]}})).await;
    assert_eq!(code, "InvalidRequestFormat");

    delete_ok(&c, &nic, NET).await;
    delete_ok(&c, &lb, NET).await;
    delete_ok(&c, &std_ip, NET).await;
}

#[tokio::test]
async fn nic_addresses_are_unique_per_subnet_and_checked() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let v = net_id("rg", "virtualNetworks", "vnet");
    put_ok(
        &c,
        &v,
        NET,
        vnet_body(&[("a", "10.0.1.0/29"), ("b", "10.0.2.0/24")]),
    )
    .await;
    let sa = format!("{v}/subnets/a");
    let (s, code) = put_err(
        &c,
        &net_id("rg", "networkInterfaces", "x"),
        NET,
        nic_body(&format!("{v}/subnets/zzz")),
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "InvalidResourceReference"));

    let n1 = put_ok(
        &c,
        &net_id("rg", "networkInterfaces", "n1"),
        NET,
        nic_body(&sa),
    )
    .await;
    let ipc = &n1["properties"]["ipConfigurations"][0];
    assert_eq!(ipc["properties"]["privateIPAddress"], "10.0.1.4");
    assert_eq!(ipc["properties"]["privateIPAllocationMethod"], "Dynamic");
    assert_eq!(ipc["properties"]["primary"], true);
    assert_eq!(
        ipc["id"],
        format!(
            "{}/ipConfigurations/ipconfig1",
            net_id("rg", "networkInterfaces", "n1")
        )
    );
    let n2 = put_ok(
        &c,
        &net_id("rg", "networkInterfaces", "n2"),
        NET,
        nic_body(&sa),
    )
    .await;
    assert_eq!(
        n2["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.5"
    );
    // an update keeps the address
    let mut upd = nic_body(&sa);
    upd["tags"] = json!({"x": "y"});
    let n1b = put_ok(&c, &net_id("rg", "networkInterfaces", "n1"), NET, upd).await;
    assert_eq!(
        n1b["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.4"
    );

    let stat = |ip: &str| {
        let mut b = nic_body(&sa);
        b["properties"]["ipConfigurations"][0]["properties"]["privateIPAllocationMethod"] =
            json!("Static");
        b["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] = json!(ip);
        b
    };
    let n3 = net_id("rg", "networkInterfaces", "n3");
    assert_eq!(
        put_err(&c, &n3, NET, stat("10.0.1.5")).await.1,
        "PrivateIPAddressInUse"
    );
    assert_eq!(
        put_err(&c, &n3, NET, stat("10.0.2.9")).await.1,
        "PrivateIPAddressNotInSubnet"
    );
    let got = put_ok(&c, &n3, NET, stat("10.0.1.6")).await;
    assert_eq!(
        got["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.6"
    );
    // 10.0.1.0/29 has 3 usable addresses: full now
    assert_eq!(
        put_err(
            &c,
            &net_id("rg", "networkInterfaces", "n4"),
            NET,
            nic_body(&sa)
        )
        .await
        .1,
        "SubnetIsFull"
    );
    // another subnet starts over
    let n5 = net_id("rg", "networkInterfaces", "n5");
    let n5g = put_ok(&c, &n5, NET, nic_body(&format!("{v}/subnets/b"))).await;
    assert_eq!(
        n5g["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.2.4"
    );
    // NSG on the NIC
    let nsg = net_id("rg", "networkSecurityGroups", "nsg");
    let mut b = nic_body(&format!("{v}/subnets/b"));
    b["properties"]["networkSecurityGroup"] = json!({"id": nsg});
    assert_eq!(
        put_err(&c, &n5, NET, b.clone()).await.1,
        "InvalidResourceReference"
    );
    put_ok(&c, &nsg, NET, json!({"location": "westeurope"})).await;
    put_ok(&c, &n5, NET, b).await;
    let g = c.call("GET", &q(&nsg, NET), None).await.json();
    assert_eq!(
        ids(&g["properties"]["networkInterfaces"]),
        std::slice::from_ref(&n5)
    );
    let list = c.call("GET", &q(&format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces"), NET), None).await.json();
    assert_eq!(list["value"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn private_endpoints_make_their_nic() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let v = net_id("rg", "virtualNetworks", "vnet");
    put_ok(&c, &v, NET, vnet_body(&[("pe", "10.0.3.0/24")])).await;
    let subnet = format!("{v}/subnets/pe");
    // the linked resource: another Network resource stands in (any existing resource id works)
    let target = net_id("rg", "publicIPAddresses", "target");
    let pe = net_id("rg", "privateEndpoints", "pe1");
    let body = |t: &str| {
        json!({"location": "westeurope", "properties": {"subnet": {"id": subnet},
        "privateLinkServiceConnections": [{"name": "conn", "properties": {"privateLinkServiceId": t, "groupIds": ["blob"]}}]}})
    };
    let (s, code) = put_err(&c, &pe, NET, body(&target)).await;
    assert_eq!((s, code.as_str()), (400, "InvalidResourceReference"));
    put_ok(&c, &target, NET, pip_body("Standard", None)).await;
    let got = put_ok(&c, &pe, NET, body(&target)).await;
    let conn = &got["properties"]["privateLinkServiceConnections"][0];
    assert_eq!(
        conn["properties"]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
    assert_eq!(
        conn["id"],
        format!("{pe}/privateLinkServiceConnections/conn")
    );
    let nic_id = got["properties"]["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(nic_id.contains("/networkInterfaces/pe1.nic."), "{nic_id}");
    let nic = c.call("GET", &q(&nic_id, NET), None).await.json();
    assert_eq!(nic["properties"]["privateEndpoint"]["id"], pe);
    assert_eq!(
        nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.3.4"
    );
    assert_eq!(
        got["properties"]["customDnsConfigs"][0]["fqdn"],
        "target.blob.core.windows.net"
    );
    let sn = c.call("GET", &q(&subnet, NET), None).await.json();
    assert_eq!(
        ids(&sn["properties"]["privateEndpoints"]),
        std::slice::from_ref(&pe)
    );
    assert_eq!(ids(&sn["properties"]["ipConfigurations"]).len(), 1);
    assert_eq!(
        delete_err(&c, &subnet, NET).await.1,
        "InUseSubnetCannotBeDeleted"
    );
    assert_eq!(delete_err(&c, &nic_id, NET).await.1, "NicInUse");
    // an update keeps the NIC
    let mut upd = body(&target);
    upd["tags"] = json!({"a": "b"});
    let got2 = put_ok(&c, &pe, NET, upd).await;
    assert_eq!(
        got2["properties"]["networkInterfaces"][0]["id"],
        nic_id.as_str()
    );
    delete_ok(&c, &pe, NET).await;
    assert_eq!(
        c.call("GET", &q(&nic_id, NET), None).await.status,
        404,
        "the NIC goes with it"
    );
    delete_ok(&c, &subnet, NET).await;
}

#[tokio::test]
async fn the_tags_api_merges_deletes_and_replaces_at_a_scope() {
    let c = sim(SimConfig::default()).await;
    c.rg("rg").await;
    let p = net_id("rg", "publicIPAddresses", "tagged");
    let mut body = pip_body("Standard", None);
    body["tags"] = json!({"azop.dev/owner": "ns/x", "azop.dev/uid": "u1", "team": "a"});
    let before = put_ok(&c, &p, NET, body).await;
    let tags = format!("{p}/providers/Microsoft.Resources/tags/default");
    let got = c.call("GET", &q(&tags, RES), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json()["properties"]["tags"]["team"], "a");

    // Delete removes a tag only when its value matches too
    let del = json!({"operation": "Delete", "properties": {"tags": {"azop.dev/owner": "ns/x", "azop.dev/uid": "other"}}});
    let r = c.call("PATCH", &q(&tags, RES), Some(del)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["properties"]["tags"],
        json!({"azop.dev/uid": "u1", "team": "a"})
    );
    let after = c.call("GET", &q(&p, NET), None).await.json();
    assert_eq!(after["tags"], json!({"azop.dev/uid": "u1", "team": "a"}));
    assert_ne!(after["etag"], before["etag"]);
    // the resource's other properties are untouched
    assert_eq!(
        after["properties"]["ipAddress"],
        before["properties"]["ipAddress"]
    );

    let merge = json!({"operation": "Merge", "properties": {"tags": {"team": "b", "cost": "1"}}});
    let r = c.call("PATCH", &q(&tags, RES), Some(merge)).await;
    assert_eq!(
        r.json()["properties"]["tags"],
        json!({"azop.dev/uid": "u1", "team": "b", "cost": "1"})
    );
    let r = c
        .call(
            "PUT",
            &q(&tags, RES),
            Some(json!({"properties": {"tags": {"only": "this"}}})),
        )
        .await;
    assert_eq!(r.json()["properties"]["tags"], json!({"only": "this"}));
    let r = c
        .call(
            "PATCH",
            &q(&tags, RES),
            Some(json!({"operation": "Rename", "properties": {}})),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "InvalidRequestContent")
    );

    // a resource group is a scope too; a missing resource is not
    let rg_tags = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Resources/tags/default"
    );
    let r = c
        .call(
            "PATCH",
            &q(&rg_tags, RES),
            Some(json!({"operation": "Merge", "properties": {"tags": {"k": "v"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let missing = format!(
        "{}/providers/Microsoft.Resources/tags/default",
        net_id("rg", "publicIPAddresses", "nope")
    );
    let r = c.call("GET", &q(&missing, RES), None).await;
    assert_eq!((r.status, r.code().as_str()), (404, "ResourceNotFound"));
}
