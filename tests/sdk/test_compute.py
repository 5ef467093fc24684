"""azure-mgmt-compute against azop-armsim: virtual machines, managed disks and images with the
SDK's own LRO pollers, plus the error cases."""

import base64

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient


@pytest.fixture(scope="module")
def compute(credential, subscription_id, mgmt_kwargs):
    return ComputeManagementClient(credential, subscription_id, **mgmt_kwargs)


@pytest.fixture(scope="module")
def net(credential, subscription_id, mgmt_kwargs):
    return NetworkManagementClient(credential, subscription_id, **mgmt_kwargs)


def make_nic(net, rg, location, name):
    try:
        subnet = net.subnets.get(rg, "vnet", "nodes")
    except ResourceNotFoundError:
        net.virtual_networks.begin_create_or_update(rg, "vnet", {"location": location, "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "nodes", "properties": {"addressPrefix": "10.0.1.0/24"}}]}}).result()
        subnet = net.subnets.get(rg, "vnet", "nodes")
    return net.network_interfaces.begin_create_or_update(rg, name, {"location": location, "properties": {
        "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet.id}}}]}}).result()


SECRET = "cloud-config: hunter2"


def vm_params(location, nic_id, image, delete_option="Delete"):
    return {
        "location": location,
        "zones": ["1"],
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
                "imageReference": image,
                "osDisk": {"createOption": "FromImage", "deleteOption": delete_option,
                           "managedDisk": {"storageAccountType": "Premium_LRS"}},
            },
            "osProfile": {
                "computerName": "node-0", "adminUsername": "azop",
                "customData": base64.b64encode(SECRET.encode()).decode(),
                "linuxConfiguration": {"disablePasswordAuthentication": True, "ssh": {"publicKeys": [
                    {"path": "/home/azop/.ssh/authorized_keys", "keyData": "ssh-ed25519 AAAAC3"}]}},
            },
            "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
        },
    }


UBUNTU = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}


def test_virtual_machine_lifecycle(compute, net, resource_group, location, sim):
    rg = resource_group
    nic = make_nic(net, rg, location, "nic0")
    vm = compute.virtual_machines.begin_create_or_update(rg, "node-0", vm_params(location, nic.id, UBUNTU)).result()
    assert vm.properties.provisioning_state == "Succeeded"
    assert vm.zones == ["1"]
    assert vm.properties.os_profile.custom_data is None, "customData is never echoed back"
    assert SECRET not in str(sim.inventory())
    disk_name = vm.properties.storage_profile.os_disk.name
    disk = compute.disks.get(rg, disk_name)
    assert disk.properties.disk_state == "Attached"
    assert disk.managed_by == vm.id
    assert net.network_interfaces.get(rg, "nic0").properties.virtual_machine.id == vm.id

    view = compute.virtual_machines.instance_view(rg, "node-0")
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    expanded = compute.virtual_machines.get(rg, "node-0", expand="instanceView")
    assert expanded.properties.instance_view.statuses[1].code == "PowerState/running"
    assert [v.name for v in compute.virtual_machines.list(rg)] == ["node-0"]

    updated = compute.virtual_machines.begin_update(rg, "node-0", {"tags": {"role": "worker"}}).result()
    assert updated.tags == {"role": "worker"}

    with pytest.raises(HttpResponseError) as e:
        net.network_interfaces.begin_delete(rg, "nic0").result()
    assert e.value.error.code == "NicInUse"
    with pytest.raises(HttpResponseError) as e:
        compute.disks.begin_delete(rg, disk_name).result()
    assert e.value.error.code == "OperationNotAllowed"
    nic1 = make_nic(net, rg, location, "nic1")
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update(rg, "node-1", vm_params(location, nic.id, UBUNTU)).result()
    assert e.value.error.code == "NicInUse"
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update(
            rg, "node-1", vm_params(location, nic1.id + "-missing", UBUNTU)).result()
    assert e.value.error.code == "NotFound"

    compute.virtual_machines.begin_delete(rg, "node-0").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(rg, "node-0")
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(rg, disk_name)
    net.network_interfaces.begin_delete(rg, "nic0").result()


def test_disks(compute, resource_group, location):
    rg = resource_group
    d = compute.disks.begin_create_or_update(rg, "data0", {
        "location": location, "sku": {"name": "Premium_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 128}}).result()
    assert d.properties.disk_state == "Unattached"
    assert d.properties.disk_size_gb == 128
    grown = compute.disks.begin_update(rg, "data0", {"properties": {"diskSizeGB": 256}}).result()
    assert grown.properties.disk_size_gb == 256
    assert compute.disks.get(rg, "data0").properties.disk_size_gb == 256
    assert [x.name for x in compute.disks.list_by_resource_group(rg)] == ["data0"]
    with pytest.raises(HttpResponseError) as e:
        compute.disks.begin_create_or_update(rg, "data1", {
            "location": location, "properties": {"creationData": {"createOption": "Empty"}}}).result()
    assert e.value.error.code == "InvalidParameter"
    compute.disks.begin_delete(rg, "data0").result()
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(rg, "data0")


def test_images_and_a_vm_from_one(compute, net, resource_group, location, subscription_id):
    rg = resource_group
    blob = "https://azopimages.blob.core.windows.net/vhds/node-1.37.vhd"
    with pytest.raises(HttpResponseError) as e:
        compute.images.begin_create_or_update(rg, "bad", {"location": location, "properties": {
            "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized", "blobUri": "nope"}}}}).result()
    assert e.value.error.code == "InvalidParameter"
    img = compute.images.begin_create_or_update(rg, "node", {"location": location, "properties": {
        "hyperVGeneration": "V2",
        "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized", "blobUri": blob,
                                      "storageAccountType": "Premium_LRS"}}}}).result()
    assert img.properties.storage_profile.os_disk.blob_uri == blob
    assert compute.images.get(rg, "node").properties.hyper_v_generation == "V2"
    assert [i.name for i in compute.images.list_by_resource_group(rg)] == ["node"]
    tagged = compute.images.begin_update(rg, "node", {"tags": {"k": "v"}}).result()
    assert tagged.tags == {"k": "v"}

    nic = make_nic(net, rg, location, "nic-img")
    missing = f"/subscriptions/{subscription_id}/resourceGroups/{rg}/providers/Microsoft.Compute/images/none"
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update(rg, "from-img", vm_params(location, nic.id, {"id": missing})).result()
    assert e.value.error.code == "NotFound"
    vm = compute.virtual_machines.begin_create_or_update(
        rg, "from-img", vm_params(location, nic.id, {"id": img.id}, delete_option="Detach")).result()
    assert vm.properties.storage_profile.image_reference.id == img.id
    disk_name = vm.properties.storage_profile.os_disk.name
    compute.virtual_machines.begin_delete(rg, "from-img").result()
    assert compute.disks.get(rg, disk_name).properties.disk_state == "Unattached"
    compute.disks.begin_delete(rg, disk_name).result()
    compute.images.begin_delete(rg, "node").result()
