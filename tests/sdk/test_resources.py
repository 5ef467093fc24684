import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError


def test_resource_group_lifecycle(resource_client, location):
    rgs = resource_client.resource_groups
    created = rgs.create_or_update("sdk-rg-Life", {"location": location, "tags": {"a": "1"}})
    assert created.properties.provisioning_state == "Succeeded"
    assert created.location == location
    assert rgs.check_existence("SDK-RG-LIFE"), "names are case-insensitive"
    got = rgs.get("sdk-rg-life")
    assert got.id.endswith("/resourceGroups/sdk-rg-Life")
    assert got.tags == {"a": "1"}
    updated = rgs.update("sdk-rg-life", {"tags": {"b": "2"}})
    assert updated.tags == {"b": "2"}
    assert any(g.name == "sdk-rg-Life" for g in rgs.list())
    rgs.begin_delete("sdk-rg-life").result()
    assert not rgs.check_existence("sdk-rg-life")


def test_missing_resource_group_errors(resource_client):
    with pytest.raises(ResourceNotFoundError) as e:
        resource_client.resource_groups.get("does-not-exist")
    assert e.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(HttpResponseError) as e:
        resource_client.resource_groups.create_or_update("bad-rg", {})
    assert e.value.error.code == "LocationRequired"


def test_generic_resource_list(resource_client, resource_group):
    assert list(resource_client.resources.list_by_resource_group(resource_group)) == []


def test_tags_at_scope_merge_delete_replace(resource_client, resource_group, subscription_id):
    """The Tags API at a scope (how azop removes its ownership tags for deletionPolicy
    Orphan): Delete removes a tag only when name and value match."""
    scope = f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
    tags = resource_client.tags
    put = tags.begin_create_or_update_at_scope(
        scope,
        {"properties": {"tags": {"azop.dev/uid": "u1", "azop.dev/owner": "AksCluster/ns/c", "team": "a"}}},
    ).result()
    assert put.properties.tags == {"azop.dev/uid": "u1", "azop.dev/owner": "AksCluster/ns/c", "team": "a"}
    deleted = tags.begin_update_at_scope(
        scope,
        {"operation": "Delete", "properties": {"tags": {"azop.dev/uid": "u1", "azop.dev/owner": "AksCluster/ns/other"}}},
    ).result()
    assert deleted.properties.tags == {"azop.dev/owner": "AksCluster/ns/c", "team": "a"}
    merged = tags.begin_update_at_scope(
        scope, {"operation": "Merge", "properties": {"tags": {"team": "b", "cost": "1"}}}
    ).result()
    assert merged.properties.tags == {"azop.dev/owner": "AksCluster/ns/c", "team": "b", "cost": "1"}
    assert tags.get_at_scope(scope).properties.tags == merged.properties.tags
    assert resource_client.resource_groups.get(resource_group).tags == merged.properties.tags
    replaced = tags.begin_update_at_scope(
        scope, {"operation": "Replace", "properties": {"tags": {"only": "this"}}}
    ).result()
    assert replaced.properties.tags == {"only": "this"}
    with pytest.raises(ResourceNotFoundError):
        tags.get_at_scope(f"{scope}/providers/Microsoft.Network/virtualNetworks/nope")
