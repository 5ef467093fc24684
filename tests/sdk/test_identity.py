import base64
import json
import time

import requests
from azure.identity import ClientAssertionCredential


def _claims(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def test_client_secret_credential_gets_a_token(credential, sim_url):
    tok = credential.get_token(f"{sim_url}/.default")
    assert tok.expires_on > time.time()
    claims = _claims(tok.token)
    assert claims["appid"] == "azop-sdk-tests"
    assert claims["tid"]


def test_workload_identity_client_assertion(sim_url):
    def assertion():
        body = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time()) + 600}).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJSUzI1NiJ9.{body}.sig"

    cred = ClientAssertionCredential(
        "tenant-wi", "wi-client", assertion, authority=sim_url, disable_instance_discovery=True
    )
    tok = cred.get_token(f"{sim_url}/.default")
    assert _claims(tok.token)["appid"] == "wi-client"


def test_arm_without_token_is_401(sim_url, ca_bundle, subscription_id):
    r = requests.get(
        f"{sim_url}/subscriptions/{subscription_id}/resourcegroups?api-version=2021-04-01",
        verify=ca_bundle,
        timeout=10,
    )
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
