"""A fleet without `genstudio.apiKey` is told once that its credentials carry HF_TOKEN, not once
per endpoint (credentials are written concurrently: that was a line per endpoint in no fixed order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.factories import endpoint_manifest


def test_the_hf_token_fallback_is_said_once_for_a_fleet(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    (tmp_path / "m").mkdir()
    for name in ("one", "two", "three", "four"):
        (tmp_path / "m" / f"{name}.yaml").write_text(endpoint_manifest(name, "acme"))

    applied = run("apply", str(tmp_path / "m"), "--yes", "--credentials-dir", str(tmp_path / "c"))

    assert applied.code == 0, applied.output
    assert applied.stderr.count("uses HF_TOKEN") == 1, applied.stderr
    assert "so do the credentials of any other endpoint without one" in applied.stderr
    assert sorted(p.name for p in (tmp_path / "c").glob("*.json")) == [
        "four.json", "one.json", "three.json", "two.json"
    ]
