import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.storage import StorageManagementClient


@pytest.fixture
def storage(credential, subscription_id, mgmt_kwargs):
    return StorageManagementClient(credential, subscription_id, **mgmt_kwargs)


def _params(location, **props):
    return {"location": location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", **props}


def test_storage_account_lifecycle(storage, resource_group, location):
    name = "sdk" + uuid.uuid4().hex[:12]
    avail = storage.storage_accounts.check_name_availability({"name": name, "type": "Microsoft.Storage/storageAccounts"})
    assert avail.name_available
    acct = storage.storage_accounts.begin_create(resource_group, name, _params(location)).result()
    assert acct.name == name
    assert acct.provisioning_state == "Succeeded"
    assert acct.minimum_tls_version == "TLS1_2"
    assert acct.allow_blob_public_access is False
    assert acct.enable_https_traffic_only is True
    got = storage.storage_accounts.get_properties(resource_group, name)
    assert got.primary_endpoints.blob == f"https://{name}.blob.core.windows.net/"
    assert [a.name for a in storage.storage_accounts.list_by_resource_group(resource_group)] == [name]
    assert any(a.name == name for a in storage.storage_accounts.list())
    updated = storage.storage_accounts.update(resource_group, name, {"tags": {"env": "test"}})
    assert updated.tags == {"env": "test"}
    keys = storage.storage_accounts.list_keys(resource_group, name)
    assert [k["keyName"] for k in keys["keys"]] == ["key1", "key2"]
    taken = storage.storage_accounts.check_name_availability({"name": name, "type": "Microsoft.Storage/storageAccounts"})
    assert not taken.name_available and taken.reason == "AlreadyExists"

    containers = storage.blob_containers
    c = containers.create(resource_group, name, "vhds", {})
    assert c.public_access == "None"
    assert containers.get(resource_group, name, "vhds").name == "vhds"
    containers.update(resource_group, name, "vhds", {"properties": {"metadata": {"k": "v"}}})
    assert containers.get(resource_group, name, "vhds").metadata == {"k": "v"}
    assert [x.name for x in containers.list(resource_group, name)] == ["vhds"]
    containers.delete(resource_group, name, "vhds")
    with pytest.raises(ResourceNotFoundError):
        containers.get(resource_group, name, "vhds")

    storage.storage_accounts.delete(resource_group, name)
    with pytest.raises(ResourceNotFoundError) as e:
        storage.storage_accounts.get_properties(resource_group, name)
    assert e.value.error.code == "ResourceNotFound"


def test_storage_errors(storage, resource_group, location):
    with pytest.raises(HttpResponseError) as e:
        storage.storage_accounts.begin_create(resource_group, "Bad-Name", _params(location)).result()
    assert e.value.error.code == "AccountNameInvalid"
    name = "sdk" + uuid.uuid4().hex[:12]
    storage.storage_accounts.begin_create(resource_group, name, _params(location)).result()
    with pytest.raises(HttpResponseError) as e:
        storage.storage_accounts.begin_create("elsewhere-" + resource_group, name, _params(location)).result()
    assert e.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(HttpResponseError) as e:
        storage.blob_containers.create(resource_group, name, "public", {"properties": {"publicAccess": "Blob"}})
    assert e.value.error.code == "PublicAccessNotPermitted"
    acls = {"defaultAction": "Deny", "virtualNetworkRules": [{"id": f"/subscriptions/x/resourceGroups/{resource_group}/providers/Microsoft.Network/virtualNetworks/nope/subnets/a"}]}
    with pytest.raises(HttpResponseError) as e:
        storage.storage_accounts.begin_create(resource_group, name + "x", _params(location, properties={"networkAcls": acls})).result()
    assert e.value.error.code == "NetworkAclsValidationFailure"
