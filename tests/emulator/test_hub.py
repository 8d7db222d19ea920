"""Hub routes through unmodified huggingface_hub: whoami, model_info, revisions, hf_hub_download, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hfops.emulator import Emulator, ModelEntry

from ._kit import TOKEN, http, start_emulator

GPT2_SHA = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
OLD_SHA = "1111111111111111111111111111111111111111"
NEW_SHA = "2222222222222222222222222222222222222222"


def test_whoami(emu: Emulator, api: HfApi) -> None:
    me = api.whoami(token=TOKEN)
    assert me["type"] == "user"
    assert me["name"] == "hfops-emulator"
    assert [org["name"] for org in me["orgs"]] == ["acme", "genstudio"]
    assert me["auth"]["accessToken"]["role"] == "write"
    with pytest.raises(HfHubHTTPError) as caught:
        api.whoami(token="not-a-hub-token")
    assert caught.value.response.status_code == 401
    assert http("GET", f"{emu.url}/api/whoami-v2", token=None).status == 401


def test_namespace_defaults_through_whoami(emu: Emulator, api: HfApi) -> None:
    # Without namespace=, huggingface_hub asks whoami for the user name.
    assert api.list_inference_endpoints(token=TOKEN) == []
    assert any(r["path"] == "/api/whoami-v2" for r in emu.requests())


def test_model_info(emu: Emulator, api: HfApi) -> None:
    info = api.model_info("gpt2", token=TOKEN)
    assert (info.id, info.sha, info.pipeline_tag, info.gated) == ("gpt2", GPT2_SHA, "text-generation", False)
    assert info.library_name == "transformers"
    assert info.private is False
    assert info.config == {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}
    assert info.siblings is not None and "config.json" in [s.rfilename for s in info.siblings]
    assert info.last_modified is not None
    llama = api.model_info("meta-llama/Llama-2-7b-chat-hf")
    assert llama.author == "meta-llama"
    assert llama.gated is False
    assert api.model_info("meta-llama/Meta-Llama-3-8B-Instruct").gated == "manual"
    assert api.model_info("sentence-transformers/all-MiniLM-L6-v2").pipeline_tag == "feature-extraction"
    assert api.model_info("gpt2", revision="main").sha == GPT2_SHA
    assert api.model_info("gpt2", revision=GPT2_SHA).sha == GPT2_SHA


def test_model_info_errors(emu: Emulator, api: HfApi) -> None:
    with pytest.raises(RepositoryNotFoundError) as missing:
        api.model_info("nobody/nothing")
    assert missing.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nothing")
    with pytest.raises(RevisionNotFoundError) as revision:
        api.model_info("gpt2", revision="v9.9")
    assert revision.value.response.status_code == 404
    raw = http("GET", f"{emu.url}/api/models/nobody/nothing")
    assert raw.headers["x-error-code"] == "RepoNotFound"
    with pytest.raises(HfHubHTTPError) as bad_token:
        api.model_info("gpt2", token="wrong")
    assert bad_token.value.response.status_code == 401


def test_hf_hub_download_config(emu: Emulator, tmp_path: Path) -> None:
    for revision in (None, "main", GPT2_SHA):
        path = hf_hub_download(
            "gpt2",
            "config.json",
            revision=revision,
            endpoint=emu.url,
            cache_dir=tmp_path / "cache",
            token=TOKEN,
        )
        assert GPT2_SHA in path
        config = json.loads(Path(path).read_text())
        assert (config["n_positions"], config["n_ctx"]) == (1024, 1024)
        assert "max_position_embeddings" not in config
    llama = hf_hub_download(
        "meta-llama/Llama-2-7b-chat-hf", "config.json", endpoint=emu.url, cache_dir=tmp_path / "cache"
    )
    assert json.loads(Path(llama).read_text())["max_position_embeddings"] == 4096


def test_resolve_headers(emu: Emulator) -> None:
    for method in ("HEAD", "GET"):
        reply = http(method, f"{emu.url}/gpt2/resolve/main/config.json")
        assert reply.status == 200
        assert reply.headers["x-repo-commit"] == GPT2_SHA
        assert reply.headers["etag"].startswith('"') and len(reply.headers["etag"]) == 42
        assert int(reply.headers["content-length"]) > 100
        assert reply.body == (b"" if method == "HEAD" else reply.body)
    org = http("HEAD", f"{emu.url}/mistralai/Mistral-7B-Instruct-v0.2/resolve/main/config.json")
    assert org.status == 200


def test_hf_hub_download_errors(emu: Emulator, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(GatedRepoError) as gated:
        hf_hub_download(
            "meta-llama/Meta-Llama-3-8B-Instruct",
            "config.json",
            endpoint=emu.url,
            cache_dir=cache,
            token=TOKEN,
        )
    assert gated.value.response.status_code == 403
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "config.json", endpoint=emu.url, cache_dir=cache, token=TOKEN)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            "gpt2", "config.json", revision="nope", endpoint=emu.url, cache_dir=cache, token=TOKEN
        )
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("gpt2", "tokenizer.json", endpoint=emu.url, cache_dir=cache, token=TOKEN)


def test_named_revisions_and_extra_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    extra = ModelEntry(
        id="acme/tiny-chat",
        pipeline_tag="text-generation",
        sha=NEW_SHA,
        config={"model_type": "llama", "max_position_embeddings": 2048},
        revisions={"v1.0": OLD_SHA},
    )
    replaced_gpt2 = ModelEntry(
        id="gpt2", pipeline_tag="text-generation", sha=NEW_SHA, config={"n_positions": 512}
    )
    emulator = start_emulator(monkeypatch, models=(extra, replaced_gpt2))
    try:
        api = HfApi(endpoint=emulator.url, token=TOKEN)
        assert api.model_info("acme/tiny-chat").sha == NEW_SHA
        assert api.model_info("acme/tiny-chat", revision="v1.0").sha == OLD_SHA
        assert api.model_info("acme/tiny-chat", revision=OLD_SHA).sha == OLD_SHA
        path = hf_hub_download(
            "acme/tiny-chat", "config.json", revision="v1.0", endpoint=emulator.url, cache_dir=tmp_path
        )
        assert OLD_SHA in path
        assert api.model_info("gpt2").sha == NEW_SHA  # a configured model replaces the built-in one
        assert api.model_info("mistralai/Mistral-7B-Instruct-v0.2").sha  # built-ins still there
    finally:
        emulator.stop()


def test_agent_harnesses_registry_is_what_huggingface_hub_reads(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """U13: huggingface_hub 2.x fetches {HF_ENDPOINT}/api/agent-harnesses (no token) and reads it."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setattr(constants, "ENDPOINT", emu.url)
    fetched = _detect_agent._fetch_registry()
    assert fetched is not None
    assert fetched["standardEnvVars"] == ["AI_AGENT", "AGENT"]
    assert all(isinstance(info["envVars"], dict) for info in fetched["harnesses"].values())
    monkeypatch.setattr(_detect_agent, "_registry", fetched)
    for name in ("AI_AGENT", "AGENT", *(v for h in fetched["harnesses"].values() for v in h["envVars"])):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_AGENT", "cursor")
    assert _detect_agent.detect_agent() == "cursor"
    assert http("GET", f"{emu.url}/api/agent-harnesses", token=None).status == 200


def test_restricted_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, tokens=("hf_only_this", "custom-token"))
    try:
        for token, expected in (("hf_only_this", 200), ("custom-token", 200), ("hf_test_token", 401)):
            assert http("GET", f"{emulator.url}/v2/endpoint/any-namespace", token=token).status == expected
            assert http("GET", f"{emulator.url}/api/whoami-v2", token=token).status == expected
        assert "custom-token" not in repr(emulator.config)
    finally:
        emulator.stop()
