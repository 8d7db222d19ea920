"""JSON nested deeper than the decoder recurses, wherever hfops reads JSON it did not just write.

`json.loads` raises RecursionError for it, not ValueError: each reader must take it as it takes
any other garbled JSON (a credential file not shaped as one, a corrupt ledger, a saved plan that
is not one, an answer that is not the API's), never as an "unexpected RecursionError".
The API's answer is covered in test_hostile_server.py (`--malformed-kind deep`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hfops.emulator import Emulator

DEEP = "[" * 200_000 + "]" * 200_000

MANIFEST = """\
apiVersion: hfops/v1
kind: Endpoint
metadata: {name: chat, namespace: acme}
spec:
  model: {repository: gpt2}
  compute: {accelerator: gpu, instanceType: nvidia-a10g, instanceSize: x1, vendor: aws, region: us-east-1}
  image: {url: "ghcr.io/huggingface/text-generation-inference:3.3.6", maxInputTokens: 1023, maxTotalTokens: 1024}
"""


def _applied(run: Any, tmp_path: Path) -> tuple[Path, Path]:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    creds = tmp_path / "creds"
    result = run("apply", str(manifest), "--yes", "--credentials-dir", str(creds))
    assert result.code == 0, result.output
    assert (creds / "chat.json").exists()
    return manifest, creds


def test_a_credential_file_nested_too_deep_is_one_hfops_did_not_write(
    emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest, creds = _applied(run, tmp_path)
    (creds / "chat.json").write_text(DEEP)

    result = run("plan", str(manifest), "--credentials-dir", str(creds))

    assert result.code == 1, result.output
    assert "file chat.json exists and was not written by hfops; it is never overwritten" in result.output
    assert "unexpected" not in result.output and "RecursionError" not in result.output
    assert (creds / "chat.json").read_text() == DEEP, "a file hfops does not recognise is never touched"


def test_a_ledger_nested_too_deep_reads_as_a_corrupt_one(
    emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest, creds = _applied(run, tmp_path)
    ledger = creds / ".hfops-ledger"
    (creds / ".hfops-ledger").write_text('{"outputs": ' + DEEP + "}")

    plan = run("plan", str(manifest), "--credentials-dir", str(creds))
    assert plan.code == 0, plan.output
    assert "unexpected" not in plan.output and "RecursionError" not in plan.output

    apply = run("apply", str(manifest), "--yes", "--credentials-dir", str(creds))
    assert apply.code == 0, apply.output
    assert json.loads(ledger.read_text())["outputs"]["file:chat.json"]["address"] == "acme/chat"
    kept = [p for p in creds.iterdir() if p.name.startswith(".hfops-ledger.corrupt-")]
    assert len(kept) == 1 and kept[0].read_text() == '{"outputs": ' + DEEP + "}", "the corrupt ledger is kept aside"


def test_a_saved_plan_nested_too_deep_is_refused_as_not_a_plan(
    emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    saved = tmp_path / "plan.json"
    assert run("plan", str(manifest), "--out", str(saved)).code == 0
    text = saved.read_text()
    saved.write_text(text.rstrip()[:-1] + ', "extra": ' + DEEP + "}")

    result = run("apply", str(saved), "--yes")

    assert result.code == 1, result.output
    assert f"{saved}: not a readable saved plan (JSON nested too deep to decode)" in result.output
    assert emulator.endpoint_raw("acme", "chat") is None, "nothing was created"


def test_a_tgi_answer_nested_too_deep_is_an_answer_without_a_body(
    emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest, creds = _applied(run, tmp_path)
    (creds / "chat.json").unlink()
    emulator.inject_fault("malformed_deep", method="GET", path="/endpoints/*", times=1000)

    result = run("credentials", str(manifest), "--credentials-dir", str(creds))

    assert "unexpected" not in result.output and "RecursionError" not in result.output, result.output
    served = [r for r in emulator.requests() if r["path"].startswith("/endpoints/") and r["path"].endswith("/info")]
    assert served, "the endpoint's /info was read (and answered nested too deep)"
    # /info said nothing usable: the window is the model's (gpt2's 1024), as for an /info without a body.
    assert result.code == 0, result.output
    written = json.loads((creds / "chat.json").read_text())
    assert written["context_window"] == 1024 and written["model_name"] == "gpt2"
