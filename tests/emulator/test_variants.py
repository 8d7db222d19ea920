"""The uncertain-point variants (reference §9, U1-U13), each driven through unmodified huggingface_hub.

Every test states what a user of the real client sees under one variant. Defaults (today's behaviour)
are covered by the other test modules; these tests switch one point at a time, plus the preset.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from huggingface_hub import HfApi, InferenceClient, InferenceEndpoint
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, InferenceEndpointTimeoutError

from hfops.emulator import Emulator, EmulatorConfig
from hfops.emulator.variants import DEFAULTS, PESSIMISTIC, VARIANTS

from ._kit import NS, TOKEN, create_tgi, http, start_emulator, wait_running

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[Emulator] = []

    def _make(**overrides: Any) -> tuple[Emulator, HfApi]:
        emulator = start_emulator(monkeypatch, **overrides)
        started.append(emulator)
        return emulator, HfApi(endpoint=emulator.url, token=TOKEN)

    yield _make
    for emulator in started:
        emulator.stop()


def _put(emu: Emulator, name: str, body: dict[str, Any], token: str = TOKEN) -> Any:
    return http("PUT", f"{emu.url}/v2/endpoint/{NS}/{name}", payload=body, token=token)


def _info(endpoint: InferenceEndpoint) -> dict[str, Any]:
    assert endpoint.url is not None
    return InferenceClient(model=endpoint.url, token=TOKEN, provider="hf-inference").get_endpoint_info()


# ------------------------------------------------------------------------------------ U1 null on PUT


def test_u1_clear_raising_min_replica_drops_the_timeout(make: Any) -> None:
    _emu, api = make(null_on_put="clear")
    wait_running(create_tgi(api))
    raw = api.update_inference_endpoint("gpt2-tgi", min_replica=1, namespace=NS, token=TOKEN).raw
    assert raw["compute"]["scaling"]["minReplica"] == 1
    assert raw["compute"]["scaling"]["scaleToZeroTimeout"] is None


def test_u1_keep_null_is_unchanged_and_an_invalid_merge_is_refused(make: Any) -> None:
    emu, api = make(null_on_put="keep")
    wait_running(create_tgi(api))
    with pytest.raises(BadRequestError, match="scaleToZeroTimeout can only be set when"):
        api.update_inference_endpoint("gpt2-tgi", min_replica=1, namespace=NS, token=TOKEN)
    # Sending null does not clear it either: the field is left as it was.
    reply = _put(emu, "gpt2-tgi", {"compute": {"scaling": {"minReplica": 1, "scaleToZeroTimeout": None}}})
    assert reply.status == 400 and "scaleToZeroTimeout" in reply.json()["error"]
    # Old clients sent `task: null` / `framework: null` with every update: applied, nulls ignored.
    reply = _put(emu, "gpt2-tgi", {"model": {"task": None, "framework": None, "env": {"A": "1"}}})
    assert reply.status == 200, reply.body
    endpoint = api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert endpoint.task == "text-generation" and endpoint.framework == "pytorch"
    assert endpoint.raw["model"]["env"] == {"A": "1"}
    assert endpoint.raw["compute"]["scaling"]["scaleToZeroTimeout"] == 15


def test_u1_reject_null_is_a_bad_request(make: Any) -> None:
    emu, api = make(null_on_put="reject")
    wait_running(create_tgi(api))
    reply = _put(emu, "gpt2-tgi", {"compute": {"scaling": {"minReplica": 1, "scaleToZeroTimeout": None}}})
    assert reply.status == 400
    assert reply.json()["error"] == (
        "Failed to parse the request body as JSON: compute.scaling.scaleToZeroTimeout: "
        "invalid type: null, expected u32"
    )
    # huggingface_hub never sends nulls on update, so its calls still work where the merge is valid.
    api.update_inference_endpoint("gpt2-tgi", max_replica=2, namespace=NS, token=TOKEN)


# ---------------------------------------------------------------------------------- U2 update rollout


def test_u2_lagged_rollout_old_replica_serves_until_the_new_one_is_ready(make: Any) -> None:
    _emu, api = make(update_rollout="lagged", provision_seconds=0.6, update_lag_seconds=0.3)
    endpoint = wait_running(create_tgi(api, custom_image={"tgi": {"url": TGI, "maxTotalTokens": 512}}))
    assert _info(endpoint)["max_total_tokens"] == 512
    updated = api.update_inference_endpoint(
        "gpt2-tgi", custom_image={"tgi": {"url": TGI, "maxTotalTokens": 256}}, namespace=NS, token=TOKEN
    )
    assert updated.status == "running"  # the PUT answer still says running
    assert updated.raw["model"]["image"]["tgi"]["maxTotalTokens"] == 256  # the new spec is stored
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        # What is served first, then the state: the two reads are not atomic, and in this order a
        # rollout finishing between them can only pair the old window with `running`, never the
        # new window with `updating` (which would mean the new replica served before it was ready).
        served = _info(updated)["max_total_tokens"]  # /info never fails: the old replica answers
        state = api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN).status
        seen.append((state, served))
        if state == "running" and served == 256:
            break
        time.sleep(0.05)
    assert ("updating", 512) in seen, seen  # the old replica serves during the rollout
    assert all(state == "running" for state, served in seen if served == 256), seen
    assert seen[-1] == ("running", 256), seen


def test_u2_lagged_wait_right_after_the_put_returns_on_the_old_replica(make: Any) -> None:
    _emu, api = make(update_rollout="lagged", provision_seconds=0.6, update_lag_seconds=0.3)
    wait_running(create_tgi(api, custom_image={"tgi": {"url": TGI, "maxTotalTokens": 512}}))
    updated = api.update_inference_endpoint(
        "gpt2-tgi", custom_image={"tgi": {"url": TGI, "maxTotalTokens": 256}}, namespace=NS, token=TOKEN
    )
    waited = wait_running(updated)  # huggingface_hub issue #2767: returns at once
    assert _info(waited)["max_total_tokens"] == 512


def test_u2_immediate_put_answer_says_updating(make: Any) -> None:
    _emu, api = make(update_rollout="immediate")
    wait_running(create_tgi(api))
    assert api.update_inference_endpoint("gpt2-tgi", env={"A": "1"}, namespace=NS, token=TOKEN).status == (
        "updating"
    )


# ------------------------------------------------------------------------------------------ U3 quotas


def test_u3_generous_is_the_default(make: Any) -> None:
    _emu, api = make()
    hardware = api.list_inference_endpoints_hardware(namespace=NS, token=TOKEN)
    assert {h.max_accelerators for h in hardware} == {1000}


def test_u3_realistic_quotas_refuse_creates_beyond_them(make: Any) -> None:
    _emu, api = make(quotas="realistic")
    hardware = {h.id: h for h in api.list_inference_endpoints_hardware(namespace=NS, token=TOKEN)}
    assert hardware["aws-us-east-1-nvidia-a10g-x1"].max_accelerators == 2
    assert hardware["aws-us-east-1-intel-icl-x1"].max_accelerators == 16
    listed_unusable = hardware["gcp-us-east4-nvidia-l4-x1"]
    assert (listed_unusable.status, listed_unusable.max_accelerators) == ("available", 0)
    create_tgi(api, "a", max_replica=2)  # 2 of 2 a10g
    with pytest.raises(BadRequestError, match="Quota exceeded for nvidia-a10g"):
        create_tgi(api, "b")
    with pytest.raises(BadRequestError, match="0 of 0 accelerators"):
        create_tgi(api, "c", vendor="gcp", region="us-east4", instance_type="nvidia-l4")
    used = {h.id: h for h in api.list_inference_endpoints_hardware(namespace=NS, token=TOKEN)}
    assert used["aws-us-east-1-nvidia-a10g-x1"].used_accelerators == 2


# ------------------------------------------------------------------------------------- U4 private


def test_u4_strict_private_needs_privatelink_and_does_not_answer_from_outside(make: Any) -> None:
    emu, api = make(private_endpoints="strict")
    with pytest.raises(BadRequestError, match=r"privateService\.accountId is required"):
        create_tgi(api, "priv", type="private")
    endpoint = create_tgi(
        api, "priv", type="private", private_link_account_id="123456789012", private_link_region="us-east-1"
    )
    with pytest.raises(InferenceEndpointTimeoutError):
        endpoint.wait(timeout=1.0, refresh_every=0.05)  # type: ignore[arg-type]
    endpoint = endpoint.fetch()
    assert endpoint.status == "running" and endpoint.url is not None
    assert endpoint.raw["status"]["private"]["serviceName"].startswith("com.amazonaws.vpce.us-east-1.")
    reply = http("GET", f"{endpoint.url}/health")
    assert reply.status == 404 and "PrivateLink" in reply.json()["error"]
    # Public and authenticated endpoints still answer.
    assert wait_running(create_tgi(api, "pub")).status == "running"
    assert emu.endpoint_raw(NS, "pub") is not None


def test_u4_lenient_private_answers_like_authenticated(make: Any) -> None:
    _emu, api = make(private_endpoints="lenient")
    endpoint = wait_running(create_tgi(api, "priv", type="private"))
    assert endpoint.raw["status"]["private"] is None


# --------------------------------------------------------------------------------- U5 secrets on GET


@pytest.mark.parametrize(("mode", "expected"), [("null-values", {"S": None}), ("omitted", {})])
def test_u5_secrets_read_back(make: Any, mode: str, expected: dict[str, Any]) -> None:
    _emu, api = make(secrets_readback=mode)
    create_tgi(api, secrets={"S": "never-shown"})
    raw = api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN).raw
    assert raw["model"]["secrets"] == expected
    assert "never-shown" not in str(raw)


# ----------------------------------------------------------------------------------- U6 type on PUT


@pytest.mark.parametrize(("mode", "expected"), [("applied", "public"), ("ignored", "authenticated")])
def test_u6_type_on_put(make: Any, mode: str, expected: str) -> None:
    emu, api = make(type_on_put=mode)
    wait_running(create_tgi(api))
    assert _put(emu, "gpt2-tgi", {"type": "public"}).status == 200  # silently, either way
    assert api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN).type == expected


# ------------------------------------------------------------------------------- U7 tags-only PUT


def test_u7_no_redeploy_tags_only_put_keeps_state_and_updated_at(make: Any) -> None:
    emu, api = make(empty_put="no-redeploy")
    before = wait_running(create_tgi(api))
    after = api.update_inference_endpoint("gpt2-tgi", tags=["team-a"], namespace=NS, token=TOKEN)
    assert after.status == "running"
    assert after.raw["tags"] == ["team-a"]
    assert after.updated_at == before.updated_at
    assert _put(emu, "gpt2-tgi", {}).json()["status"]["state"] == "running"
    # A real change still rolls out.
    assert api.update_inference_endpoint("gpt2-tgi", env={"A": "1"}, namespace=NS, token=TOKEN).status == (
        "updating"
    )


def test_u7_redeploys_tags_only_put_goes_updating(make: Any) -> None:
    _emu, api = make(empty_put="redeploys")
    before = wait_running(create_tgi(api))
    after = api.update_inference_endpoint("gpt2-tgi", tags=["team-a"], namespace=NS, token=TOKEN)
    assert after.status == "updating" and after.updated_at > before.updated_at


# ------------------------------------------------------------------------------------ U8 namespaces


def test_u8_restricted_namespaces_follow_whoami(make: Any) -> None:
    _emu, api = make(namespaces="restricted", token_namespaces=(("hf_alice", "alice", ("team",)),))
    alice = HfApi(endpoint=api.endpoint, token="hf_alice")
    me = alice.whoami()
    assert me["name"] == "alice" and [org["name"] for org in me["orgs"]] == ["team"]
    assert alice.list_inference_endpoints(namespace="alice") == []
    assert alice.list_inference_endpoints(namespace="team") == []
    with pytest.raises(HfHubHTTPError) as caught:
        alice.list_inference_endpoints(namespace=NS)
    assert caught.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError):
        create_tgi(alice, namespace=NS, token="hf_alice")
    # Tokens without an entry are the default emulator user, member of acme and genstudio.
    assert api.list_inference_endpoints(namespace=NS) == []
    with pytest.raises(HfHubHTTPError):
        api.list_inference_endpoints(namespace="alice")


def test_u8_any_namespace_by_default(make: Any) -> None:
    _emu, api = make()
    assert api.list_inference_endpoints(namespace="someone-else", token=TOKEN) == []


# ----------------------------------------------------------------------------------------- U9 429s


def test_u9_injected_429_carries_ratelimit_and_retry_after(make: Any) -> None:
    emu, api = make(retry_after_seconds=3)
    emu.inject_fault("error", status=429, path="/v2/endpoint/*")
    with pytest.raises(HfHubHTTPError) as caught:
        api.list_inference_endpoints(namespace=NS, token=TOKEN)
    headers = caught.value.response.headers
    assert headers["Retry-After"] == "3"
    assert headers["RateLimit"] == '"api";r=0;t=3'
    assert "Retry after 3 seconds" in str(caught.value)


def test_u9_rate_limit_is_a_token_bucket_per_token(make: Any) -> None:
    _emu, api = make(rate_limit=2.0, rate_burst=2)
    api.whoami()
    api.whoami()
    with pytest.raises(HfHubHTTPError) as caught:
        api.whoami()
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["RateLimit"] == '"api";r=0;t=1'
    assert caught.value.response.headers["Retry-After"] == "1"
    assert HfApi(endpoint=api.endpoint, token="hf_other").whoami()["name"]  # another token, another bucket
    time.sleep(0.55)  # 2 per second: one request's worth refilled
    api.whoami()


# -------------------------------------------------------------------------------- U10 served window


def _served(api: HfApi, name: str, repository: str, instance_type: str, **extra: Any) -> dict[str, Any]:
    endpoint = create_tgi(
        api, name, repository=repository, instance_type=instance_type, custom_image={"tgi": {"url": TGI}}, **extra
    )
    return _info(wait_running(endpoint))


def test_u10_kv_cache_window_depends_on_the_gpu(make: Any) -> None:
    _emu, api = make(served_window="kv-cache")
    mistral = "mistralai/Mistral-7B-Instruct-v0.2"
    on_t4 = _served(api, "mistral-t4", mistral, "nvidia-t4")
    assert 1024 < on_t4["max_total_tokens"] < 32768
    assert on_t4["max_input_tokens"] == on_t4["max_total_tokens"] - 1
    assert _served(api, "mistral-l4", mistral, "nvidia-l4")["max_total_tokens"] == 32768
    assert _served(api, "llama-a10g", "meta-llama/Llama-2-7b-chat-hf", "nvidia-a10g")["max_total_tokens"] == 4096
    # Explicit limits are honoured as TGI does.
    pinned = _served(api, "mistral-t4-env", mistral, "nvidia-t4", env={"MAX_TOTAL_TOKENS": "2048"})
    assert pinned["max_total_tokens"] == 2048


def test_u10_context_window_when_optimistic(make: Any) -> None:
    _emu, api = make(served_window="context")
    on_t4 = _served(api, "mistral-t4", "mistralai/Mistral-7B-Instruct-v0.2", "nvidia-t4")
    assert on_t4["max_total_tokens"] == 32768


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAX_TOTAL_TOKENS": "2048"}, "must be <= the model's context length (1024"),
        ({"MAX_INPUT_TOKENS": "100", "MAX_INPUT_LENGTH": "100"}, "Please define only `max_input_tokens`"),
        ({"MAX_BATCH_PREFILL_TOKENS": "10"}, "`max_batch_prefill_tokens` must be >= `max_input_tokens`"),
    ],
)
def test_u10_launcher_refusals_fail_the_endpoint(make: Any, env: dict[str, str], message: str) -> None:
    _emu, api = make(served_window="kv-cache")
    endpoint = create_tgi(api, env=env)
    with pytest.raises(Exception, match="failed to deploy"):
        wait_running(endpoint)
    fetched = endpoint.fetch()
    assert fetched.status == "failed"
    assert message in fetched.raw["status"]["message"]


# ---------------------------------------------------------------------------------- U11 protected


def test_u11_accepted_protected_is_reported_and_needs_a_token(make: Any) -> None:
    emu, api = make(protected_type="accepted")
    body = {
        "name": "legacy",
        "type": "protected",
        "provider": {"vendor": "aws", "region": "us-east-1"},
        "compute": {
            "accelerator": "gpu",
            "instanceType": "nvidia-a10g",
            "instanceSize": "x1",
            "scaling": {"minReplica": 1, "maxReplica": 1},
        },
        "model": {"repository": "gpt2", "framework": "pytorch", "image": {"huggingface": {}}},
    }
    assert http("POST", f"{emu.url}/v2/endpoint/{NS}", payload=body).status == 202
    endpoint = wait_running(api.get_inference_endpoint("legacy", namespace=NS, token=TOKEN))
    assert endpoint.type == "protected"
    assert [e.name for e in api.list_inference_endpoints(namespace=NS, token=TOKEN)] == ["legacy"]
    assert http("GET", f"{endpoint.url}/health", token=None).status == 401


def test_u11_rejected_protected_by_default(make: Any) -> None:
    emu, _api = make()
    reply = http("POST", f"{emu.url}/v2/endpoint/{NS}", payload={"name": "x", "type": "protected"})
    assert reply.status == 400


# ------------------------------------------------------------------------------------------ presets


def test_the_defaults_are_the_likely_variants_but_namespaces_and_quotas() -> None:
    config = EmulatorConfig.pessimistic(provision_seconds=0.1)
    assert config.namespaces == "any" and config.quotas == "generous"
    assert EmulatorConfig().namespaces == "any" and EmulatorConfig().quotas == "generous"
    assert config.provision_seconds == 0.1
    for name, (_choices, optimistic, likely) in VARIANTS.items():
        assert getattr(config, name) == likely == PESSIMISTIC[name] == DEFAULTS[name]
        assert getattr(EmulatorConfig(), name) == likely  # the defaults
        assert getattr(EmulatorConfig.optimistic(), name) == optimistic
    assert EmulatorConfig.pessimistic(null_on_put="reject").null_on_put == "reject"
    with pytest.raises(ValueError, match="null_on_put must be one of"):
        EmulatorConfig(null_on_put="sometimes")


@pytest.mark.parametrize("pessimistic", [False, True], ids=["defaults", "pessimistic"])
def test_a_whole_lifecycle_works_under_both_presets(make: Any, pessimistic: bool) -> None:
    settings = dict(PESSIMISTIC) if pessimistic else {}
    _emu, api = make(**settings)
    endpoint = wait_running(create_tgi(api, custom_image={"tgi": {"url": TGI, "maxTotalTokens": 512}}))
    updated = api.update_inference_endpoint(
        "gpt2-tgi",
        min_replica=0,
        custom_image={"tgi": {"url": TGI, "maxTotalTokens": 256}},
        namespace=NS,
        token=TOKEN,
    )
    # What a robust client does: wait for the new config to be served, not just for `running`.
    deadline, served = time.monotonic() + 5, None
    while served != 256 and time.monotonic() < deadline:
        try:
            served = _info(wait_running(updated.fetch()))["max_total_tokens"]
        except HfHubHTTPError:  # immediate rollout: 503 while updating
            served = None
        time.sleep(0.05)
    assert served == 256
    assert endpoint.fetch().status == "running"
    api.delete_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)


# ---------------------------------------------------------------------------------- command line


def test_help_lists_one_flag_per_uncertain_point() -> None:
    from click.testing import CliRunner

    from hfops.emulator.command import emulator as emulator_command

    text = " ".join(CliRunner().invoke(emulator_command, ["--help"], terminal_width=200).output.split())
    for flag in (
        "--null-on-put [clear|keep|reject]",
        "--update-rollout [immediate|lagged]",
        "--quotas [generous|realistic]",
        "--private-endpoints [lenient|strict]",
        "--secrets-readback [null-values|omitted]",
        "--type-on-put [applied|ignored]",
        "--empty-put [redeploys|no-redeploy]",
        "--namespaces [any|restricted]",
        "--served-window [context|kv-cache]",
        "--protected-type [rejected|accepted]",
        "--pessimistic",
        "--token-namespace",
        "--rate-limit RPS[:BURST]",
    ):
        assert flag in text, flag
    assert text.count("Likely real") + text.count("likely real") >= 10


def test_process_pessimistic_with_restricted_namespaces_and_rate_limit() -> None:
    from .test_command import running

    args = ("--pessimistic", "--namespaces", "restricted", "--token-namespace", "hf_bob=bob,crew")
    with running(*args, "--rate-limit", "50:1") as (process, base):
        assert http("GET", f"{base}/api/whoami-v2", token="hf_bob").json()["name"] == "bob"
        limited = http("GET", f"{base}/api/whoami-v2", token="hf_bob")
        assert limited.status == 429 and limited.headers["ratelimit"] == '"api";r=0;t=1'
        time.sleep(0.05)
        assert http("GET", f"{base}/v2/endpoint/acme", token="hf_bob").status == 401
        time.sleep(0.05)
        assert http("GET", f"{base}/v2/endpoint/crew", token="hf_bob").json() == {"items": []}
        process.terminate()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "fast"], "expected RPS[:BURST]"),
        (["--rate-limit", "0"], "RPS must be > 0"),
        (["--token-namespace", "hf_x"], "expected T=USER[,ORG...]"),
        (["--null-on-put", "sometimes"], "'sometimes' is not one of"),
    ],
)
def test_variant_flag_usage_errors(args: list[str], message: str) -> None:
    from click.testing import CliRunner

    from hfops.emulator.command import emulator as emulator_command

    result = CliRunner().invoke(emulator_command, args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_u12_a_custom_image_of_tgis_container_runs_tgi(make: Any) -> None:
    """huggingface_hub's documented custom_image={"url": ".../text-generation-inference:X"} is TGI."""
    _emu, api = make()
    image = {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6", "health_route": "/health", "port": 80}
    endpoint = wait_running(create_tgi(api, custom_image=image))
    assert endpoint.raw["model"]["image"].get("custom") is not None
    info = _info(endpoint)
    assert info["max_total_tokens"] == 1024 and info["max_input_tokens"] == 1023
