"""Every state transition, driven through unmodified huggingface_hub (the issue's "done when" flow first)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, InferenceEndpointError

from hfops.emulator import Emulator

from ._kit import NS, TOKEN, create_tgi, http, start_emulator, wait_running

GPT2_SHA = "607a30d783dfa663caf39e06633721c8d4cfcd7e"


def test_issue_demo_flow(emu: Emulator, api: HfApi) -> None:
    endpoint = create_tgi(api)
    assert endpoint.status == "pending"
    assert endpoint.url is None
    assert endpoint.raw["status"]["message"] == "Endpoint waiting to be scheduled"
    assert endpoint.raw["compute"]["scaling"] == {
        "minReplica": 0,
        "maxReplica": 1,
        "scaleToZeroTimeout": 15,
        "metric": "hardwareUsage",
        "measure": {"hardwareUsage": None},
    }

    wait_running(endpoint)
    assert endpoint.status == "running"
    assert endpoint.url is not None
    assert re.fullmatch(re.escape(emu.url) + r"/endpoints/[a-z0-9]{16}", endpoint.url)
    assert endpoint.raw["status"]["readyReplica"] == 1
    assert endpoint.raw["status"]["targetReplica"] == 1
    url = endpoint.url

    info = http("GET", url + "/info")
    assert info.status == 200
    assert info.json()["max_total_tokens"] == 1024
    assert info.json()["max_input_tokens"] == 1023
    assert info.json()["model_id"] == "/repository"
    assert info.json()["model_sha"] == GPT2_SHA

    # Update the env without losing the other fields.
    before = endpoint.raw
    updated = api.update_inference_endpoint("gpt2-tgi", env={"LOG_LEVEL": "debug"}, namespace=NS, token=TOKEN)
    assert updated.status == "updating"
    assert updated.url == url
    assert updated.raw["status"]["message"] == "Endpoint waiting for the update"
    assert updated.raw["model"]["env"] == {"LOG_LEVEL": "debug"}
    for key in ("compute", "provider", "type", "tags", "healthRoute", "name"):
        assert updated.raw[key] == before[key], key
    for key in ("repository", "revision", "task", "framework", "image", "secrets"):
        assert updated.raw["model"][key] == before["model"][key], key
    assert updated.raw["status"]["updatedAt"] > before["status"]["updatedAt"]
    assert updated.raw["status"]["createdAt"] == before["status"]["createdAt"]
    wait_running(updated)

    # Scale to zero: the URL stays, a request answers 503 and wakes it up.
    scaled = api.scale_to_zero_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert scaled.status == "scaledToZero"
    assert scaled.url == url
    assert (scaled.raw["status"]["readyReplica"], scaled.raw["status"]["targetReplica"]) == (0, 0)
    cold = http("GET", url + "/info")
    assert cold.status == 503
    assert cold.json()["error_type"] == "unavailable"
    waking = api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert waking.status == "initializing"
    wait_running(waking)
    assert http("GET", url + "/info").status == 200

    api.delete_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    with pytest.raises(HfHubHTTPError) as caught:
        api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert caught.value.response.status_code == 404
    assert caught.value.response.json() == {"error": "Endpoint not found"}
    assert type(caught.value) is HfHubHTTPError  # no X-Error-Code: no repo-specific subclass
    assert http("GET", url + "/health").status == 404


def test_pending_then_initializing_then_running(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, provision_seconds=0.6)
    try:
        api = HfApi(endpoint=emulator.url, token=TOKEN)
        created = create_tgi(api)
        seen: list[tuple[str, bool]] = [(created.status, created.url is not None)]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            raw = emulator.endpoint_raw(NS, "gpt2-tgi")
            assert raw is not None
            entry = (raw["status"]["state"], raw["status"]["url"] is not None)
            if not seen or seen[-1] != entry:
                seen.append(entry)
            if entry[0] == "running":
                break
            time.sleep(0.01)
        # The URL appears once the endpoint is provisioned (initializing), not while pending.
        assert seen == [("pending", False), ("initializing", True), ("running", True)]
    finally:
        emulator.stop()


def test_503_while_initializing_and_updating(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, provision_seconds=1.0)
    try:
        api = HfApi(endpoint=emulator.url, token=TOKEN)
        create_tgi(api)
        deadline = time.monotonic() + 5
        raw = emulator.endpoint_raw(NS, "gpt2-tgi")
        while raw is not None and raw["status"]["state"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.02)
            raw = emulator.endpoint_raw(NS, "gpt2-tgi")
        assert raw is not None and raw["status"]["state"] == "initializing"
        health = http("GET", raw["status"]["url"] + "/health")
        assert health.status == 503
        assert health.json() == {"error": "unhealthy", "error_type": "healthcheck"}
        assert http("GET", raw["status"]["url"] + "/info").status == 503

        wait_running(api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN))
        updated = api.update_inference_endpoint("gpt2-tgi", env={"X": "1"}, namespace=NS, token=TOKEN)
        assert updated.status == "updating"
        assert updated.url is not None
        assert http("GET", updated.url + "/info").status == 503
    finally:
        emulator.stop()


def test_scale_up_timeout_header_holds_the_request(emu: Emulator, api: HfApi) -> None:
    endpoint = wait_running(create_tgi(api))
    assert endpoint.url is not None
    api.scale_to_zero_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    started = time.monotonic()
    reply = http("GET", endpoint.url + "/info", headers={"X-Scale-Up-Timeout": "5"})
    elapsed = time.monotonic() - started
    assert reply.status == 200
    assert reply.json()["max_total_tokens"] == 1024
    assert 0.1 <= elapsed < 4
    assert api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN).status == "running"


def test_scale_up_timeout_too_short_answers_503(emu: Emulator, api: HfApi) -> None:
    endpoint = wait_running(create_tgi(api))
    assert endpoint.url is not None
    api.scale_to_zero_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    reply = http("GET", endpoint.url + "/info", headers={"X-Scale-Up-Timeout": "0.02"})
    assert reply.status == 503
    assert api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN).status == "initializing"


def test_idle_timeout_scales_to_zero_on_the_emulated_clock(emu: Emulator, api: HfApi) -> None:
    endpoint = wait_running(create_tgi(api))
    assert endpoint.url is not None
    emu.advance(14 * 60)
    assert api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN).status == "running"
    # A TGI request resets the idle timer.
    assert http("GET", endpoint.url + "/health").status == 200
    emu.advance(14 * 60)
    assert api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN).status == "running"
    emu.advance(61)
    idle = api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert idle.status == "scaledToZero"
    assert idle.url == endpoint.url
    assert idle.raw["status"]["readyReplica"] == 0


def test_no_idle_scale_to_zero_without_timeout_or_with_min_replica(emu: Emulator, api: HfApi) -> None:
    wait_running(create_tgi(api, "always-on", min_replica=1, scale_to_zero_timeout=None))
    wait_running(create_tgi(api, "no-timeout", min_replica=0, scale_to_zero_timeout=None))
    emu.advance(24 * 3600)
    for name in ("always-on", "no-timeout"):
        assert api.get_inference_endpoint(name, namespace=NS, token=TOKEN).status == "running"


def test_time_scale_speeds_up_idle_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    # 600x: one emulated minute every 0.1 real second.
    emulator = start_emulator(monkeypatch, time_scale=600.0)
    try:
        api = HfApi(endpoint=emulator.url, token=TOKEN)
        create_tgi(api, scale_to_zero_timeout=1)
        time.sleep(0.6)
        raw = emulator.endpoint_raw(NS, "gpt2-tgi")
        assert raw is not None and raw["status"]["state"] == "scaledToZero"
    finally:
        emulator.stop()


def test_pause_and_resume(emu: Emulator, api: HfApi) -> None:
    endpoint = wait_running(create_tgi(api))
    url = endpoint.url
    assert url is not None
    paused = api.pause_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert paused.status == "paused"
    assert paused.url is None
    assert (paused.raw["status"]["readyReplica"], paused.raw["status"]["targetReplica"]) == (0, 0)
    invalid = http("GET", url + "/info")
    assert invalid.status == 400
    assert invalid.json() == {"error": "Bad Request: Invalid state"}
    # A paused endpoint stays paused through time and requests.
    emu.advance(3600)
    assert emu.endpoint_raw(NS, "gpt2-tgi")["status"]["state"] == "paused"  # type: ignore[index]

    resumed = api.resume_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert resumed.status == "pending"
    assert resumed.url is None
    wait_running(resumed)
    assert resumed.url == url  # the endpoint keeps its URL


def test_resume_while_running(emu: Emulator, api: HfApi) -> None:
    wait_running(create_tgi(api))
    raw = http("POST", f"{emu.url}/v2/endpoint/{NS}/gpt2-tgi/resume")
    assert raw.status == 400
    assert raw.json() == {"error": "Endpoint is already running"}
    with pytest.raises(BadRequestError) as caught:
        api.resume_inference_endpoint("gpt2-tgi", namespace=NS, running_ok=False, token=TOKEN)
    assert caught.value.response.status_code == 400
    assert "already running" in str(caught.value)
    # running_ok=True (the default) swallows that 400 and GETs the endpoint.
    again = api.resume_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert again.status == "running"


def test_resume_wakes_a_scaled_to_zero_endpoint(emu: Emulator, api: HfApi) -> None:
    wait_running(create_tgi(api))
    api.scale_to_zero_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    resumed = api.resume_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert resumed.status == "initializing"
    assert wait_running(resumed).status == "running"


def test_scale_to_zero_refused_while_paused(emu: Emulator, api: HfApi) -> None:
    wait_running(create_tgi(api))
    api.pause_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    reply = http("POST", f"{emu.url}/v2/endpoint/{NS}/gpt2-tgi/scale-to-zero")
    assert reply.status == 400
    assert "paused" in reply.json()["error"]


@pytest.mark.parametrize(
    ("repository", "extra", "reason"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", {}, "feature-extraction"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", {}, "gated"),
        ("nobody/no-such-model", {}, "not found"),
        ("gpt2", {"revision": "v9"}, "Revision 'v9' was not found"),
        ("gpt2", {"image": {"maxTotalTokens": 2048}}, "context length (1024, `n_positions`)"),
        ("gpt2", {"image": {"maxInputLength": 1000, "maxTotalTokens": 1000}}, "must be < `max_total_tokens`"),
        (
            "gpt2",
            {"image": {"maxBatchPrefillTokens": 100}},
            "`max_batch_prefill_tokens` must be >= `max_input_tokens`. Given: 100 and 1023",
        ),
        ("gpt2", {"env": {"MAX_INPUT_TOKENS": "10", "MAX_INPUT_LENGTH": "10"}}, "define only `max_input_tokens`"),
        ("gpt2", {"env": {"MAX_TOTAL_TOKENS": "lots"}}, "invalid value 'lots' for MAX_TOTAL_TOKENS"),
    ],
)
def test_tgi_that_cannot_start_ends_failed(
    emu: Emulator, api: HfApi, repository: str, extra: dict[str, Any], reason: str
) -> None:
    tgi = {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6", **extra.get("image", {})}
    endpoint = create_tgi(
        api,
        "doomed",
        repository=repository,
        custom_image={"tgi": tgi},
        env=extra.get("env"),
        revision=extra.get("revision"),
    )
    assert endpoint.status == "pending"
    with pytest.raises(InferenceEndpointError, match="failed to deploy"):
        wait_running(endpoint)
    assert endpoint.status == "failed"
    status = endpoint.raw["status"]
    assert status["message"].startswith("Endpoint failed to deploy: ")
    assert reason in status["message"]
    assert reason in status["errorMessage"]
    assert status["url"] is None
    assert (status["readyReplica"], status["targetReplica"]) == (0, 1)


def test_default_image_with_text_generation_task_is_tgi(emu: Emulator, api: HfApi) -> None:
    endpoint = create_tgi(
        api, "minilm-tgi", repository="sentence-transformers/all-MiniLM-L6-v2", custom_image=None
    )
    with pytest.raises(InferenceEndpointError):
        wait_running(endpoint)
    assert "feature-extraction" in endpoint.raw["status"]["message"]


def test_failed_endpoint_can_be_fixed_by_an_update(emu: Emulator, api: HfApi) -> None:
    endpoint = create_tgi(api, "fixme", repository="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(InferenceEndpointError):
        wait_running(endpoint)
    fixed = api.update_inference_endpoint("fixme", repository="gpt2", namespace=NS, token=TOKEN)
    assert fixed.status == "updating"
    assert wait_running(fixed).status == "running"


def test_update_failed_then_recovered(emu: Emulator, api: HfApi) -> None:
    endpoint = wait_running(create_tgi(api))
    url = endpoint.url
    broken = api.update_inference_endpoint(
        "gpt2-tgi",
        custom_image={
            "tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6", "maxTotalTokens": 4096}
        },
        namespace=NS,
        token=TOKEN,
    )
    assert broken.status == "updating"
    with pytest.raises(InferenceEndpointError, match="failed to update"):
        wait_running(broken)
    assert broken.status == "updateFailed"
    assert broken.raw["status"]["message"].startswith("Endpoint failed to update: ")
    assert "1024" in broken.raw["status"]["errorMessage"]
    assert broken.url == url
    assert http("GET", f"{url}/info").status == 503

    repaired = api.update_inference_endpoint(
        "gpt2-tgi",
        custom_image={
            "tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6", "maxTotalTokens": 512}
        },
        namespace=NS,
        token=TOKEN,
    )
    wait_running(repaired)
    assert http("GET", f"{url}/info").json()["max_total_tokens"] == 512


def test_list_is_per_namespace(emu: Emulator, api: HfApi) -> None:
    create_tgi(api, "one")
    create_tgi(api, "two")
    create_tgi(api, "one", namespace="hfops-emulator")
    names = [e.name for e in api.list_inference_endpoints(namespace=NS, token=TOKEN)]
    assert names == ["one", "two"]
    mine = api.list_inference_endpoints(namespace="hfops-emulator", token=TOKEN)
    assert [(e.name, e.namespace) for e in mine] == [("one", "hfops-emulator")]
    assert api.list_inference_endpoints(namespace="empty-org", token=TOKEN) == []
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").json()["items"][0]["name"] == "one"


def test_non_tgi_endpoint_runs_with_inferred_task(emu: Emulator, api: HfApi) -> None:
    endpoint = api.create_inference_endpoint(
        "minilm",
        repository="sentence-transformers/all-MiniLM-L6-v2",
        framework="pytorch",
        accelerator="cpu",
        vendor="aws",
        region="us-east-1",
        instance_size="x2",
        instance_type="intel-icl",
        namespace=NS,
        token=TOKEN,
    )
    # huggingface_hub omits a None task; the service infers it from the repository.
    assert endpoint.task == "feature-extraction"
    assert endpoint.raw["model"]["image"] == {"huggingface": {}}
    wait_running(endpoint)
    assert endpoint.url is not None
    assert http("GET", endpoint.url + "/info").status == 404
    vector = http("POST", endpoint.url, payload={"inputs": "hello"})
    assert vector.status == 200
    assert len(vector.json()) == 8
