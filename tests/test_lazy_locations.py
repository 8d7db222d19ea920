"""Errors found after loading (at plan time) still name the file and line a user wrote, although
hfops finds a line only when an error asks for it (by walking the file's parsed text once more)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.factories import endpoint_manifest


def test_a_plan_time_error_in_a_later_document_after_an_empty_one_names_its_line(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    first = endpoint_manifest("first", "acme")
    third = endpoint_manifest("third", "acme", repository="nobody/no-such-model")
    text = first + "---\n---\n" + third
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    # The repository line of the third document, counted in the text as written.
    line = text.splitlines().index("    repository: nobody/no-such-model") + 1

    result = run("plan", str(path))

    assert result.code == 1, result.output
    assert f"{path}:{line}: spec.model.repository: model nobody/no-such-model not found" in result.stderr


def test_a_plan_time_error_in_an_inherited_field_names_the_defaults_line(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    # gpt2 serves 1024 tokens: a limit of 2048 inherited from Defaults is refused at plan time.
    (tmp_path / "m").mkdir()
    defaults = tmp_path / "m" / "_defaults.yaml"
    defaults.write_text(
        "apiVersion: hfops/v1\nkind: Defaults\nmetadata: {name: fleet}\nspec:\n  image:\n    maxInputTokens: 1000\n"
        "    maxTotalTokens: 2048\n"
    )
    (tmp_path / "m" / "a.yaml").write_text(endpoint_manifest("alpha", "acme"))

    result = run("plan", str(tmp_path / "m"))

    assert result.code == 1, result.output
    assert (
        f"{defaults}:7: spec.image.maxTotalTokens: maxTotalTokens 2048 is larger than the context length of gpt2"
        in result.stderr
    ), result.stderr


def test_a_manifest_rewritten_after_loading_is_located_in_the_text_that_was_read(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    # The lines are found in the text hfops parsed, not in what the file holds when the error comes:
    # the Hub's answer about the model is held 1.5 s, and the file is rewritten meanwhile.
    path = tmp_path / "e.yaml"
    path.write_text(endpoint_manifest("gone", "acme", repository="nobody/no-such-model"))
    line = path.read_text().splitlines().index("    repository: nobody/no-such-model") + 1
    emulator.inject_fault("delay", method="GET", path="/api/models/*", ms=1500)
    planned: dict[str, Any] = {}
    planning = threading.Thread(target=lambda: planned.update(result=run("plan", str(path))))
    planning.start()
    deadline = time.monotonic() + 10
    while not any(r["path"].startswith("/v2/") for r in emulator.requests()) and time.monotonic() < deadline:
        time.sleep(0.02)  # loaded: the list read (beside the held model read) was answered
    path.write_text("# rewritten meanwhile\n" * 40)
    planning.join(30)

    result = planned["result"]
    assert result.code == 1, result.output
    assert f"{path}:{line}: spec.model.repository: model nobody/no-such-model not found" in result.stderr
