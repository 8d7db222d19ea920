"""What `spec.model.revision` means, as the README says: omitted, the service's default branch and never
compared; a branch or tag, resolved to its commit by every plan and tracked (a new commit redeploys);
a commit, pinned. Driven through the CLI against the emulator, whose Hub branch moves mid-test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import endpoint_manifest

NEW_HEAD = "1" * 40


def write(tmp_path: Path, revision: str | None = None) -> str:
    path = tmp_path / "m" / "e.yaml"
    path.parent.mkdir(exist_ok=True)
    text = endpoint_manifest("rev", "acme")
    if revision is not None:
        text = text.replace("    repository: gpt2\n", f"    repository: gpt2\n    revision: {revision}\n")
    path.write_text(text)
    return str(path)


def head_of_gpt2(emulator: Any) -> str:
    return str(emulator._runtime.router.catalog.get("gpt2").sha)


def test_without_a_revision_the_service_picks_and_a_new_commit_changes_nothing(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest = write(tmp_path)
    creds = ["--credentials-dir", str(tmp_path / "c")]
    assert run("apply", manifest, "--yes", *creds).code == 0
    assert emulator.endpoint_raw("acme", "rev")["model"]["revision"] is None  # not pinned: the service decides

    emulator.push_commit("gpt2", NEW_HEAD)
    again = run("plan", manifest, "--detailed-exitcode", *creds)

    assert again.code == 0, again.output
    assert "No changes." in again.stdout


def test_a_branch_is_pinned_to_its_commit_and_a_new_commit_on_it_redeploys(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    old_head = head_of_gpt2(emulator)
    manifest = write(tmp_path, "main")
    creds = ["--credentials-dir", str(tmp_path / "c")]
    assert run("apply", manifest, "--yes", *creds).code == 0
    assert emulator.endpoint_raw("acme", "rev")["model"]["revision"] == old_head

    emulator.push_commit("gpt2", NEW_HEAD)
    planned = run("plan", manifest, "--detailed-exitcode", *creds)

    assert planned.code == 2, planned.output
    assert (
        "~ acme/rev will be updated in place  # the manifest's branch or tag now names another commit" in planned.stdout
    )
    assert f'~ model.revision: "{old_head}" -> "{NEW_HEAD}"' in planned.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in planned.stdout
    # The branch moved and the manifest changed too: said as a manifest change.
    edited = Path(tmp_path / "edited.yaml")
    edited.write_text(Path(manifest).read_text() + "  scaling: {maxReplica: 2}\n")
    both = run("plan", str(edited), *creds)
    assert "~ acme/rev will be updated in place  # the manifest changed\n" in both.stdout, both.stdout
    applied = run("apply", manifest, "--yes", *creds)
    assert applied.code == 0, applied.output
    assert emulator.endpoint_raw("acme", "rev")["model"]["revision"] == NEW_HEAD
    assert run("plan", manifest, "--detailed-exitcode", *creds).code == 0


@pytest.mark.parametrize("pin", ["commit", "tag"])
def test_a_commit_or_a_tag_that_does_not_move_stays_put_when_the_branch_moves(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path, pin: str
) -> None:
    old_head = head_of_gpt2(emulator)
    if pin == "tag":
        emulator.push_commit("gpt2", old_head, ref="v1")  # a tag at today's head
    revision = old_head if pin == "commit" else "v1"
    manifest = write(tmp_path, revision)
    creds = ["--credentials-dir", str(tmp_path / "c")]
    assert run("apply", manifest, "--yes", *creds).code == 0

    emulator.push_commit("gpt2", NEW_HEAD)
    again = run("plan", manifest, "--detailed-exitcode", *creds)

    assert again.code == 0, again.output
    assert emulator.endpoint_raw("acme", "rev")["model"]["revision"] == old_head


def test_a_saved_plan_does_not_deploy_a_commit_nobody_reviewed(
    emulator: Any, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest = write(tmp_path, "main")
    creds = ["--credentials-dir", str(tmp_path / "c")]
    saved = tmp_path / "reviewed.plan"
    assert run("plan", manifest, "--out", str(saved), *creds).code == 0

    emulator.push_commit("gpt2", NEW_HEAD)  # main moves between review and apply
    applied = run("apply", str(saved), *creds)

    assert applied.code == 1
    assert (
        "is stale: the manifests (or the models or secrets they resolve to) changed. Nothing was changed."
        in applied.stderr
    )
    assert emulator.endpoint_raw("acme", "rev") is None
