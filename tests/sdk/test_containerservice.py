import base64

import yaml

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient


@pytest.fixture
def aks(credential, subscription_id, mgmt_kwargs):
    return ContainerServiceClient(credential, subscription_id, **mgmt_kwargs)


def _cluster(location, version="1.35"):
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
    assert mc.current_kubernetes_version == "1.35.4"
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
    upgraded = aks.managed_clusters.begin_create_or_update(resource_group, "sdkaks", _cluster(location, "1.36")).result()
    assert upgraded.current_kubernetes_version == "1.36.3"

    creds = aks.managed_clusters.list_cluster_user_credentials(resource_group, "sdkaks")
    kubeconfig = creds.kubeconfigs[0].value
    if isinstance(kubeconfig, str):
        kubeconfig = base64.b64decode(kubeconfig)
    assert b"server: https://sdkaks-" in kubeconfig
    admin = aks.managed_clusters.list_cluster_admin_credentials(resource_group, "sdkaks")
    assert admin.kubeconfigs[0].name == "clusterAdmin"

    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "sdkaks", _cluster(location, "1.35")).result()
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
    assert minors == ["1.35", "1.36", "1.37"]
    default = next(v for v in versions.values_property if v.version == "1.36")
    assert default.is_default
    assert sorted(default.patch_versions) == ["1.36.1", "1.36.3"]
    assert "1.37.2" in default.patch_versions["1.36.3"].upgrades
    for gone in ["1.36.9", "1.34", "1.33.3"]:
        with pytest.raises(HttpResponseError) as e:
            aks.managed_clusters.begin_create_or_update(resource_group, "badpatch", _cluster(location, gone)).result()
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

    aks.managed_clusters.begin_create_or_update(resource_group, "skip", _cluster(location, "1.35")).result()
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "skip", _cluster(location, "1.37")).result()
    assert "next minor version" in e.value.error.message
    newer = {"properties": {"count": 1, "mode": "User", "vmSize": "Standard_D2s_v5", "orchestratorVersion": "1.36"}}
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
    aks.managed_clusters.begin_create_or_update(resource_group, "played", _cluster(location, "1.36")).result()
    cid = f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.ContainerService/managedClusters/played"
    before = aks.managed_clusters.get(resource_group, "played")
    sim.post("aks/upgrade", {"id": cid, "version": "1.37"})
    after = aks.managed_clusters.get(resource_group, "played")
    assert after.current_kubernetes_version == "1.37.2"
    assert after.agent_pool_profiles[0].current_orchestrator_version == "1.37.2"
    assert after.e_tag and after.e_tag != before.e_tag
    sim.post("aks/autoscale", {"id": f"{cid}/agentPools/system", "count": 5})
    assert aks.agent_pools.get(resource_group, "played", "system").count == 5
    old = aks.managed_clusters.list_cluster_admin_credentials(resource_group, "played").kubeconfigs[0].value
    sim.post("aks/rotate-credentials", {"id": cid})
    new = aks.managed_clusters.list_cluster_admin_credentials(resource_group, "played").kubeconfigs[0].value
    assert old != new


WORKSPACE = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/logs"
IDENTITY = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}"


def _featured(location):
    body = _cluster(location, "1.37")
    p = body["properties"]
    body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY.format("cp"): {}}}
    p["identityProfile"] = {"kubeletidentity": {"resourceId": IDENTITY.format("kubelet")}}
    p["oidcIssuerProfile"] = {"enabled": True}
    p["securityProfile"] = {"workloadIdentity": {"enabled": True}}
    p["addonProfiles"] = {
        "azurepolicy": {"enabled": True},
        "omsagent": {"enabled": True, "config": {"logAnalyticsWorkspaceResourceID": WORKSPACE}},
        "azureKeyvaultSecretsProvider": {"enabled": True, "config": {"enableSecretRotation": "true"}},
    }
    p["workloadAutoScalerProfile"] = {"keda": {"enabled": True}, "verticalPodAutoscaler": {"enabled": True}}
    p["autoScalerProfile"] = {"scan-interval": "20s", "expander": "least-waste"}
    p["agentPoolProfiles"].append({
        "name": "spot", "mode": "User", "count": 1, "vmSize": "Standard_D4s_v5", "osType": "Linux",
        "osSKU": "AzureLinux", "scaleSetPriority": "Spot", "nodeTaints": ["workload=batch:NoSchedule"],
        "enableAutoScaling": True, "minCount": 0, "maxCount": 3,
    })
    p["agentPoolProfiles"][0]["upgradeSettings"] = {"maxSurge": "33%", "drainTimeoutInMinutes": 30}
    return body


