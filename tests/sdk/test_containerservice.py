import base64

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient


@pytest.fixture
def aks(credential, subscription_id, mgmt_kwargs):
    return ContainerServiceClient(credential, subscription_id, **mgmt_kwargs)


def _cluster(location, version="1.32"):
    # Dicts are sent as-is by the SDK, so they are written in wire format.
    return {
        "location": location,
        "sku": {"name": "Base", "tier": "Standard"},
        "properties": {
            "kubernetesVersion": version,
            "dnsPrefix": "sdkaks",
            "autoUpgradeProfile": {"upgradeChannel": "rapid"},
            "aadProfile": {"managed": True, "enableAzureRBAC": True, "adminGroupObjectIDs": ["00000000-0000-0000-0000-0000000000aa"]},
            "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 3, "vmSize": "Standard_D4s_v5", "osType": "Linux"}],
            "networkProfile": {"networkPlugin": "azure", "networkPluginMode": "overlay", "podCidr": "192.168.0.0/16"},
            "apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"]},
            "httpProxyConfig": {"httpProxy": "http://proxy:3128", "noProxy": ["localhost"]},
        },
    }


def test_managed_cluster_lifecycle(aks, resource_group, location):
    mc = aks.managed_clusters.begin_create_or_update(resource_group, "sdkaks", _cluster(location)).result()
    assert mc.provisioning_state == "Succeeded"
    assert mc.current_kubernetes_version == "1.32.7"
    assert mc.fqdn.endswith(".hcp.westeurope.azmk8s.io")
    assert mc.sku.tier == "Standard"
    assert mc.http_proxy_config.http_proxy == "http://proxy:3128"
    assert [p.name for p in mc.agent_pool_profiles] == ["system"]
    assert [c.name for c in aks.managed_clusters.list_by_resource_group(resource_group)] == ["sdkaks"]

    pool = aks.agent_pools.begin_create_or_update(
        resource_group, "sdkaks", "user1", {"properties": {"count": 2, "mode": "User", "vmSize": "Standard_D2s_v5"}}
    ).result()
    assert pool.provisioning_state == "Succeeded"
    assert sorted(p.name for p in aks.agent_pools.list(resource_group, "sdkaks")) == ["system", "user1"]
    assert len(aks.managed_clusters.get(resource_group, "sdkaks").agent_pool_profiles) == 2
    aks.agent_pools.begin_delete(resource_group, "sdkaks", "user1").result()

    tagged = aks.managed_clusters.begin_update_tags(resource_group, "sdkaks", {"tags": {"t": "1"}}).result()
    assert tagged.tags == {"t": "1"}
    upgraded = aks.managed_clusters.begin_create_or_update(resource_group, "sdkaks", _cluster(location, "1.33")).result()
    assert upgraded.current_kubernetes_version == "1.33.3"

    creds = aks.managed_clusters.list_cluster_user_credentials(resource_group, "sdkaks")
    kubeconfig = creds.kubeconfigs[0].value
    if isinstance(kubeconfig, str):
        kubeconfig = base64.b64decode(kubeconfig)
    assert b"server: https://sdkaks-" in kubeconfig
    admin = aks.managed_clusters.list_cluster_admin_credentials(resource_group, "sdkaks")
    assert admin.kubeconfigs[0].name == "clusterAdmin"

    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "sdkaks", _cluster(location, "1.32")).result()
    assert e.value.error.code == "NotAllowedK8sVersionDowngrading"

    aks.managed_clusters.begin_delete(resource_group, "sdkaks").result()
    assert list(aks.managed_clusters.list_by_resource_group(resource_group)) == []


def test_managed_cluster_errors(aks, resource_group, location):
    bad = _cluster(location)
    bad["properties"]["agentPoolProfiles"][0]["mode"] = "User"
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "nosys", bad).result()
    assert e.value.error.code == "MustDefineAtLeastOneSystemPool"
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "old", _cluster(location, "1.20")).result()
    assert e.value.error.code == "K8sVersionNotSupported"


