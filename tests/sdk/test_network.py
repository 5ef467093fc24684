"""azure-mgmt-network against azop-armsim: every Microsoft.Network type azop uses, with the
SDK's own LRO pollers, plus the error cases (HttpResponseError with Azure's error.code)."""

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient


@pytest.fixture(scope="module")
def net(credential, subscription_id, mgmt_kwargs):
    return NetworkManagementClient(credential, subscription_id, **mgmt_kwargs)


def nid(sub, rg, ty, name):
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{ty}/{name}"


def vnet_params(location, subnets):
    return {
        "location": location,
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets],
        },
    }


def error_code(exc_info):
    return exc_info.value.error.code


def test_vnet_and_subnets(net, resource_group, location):
    rg = resource_group
    v = net.virtual_networks.begin_create_or_update(
        rg, "vnet", vnet_params(location, [("cp", "10.0.1.0/24"), ("workers", "10.0.2.0/24")])
    ).result()
    assert v.properties.provisioning_state == "Succeeded"
    assert [s.name for s in v.properties.subnets] == ["cp", "workers"]
    assert v.etag.startswith('W/"')

    got = net.virtual_networks.get(rg, "vnet")
    assert got.properties.address_space.address_prefixes == ["10.0.0.0/16"]
    assert [v.name for v in net.virtual_networks.list(rg)] == ["vnet"]

    # the subnets child resource
    s = net.subnets.begin_create_or_update(
        rg, "vnet", "pe", {"properties": {"addressPrefix": "10.0.3.0/24",
                                          "serviceEndpoints": [{"service": "Microsoft.Storage"}]}}
    ).result()
    assert s.properties.service_endpoints[0].service == "Microsoft.Storage"
    assert sorted(x.name for x in net.subnets.list(rg, "vnet")) == ["cp", "pe", "workers"]
    assert net.subnets.get(rg, "vnet", "cp").properties.address_prefix == "10.0.1.0/24"

    # update: tags; and a VNet PUT replaces the subnet list
    tagged = net.virtual_networks.update_tags(rg, "vnet", {"tags": {"owner": "azop"}})
    assert tagged.tags == {"owner": "azop"}
    v = net.virtual_networks.begin_create_or_update(
        rg, "vnet", vnet_params(location, [("cp", "10.0.1.0/24")])
    ).result()
    assert [s.name for s in v.properties.subnets] == ["cp"]
    with pytest.raises(ResourceNotFoundError):
        net.subnets.get(rg, "vnet", "pe")

    # errors
    for subnets, code in [
        ([("bad", "10.0.1.7/24")], "NetcfgInvalidSubnet"),
        ([("out", "10.9.0.0/24")], "NetcfgSubnetRangeOutsideVnet"),
        ([("a", "10.0.0.0/23"), ("b", "10.0.1.0/24")], "NetcfgSubnetRangesOverlap"),
    ]:
        with pytest.raises(HttpResponseError) as e:
            net.virtual_networks.begin_create_or_update(rg, "vnet", vnet_params(location, subnets)).result()
        assert error_code(e) == code

    net.subnets.begin_delete(rg, "vnet", "cp").result()
    net.virtual_networks.begin_delete(rg, "vnet").result()
    with pytest.raises(ResourceNotFoundError):
        net.virtual_networks.get(rg, "vnet")


