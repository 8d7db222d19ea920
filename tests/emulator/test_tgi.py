"""The fake TGI at each endpoint's URL: /info limits as TGI derives them, generation, chat, 422, streaming."""

from __future__ import annotations

from typing import Any

import pytest
from huggingface_hub import HfApi, InferenceClient
from huggingface_hub.errors import ValidationError

from hfops.emulator import Emulator

from ._kit import NS, TOKEN, Reply, create_tgi, http, wait_running

TGI = "ghcr.io/huggingface/text-generation-inference"


@pytest.mark.parametrize(
    ("repository", "image", "env", "limits", "version"),
    [
        ("gpt2", None, None, (1023, 1024), "3.3.7"),  # default image (TGI v3): n_positions
        ("meta-llama/Llama-2-7b-chat-hf", None, None, (4095, 4096), "3.3.7"),
        ("mistralai/Mistral-7B-Instruct-v0.2", None, None, (32767, 32768), "3.3.7"),
        ("mistralai/Mistral-7B-Instruct-v0.2", {"url": f"{TGI}:2.3.1"}, None, (4095, 4096), "2.3.1"),
        ("mistralai/Mistral-7B-Instruct-v0.2", {"url": f"{TGI}:2.4.1"}, None, (32767, 32768), "2.4.1"),
        ("mistralai/Mistral-7B-Instruct-v0.2", {"url": f"{TGI}:latest"}, None, (32767, 32768), "3.3.7"),
        ("meta-llama/Llama-2-7b-chat-hf", {"url": f"{TGI}:1.4.5"}, None, (1024, 2048), "1.4.5"),
        (
            "mistralai/Mistral-7B-Instruct-v0.2",
            {"url": f"{TGI}:3.1.1", "maxInputLength": 8000, "maxTotalTokens": 8192},
            None,
            (8000, 8192),
            "3.1.1",
        ),
        (
            "mistralai/Mistral-7B-Instruct-v0.2",
            {"url": f"{TGI}:3.1.1", "maxTotalTokens": 8192},
            None,
            (8191, 8192),
            "3.1.1",
        ),
        ("mistralai/Mistral-7B-Instruct-v0.2", None, {"MAX_TOTAL_TOKENS": "16384"}, (16383, 16384), "3.3.7"),
        ("mistralai/Mistral-7B-Instruct-v0.2", None, {"MAX_INPUT_TOKENS": "1000"}, (1000, 32768), "3.3.7"),
        (
            "mistralai/Mistral-7B-Instruct-v0.2",
            None,
            {"MAX_INPUT_LENGTH": "2000", "MAX_TOTAL_TOKENS": "4000"},
            (2000, 4000),
            "3.3.7",
        ),
        # Image limits win over the launcher env.
        (
            "mistralai/Mistral-7B-Instruct-v0.2",
            {"url": f"{TGI}:3.3.6", "maxTotalTokens": 2048},
            {"MAX_TOTAL_TOKENS": "4096"},
            (2047, 2048),
            "3.3.6",
        ),
    ],
)
def test_info_limits(
    emu: Emulator,
    api: HfApi,
    repository: str,
    image: dict[str, Any] | None,
    env: dict[str, str] | None,
    limits: tuple[int, int],
    version: str,
) -> None:
    endpoint = create_tgi(
        api,
        repository=repository,
        custom_image={"tgi": image} if image else None,
        env=env,
    )
    wait_running(endpoint)
    assert endpoint.url is not None
    info = http("GET", endpoint.url + "/info")
    assert info.status == 200
    body = info.json()
    input_key = "max_input_length" if version.startswith("1.") else "max_input_tokens"
    assert (body[input_key], body["max_total_tokens"]) == limits
    assert body["version"] == version
    assert body["model_id"] == "/repository"
    assert body["model_pipeline_tag"] == "text-generation"
    assert body["router"] == "text-generation-router"


def test_info_reports_the_resolved_revision(
    monkeypatch: pytest.MonkeyPatch, emu: Emulator, api: HfApi
) -> None:
    endpoint = wait_running(create_tgi(api, revision="main"))
    assert endpoint.raw["model"]["revision"] == "main"
    assert endpoint.url is not None
    assert (
        http("GET", endpoint.url + "/info").json()["model_sha"] == "607a30d783dfa663caf39e06633721c8d4cfcd7e"
    )


@pytest.fixture
def gpt2_url(emu: Emulator, api: HfApi) -> str:
    endpoint = wait_running(create_tgi(api))
    assert endpoint.url is not None
    return endpoint.url


def test_health_models_and_unknown_routes(gpt2_url: str) -> None:
    health = http("GET", gpt2_url + "/health")
    assert (health.status, health.body) == (200, b"")
    models = http("GET", gpt2_url + "/v1/models").json()
    assert models["data"][0]["id"] == "/repository"
    assert http("GET", gpt2_url + "/nope").status == 404
    assert http("GET", gpt2_url + "/generate").status == 405


