"""Error statuses of the /v2 API and the TGI routes: 400 variants, 401, 404, 409 (and concurrent creates)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import BadRequestError, HfHubHTTPError

from hfops.emulator import Emulator

from ._kit import DELETE, NS, TOKEN, create_body, create_tgi, http, wait_running

UNAUTHORIZED = {"error": "A valid user or organization token, sent as a Bearer, is required"}


def _post(emu: Emulator, body: Any, **kwargs: Any) -> Any:
    return http("POST", f"{emu.url}/v2/endpoint/{NS}", payload=body, **kwargs)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad_Name"}, "Invalid endpoint name 'Bad_Name'"),
        ({"name": "-leading"}, "Invalid endpoint name"),
        ({"name": "trailing-"}, "Invalid endpoint name"),
        ({"name": "a" * 33}, "Invalid endpoint name"),
        ({"name": ""}, "Invalid endpoint name"),
        (
            {"compute__scaling__minReplica": -1},
            "Failed to parse the request body as JSON: "
            "compute.scaling.minReplica: invalid value: integer `-1`, expected u32",
        ),
        (
            {"compute__scaling__minReplica": "1"},
            'Failed to parse the request body as JSON: compute.scaling.minReplica: invalid type: string "1", '
            "expected u32",
        ),
        ({"compute__scaling__maxReplica": 1.5}, "compute.scaling.maxReplica: invalid type: floating point"),
        ({"compute__scaling__maxReplica": 0}, "compute.scaling.maxReplica must be at least 1"),
        (
            {"compute__scaling__minReplica": 2, "compute__scaling__scaleToZeroTimeout": None},
            "maxReplica (1) must be greater than or equal to minReplica (2)",
        ),
        (
            {"compute__scaling__minReplica": 1},
            "compute.scaling.scaleToZeroTimeout can only be set when compute.scaling.minReplica is 0",
        ),
        ({"compute__scaling__scaleToZeroTimeout": 0}, "scaleToZeroTimeout must be at least 1"),
        ({"compute__scaling__scaleToZeroTimeout": "15"}, "scaleToZeroTimeout: invalid type"),
        ({"compute__instanceType": "nvidia-h100"}, "No compute 'gpu nvidia-h100 x1' in aws/us-east-1"),
        ({"compute__instanceSize": "x8"}, "No compute 'gpu nvidia-l4 x8'"),
        ({"compute__accelerator": "cpu"}, "No compute 'cpu nvidia-l4 x1'"),
        ({"compute__accelerator": "tpu"}, "compute.accelerator: unknown variant `tpu`"),
        ({"provider__region": "mars-1"}, "Unknown provider region 'aws/mars-1'"),
        (
            {"provider__vendor": "gcp", "provider__region": "us-east4", "compute__instanceType": "nvidia-t4"},
            "cannot be deployed: its status is 'deprecated'",
        ),
        (
            {
                "provider__vendor": "gcp",
                "provider__region": "us-east4",
                "compute__instanceType": "nvidia-a100",
            },
            "its status is 'not_available'",
        ),
        ({"compute__scaling__maxReplica": 1001}, "Quota exceeded for nvidia-l4 in aws/us-east-1"),
        ({"model__task": None}, "Failed to parse the request body as JSON: model.task: expected value"),
        (
            {"model__image": {"vLLM": {"tensorParallelSize": 1}}},
            "VALIDATION_FAILED: model.image.vLLM: missing field 'url'",
        ),
        ({"model__image": {"tgi": {"port": 80}}}, "model.image.tgi: missing field 'url'"),
        ({"model__image": {"vllm": {"url": "vllm/vllm-openai"}}}, "model.image: unknown variant `vllm`"),
        ({"model__image": {}}, "model.image: expected exactly one image variant"),
        ({"model__image": {"huggingface": {}, "tgi": {"url": "x"}}}, "expected exactly one image variant"),
        ({"model__image": {"tgi": {"url": "x", "maxTotalTokens": "4096"}}}, "model.image.tgi.maxTotalTokens"),
        (
            {"compute__instanceSize": "x4", "model__image": {"vLLM": {"url": "vllm/vllm-openai:v0.9"}}},
            "tensorParallelSize or dataParallelSize",
        ),
        ({"model__secrets": None}, "model.secrets: invalid type: null, expected a map"),
        ({"model__env": {"N": 1}}, "model.env.N: invalid type: integer `1`, expected a string"),
        ({"tags": "dev"}, 'tags: invalid type: string "dev", expected a sequence'),
        ({"type": "protected"}, "type: unknown variant `protected`"),
        ({"name": DELETE}, "Failed to parse the request body as JSON: missing field `name`"),
        ({"compute": DELETE}, "missing field `compute`"),
        ({"model__repository": DELETE}, "model: missing field `repository`"),
        ({"model__image": DELETE}, "model: missing field `image`"),
        ({"compute__scaling__minReplica": DELETE}, "compute.scaling: missing field `minReplica`"),
        ({"provider__vendor": DELETE}, "provider: missing field `vendor`"),
    ],
)
def test_create_validation_400(emu: Emulator, changes: dict[str, Any], message: str) -> None:
    reply = _post(emu, create_body(**changes))
    assert reply.status == 400, reply.body
    assert message in reply.json()["error"]
    assert set(reply.json()) == {"error"}
    assert "x-error-code" not in reply.headers
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").json() == {"items": []}


@pytest.mark.parametrize("name", ["a", "a" * 32, "a-b", "0day", "llama-2-7b-chat"])
def test_valid_names_are_accepted(emu: Emulator, name: str) -> None:
    reply = _post(emu, create_body(name))
    assert reply.status == 202
    assert reply.json()["name"] == name
    assert reply.json()["status"]["state"] == "pending"


def test_malformed_bodies(emu: Emulator) -> None:
    url = f"{emu.url}/v2/endpoint/{NS}"
    bad_json = http("POST", url, payload=None, headers={"Content-Type": "application/json"})
    assert bad_json.status == 400
    assert bad_json.json()["error"].startswith("Failed to parse the request body as JSON: ")
    not_object = http("POST", url, payload=[1, 2])
    assert not_object.status == 400
    no_type = http("POST", url, payload=None, headers={})
    assert no_type.status == 415


def test_quota_counts_non_paused_endpoints(emu: Emulator, api: HfApi) -> None:
    big = create_body("big", compute__instanceSize="x4", compute__scaling__maxReplica=250)  # 1000 GPUs
    assert _post(emu, big).status == 202
    small = create_body("small")  # another nvidia-l4: over quota
    reply = _post(emu, small)
    assert reply.status == 400
    assert "1000 of 1000 accelerators in use" in reply.json()["error"]
    other_type = create_body("t4", compute__instanceType="nvidia-t4")
    assert _post(emu, other_type).status == 202
    other_namespace = http("POST", f"{emu.url}/v2/endpoint/other-org", payload=small)
    assert other_namespace.status == 202
    # Pausing frees the quota (paused endpoints do not count; scaled-to-zero ones would).
    api.pause_inference_endpoint("big", namespace=NS, token=TOKEN)
    assert _post(emu, small).status == 202
    # ... and resuming past the quota is refused.
    resume = http("POST", f"{emu.url}/v2/endpoint/{NS}/big/resume")
    assert resume.status == 400
    assert "Quota exceeded" in resume.json()["error"]


def test_hf_hub_raises_bad_request_error(emu: Emulator, api: HfApi) -> None:
    with pytest.raises(BadRequestError) as caught:
        create_tgi(api, instance_type="nvidia-h100")
    assert caught.value.response.status_code == 400
    assert isinstance(caught.value, ValueError)
    assert "No compute" in str(caught.value)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-an-hf-token"},
        {"Authorization": "Basic aGY6eHl6"},
        {"Authorization": "Bearer "},
        {"Authorization": "hf_test_token"},
    ],
)
def test_api_401(emu: Emulator, headers: dict[str, str]) -> None:
    for method, path, body in [
        ("GET", f"/v2/endpoint/{NS}", None),
        ("POST", f"/v2/endpoint/{NS}", create_body()),
        ("GET", f"/v2/endpoint/{NS}/x", None),
        ("DELETE", f"/v2/endpoint/{NS}/x", None),
        ("POST", f"/v2/endpoint/{NS}/x/pause", None),
        ("GET", f"/v2/provider/{NS}", None),
    ]:
        reply = http(method, emu.url + path, token=None, payload=body, headers=headers)
        assert reply.status == 401, (method, path)
        assert reply.json() == UNAUTHORIZED
    assert emu.endpoint_raw(NS, "raw-endpoint") is None


def test_hf_hub_401(emu: Emulator) -> None:
    bad = HfApi(endpoint=emu.url, token="bad-token")
    with pytest.raises(HfHubHTTPError) as caught:
        bad.list_inference_endpoints(namespace=NS, token="bad-token")
    assert caught.value.response.status_code == 401
    assert "sent as a Bearer" in str(caught.value)


def test_tgi_401_and_public_endpoints(emu: Emulator, api: HfApi) -> None:
    private = wait_running(create_tgi(api, "authed"))
    public = wait_running(create_tgi(api, "open", type="public"))
    assert private.url is not None and public.url is not None
    for headers in ({}, {"Authorization": "Bearer nope"}):
        reply = http("GET", private.url + "/info", token=None, headers=headers)
        assert reply.status == 401
        assert "error" in reply.json()
    assert http("GET", private.url + "/info").status == 200
    assert http("GET", public.url + "/info", token=None).status == 200
    assert http("POST", public.url + "/generate", token=None, payload={"inputs": "hi"}).status == 200
    # An unauthenticated request never wakes a scaled-to-zero endpoint.
    api.scale_to_zero_inference_endpoint("authed", namespace=NS, token=TOKEN)
    assert http("GET", private.url + "/info", token=None).status == 401
    assert api.get_inference_endpoint("authed", namespace=NS, token=TOKEN).status == "scaledToZero"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/scale-to-zero"),
        ("GET", "/logs"),
    ],
)
def test_404_unknown_endpoint(emu: Emulator, method: str, suffix: str) -> None:
    payload = {"model": {"env": {}}} if method == "PUT" else None
    reply = http(method, f"{emu.url}/v2/endpoint/{NS}/ghost{suffix}", payload=payload)
    assert reply.status == 404
    assert reply.json() == {"error": "Endpoint not found"}
    assert "x-error-code" not in reply.headers


def test_404_unknown_routes(emu: Emulator) -> None:
    assert http("GET", f"{emu.url}/v2/nothing-here").status == 404
    assert http("GET", f"{emu.url}/endpoints/0123456789abcdef/health").status == 404
    assert http("GET", f"{emu.url}/nothing").status == 404
    assert http("PATCH", f"{emu.url}/v2/endpoint/{NS}", payload={}).status == 405


def test_409_duplicate_name(emu: Emulator, api: HfApi) -> None:
    create_tgi(api)
    with pytest.raises(HfHubHTTPError) as caught:
        create_tgi(api)
    assert caught.value.response.status_code == 409
    assert caught.value.response.json() == {"error": "An endpoint with the same name already exists"}
    # Same name in another namespace is fine.
    assert create_tgi(api, namespace="genstudio").status == "pending"


def test_409_concurrent_creates(emu: Emulator) -> None:
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        reply = _post(emu, create_body("racy"))
        with lock:
            statuses.append(reply.status)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == [202] + [409] * 7
    assert len(http("GET", f"{emu.url}/v2/endpoint/{NS}").json()["items"]) == 1
