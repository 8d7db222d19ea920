"""`hfops import` against endpoints that keep credentials in `env`, and a failing `--out`.

Endpoints are created with the real huggingface_hub client (as someone outside hfops would), then
imported, planned and applied through the CLI against the emulator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import HfApi

from tests.conftest import TOKEN
from tests.factories import create_outside_hfops

READ_TOKEN = "hf_fake_gated_read_token_000000"
OTHER = "hf_fake_other_token_00000000000"
PASSWORD = "correct-horse-battery"


def create(api: HfApi, name: str, env: dict[str, str]) -> None:
    create_outside_hfops(
        api,
        name,
        token=TOKEN,
        env=env,
        custom_image={"tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6"}},
        namespace="acme",
    )


ENV = {"HF_TOKEN": READ_TOKEN, "OTHER_TOKEN": OTHER, "DB_PASSWORD": PASSWORD, "LOG_LEVEL": "info"}


def test_import_never_writes_credentials_kept_in_env(api: HfApi, emulator: Any, run: Any, tmp_path: Path) -> None:
    create(api, "gated", ENV)
    out = tmp_path / "m" / "imp.yaml"
    out.parent.mkdir()

    imported = run("import", "acme/gated", "--no-adopt", "--out", str(out))

    assert imported.code == 0, imported.output
    text = out.read_text()
    for value in (READ_TOKEN, OTHER, PASSWORD):
        assert value not in text and value not in imported.output
    assert "(sensitive value)" not in text
    document = yaml.safe_load(text)
    assert document["spec"]["env"] == {"LOG_LEVEL": "info"}
    # HF_TOKEN is hfops' own deploy token: the secret reads another variable, named after the endpoint.
    assert document["spec"]["secrets"] == {
        "DB_PASSWORD": {"fromEnv": "DB_PASSWORD"},
        "HF_TOKEN": {"fromEnv": "GATED_HF_TOKEN"},
        "OTHER_TOKEN": {"fromEnv": "OTHER_TOKEN"},
    }
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("GATED_HF_TOKEN (for HF_TOKEN)" in line for line in comments), comments
    assert "GATED_HF_TOKEN (for HF_TOKEN)" in imported.stderr and "OTHER_TOKEN" in imported.stderr

    # Stdout form: the same, nothing redacted into a value that could be applied.
    printed = run("import", "acme/gated", "--no-adopt")
    assert printed.code == 0 and "(sensitive value)" not in printed.stdout
    assert yaml.safe_load(printed.stdout)["spec"]["secrets"] == document["spec"]["secrets"]

    # Planning it needs the variables; the saved plan holds no credential; apply moves them to secrets.
    os.environ.update({"GATED_HF_TOKEN": READ_TOKEN, "OTHER_TOKEN": OTHER, "DB_PASSWORD": PASSWORD})
    try:
        plan_file = tmp_path / "plan.json"
        creds = str(tmp_path / "c")
        planned = run("plan", str(out), "--out", str(plan_file), "--adopt", "acme/gated", "--credentials-dir", creds)
        assert planned.code == 0, planned.output
        for value in (READ_TOKEN, OTHER, PASSWORD):
            assert value not in plan_file.read_text() and value not in planned.output
        applied = run("apply", str(plan_file), "--credentials-dir", creds)
        assert applied.code == 0, applied.output
        raw = emulator.endpoint_raw("acme", "gated")
        assert raw["model"]["env"] == {"LOG_LEVEL": "info"}
        assert emulator.secret_keys("acme", "gated") == ("DB_PASSWORD", "HF_TOKEN", "OTHER_TOKEN")
        again = run("plan", str(out), "--detailed-exitcode", "--credentials-dir", creds)
        assert again.code == 0, again.output
    finally:
        for key in ("GATED_HF_TOKEN", "OTHER_TOKEN", "DB_PASSWORD"):
            os.environ.pop(key, None)


def pasted(tmp_path: Path, env_lines: str) -> Path:
    """A manifest pasted from redacted output: its `env` entries (line 8 on) are `env_lines`."""
    path = tmp_path / "pasted.yaml"
    path.write_text(
        "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {name: pasted, namespace: acme}\nspec:\n"
        "  model: {repository: gpt2}\n"
        "  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}\n"
        "  env:\n" + env_lines
    )
    return path


def test_a_redacted_placeholder_cannot_be_applied(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    path = pasted(tmp_path, "    LOG_LEVEL: info\n    HF_TOKEN: (sensitive value)\n")
    validated = run("validate", str(path))
    assert validated.code == 1
    assert f"{path}:9: spec.env.HF_TOKEN: '(sensitive value)' is the placeholder" in validated.stderr
    applied = run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c"))
    assert applied.code == 1 and f"{path}:9: spec.env.HF_TOKEN" in applied.stderr
    assert [r for r in emulator.requests() if r["method"] in ("POST", "PUT")] == []


@pytest.mark.parametrize(
    "written",
    [
        '"(sens\\x69tive value)"',  # an escape spells a letter: the word is not in the file as such
        ">-\n      (sensitive\n      value)",  # folded: the newline becomes the space
        '"(sensitive\\u0020value)"',
    ],
)
def test_the_placeholder_is_refused_however_yaml_spells_it(run: Any, tmp_path: Path, written: str) -> None:
    # hfops skips the placeholder search in files that cannot hold it; these all can.
    path = pasted(tmp_path, f"    API_SECRET_VALUE: {written}\n")
    validated = run("validate", str(path))
    assert validated.code == 1, validated.output
    assert f"{path}:8: spec.env.API_SECRET_VALUE: '(sensitive value)' is the placeholder" in validated.stderr


def test_a_token_shaped_env_value_is_refused(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(
        "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {name: plain, namespace: acme}\nspec:\n"
        "  model: {repository: gpt2}\n"
        "  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}\n"
        f"  env: {{TOKENIZER_NAME: gpt2, MAX_TOTAL_TOKENS: '512', GATED: {READ_TOKEN}}}\n"
    )
    result = run("validate", str(path))
    assert result.code == 1
    assert f"{path}:7: spec.env.GATED: GATED holds what looks like a token" in result.stderr
    assert "secrets: {GATED: {fromEnv: ENV_VAR_NAME}}" in result.stderr
    assert READ_TOKEN not in result.output
    assert "TOKENIZER_NAME" not in result.stderr and "MAX_TOTAL_TOKENS" not in result.stderr


@pytest.mark.parametrize("where", ["missing-directory", "parent-is-a-file"])
def test_import_out_failure_adopts_nothing(api: HfApi, emulator: Any, run: Any, tmp_path: Path, where: str) -> None:
    create(api, "legacy", {"LOG_LEVEL": "info"})
    before = emulator.endpoint_raw("acme", "legacy")["tags"]
    if where == "parent-is-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "imp.yaml"
    else:
        out = tmp_path / "nowhere" / "imp.yaml"

    result = run("import", "acme/legacy", "--out", str(out))

    assert result.code == 1
    assert f"cannot write {out}" in result.stderr and "nothing was adopted" in result.stderr
    assert "adopted (tagged" not in result.output
    assert emulator.endpoint_raw("acme", "legacy")["tags"] == before
    assert [r for r in emulator.requests() if r["method"] == "PUT"] == []
    assert not out.exists()


def test_import_writes_then_adopts(api: HfApi, emulator: Any, run: Any, tmp_path: Path) -> None:
    create(api, "legacy", {"LOG_LEVEL": "info"})
    out = tmp_path / "imp.yaml"
    result = run("import", "acme/legacy", "--out", str(out))
    assert result.code == 0, result.output
    assert result.stderr.index("Wrote 1 manifest(s)") < result.stderr.index("acme/legacy: adopted")
    assert "hfops-managed" in emulator.endpoint_raw("acme", "legacy")["tags"]
    assert json.dumps(yaml.safe_load(out.read_text())["spec"]["env"]) == '{"LOG_LEVEL": "info"}'