def test_generate_is_deterministic(gpt2_url: str) -> None:
    payload = {"inputs": "Once upon a time in a land far away", "parameters": {"max_new_tokens": 9}}
    first = http("POST", gpt2_url + "/generate", payload=payload)
    assert first.status == 200
    assert first.json() == {"generated_text": "This is an emulated reply to: Once upon a"}
    assert http("POST", gpt2_url + "/generate", payload=payload).json() == first.json()
    compat = http("POST", gpt2_url, payload=payload)  # POST / answers a one-element list
    assert compat.json() == [first.json()]
    detailed = http(
        "POST",
        gpt2_url + "/generate",
        payload={"inputs": "hi", "parameters": {"max_new_tokens": 3, "details": True}},
    )
    assert detailed.json()["details"]["generated_tokens"] == 3
    assert detailed.json()["details"]["finish_reason"] == "length"


def _assert_422(reply: Reply, message: str) -> None:
    assert reply.status == 422
    assert reply.json() == {"error": f"Input validation error: {message}", "error_type": "validation"}


def test_generate_422_when_over_the_token_budget(gpt2_url: str) -> None:
    inputs = " ".join(["word"] * 1000)
    reply = http(
        "POST", gpt2_url + "/generate", payload={"inputs": inputs, "parameters": {"max_new_tokens": 100}}
    )
    _assert_422(
        reply,
        "`inputs` tokens + `max_new_tokens` must be <= 1024. "
        "Given: 1000 `inputs` tokens and 100 `max_new_tokens`",
    )
    fits = http(
        "POST", gpt2_url + "/generate", payload={"inputs": inputs, "parameters": {"max_new_tokens": 24}}
    )
    assert fits.status == 200
    too_long = http("POST", gpt2_url + "/generate", payload={"inputs": " ".join(["w"] * 1024)})
    _assert_422(too_long, "`inputs` must have less than 1023 tokens. Given: 1024")
    zero = http("POST", gpt2_url + "/generate", payload={"inputs": "hi", "parameters": {"max_new_tokens": 0}})
    _assert_422(zero, "`max_new_tokens` must be strictly positive")
    missing = http("POST", gpt2_url + "/generate", payload={"prompt": "hi"})
    assert missing.status == 422


def test_chat_completion(gpt2_url: str) -> None:
    messages = [
        {"role": "system", "content": "You are helpful"},
        {"role": "user", "content": "Say hi to the world"},
    ]
    reply = http(
        "POST",
        gpt2_url + "/v1/chat/completions",
        payload={"model": "tgi", "messages": messages, "max_tokens": 20},
    )
    assert reply.status == 200
    body = reply.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "This is an emulated reply to: Say hi to the world",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    # Whitespace words plus 4 per message: (3 + 4) + (5 + 4).
    assert body["usage"] == {"prompt_tokens": 16, "completion_tokens": 11, "total_tokens": 27}


def test_chat_completion_422(gpt2_url: str) -> None:
    messages = [{"role": "user", "content": " ".join(["word"] * 1016)}]
    reply = http("POST", gpt2_url + "/v1/chat/completions", payload={"messages": messages, "max_tokens": 10})
    _assert_422(
        reply,
        "`inputs` tokens + `max_new_tokens` must be <= 1024. "
        "Given: 1020 `inputs` tokens and 10 `max_new_tokens`",
    )


def test_inference_client_against_the_endpoint(gpt2_url: str) -> None:
    client = InferenceClient(model=gpt2_url, token=TOKEN)
    assert client.text_generation("Hello there", max_new_tokens=4) == "This is an emulated"
    streamed = "".join(client.text_generation("Hello there", max_new_tokens=7, stream=True))
    assert streamed == "This is an emulated reply to: Hello"
    chat = client.chat_completion([{"role": "user", "content": "Hello"}], max_tokens=8)
    assert chat.choices[0].message.content == "This is an emulated reply to: Hello"
    assert chat.usage.prompt_tokens == 5
    chunks = list(client.chat_completion([{"role": "user", "content": "Hi"}], max_tokens=3, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "This is an"
    assert chunks[-1].choices[0].finish_reason == "length"
    with pytest.raises(ValidationError):
        client.text_generation(" ".join(["w"] * 1020), max_new_tokens=10)


def test_endpoint_client_property(emu: Emulator, api: HfApi) -> None:
    endpoint = wait_running(create_tgi(api))
    # InferenceEndpoint.client needs only the URL and the token it was fetched with.
    assert endpoint.client.text_generation("abc", max_new_tokens=2) == "This is"
    fetched = api.get_inference_endpoint("gpt2-tgi", namespace=NS, token=TOKEN)
    assert (
        fetched.client.chat_completion([{"role": "user", "content": "x"}], max_tokens=1)
        .choices[0]
        .message.content
        == "This"
    )