def test_add_ons_identities_and_autoscalers_are_echoed_as_aks_does(aks, resource_group, location):
    mc = aks.managed_clusters.begin_create_or_update(resource_group, "featured", _featured(location)).result()
    assert mc.identity.type == "UserAssigned"
    assert list(mc.identity.user_assigned_identities) == [IDENTITY.format("cp")]
    assert mc.identity.user_assigned_identities[IDENTITY.format("cp")].principal_id
    kubelet = mc.identity_profile["kubeletidentity"]
    assert kubelet.resource_id == IDENTITY.format("kubelet") and kubelet.object_id
    assert mc.security_profile.workload_identity.enabled
    addons = mc.addon_profiles
    assert addons["azurepolicy"].enabled
    policy_id = addons["azurepolicy"].identity.resource_id
    assert policy_id.endswith(f"/MC_{resource_group}_featured_{location}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/azurepolicy-featured"), policy_id
    assert addons["omsagent"].identity.client_id
    assert addons["azureKeyvaultSecretsProvider"].config == {"enableSecretRotation": "true", "rotationPollInterval": "2m"}
    assert mc.workload_auto_scaler_profile.keda.enabled and mc.workload_auto_scaler_profile.vertical_pod_autoscaler.enabled
    assert mc.auto_scaler_profile.scan_interval == "20s" and mc.auto_scaler_profile.expander == "least-waste"
    assert mc.auto_scaler_profile.max_node_provision_time == "15m"  # AKS's default, filled in
    spot = aks.agent_pools.get(resource_group, "featured", "spot")
    assert spot.scale_set_priority == "Spot" and spot.scale_set_eviction_policy == "Delete" and spot.spot_max_price == -1
    assert spot.node_taints == ["workload=batch:NoSchedule", "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"]
    assert spot.node_labels["kubernetes.azure.com/scalesetpriority"] == "spot"
    assert spot.os_sku == "AzureLinux"
    system = aks.agent_pools.get(resource_group, "featured", "system")
    assert system.upgrade_settings.max_surge == "33%" and system.os_sku == "Ubuntu"

    # Turned off in place: the add-on keeps no identity; KEDA goes off.
    body = _featured(location)
    body["properties"]["addonProfiles"]["azurepolicy"] = {"enabled": False}
    body["properties"]["workloadAutoScalerProfile"]["keda"]["enabled"] = False
    mc = aks.managed_clusters.begin_create_or_update(resource_group, "featured", body).result()
    assert not mc.addon_profiles["azurepolicy"].enabled and mc.addon_profiles["azurepolicy"].identity is None
    assert not mc.workload_auto_scaler_profile.keda.enabled
    # A PUT that leaves a feature out keeps it.
    body = _featured(location)
    del body["properties"]["addonProfiles"]
    mc = aks.managed_clusters.begin_create_or_update(resource_group, "featured", body).result()
    assert mc.addon_profiles["omsagent"].enabled
    # Spot is for good.
    pool = aks.agent_pools.get(resource_group, "featured", "spot").as_dict()
    pool["properties"]["scaleSetPriority"] = "Regular"
    with pytest.raises(HttpResponseError) as e:
        aks.agent_pools.begin_create_or_update(resource_group, "featured", "spot", pool).result()
    assert "scaleSetPriority" in e.value.error.message


