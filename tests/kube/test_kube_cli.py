"""`kubernetesSecret` outputs end to end: the hfops CLI -> huggingface_hub -> the API emulator, and
the credential into a Secret of the Kubernetes API emulator (kmock), both over real HTTP on 127.0.0.1.

One test per promise of the credentials issue: created on apply, a key rotation is a planned change
that updates the Secret, prune removes it, a Secret hfops does not manage is refused and untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories import GENSTUDIO_KEY_FROM_ENV, endpoint_manifest

from .conftest import NAMESPACE, KubeCluster

KEY = "hf_genstudio_key_kube_aaaaaaaaaaaa"
ROTATED = "hf_genstudio_key_kube_bbbbbbbbbbbb"
WRITTEN = "+ credential acme/alpha -> kubernetes secret genstudio/genstudio-alpha key credential.json will be written"
REMOVED = "- credential acme/bravo -> kubernetes secret genstudio/genstudio-bravo key credential.json will be removed"
SECRET_OUTPUT = "    outputs:\n      - kubernetesSecret: {name: 'genstudio-{name}'}\n"


def manifests(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for name in names:
        (folder / f"{name}.yaml").write_text(endpoint_manifest(name, extra=GENSTUDIO_KEY_FROM_ENV + SECRET_OUTPUT))
    return folder


def credential_in(kube: KubeCluster, name: str) -> dict[str, object] | None:
    data = kube.secret_data(NAMESPACE, name)
    return None if data is None else json.loads(data["credential.json"])


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENSTUDIO_API_KEY", KEY)
    return manifests(tmp_path, "alpha", "bravo")


def test_apply_writes_secrets_a_rotation_updates_them_prune_removes_them(
    emulator, hf_env, run, kube: KubeCluster, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = run("plan", str(folder))
    assert planned.code == 0, planned.output
    assert WRITTEN in planned.stdout

    applied = run("apply", str(folder), "--yes")
    assert applied.code == 0, applied.output
    alpha = credential_in(kube, "genstudio-alpha")
    assert alpha is not None and alpha["api_key"] == KEY and alpha["model_name"] == "gpt2"
    assert alpha["context_window"] == 1024
    assert alpha["endpoint"] == emulator.endpoint_raw("acme", "alpha")["status"]["url"]
    secret = kube.secret(NAMESPACE, "genstudio-bravo")
    assert secret is not None and secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "hfops"
    assert run("plan", str(folder), "--detailed-exitcode").code == 0

    monkeypatch.setenv("GENSTUDIO_API_KEY", ROTATED)
    rotation = run("plan", str(folder), "--detailed-exitcode")
    assert rotation.code == 2, rotation.output
    assert "~ api_key: (sensitive value changed)" in rotation.stdout
    assert "Credentials: 0 to write, 2 to change, 0 to remove." in rotation.stdout
    assert ROTATED not in rotation.output and KEY not in rotation.output
    assert run("apply", str(folder), "--yes").code == 0
    assert credential_in(kube, "genstudio-alpha")["api_key"] == ROTATED  # type: ignore[index]
    assert credential_in(kube, "genstudio-bravo")["api_key"] == ROTATED  # type: ignore[index]

    manifests(tmp_path, "alpha")
    pruning = run("plan", str(folder), "--prune")
    assert REMOVED in pruning.stdout, pruning.output
    pruned = run("apply", str(folder), "--prune", "--yes")
    assert pruned.code == 0, pruned.output
    assert emulator.endpoint_raw("acme", "bravo") is None
    assert kube.secret(NAMESPACE, "genstudio-bravo") is None
    assert credential_in(kube, "genstudio-alpha") is not None
    for result in (planned, applied, rotation, pruning, pruned):
        assert KEY not in result.output and ROTATED not in result.output


def test_a_secret_hfops_does_not_manage_is_refused_before_anything_is_created(
    emulator, hf_env, run, kube: KubeCluster, folder: Path
) -> None:
    foreign = {"metadata": {"name": "genstudio-bravo", "namespace": NAMESPACE}, "data": {"token": "c2VjcmV0"}}
    kube.put_secret(NAMESPACE, "genstudio-bravo", foreign)

    planned = run("plan", str(folder))
    assert planned.code == 1, planned.output
    assert (
        f"! acme/bravo: kubernetes secret {NAMESPACE}/genstudio-bravo key credential.json exists and was not "
        "written by hfops; it is never overwritten" in planned.stdout
    )
    assert "This plan cannot be applied: 1 credential output(s) hfops may not touch." in planned.stdout

    applied = run("apply", str(folder), "--yes")
    assert applied.code == 1, applied.output
    assert [r for r in emulator.requests() if r["method"] == "POST"] == []
    assert kube.secret_data(NAMESPACE, "genstudio-bravo") == {"token": b"secret"}
    assert kube.secret(NAMESPACE, "genstudio-alpha") is None