def test_kubernetes_versions_are_listed_and_only_those_are_accepted(aks, resource_group, location):
    versions = aks.managed_clusters.list_kubernetes_versions(location)
    minors = [v.version for v in versions.values_property]
    assert minors == ["1.31", "1.32", "1.33", "1.34"]
    v133 = next(v for v in versions.values_property if v.version == "1.33")
    assert v133.is_default
    assert sorted(v133.patch_versions) == ["1.33.2", "1.33.3"]
    assert "1.34.1" in v133.patch_versions["1.33.3"].upgrades
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "badpatch", _cluster(location, "1.33.9")).result()
    assert e.value.error.code == "K8sVersionNotSupported"


def test_what_aks_refuses(aks, resource_group, location):
    plain = _cluster(location)
    del plain["properties"]["networkProfile"]["networkPluginMode"]
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "plaincni", plain).result()
    assert e.value.error.code == "InvalidParameter" and "podCidr" in e.value.error.message
    lts = _cluster(location)
    lts["properties"]["supportPlan"] = "AKSLongTermSupport"
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "lts", lts).result()
    assert "Premium" in e.value.error.message
    lts["sku"]["tier"] = "Premium"
    assert aks.managed_clusters.begin_create_or_update(resource_group, "lts", lts).result().support_plan == "AKSLongTermSupport"

    aks.managed_clusters.begin_create_or_update(resource_group, "skip", _cluster(location, "1.32")).result()
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "skip", _cluster(location, "1.34")).result()
    assert "next minor version" in e.value.error.message
    newer = {"properties": {"count": 1, "mode": "User", "vmSize": "Standard_D2s_v5", "orchestratorVersion": "1.33"}}
    with pytest.raises(HttpResponseError) as e:
        aks.agent_pools.begin_create_or_update(resource_group, "skip", "ahead", newer).result()
    assert e.value.error.code == "NodePoolMcVersionIncompatible"


def test_credentials_follow_local_accounts_and_entra_id(aks, resource_group, location):
    body = _cluster(location)
    body["properties"]["disableLocalAccounts"] = True
    aks.managed_clusters.begin_create_or_update(resource_group, "nolocal", body).result()
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.list_cluster_admin_credentials(resource_group, "nolocal")
    assert "disable local accounts" in e.value.error.message
    user = aks.managed_clusters.list_cluster_user_credentials(resource_group, "nolocal", format="exec")
    kubeconfig = user.kubeconfigs[0].value
    if isinstance(kubeconfig, str):
        kubeconfig = base64.b64decode(kubeconfig)
    assert b"command: kubelogin" in kubeconfig and b"token:" not in kubeconfig


def test_the_auto_upgrader_the_autoscaler_and_a_rotation_can_be_played(aks, resource_group, location, sim, subscription_id):
    aks.managed_clusters.begin_create_or_update(resource_group, "played", _cluster(location, "1.33")).result()
    cid = f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.ContainerService/managedClusters/played"
    before = aks.managed_clusters.get(resource_group, "played")
    sim.post("aks/upgrade", {"id": cid, "version": "1.34"})
    after = aks.managed_clusters.get(resource_group, "played")
    assert after.current_kubernetes_version == "1.34.1"
    assert after.agent_pool_profiles[0].current_orchestrator_version == "1.34.1"
    assert after.e_tag and after.e_tag != before.e_tag
    sim.post("aks/autoscale", {"id": f"{cid}/agentPools/system", "count": 5})
    assert aks.agent_pools.get(resource_group, "played", "system").count == 5
    old = aks.managed_clusters.list_cluster_admin_credentials(resource_group, "played").kubeconfigs[0].value
    sim.post("aks/rotate-credentials", {"id": cid})
    new = aks.managed_clusters.list_cluster_admin_credentials(resource_group, "played").kubeconfigs[0].value
    assert old != new
