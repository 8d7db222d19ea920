"""`hfops credentials` into a directory that does not exist yet writes every file output (as apply
does), instead of creating the directory and saying "No changes" with nothing in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.factories import endpoint_manifest


def test_credentials_into_a_new_directory_writes_every_file(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    (tmp_path / "m").mkdir()
    for name in ("one", "two"):
        (tmp_path / "m" / f"{name}.yaml").write_text(endpoint_manifest(name, "acme"))
    assert run("apply", str(tmp_path / "m"), "--yes", "--credentials-dir", str(tmp_path / "first")).code == 0
    fresh = tmp_path / "second" / "creds"  # neither it nor its parent exists

    written = run("credentials", str(tmp_path / "m"), "--credentials-dir", str(fresh))

    assert written.code == 0, written.output
    assert "No changes" not in written.stdout, written.stdout
    assert sorted(p.name for p in fresh.glob("*.json")) == ["one.json", "two.json"]
    for name in ("one", "two"):
        assert (fresh / f"{name}.json").read_bytes() == (tmp_path / "first" / f"{name}.json").read_bytes()
    again = run("credentials", str(tmp_path / "m"), "--credentials-dir", str(fresh))
    assert again.code == 0 and "No changes" in again.stdout, again.output
