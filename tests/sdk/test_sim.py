"""Fault injection and introspection seen through the SDKs."""

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient


def test_injected_error_reaches_the_sdk(resource_client, resource_group, sim):
    sim.add_fault({"method": "GET", "path": f"/subscriptions/*/resourcegroups/{resource_group}", "times": 1,
                   "action": {"type": "respond", "status": 409, "code": "Conflict", "message": "injected"}})
    with pytest.raises(HttpResponseError) as e:
        resource_client.resource_groups.get(resource_group)
    assert e.value.error.code == "Conflict"
    assert resource_client.resource_groups.get(resource_group).name == resource_group


def test_async_failure_fails_the_poller(credential, subscription_id, mgmt_kwargs, resource_group, location, sim):
    aks = ContainerServiceClient(credential, subscription_id, **mgmt_kwargs)
    sim.add_fault({"method": "PUT", "path": "*/managedClusters/doomed", "times": 1,
                   "action": {"type": "failAsync", "code": "QuotaExceeded", "message": "no cores left"}})
    body = {"location": location, "properties": {"dnsPrefix": "d",
            "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 1, "vmSize": "Standard_D2s_v5"}]}}
    with pytest.raises(HttpResponseError) as e:
        aks.managed_clusters.begin_create_or_update(resource_group, "doomed", body).result()
    assert "QuotaExceeded" in str(e.value)


def test_inventory_and_request_log(resource_client, resource_group, sim):
    ids = [r["id"] for r in sim.inventory()]
    assert any(i.endswith(f"/resourceGroups/{resource_group}") for i in ids)
    recs = sim.requests(method="PUT", path=resource_group)
    assert recs and recs[0]["principal"] == "azop-sdk-tests"
