"""KubernetesClient: finding the cluster as kubectl does, the default namespace, errors, lazy import."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hfops.adapters.kubernetes import (
    KubernetesClient,
    KubernetesError,
    KubernetesSecretSink,
    default_namespace,
    find_cluster_access,
)
from hfops.adapters.sinks.base import Target
from hfops.core.errors import CredentialsError

from .conftest import NAMESPACE, KubeCluster

ROOT = Path(__file__).resolve().parents[2]
TARGET = Target(namespace="acme", name="llama", owner="team-a")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_default_namespace_is_the_contexts(kube: KubeCluster) -> None:
    assert default_namespace() == NAMESPACE
    client = kube.client()
    assert client.namespace == NAMESPACE
    assert client.server == kube.url
    assert find_cluster_access().source == f"kubeconfig {kube.kubeconfig}"
    KubernetesSecretSink(client, "llama", None).write(b"{}", TARGET)  # no namespace: the context's
    assert kube.secret_data(NAMESPACE, "llama") == {"credential.json": b"{}"}


def test_a_context_without_namespace_means_default(kube: KubeCluster, tmp_path: Path) -> None:
    kube.emulator.write_kubeconfig(kube.kubeconfig, namespace=None)
    assert default_namespace() == "default"


def test_kubeconfig_list_is_merged_first_wins(
    kube: KubeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    config = yaml.safe_load(kube.kubeconfig.read_text())
    config["contexts"].append(
        {"name": "staging", "context": {"cluster": "kmock", "user": "kmock", "namespace": "staging"}}
    )
    config["current-context"] = "staging"
    other.write_text(yaml.safe_dump(config))
    missing = tmp_path / "missing"
    monkeypatch.setenv("KUBECONFIG", f"{missing}:{kube.kubeconfig}:{other}")
    access = find_cluster_access()
    assert access.config_files == (str(kube.kubeconfig), str(other))  # a missing file is skipped
    assert access.namespace == NAMESPACE  # current-context: the first file that sets it wins
    assert default_namespace("staging") == "staging"  # a context only the second file has
    assert KubernetesClient.from_environment("staging").namespace == "staging"
    with pytest.raises(KubernetesError, match="has no context 'nope'"):
        default_namespace("nope")


def test_home_kube_config_is_used_without_kubeconfig(
    kube: KubeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(kube.kubeconfig.read_text())
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(home))
    assert find_cluster_access().config_files == (str(home / ".kube" / "config"),)
    assert kube.client().get_secret(NAMESPACE, "nothing") is None


def test_no_configuration_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere"))
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CredentialsError, match=r"no Kubernetes configuration: KUBECONFIG=.*nowhere does not exist"):
        KubernetesClient.from_environment()


def test_in_cluster_without_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(free_port()))
    access = find_cluster_access()
    assert access.source == "in-cluster service account" and access.config_files == ()
    with pytest.raises(KubernetesError, match="cannot use in-cluster service account"):
        KubernetesClient.from_environment()  # no service-account token here


def test_a_broken_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [")
    monkeypatch.setenv("KUBECONFIG", str(broken))
    with pytest.raises(KubernetesError, match=re.escape(f"cannot read kubeconfig {broken}")):
        KubernetesClient.from_environment()


def test_an_unreachable_api_names_the_secret(kube: KubeCluster) -> None:
    config = yaml.safe_load(kube.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    kube.kubeconfig.write_text(yaml.safe_dump(config))
    out = KubernetesSecretSink(kube.client(), "genstudio-llama", NAMESPACE)

    with pytest.raises(KubernetesError) as caught:
        out.write(b'{"api_key": "hf_secret_value_0123456789"}', TARGET)
    message = str(caught.value)
    assert message.startswith(
        "kubernetes secret genstudio/genstudio-llama: cannot read: cannot reach the Kubernetes API at http://127.0.0.1:"
    )
    assert "hf_secret" not in message
    assert isinstance(caught.value, CredentialsError)

    problems = out.check()
    assert len(problems) == 1 and "cannot reach the Kubernetes API" in problems[0]
    held = out.read()
    assert held.state == "unreadable" and held.detail is not None and "genstudio/genstudio-llama" in held.detail
    with pytest.raises(KubernetesError, match="genstudio/genstudio-llama: cannot read"):
        out.remove(TARGET)


def test_importing_the_package_does_not_import_the_kubernetes_library(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    cluster = {"server": f"http://127.0.0.1:{free_port()}"}
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    code = (
        "import sys\n"
        "import hfops.adapters.kubernetes as k\n"
        "import hfops.adapters.kubernetes.secret_sink\n"
        "assert 'kubernetes' not in sys.modules, sorted(m for m in sys.modules if m.startswith('kubernetes'))\n"
        "assert k.KubernetesClient.from_environment().namespace == 'default'\n"  # makes no request
        "assert 'kubernetes' in sys.modules\n"  # so the check above means something
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "KUBECONFIG": str(kubeconfig)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
