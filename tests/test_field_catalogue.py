"""A field added through the catalogue alone (plus schema and model) is planned, created, updated, imported.

`image.quantize` was added as exactly that: the schema property, the `ImageSpec.quantize` attribute and
one `Field` in `hfops/core/fields.py`. Driven through the CLI and the real client against the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hfops.core import fields as catalogue

MANIFEST = """apiVersion: hfops/v1
kind: Endpoint
metadata: {{name: quant, namespace: acme}}
spec:
  model: {{repository: gpt2}}
  compute: {{vendor: aws, region: us-east-1, accelerator: gpu, instanceType: nvidia-a10g, instanceSize: x1}}
  image: {{quantize: {quantize}}}
"""


def test_quantize_is_in_the_catalogue_once() -> None:
    assert catalogue.field_for("image.quantize") is catalogue.QUANTIZE
    assert catalogue.QUANTIZE.group == catalogue.IMAGE_GROUP


def test_new_field_planned_created_updated_imported(emulator, hf_env, run, tmp_path: Path) -> None:
    manifest = tmp_path / "quant.yaml"
    manifest.write_text(MANIFEST.format(quantize="awq"))
    credentials = str(tmp_path / "c")

    planned = run("plan", str(manifest), "--format", "json", "--credentials-dir", credentials)
    assert planned.code == 0, planned.output
    (create,) = json.loads(planned.stdout)["actions"]
    assert {"path": "image.quantize", "old": None, "new": "awq", "sensitive": False} in create["fields"]

    created = run("apply", str(manifest), "--yes", "--credentials-dir", credentials)
    assert created.code == 0, created.output
    assert emulator.endpoint_raw("acme", "quant")["model"]["image"]["tgi"]["quantize"] == "awq"
    assert "No changes" in run("plan", str(manifest), "--credentials-dir", credentials).stdout

    manifest.write_text(MANIFEST.format(quantize="gptq"))
    changed = run("plan", str(manifest), "--credentials-dir", credentials)
    assert 'image.quantize: "awq" -> "gptq"' in changed.stdout
    updated = run("apply", str(manifest), "--yes", "--credentials-dir", credentials)
    assert updated.code == 0, updated.output
    assert emulator.endpoint_raw("acme", "quant")["model"]["image"]["tgi"]["quantize"] == "gptq"

    imported = run("import", "acme/quant", "--no-adopt")
    assert imported.code == 0, imported.output
    document = yaml.safe_load(imported.stdout)
    assert document["spec"]["image"]["quantize"] == "gptq"
