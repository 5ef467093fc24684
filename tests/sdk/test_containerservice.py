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
