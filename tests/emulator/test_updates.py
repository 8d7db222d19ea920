"""PUT semantics (reference §1.3) and secrets.

Omitted fields stay untouched, objects are merged, image/env/secrets/tags/args/command are replaced whole,
and secret values are never returned.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from huggingface_hub import HfApi, InferenceEndpoint

from hfops.emulator import Emulator

from ._kit import NS, TOKEN, create_tgi, http, wait_running

TGI_URL = "ghcr.io/huggingface/text-generation-inference:3.3.6"
SECRET_VALUES = ("s3cr3t-value-one", "s3cr3t-value-two", "s3cr3t-value-three")


def _full_endpoint(api: HfApi) -> InferenceEndpoint:
    return create_tgi(
        api,
        "full",
        env={"A": "1", "B": "2"},
        secrets={"S1": SECRET_VALUES[0], "S2": SECRET_VALUES[1]},
        tags=["t1", "t2"],
        custom_image={"tgi": {"url": TGI_URL, "maxInputLength": 511, "maxTotalTokens": 1024}},
        container_command=["text-generation-launcher"],
        container_args=["--json-output"],
        max_replica=2,
    )


def _update(api: HfApi, **fields: Any) -> dict[str, Any]:
    return api.update_inference_endpoint("full", namespace=NS, token=TOKEN, **fields).raw


def _without(raw: dict[str, Any], *paths: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(raw))
    copy.pop("status")
    for path in paths:
        target = copy
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        target.pop(keys[-1], None)
    return copy


def test_create_echoes_everything(emu: Emulator, api: HfApi) -> None:
    raw = _full_endpoint(api).raw
    model = raw["model"]
    assert model["env"] == {"A": "1", "B": "2"}
    assert model["secrets"] == {"S1": None, "S2": None}  # keys only: values are write-only
    assert model["command"] == ["text-generation-launcher"]
    assert model["args"] == ["--json-output"]
    assert model["revision"] is None
    assert model["image"] == {
        "tgi": {
            "url": TGI_URL,
            "port": 80,
            "healthRoute": "/health",
            "disableCustomKernels": False,
            "maxInputLength": 511,
            "maxTotalTokens": 1024,
        }
    }
    assert raw["tags"] == ["t1", "t2"]
    assert raw["healthRoute"] == "/health"
    assert raw["accountId"] is None
    assert raw["compute"]["id"] == "aws-us-east-1-nvidia-a10g-x1"
    assert raw["status"]["private"] is None
    assert raw["status"]["createdBy"] == raw["status"]["updatedBy"]
    assert raw["status"]["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    ("fields", "changed", "expected"),
    [
        ({"env": {"C": "3"}}, "model.env", {"C": "3"}),
        ({"env": {}}, "model.env", {}),
        ({"secrets": {"S3": SECRET_VALUES[2]}}, "model.secrets", {"S3": None}),
        ({"tags": ["t3"]}, "tags", ["t3"]),
        ({"container_args": []}, "model.args", []),
        ({"container_command": ["launcher"]}, "model.command", ["launcher"]),
        (
            {"custom_image": {"tgi": {"url": TGI_URL}}},
            "model.image",
            {"tgi": {"url": TGI_URL, "port": 80, "healthRoute": "/health", "disableCustomKernels": False}},
        ),
        (
            {"revision": "607a30d783dfa663caf39e06633721c8d4cfcd7e"},
            "model.revision",
            "607a30d783dfa663caf39e06633721c8d4cfcd7e",
        ),
    ],
)
def test_put_replaces_only_what_it_names(
    emu: Emulator, api: HfApi, fields: dict[str, Any], changed: str, expected: Any
) -> None:
    before = _full_endpoint(api).raw
    after = _update(api, **fields)
    target: Any = after
    for key in changed.split("."):
        target = target[key]
    assert target == expected
    assert _without(after, changed) == _without(before, changed)
    assert after["status"]["updatedAt"] > before["status"]["updatedAt"]


def test_scaling_and_compute_are_merged_field_wise(emu: Emulator, api: HfApi) -> None:
    before = _full_endpoint(api).raw
    after = _update(api, max_replica=3)
    assert after["compute"]["scaling"] == {**before["compute"]["scaling"], "maxReplica": 3}
    after = _update(api, instance_type="nvidia-l4")
    assert after["compute"]["instanceType"] == "nvidia-l4"
    assert after["compute"]["id"] == "aws-us-east-1-nvidia-l4-x1"
    assert after["compute"]["accelerator"] == "gpu"
    assert after["compute"]["instanceSize"] == "x1"
    assert after["compute"]["scaling"]["maxReplica"] == 3
    assert after["model"]["env"] == {"A": "1", "B": "2"}


def test_raising_min_replica_drops_the_scale_to_zero_timeout(emu: Emulator, api: HfApi) -> None:
    _full_endpoint(api)
    # huggingface_hub cannot send `scaleToZeroTimeout: null`, so minReplica > 0 alone turns it off.
    after = _update(api, min_replica=1)
    assert after["compute"]["scaling"]["minReplica"] == 1
    assert after["compute"]["scaling"]["scaleToZeroTimeout"] is None
    # Both together, explicitly, is a contradiction.
    reply = http(
        "PUT",
        f"{emu.url}/v2/endpoint/{NS}/full",
        payload={"compute": {"scaling": {"minReplica": 1, "scaleToZeroTimeout": 10}}},
    )
    assert reply.status == 400
    assert "scaleToZeroTimeout can only be set when" in reply.json()["error"]
    # And an explicit null clears it.
    _update(api, min_replica=0, scale_to_zero_timeout=30)
    reply = http(
        "PUT",
        f"{emu.url}/v2/endpoint/{NS}/full",
        payload={"compute": {"scaling": {"scaleToZeroTimeout": None}}},
    )
    assert reply.status == 200
    assert reply.json()["compute"]["scaling"]["scaleToZeroTimeout"] is None


def test_partial_image_is_rejected_and_changes_nothing(emu: Emulator, api: HfApi) -> None:
    before = _full_endpoint(api).raw
    reply = http(
        "PUT",
        f"{emu.url}/v2/endpoint/{NS}/full",
        payload={"model": {"image": {"vLLM": {"tensorParallelSize": 8}}}},
    )
    assert reply.status == 400
    assert reply.json() == {"error": "VALIDATION_FAILED: model.image.vLLM: missing field 'url'"}
    after = emu.endpoint_raw(NS, "full")
    assert after is not None
    assert after["model"] == before["model"]
    assert after["status"]["updatedAt"] == before["status"]["updatedAt"]


def test_unknown_tgi_image_keys_are_dropped(emu: Emulator, api: HfApi) -> None:
    _full_endpoint(api)
    # `maxInputTokens` is not an image key (TGI's image calls it maxInputLength): silently dropped.
    raw = _update(api, custom_image={"tgi": {"url": TGI_URL, "maxInputTokens": 100, "maxTotalTokens": 512}})
    assert "maxInputTokens" not in raw["model"]["image"]["tgi"]
    endpoint = wait_running(api.get_inference_endpoint("full", namespace=NS, token=TOKEN))
    assert endpoint.url is not None
    info = http("GET", endpoint.url + "/info").json()
    assert (info["max_input_tokens"], info["max_total_tokens"]) == (511, 512)


def test_put_on_paused_endpoint_stays_paused(emu: Emulator, api: HfApi) -> None:
    _full_endpoint(api)
    api.pause_inference_endpoint("full", namespace=NS, token=TOKEN)
    after = _update(api, env={"Z": "26"})
    assert after["status"]["state"] == "paused"
    assert after["model"]["env"] == {"Z": "26"}


def test_put_cannot_rename(emu: Emulator, api: HfApi) -> None:
    _full_endpoint(api)
    reply = http("PUT", f"{emu.url}/v2/endpoint/{NS}/full", payload={"name": "other"})
    assert reply.status == 400
    assert http("PUT", f"{emu.url}/v2/endpoint/{NS}/full", payload={"name": "full"}).status == 200


def test_secret_values_never_leave_the_emulator(emu: Emulator, api: HfApi, tmp_path: Any) -> None:
    _full_endpoint(api)
    _update(api, secrets={"S3": SECRET_VALUES[2]})
    texts = [
        json.dumps(api.get_inference_endpoint("full", namespace=NS, token=TOKEN).raw),
        json.dumps([e.raw for e in api.list_inference_endpoints(namespace=NS, token=TOKEN)]),
        http("GET", f"{emu.url}/v2/endpoint/{NS}/full").body.decode(),
        http("GET", f"{emu.url}/v2/endpoint/{NS}/full/logs").body.decode(),
        json.dumps(emu.endpoint_raw(NS, "full")),
        json.dumps(emu.requests()),
    ]
    for text in texts:
        for value in SECRET_VALUES:
            assert value not in text
        assert TOKEN not in text
    assert json.loads(texts[0])["model"]["secrets"] == {"S3": None}


def test_registry_credentials_come_back_redacted(emu: Emulator, api: HfApi) -> None:
    endpoint = api.create_inference_endpoint(
        "custom",
        repository="acme/not-on-the-hub",  # a custom container needs no Hub repository
        framework="custom",
        accelerator="cpu",
        vendor="aws",
        region="us-east-1",
        instance_size="x1",
        instance_type="intel-icl",
        custom_image={"url": "registry.example/acme/server:1.0", "port": 8080, "healthRoute": "/ready"},
        container_registry_username="robot",
        container_registry_password="registry-password",
        namespace=NS,
        token=TOKEN,
    )
    image = endpoint.raw["model"]["image"]["custom"]
    assert image["credentials"] == {"username": "", "password": None}
    assert (image["url"], image["port"], image["healthRoute"]) == (
        "registry.example/acme/server:1.0",
        8080,
        "/ready",
    )
    assert endpoint.raw["healthRoute"] == "/ready"
    assert "registry-password" not in json.dumps(endpoint.raw)
    running = wait_running(endpoint)  # wait() probes the custom health route
    assert running.url is not None
    assert http("GET", running.url + "/ready").status == 200


def test_scaling_metric_is_stored(emu: Emulator, api: HfApi) -> None:
    endpoint = create_tgi(api, scaling_metric="pendingRequests", scaling_threshold=1.5)
    scaling = endpoint.raw["compute"]["scaling"]
    assert (scaling["metric"], scaling["measure"]) == ("pendingRequests", {"pendingRequests": 1.5})
    after = api.update_inference_endpoint("gpt2-tgi", max_replica=2, namespace=NS, token=TOKEN).raw
    assert after["compute"]["scaling"]["measure"] == {"pendingRequests": 1.5}
