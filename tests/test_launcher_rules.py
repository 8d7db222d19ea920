"""TGI's launcher rules: hfops predicts what the launcher refuses; the emulator refuses the same.

hfops' copy (`hfops.core.tgi_launcher`) and the emulator's (`hfops.emulator.launcher`, standalone)
are held to one table of cases. Then through the CLI: `validate` refuses what the manifest alone
decides, `plan` what needs the model's context, each at `file:line: field`, before any write; and
the emulator, given the same launches by the real client, ends the endpoint `failed` with TGI's
message.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from huggingface_hub import HfApi, constants

from hfops.core.tgi_launcher import launch_args, launcher_refusal
from hfops.emulator.catalog import ModelEntry
from hfops.emulator.launcher import DeployFailure, compute_limits
from tests.conftest import TOKEN
from tests.factories import create_outside_hfops

IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.6"


class Case(NamedTuple):
    env: dict[str, str]
    max_input: int | None = None  # image.maxInputTokens (the API's tgi.maxInputLength)
    max_total: int | None = None  # image.maxTotalTokens
    context: int | None = 1024  # the model's max_position_embeddings
    url: str = IMAGE
    refused: str | None = None  # a substring of the launcher's message; None: it starts
    field: str | None = None  # the manifest field hfops blames


CASES: dict[str, Case] = {
    "nothing set": Case({}),
    "plain env": Case({"LOG_LEVEL": "info"}),
    "both input names": Case(
        {"MAX_INPUT_TOKENS": "500", "MAX_INPUT_LENGTH": "500"},
        refused="Both `max_input_tokens` (500)",
        field="env.MAX_INPUT_LENGTH",
    ),
    "image input and env MAX_INPUT_TOKENS": Case(
        {"MAX_INPUT_TOKENS": "500"},
        max_input=400,
        refused="and `max_input_length` (400) are set",
        field="env.MAX_INPUT_TOKENS",
    ),
    "env total above the context": Case(
        {"MAX_TOTAL_TOKENS": "2048"},
        refused="`max_total_tokens` (2048) must be <= the model's context length (1024",
        field="env.MAX_TOTAL_TOKENS",
    ),
    "env total at the context": Case({"MAX_TOTAL_TOKENS": "1024"}),
    "env input at or above the derived total": Case(
        {"MAX_INPUT_TOKENS": "1024"},
        refused="`max_input_tokens`(1024) must be < `max_total_tokens`(1024)",
        field="env.MAX_INPUT_TOKENS",
    ),
    "env input below the derived total": Case({"MAX_INPUT_TOKENS": "1000"}),
    "env input and total": Case(
        {"MAX_INPUT_TOKENS": "600", "MAX_TOTAL_TOKENS": "512"},
        refused="`max_input_tokens`(600) must be < `max_total_tokens`(512)",
        field="env.MAX_INPUT_TOKENS",
    ),
    "image total, env input above it": Case(
        {"MAX_INPUT_LENGTH": "900"},
        max_total=800,
        refused="`max_input_tokens`(900) must be < `max_total_tokens`(800)",
        field="env.MAX_INPUT_LENGTH",
    ),
    "prefill below the input limit": Case(
        {"MAX_INPUT_TOKENS": "800", "MAX_BATCH_PREFILL_TOKENS": "512"},
        refused="`max_batch_prefill_tokens` must be >= `max_input_tokens`. Given: 512 and 800",
        field="env.MAX_BATCH_PREFILL_TOKENS",
    ),
    "prefill below the derived input limit": Case(
        {"MAX_BATCH_PREFILL_TOKENS": "512"}, refused="Given: 512 and 1023", field="env.MAX_BATCH_PREFILL_TOKENS"
    ),
    "prefill at the input limit": Case({"MAX_INPUT_TOKENS": "800", "MAX_BATCH_PREFILL_TOKENS": "800"}),
    "batch total below the total": Case(
        {"MAX_TOTAL_TOKENS": "1024", "MAX_BATCH_TOTAL_TOKENS": "1000"},
        refused="`max_total_tokens` must be <= `max_batch_total_tokens`. Given: 1024 and 1000",
        field="env.MAX_BATCH_TOTAL_TOKENS",
    ),
    "not an integer": Case(
        {"MAX_TOTAL_TOKENS": "512.0"},
        refused="invalid value '512.0' for MAX_TOTAL_TOKENS",
        field="env.MAX_TOTAL_TOKENS",
    ),
    "zero": Case({"MAX_BATCH_PREFILL_TOKENS": "0"}, refused="invalid value '0'", field="env.MAX_BATCH_PREFILL_TOKENS"),
    "image limits that fit": Case({}, max_input=500, max_total=1000),
    "image value wins over the same env variable": Case({"MAX_TOTAL_TOKENS": "4096"}, max_total=1000),
    "a large context, no limits (v3 serves it whole)": Case({}, context=32768),
    "old image: default capped at 4096, input below it": Case(
        {"MAX_INPUT_TOKENS": "4096"},
        context=32768,
        url="ghcr.io/huggingface/text-generation-inference:2.2.0",
        refused="`max_input_tokens`(4096) must be < `max_total_tokens`(4096)",
        field="env.MAX_INPUT_TOKENS",
    ),
    "new image: the same input fits": Case({"MAX_INPUT_TOKENS": "4096"}, context=32768),
    "no context in the config: 4096 by default": Case(
        {"MAX_INPUT_TOKENS": "5000"},
        context=None,
        refused="`max_input_tokens`(5000) must be < `max_total_tokens`(4096)",
        field="env.MAX_INPUT_TOKENS",
    ),
}


def emulator_reason(case: Case) -> str | None:
    config = {"max_position_embeddings": case.context} if case.context is not None else {}
    model = ModelEntry(id="org/model", pipeline_tag="text-generation", sha="0" * 40, config=config)
    image: dict[str, Any] = {"url": case.url}
    if case.max_input is not None:
        image["maxInputLength"] = case.max_input
    if case.max_total is not None:
        image["maxTotalTokens"] = case.max_total
    spec = {"model": {"image": {"tgi": image}, "env": case.env}}
    try:
        compute_limits(model, spec)
    except DeployFailure as failure:
        return failure.reason
    return None


def normalised(reason: str | None) -> str | None:
    # The emulator also names the config key the context came from; hfops only knows the number.
    return re.sub(r", `[a-z_]+`\)", ")", reason) if reason is not None else None


@pytest.mark.parametrize("name", sorted(CASES))
def test_hfops_and_the_emulator_agree(name: str) -> None:
    case = CASES[name]
    args = launch_args(case.url, case.max_input, case.max_total, case.env)
    predicted = launcher_refusal(args, model_known=True, model_context=case.context)
    emulated = emulator_reason(case)
    assert (predicted.reason if predicted else None) == normalised(emulated)
    if case.refused is None:
        assert predicted is None
    else:
        assert predicted is not None and case.refused in predicted.reason
        assert predicted.field == case.field
    offline = launcher_refusal(args, model_known=False, model_context=None)
    if offline is not None:  # offline never refuses what would start
        assert predicted is not None


# ------------------------------------------------------------------------------- through the CLI


def manifest(name: str, env: dict[str, str], image: str = "") -> str:
    lines = "".join(f"    {k}: '{v}'\n" for k, v in env.items())
    return (
        "apiVersion: hfops/v1\nkind: Endpoint\n"
        f"metadata: {{name: {name}, namespace: acme}}\n"
        "spec:\n"
        "  model: {repository: gpt2}\n"
        "  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}\n"
        f"{image}"
        "  env:\n"
        f"{lines}"
    )


def writes(emulator: Any) -> list[str]:
    return [r["path"] for r in emulator.requests() if r["method"] in ("POST", "PUT", "DELETE")]


OFFLINE = {
    "both input names": ({"MAX_INPUT_TOKENS": "500", "MAX_INPUT_LENGTH": "500"}, "", "MAX_INPUT_LENGTH"),
    "image input and env MAX_INPUT_TOKENS": (
        {"MAX_INPUT_TOKENS": "500"},
        "  image: {maxInputTokens: 400}\n",
        "MAX_INPUT_TOKENS",
    ),
    "prefill below the input limit": (
        {"MAX_INPUT_TOKENS": "800", "MAX_BATCH_PREFILL_TOKENS": "512"},
        "",
        "MAX_BATCH_PREFILL_TOKENS",
    ),
    "not an integer": ({"MAX_TOTAL_TOKENS": "512.0"}, "", "MAX_TOTAL_TOKENS"),
}


@pytest.mark.parametrize("name", sorted(OFFLINE))
def test_validate_refuses_what_the_manifest_alone_decides(name: str, run: Any, tmp_path: Path) -> None:
    env, image, key = OFFLINE[name]
    path = tmp_path / "a.yaml"
    path.write_text(manifest("limits", env, image))
    line = 1 + path.read_text().splitlines().index(f"    {key}: '{env[key]}'")
    result = run("validate", str(path))
    assert result.code == 1
    assert f"{path}:{line}: spec.env.{key}: TGI's launcher would refuse to start" in result.stderr, result.stderr
    assert CASES[name].refused in result.stderr  # TGI's own words


PLAN = {
    "env total above the context": ({"MAX_TOTAL_TOKENS": "2048"}, "MAX_TOTAL_TOKENS"),
    "env input at or above the derived total": ({"MAX_INPUT_TOKENS": "1024"}, "MAX_INPUT_TOKENS"),
    "prefill below the derived input limit": ({"MAX_BATCH_PREFILL_TOKENS": "512"}, "MAX_BATCH_PREFILL_TOKENS"),
}


@pytest.mark.parametrize("name", sorted(PLAN))
def test_plan_refuses_with_the_models_context_before_any_write(
    name: str, emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    env, key = PLAN[name]
    path = tmp_path / "a.yaml"
    path.write_text(manifest("limits", env))
    line = 1 + path.read_text().splitlines().index(f"    {key}: '{env[key]}'")
    assert run("validate", str(path)).code == 0  # needs the model: gpt2 serves 1024 tokens
    for command in (["plan"], ["apply", "--yes", "--credentials-dir", str(tmp_path / "c")]):
        result = run(command[0], str(path), *command[1:])
        assert result.code == 1
        assert f"{path}:{line}: spec.env.{key}: TGI's launcher would refuse to start" in result.stderr, result.stderr
        assert CASES[name].refused in result.stderr
    assert writes(emulator) == []


@pytest.mark.parametrize(
    "name", ["both input names", "env total above the context", "prefill below the derived input limit", "zero"]
)
def test_the_emulator_fails_the_same_launches_with_tgis_message(
    name: str, emulator: Any, hf_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", emulator.url + "/v2")
    create_outside_hfops(
        HfApi(endpoint=emulator.url, token=TOKEN),
        "direct",
        env=case.env,
        custom_image={"tgi": {"url": IMAGE}},
        namespace="acme",
    )
    for _ in range(100):
        status = emulator.endpoint_raw("acme", "direct")["status"]
        if status["state"] in ("failed", "running"):
            break
        time.sleep(0.05)
    assert status["state"] == "failed"
    assert case.refused is not None and case.refused in status["message"]