def test_what_aks_refuses_of_the_features(aks, resource_group, location):
    def refused(mutate, words):
        body = _featured(location)
        mutate(body)
        with pytest.raises(HttpResponseError) as e:
            aks.managed_clusters.begin_create_or_update(resource_group, "refused", body).result()
        assert e.value.error.code == "InvalidParameter" and words in e.value.error.message, e.value.error.message

    refused(lambda b: b["properties"]["addonProfiles"]["azurepolicy"].update({"config": {"version": "v1"}}), "azurepolicy")
    refused(lambda b: b["properties"]["addonProfiles"]["omsagent"].pop("config"), "logAnalyticsWorkspaceResourceID")
    refused(lambda b: b["properties"]["addonProfiles"].update({"httpApplicationRouting": {"enabled": True}}), "not supported")
    refused(lambda b: b.update({"identity": {"type": "SystemAssigned"}}), "kubelet identity")
    refused(lambda b: b["properties"].update({"oidcIssuerProfile": {"enabled": False}}), "OIDC issuer")
    refused(lambda b: b["properties"]["agentPoolProfiles"][0].update({"scaleSetPriority": "Spot"}), "System pool")
    refused(lambda b: b["properties"]["agentPoolProfiles"][1].update({"nodeTaints": ["workload:NoSchedule"]}), "nodeTaints")
    refused(lambda b: b["properties"]["agentPoolProfiles"][1].update({"osSKU": "Windows2022"}), "OS type")
    refused(lambda b: b["properties"]["autoScalerProfile"].update({"scan-interval": "20"}), "scan-interval")
    refused(lambda b: b["properties"]["agentPoolProfiles"][0]["upgradeSettings"].update({"maxSurge": "150%"}), "maxSurge")


def test_maintenance_windows_are_child_resources(aks, resource_group, location):
    aks.managed_clusters.begin_create_or_update(resource_group, "planned", _cluster(location, "1.36")).result()
    window = {"properties": {"maintenanceWindow": {
        "schedule": {"relativeMonthly": {"intervalMonths": 1, "weekIndex": "First", "dayOfWeek": "Sunday"}},
        "durationHours": 6, "utcOffset": "+01:00", "startTime": "02:00",
        "notAllowedDates": [{"start": "2027-12-20", "end": "2028-01-03"}],
    }}}
    mc = aks.maintenance_configurations.create_or_update(resource_group, "planned", "aksManagedAutoUpgradeSchedule", window)
    w = mc.maintenance_window
    assert w.duration_hours == 6 and w.schedule.relative_monthly.week_index == "First" and w.start_date
    node_os = {"properties": {"maintenanceWindow": {"schedule": {"daily": {"intervalDays": 1}}, "startTime": "22:00"}}}
    mc = aks.maintenance_configurations.create_or_update(resource_group, "planned", "aksManagedNodeOSUpgradeSchedule", node_os)
    assert mc.maintenance_window.duration_hours == 24 and mc.maintenance_window.utc_offset == "+00:00"
    names = sorted(c.name for c in aks.maintenance_configurations.list_by_managed_cluster(resource_group, "planned"))
    assert names == ["aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"]
    with pytest.raises(HttpResponseError) as e:
        aks.maintenance_configurations.create_or_update(resource_group, "planned", "aksManagedAutoUpgradeSchedule", node_os)
    assert "daily" in e.value.error.message
    with pytest.raises(HttpResponseError) as e:
        aks.maintenance_configurations.create_or_update(resource_group, "planned", "nightly", window)
    assert e.value.error.code == "InvalidParameter"
    aks.maintenance_configurations.delete(resource_group, "planned", "aksManagedNodeOSUpgradeSchedule")
    names = [c.name for c in aks.maintenance_configurations.list_by_managed_cluster(resource_group, "planned")]
    assert names == ["aksManagedAutoUpgradeSchedule"]
    aks.managed_clusters.begin_delete(resource_group, "planned").result()


def test_the_user_kubeconfig_of_an_entra_id_cluster_is_yaml_kubectl_can_load(aks, resource_group, location):
    aks.managed_clusters.begin_create_or_update(resource_group, "entra", _cluster(location, "1.36")).result()
    user = aks.managed_clusters.list_cluster_user_credentials(resource_group, "entra", format="exec")
    kubeconfig = user.kubeconfigs[0].value
    if isinstance(kubeconfig, str):
        kubeconfig = base64.b64decode(kubeconfig)
    config = yaml.safe_load(kubeconfig)
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["installHint"] == "kubelogin is required: https://aka.ms/aks/kubelogin"
    assert config["current-context"] == config["contexts"][0]["name"]
