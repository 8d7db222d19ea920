"""kubectl sees what hfops wrote, through the same kubeconfig (collected only where kubectl is, or
always with HFOPS_REQUIRE_KUBECTL=1: see conftest.py)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hfops.adapters.kubernetes import KubernetesSecretSink
from hfops.adapters.sinks.base import Target

from .conftest import NAMESPACE, KubeCluster


def kubectl(kube: KubeCluster, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail("kubectl is not on PATH and HFOPS_REQUIRE_KUBECTL=1: install kubectl or unset it")
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(kube.kubeconfig)}
    command = [binary, "--kubeconfig", str(kube.kubeconfig), "--cache-dir", str(tmp_path / "kube-cache"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_kubectl_gets_the_secret_hfops_wrote(kube: KubeCluster, tmp_path: Path) -> None:
    content = b'{"api_key": "hf_x", "context_window": 4096}\n'
    KubernetesSecretSink(kube.client(), "genstudio-llama", NAMESPACE).write(content, Target("acme", "llama", "team-a"))

    result = kubectl(kube, tmp_path, "get", "secret", "genstudio-llama", "-n", NAMESPACE, "-o", "json")
    assert result.returncode == 0, result.stderr
    secret = json.loads(result.stdout)
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "hfops"
    assert secret["metadata"]["annotations"]["hfops.dev/endpoint"] == "acme/llama"
    assert base64.b64decode(secret["data"]["credential.json"]) == content

    listed = kubectl(
        kube, tmp_path, "get", "secrets", "-n", NAMESPACE, "-l", "app.kubernetes.io/managed-by=hfops", "-o", "name"
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["secret/genstudio-llama"]
