"""A resource's own Hugging Face token (`spec.hfTokenSecretRef`) and GenStudio key
(`genstudio.apiKey.fromSecret`), read from Secrets of its namespace. The hfops emulator accepts only
the team's token, so a run that used the operator's own HF_TOKEN instead would be refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from hfops.emulator import EmulatorConfig
from tests.operator._harness import HF_NAMESPACE, K8S_NAMESPACE, Cluster, condition, resource

TEAM_TOKEN = "hf_fake_team_token_for_operator_0000"
GENSTUDIO_KEY = "fake-genstudio-key-from-a-secret-0000"


@pytest.fixture
def hf_config() -> EmulatorConfig:
    return EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0.0, tokens=(TEAM_TOKEN,))


def put_secret(cluster: Cluster, name: str, **data: str) -> None:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    cluster.kube.put_object("v1/secrets", K8S_NAMESPACE, name, {"apiVersion": "v1", "kind": "Secret", "data": encoded})


def with_secrets(name: str, **spec: Any) -> dict[str, Any]:
    return resource(
        name,
        hfTokenSecretRef={"name": "team-hf"},
        genstudio={"apiKey": {"fromSecret": {"name": "genstudio", "key": "apiKey"}}},
        **spec,
    )


def test_the_resources_secrets_give_its_token_and_its_genstudio_key(cluster: Cluster) -> None:
    put_secret(cluster, "team-hf", token=TEAM_TOKEN)
    put_secret(cluster, "genstudio", apiKey=GENSTUDIO_KEY)
    with cluster.operator(interval=5.0):
        cluster.apply(with_secrets("llama"))
        cluster.wait_condition("llama", "Ready", "True")
        data = cluster.kube.secret_data(K8S_NAMESPACE, "llama")
        assert data is not None
        credential = json.loads(data["credential.json"])
        assert credential["api_key"] == GENSTUDIO_KEY
        # The operator's own token (HF_TOKEN) is refused by this service: a resource without a
        # token Secret says so, and nothing of it is created.
        cluster.apply(resource("plain"))
        body = cluster.wait_condition("plain", "Ready", "False", reason="TokenRefused")
        assert "token (HF_TOKEN) was refused" in condition(body["status"], "Synced")["message"]
        assert cluster.hf.endpoint_raw(HF_NAMESPACE, "plain") is None
        # Deleting uses the resource's token too.
        cluster.delete("llama")
        cluster.wait(lambda: cluster.get("llama") is None, message="finalizer released")
        cluster.wait(lambda: cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") is None, message="endpoint deleted")
    for text in cluster.logs:
        assert TEAM_TOKEN not in text and GENSTUDIO_KEY not in text


def test_a_missing_secret_is_said_and_the_resource_converges_once_it_exists(cluster: Cluster) -> None:
    with cluster.operator(interval=1.0, retry_delay=0.2):
        cluster.apply(with_secrets("llama"))
        body = cluster.wait_condition("llama", "Ready", "False", reason="SecretMissing")
        message = condition(body["status"], "Ready")["message"]
        assert f"secret {K8S_NAMESPACE}/team-hf key token does not exist" in message
        assert cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") is None
        put_secret(cluster, "team-hf", token=TEAM_TOKEN)
        put_secret(cluster, "genstudio", apiKey=GENSTUDIO_KEY)
        cluster.wait_condition("llama", "Ready", "True", timeout=20)


def test_a_malformed_reference_is_an_invalid_spec_naming_the_field(cluster: Cluster) -> None:
    with cluster.operator(interval=5.0):
        cluster.apply(resource("llama", genstudio={"apiKey": {"fromSecret": {"name": "genstudio"}}}))
        body = cluster.wait_condition("llama", "Ready", "False", reason="InvalidSpec")
        assert "spec.genstudio.apiKey.fromSecret" in condition(body["status"], "Ready")["message"]
