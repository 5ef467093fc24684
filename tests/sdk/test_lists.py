"""Listing as the SDKs walk it: subscription-wide lists page with an absolute nextLink
(run.sh serves 10 items a page), every item carries its etag, and the continuation token is a
cursor: resources created or deleted between two pages shift nothing, so no existing resource
is skipped or listed twice (azop's shared listing cache relies on it)."""

import uuid

import pytest
from azure.mgmt.network import NetworkManagementClient


@pytest.fixture(scope="module")
def net(credential, subscription_id, mgmt_kwargs):
    return NetworkManagementClient(credential, subscription_id, **mgmt_kwargs)


@pytest.fixture
def two_groups(resource_client, location):
    names = [f"rg-list-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    for n in names:
        resource_client.resource_groups.create_or_update(n, {"location": location})
    yield names
    for n in names:
        if resource_client.resource_groups.check_existence(n):
            resource_client.resource_groups.begin_delete(n).result()


def ip(net, rg, name, location):
    return net.public_ip_addresses.begin_create_or_update(
        rg, name, {"location": location, "sku": {"name": "Standard"},
                   "properties": {"publicIPAllocationMethod": "Static"}}
    ).result()


def ours(items, groups):
    return [i for i in items if i.id.split("/")[4].lower() in {g.lower() for g in groups}]


def test_subscription_list_pages_with_etags(net, two_groups, location):
    made = {}
    for i in range(23):
        rg = two_groups[i % 2]
        made[f"pip-{i:02d}"] = ip(net, rg, f"pip-{i:02d}", location)
    pages = list(net.public_ip_addresses.list_all().by_page())
    assert len(pages) >= 3, "23 of ours on 10-item pages"
    items = [i for p in pages for i in p]
    seen = ours(items, two_groups)
    assert sorted(i.name for i in seen) == sorted(made)
    for i in seen:
        assert i.etag and i.etag.startswith('W/"'), i.name
        assert i.etag == made[i.name].etag, "the list shows the etag a GET shows"

    # A write changes the etag, and the list shows the new one (the one a GET shows once
    # the write has settled).
    net.public_ip_addresses.update_tags(two_groups[0], "pip-00", {"tags": {"x": "y"}})
    now = net.public_ip_addresses.get(two_groups[0], "pip-00")
    assert now.etag != made["pip-00"].etag
    again = {i.name: i.etag for i in ours(net.public_ip_addresses.list_all(), two_groups)}
    assert again["pip-00"] == now.etag
    assert again["pip-01"] == made["pip-01"].etag


def test_changes_between_pages_shift_nothing(net, two_groups, location):
    rg = two_groups[0]
    before = [f"pip-m{i:02d}" for i in range(0, 30, 2)]
    for n in before:
        ip(net, rg, n, location)
    pager = net.public_ip_addresses.list(rg).by_page()
    first = [i.name for i in next(pager)]
    assert len(first) == 10
    # Between pages: new resources sorting before and after the cursor, and one deleted
    # that the first page already served. An offset token would now skip existing ones.
    for n in ["pip-a00", "pip-a01", "pip-m01", "pip-m03", "pip-z00"]:
        ip(net, rg, n, location)
    net.public_ip_addresses.begin_delete(rg, first[0]).result()
    rest = [i.name for p in pager for i in p]
    listed = first + rest
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    missing = set(before) - set(listed)
    assert not missing, f"existing resources skipped: {sorted(missing)}"
    assert "pip-z00" in rest, "a resource created after the cursor is found"
    assert "pip-a00" not in listed, "one created before the cursor waits for the next walk"
