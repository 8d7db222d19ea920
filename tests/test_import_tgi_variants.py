"""`hfops import` of every TGI endpoint the service can hold, and refusal of the rest (issue 13 item 7).

Endpoints are created with the real huggingface_hub client the ways its documentation shows: a
`tgi` image, the documented `custom_image={"url": ..., "health_route": "/health", "port": 80}`
pattern (stored as the `custom` variant) and no custom image at all (the `huggingface` default,
which the emulator runs as TGI 3.3.7). Each is imported through the CLI; the manifest then plans
as `No changes.` (exit 0 with --detailed-exitcode) and applying it sends nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import HfApi

from tests.conftest import TOKEN

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.6"


def create(api: HfApi, name: str, custom_image: dict[str, Any] | None, **extra: Any) -> None:
    api.create_inference_endpoint(
        name,
        repository="gpt2",
        framework="pytorch",
        accelerator="cpu",
        instance_size="x1",
        instance_type="intel-icl",
        region="us-east-1",
        vendor="aws",
        namespace="acme",
        token=TOKEN,
        task="text-generation",
        custom_image=custom_image,
        **extra,
    )


def writes(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests() if r["method"] in ("POST", "PUT", "DELETE")]


CASES = {
    "tgi": ({"tgi": {"url": TGI}}, TGI),
    "custom-tgi": ({"url": TGI, "health_route": "/health", "port": 80}, TGI),
    "default": (None, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_imported_tgi_endpoint_plans_as_no_changes(
    case: str, api: HfApi, emulator: Any, run: Any, tmp_path: Path
) -> None:
    custom_image, url = CASES[case]
    create(api, case, custom_image)
    stored = api.get_inference_endpoint(case, namespace="acme", token=TOKEN).raw["model"]["image"]
    assert next(iter(stored)) == {"tgi": "tgi", "custom-tgi": "custom", "default": "huggingface"}[case]
    out = tmp_path / "imported.yaml"

    imported = run("import", f"acme/{case}", "--out", str(out))

    assert imported.code == 0, imported.output
    spec = yaml.safe_load(out.read_text())["spec"]
    assert spec.get("image", {}).get("url") == url  # the default image: no url (it pins none)
    if url is None:
        assert "service's default image" in imported.stderr, imported.stderr
    creds = str(tmp_path / "c")
    planned = run("plan", str(out), "--detailed-exitcode", "--credentials-dir", creds)
    assert planned.code == 0, planned.output
    assert "No changes." in planned.stdout
    before = len(writes(emulator))
    applied = run("apply", str(out), "--yes", "--credentials-dir", creds)
    assert applied.code == 0, applied.output
    assert writes(emulator)[before:] == []  # no PUT: nothing to change
    # The live image is as it was: import and plan did not convert it.
    assert api.get_inference_endpoint(case, namespace="acme", token=TOKEN).raw["model"]["image"] == stored


@pytest.mark.parametrize("image", [{"url": TGI}, {"maxTotalTokens": 512}])
def test_pinning_a_url_over_the_default_image_is_shown_and_applied(
    image: dict[str, Any], api: HfApi, emulator: Any, run: Any, tmp_path: Path
) -> None:
    # The default image's version is the service's: a manifest that names image.url (or any
    # image field) moves it to that TGI image, and the plan says so rather than hiding it.
    create(api, "default", None)
    out = tmp_path / "imported.yaml"
    assert run("import", "acme/default", "--out", str(out)).code == 0
    document = yaml.safe_load(out.read_text())
    document["spec"]["image"] = image  # even hfops' default url, written, pins the image
    out.write_text(yaml.safe_dump(document))
    creds = str(tmp_path / "c")

    planned = run("plan", str(out), "--detailed-exitcode", "--credentials-dir", creds)

    assert planned.code == 2, planned.output
    assert "image.url" in planned.stdout and "service's default image" in planned.stdout
    assert TGI in planned.stdout
    applied = run("apply", str(out), "--yes", "--credentials-dir", creds)
    assert applied.code == 0, applied.output
    live = api.get_inference_endpoint("default", namespace="acme", token=TOKEN).raw["model"]["image"]
    assert live["tgi"]["url"] == TGI and live["tgi"].get("maxTotalTokens") == image.get("maxTotalTokens")
    again = run("plan", str(out), "--detailed-exitcode", "--credentials-dir", creds)
    assert again.code == 0, again.output


@pytest.mark.parametrize(
    ("custom_image", "shown"),
    [
        (
            {"vLLM": {"url": "vllm/vllm-openai:v0.8.0", "tensorParallelSize": 1}},
            "'vLLM' image (vllm/vllm-openai:v0.8.0)",
        ),
        ({"url": "registry.example/acme/server:1.0", "port": 80}, "'custom' image (registry.example/acme/server:1.0)"),
        # A TGI url on another port: not what hfops would send when it next writes the image.
        ({"url": TGI, "port": 8080, "health_route": "/health"}, f"'custom' image ({TGI})"),
    ],
)
def test_non_tgi_images_stay_refused(
    custom_image: dict[str, Any], shown: str, api: HfApi, emulator: Any, run: Any
) -> None:
    create(api, "other", custom_image)
    before = len(writes(emulator))

    imported = run("import", "acme/other")

    assert imported.code == 1
    assert shown in imported.stderr and "not text-generation-inference" in imported.stderr, imported.stderr
    assert writes(emulator)[before:] == []  # refused: nothing adopted
