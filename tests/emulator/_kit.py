"""Helpers shared by the emulator tests: raw HTTP calls and huggingface_hub shortcuts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import huggingface_hub
import pytest
from huggingface_hub import HfApi, InferenceEndpoint

from hfops.emulator import Emulator, EmulatorConfig

TOKEN = "hf_test_token"
NS = "acme"


def start_emulator(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Emulator:
    """Start an emulator and point huggingface_hub's endpoints API at it (the caller stops it).

    The emulator's own tests start from its optimistic variants (the documented routes' baseline) and
    name the uncertain-point variant they test; its defaults (the likely variants) are tested in
    test_variants.py and by the whole hfops suite, which runs on them.
    """
    settings: dict[str, Any] = {"provision_seconds": 0.2, "seed": 7, "retry_after_seconds": 0}
    settings.update(overrides)
    emulator = Emulator(EmulatorConfig.optimistic(**settings))
    base = emulator.start()
    monkeypatch.setattr(huggingface_hub.constants, "INFERENCE_ENDPOINTS_ENDPOINT", base + "/v2")
    return emulator


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    *,
    token: str | None = TOKEN,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Reply:
    """A plain HTTP call (urllib), returning the status instead of raising on errors."""
    data = None if payload is None else json.dumps(payload).encode()
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    if data is not None:
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            found = {k.lower(): v for k, v in response.headers.items()}
            return Reply(response.status, found, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def create_tgi(api: HfApi, name: str = "gpt2-tgi", **overrides: Any) -> InferenceEndpoint:
    """Create a TGI endpoint the way the issue's demo does (gpt2, minReplica 0, 15 minute timeout)."""
    arguments: dict[str, Any] = {
        "repository": "gpt2",
        "framework": "pytorch",
        "task": "text-generation",
        "accelerator": "gpu",
        "vendor": "aws",
        "region": "us-east-1",
        "instance_size": "x1",
        "instance_type": "nvidia-a10g",
        "min_replica": 0,
        "max_replica": 1,
        "scale_to_zero_timeout": 15,
        "custom_image": {"tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6"}},
        "namespace": NS,
        "token": TOKEN,
    }
    arguments.update(overrides)
    return api.create_inference_endpoint(name, **arguments)


def wait_running(endpoint: InferenceEndpoint, timeout: float = 10) -> InferenceEndpoint:
    return endpoint.wait(timeout=timeout, refresh_every=0.05)  # type: ignore[arg-type]


def create_body(name: str = "raw-endpoint", /, **changes: Any) -> dict[str, Any]:
    """A complete create payload as huggingface_hub sends it, for raw-HTTP validation tests."""
    body: dict[str, Any] = {
        "compute": {
            "accelerator": "gpu",
            "instanceSize": "x1",
            "instanceType": "nvidia-l4",
            "scaling": {"maxReplica": 1, "minReplica": 0, "scaleToZeroTimeout": 15},
        },
        "model": {
            "framework": "pytorch",
            "repository": "gpt2",
            "revision": None,
            "task": "text-generation",
            "image": {"huggingface": {}},
        },
        "name": name,
        "provider": {"region": "us-east-1", "vendor": "aws"},
        "type": "authenticated",
    }
    for path, value in changes.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return body


_DELETE = object()
DELETE = _DELETE