def test_nsg_and_rules(net, resource_group, location, subscription_id):
    rg = resource_group
    rule = {"name": "api", "properties": {
        "priority": 100, "protocol": "Tcp", "access": "Allow", "direction": "Inbound",
        "sourcePortRange": "*", "destinationPortRange": "6443",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*"}}
    nsg = net.network_security_groups.begin_create_or_update(
        rg, "nsg", {"location": location, "properties": {"securityRules": [rule]}}
    ).result()
    defaults = {(r.name, r.properties.priority, r.properties.direction)
                for r in nsg.properties.default_security_rules}
    assert defaults == {
        ("AllowVnetInBound", 65000, "Inbound"), ("AllowAzureLoadBalancerInBound", 65001, "Inbound"),
        ("DenyAllInBound", 65500, "Inbound"), ("AllowVnetOutBound", 65000, "Outbound"),
        ("AllowInternetOutBound", 65001, "Outbound"), ("DenyAllOutBound", 65500, "Outbound"),
    }
    ssh = net.security_rules.begin_create_or_update(
        rg, "nsg", "ssh", {"properties": dict(rule["properties"], priority=110, destinationPortRange="22")}
    ).result()
    assert ssh.properties.destination_port_range == "22"
    assert sorted(r.name for r in net.security_rules.list(rg, "nsg")) == ["api", "ssh"]
    with pytest.raises(HttpResponseError) as e:
        net.security_rules.begin_create_or_update(
            rg, "nsg", "dup", {"properties": dict(rule["properties"], priority=110)}).result()
    assert error_code(e) == "SecurityRuleConflict"
    with pytest.raises(HttpResponseError) as e:
        net.security_rules.begin_create_or_update(
            rg, "nsg", "low", {"properties": dict(rule["properties"], priority=50)}).result()
    assert error_code(e) == "SecurityRuleInvalidPriority"
    assert net.network_security_groups.update_tags(rg, "nsg", {"tags": {"a": "b"}}).tags == {"a": "b"}
    assert [n.name for n in net.network_security_groups.list(rg)] == ["nsg"]

    # attached to a subnet: referenced, back-referenced, not deletable
    params = vnet_params(location, [("cp", "10.0.1.0/24")])
    params["properties"]["subnets"][0]["properties"]["networkSecurityGroup"] = {
        "id": nid(subscription_id, rg, "networkSecurityGroups", "missing")}
    with pytest.raises(HttpResponseError) as e:
        net.virtual_networks.begin_create_or_update(rg, "vnet", params).result()
    assert error_code(e) == "InvalidResourceReference"
    params["properties"]["subnets"][0]["properties"]["networkSecurityGroup"] = {"id": nsg.id}
    net.virtual_networks.begin_create_or_update(rg, "vnet", params).result()
    assert [s.id for s in net.network_security_groups.get(rg, "nsg").properties.subnets] == [
        nid(subscription_id, rg, "virtualNetworks", "vnet") + "/subnets/cp"]
    with pytest.raises(HttpResponseError) as e:
        net.network_security_groups.begin_delete(rg, "nsg").result()
    assert error_code(e) == "InUseNetworkSecurityGroupCannotBeDeleted"
    net.virtual_networks.begin_delete(rg, "vnet").result()
    net.security_rules.begin_delete(rg, "nsg", "ssh").result()
    net.network_security_groups.begin_delete(rg, "nsg").result()


def test_public_ip_nat_gateway_and_load_balancer(net, resource_group, location, subscription_id):
    rg = resource_group
    with pytest.raises(HttpResponseError) as e:
        net.public_ip_addresses.begin_create_or_update(
            rg, "bad", {"location": location, "sku": {"name": "Standard"},
                        "properties": {"publicIPAllocationMethod": "Dynamic"}}).result()
    assert error_code(e) == "StandardSkuPublicIPAddressesMustBeStatic"
    lb_ip = net.public_ip_addresses.begin_create_or_update(
        rg, "lb-ip", {"location": location, "sku": {"name": "Standard"}, "zones": ["1", "2", "3"],
                      "properties": {"publicIPAllocationMethod": "Static"}}).result()
    assert lb_ip.properties.ip_address
    nat_ip = net.public_ip_addresses.begin_create_or_update(
        rg, "nat-ip", {"location": location, "sku": {"name": "Standard"}}).result()
    basic_ip = net.public_ip_addresses.begin_create_or_update(
        rg, "basic-ip", {"location": location, "properties": {"publicIPAllocationMethod": "Static"}}).result()
    assert basic_ip.sku.name == "Basic"
    assert len({p.properties.ip_address for p in net.public_ip_addresses.list(rg)}) == 3

    nat = net.nat_gateways.begin_create_or_update(
        rg, "nat", {"location": location, "sku": {"name": "Standard"},
                    "properties": {"idleTimeoutInMinutes": 4, "publicIpAddresses": [{"id": nat_ip.id}]}}).result()
    assert nat.properties.public_ip_addresses[0].id == nat_ip.id
    assert net.nat_gateways.update_tags(rg, "nat", {"tags": {"x": "1"}}).tags == {"x": "1"}
    with pytest.raises(HttpResponseError) as e:
        net.nat_gateways.begin_create_or_update(
            rg, "nat2", {"location": location, "properties": {"publicIpAddresses": [{"id": basic_ip.id}]}}).result()
    assert error_code(e) == "NatGatewayCannotUseBasicSkuPublicIp"

    lb_id = nid(subscription_id, rg, "loadBalancers", "lb")

    def lb_params(ip_id):
        return {"location": location, "sku": {"name": "Standard"}, "properties": {
            "frontendIPConfigurations": [{"name": "fe", "properties": {"publicIPAddress": {"id": ip_id}}}],
            "backendAddressPools": [{"name": "cp"}],
            "probes": [{"name": "api", "properties": {"protocol": "Tcp", "port": 6443}}],
            "loadBalancingRules": [{"name": "api", "properties": {
                "frontendIPConfiguration": {"id": f"{lb_id}/frontendIPConfigurations/fe"},
                "backendAddressPool": {"id": f"{lb_id}/backendAddressPools/cp"},
                "probe": {"id": f"{lb_id}/probes/api"},
                "protocol": "Tcp", "frontendPort": 6443, "backendPort": 6443}}]}}

    with pytest.raises(HttpResponseError) as e:
        net.load_balancers.begin_create_or_update(rg, "lb", lb_params(basic_ip.id)).result()
    assert error_code(e) == "PublicIPAndLBSkuDoNotMatch"
    lb = net.load_balancers.begin_create_or_update(rg, "lb", lb_params(lb_ip.id)).result()
    fe = lb.properties.frontend_ip_configurations[0]
    assert [r.id for r in fe.properties.load_balancing_rules] == [f"{lb_id}/loadBalancingRules/api"]
    assert [r.id for r in lb.properties.probes[0].properties.load_balancing_rules] == [f"{lb_id}/loadBalancingRules/api"]
    assert net.public_ip_addresses.get(rg, "lb-ip").properties.ip_configuration.id == fe.id
    assert net.load_balancers.update_tags(rg, "lb", {"tags": {"t": "1"}}).tags == {"t": "1"}
    assert [x.name for x in net.load_balancers.list(rg)] == ["lb"]
    with pytest.raises(HttpResponseError) as e:
        net.public_ip_addresses.begin_delete(rg, "lb-ip").result()
    assert error_code(e) == "PublicIPAddressInUseCannotBeDeleted"

    net.load_balancers.begin_delete(rg, "lb").result()
    net.nat_gateways.begin_delete(rg, "nat").result()
    for name in ["lb-ip", "nat-ip", "basic-ip"]:
        net.public_ip_addresses.begin_delete(rg, name).result()
    assert list(net.public_ip_addresses.list(rg)) == []


def test_nic_and_private_endpoint(net, resource_group, location, subscription_id):
    rg = resource_group
    v = net.virtual_networks.begin_create_or_update(
        rg, "vnet", vnet_params(location, [("cp", "10.0.1.0/24"), ("pe", "10.0.3.0/24")])).result()
    cp, pe_subnet = v.properties.subnets
    with pytest.raises(HttpResponseError) as e:
        net.network_interfaces.begin_create_or_update(
            rg, "bad", {"location": location, "properties": {"ipConfigurations": [
                {"name": "ipconfig1", "properties": {"subnet": {"id": cp.id + "-missing"}}}]}}).result()
    assert error_code(e) == "InvalidResourceReference"
    addrs = []
    for name in ["nic0", "nic1"]:
        nic = net.network_interfaces.begin_create_or_update(
            rg, name, {"location": location, "properties": {"ipConfigurations": [
                {"name": "ipconfig1", "properties": {"subnet": {"id": cp.id}}}]}}).result()
        addrs.append(nic.properties.ip_configurations[0].properties.private_ip_address)
    assert addrs == ["10.0.1.4", "10.0.1.5"]
    assert net.network_interfaces.update_tags(rg, "nic0", {"tags": {"n": "0"}}).tags == {"n": "0"}
    assert sorted(n.name for n in net.network_interfaces.list(rg)) == ["nic0", "nic1"]
    with pytest.raises(HttpResponseError) as e:
        net.subnets.begin_delete(rg, "vnet", "cp").result()
    assert error_code(e) == "InUseSubnetCannotBeDeleted"

    # a private endpoint to another resource (a public IP stands in for the storage account)
    target = net.public_ip_addresses.begin_create_or_update(
        rg, "target", {"location": location, "sku": {"name": "Standard"}}).result()
    pe = net.private_endpoints.begin_create_or_update(
        rg, "pe", {"location": location, "properties": {
            "subnet": {"id": pe_subnet.id},
            "privateLinkServiceConnections": [{"name": "blob", "properties": {
                "privateLinkServiceId": target.id, "groupIds": ["blob"]}}]}}).result()
    conn = pe.properties.private_link_service_connections[0]
    assert conn.properties.private_link_service_connection_state.status == "Approved"
    nic_id = pe.properties.network_interfaces[0].id
    pe_nic = net.network_interfaces.get(rg, nic_id.rsplit("/", 1)[1])
    assert pe_nic.properties.ip_configurations[0].properties.private_ip_address == "10.0.3.4"
    assert [p.id for p in net.subnets.get(rg, "vnet", "pe").properties.private_endpoints] == [pe.id]
    assert [p.name for p in net.private_endpoints.list(rg)] == ["pe"]
    net.private_endpoints.begin_delete(rg, "pe").result()
    with pytest.raises(ResourceNotFoundError):
        net.network_interfaces.get(rg, nic_id.rsplit("/", 1)[1])

    for name in ["nic0", "nic1"]:
        net.network_interfaces.begin_delete(rg, name).result()
    net.virtual_networks.begin_delete(rg, "vnet").result()
