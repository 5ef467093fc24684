"""Fixtures for driving azop-armsim with Microsoft's Python SDKs.

run.sh starts the simulator (https, self-signed) and sets ARMSIM_URL, ARMSIM_CA and
REQUESTS_CA_BUNDLE. Fixtures other test files use:

- ``sim_url``: the simulator's base URL (ARM is served at its root).
- ``credential``: azure-identity ``ClientSecretCredential`` against the simulator's token
  endpoint (``authority=sim_url``; ``disable_instance_discovery=True`` because MSAL would
  otherwise ask login.microsoftonline.com whether the authority is known).
- ``subscription_id``, ``location``.
- ``mgmt_kwargs``: keyword arguments every ``*ManagementClient`` needs:
  ``client(credential, subscription_id, **mgmt_kwargs)``.
- ``resource_group``: a fresh resource group name (created before, deleted after the test).
- ``sim``: a small client for ``/_sim/`` (faults, inventory, requests).
"""

import os
import uuid

import pytest
import requests
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient

TENANT_ID = "72f988bf-0000-0000-0000-000000000001"
CLIENT_ID = "azop-sdk-tests"
CLIENT_SECRET = "not-a-real-secret"


@pytest.fixture(scope="session")
def sim_url():
    url = os.environ.get("ARMSIM_URL")
    if not url:
        pytest.fail("ARMSIM_URL is not set: run tests/sdk/run.sh")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def ca_bundle():
    return os.environ.get("ARMSIM_CA")


@pytest.fixture(scope="session")
def credential(sim_url):
    return ClientSecretCredential(
        TENANT_ID,
        CLIENT_ID,
        CLIENT_SECRET,
        authority=sim_url,
        disable_instance_discovery=True,
    )


@pytest.fixture(scope="session")
def subscription_id():
    return "00000000-0000-0000-0000-0000000000a1"


@pytest.fixture(scope="session")
def location():
    return "westeurope"


@pytest.fixture(scope="session")
def mgmt_kwargs(sim_url):
    return {"base_url": sim_url, "credential_scopes": [f"{sim_url}/.default"]}


@pytest.fixture(scope="session")
def resource_client(credential, subscription_id, mgmt_kwargs):
    return ResourceManagementClient(credential, subscription_id, **mgmt_kwargs)


@pytest.fixture
def resource_group(resource_client, location):
    name = f"rg-{uuid.uuid4().hex[:8]}"
    resource_client.resource_groups.create_or_update(name, {"location": location})
    yield name
    if resource_client.resource_groups.check_existence(name):
        resource_client.resource_groups.begin_delete(name).result()


class Sim:
    """The simulator's /_sim/ API."""

    def __init__(self, url, ca):
        self.url = url
        self.verify = ca or True

    def add_fault(self, spec):
        r = requests.post(f"{self.url}/_sim/faults", json=spec, verify=self.verify, timeout=10)
        r.raise_for_status()
        return r.json()

    def clear_faults(self):
        requests.delete(f"{self.url}/_sim/faults", verify=self.verify, timeout=10).raise_for_status()

    def inventory(self):
        r = requests.get(f"{self.url}/_sim/inventory", verify=self.verify, timeout=10)
        r.raise_for_status()
        return r.json()["value"]

    def post(self, path, body):
        r = requests.post(f"{self.url}/_sim/{path}", json=body, verify=self.verify, timeout=10)
        r.raise_for_status()

    def requests(self, **filters):
        r = requests.get(f"{self.url}/_sim/requests", params=filters, verify=self.verify, timeout=10)
        r.raise_for_status()
        return r.json()["value"]


@pytest.fixture
def sim(sim_url, ca_bundle):
    s = Sim(sim_url, ca_bundle)
    yield s
    s.clear_faults()
