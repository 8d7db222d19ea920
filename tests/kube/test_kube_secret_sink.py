"""KubernetesSecretSink over real HTTP against the kmock API emulator (tests/kube/conftest.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import kmock
import pytest

from hfops.adapters.kubernetes import KubernetesError, KubernetesSecretSink, list_managed
from hfops.adapters.sinks.base import CredentialSink, Held, Target
from hfops.core.errors import CredentialsError

from .conftest import NAMESPACE, KubeCluster

API_KEY = "hf_genstudio_only_key_0123456789abcdef"
TARGET = Target(namespace="acme", name="llama", owner="team-a")


def credential(key: str = API_KEY, window: int = 4096) -> bytes:
    body = {
        "api_key": key,
        "endpoint": "https://xxxx.us-east-1.aws.endpoints.huggingface.cloud",
        "model_name": "meta-llama/Llama-2-7b-chat-hf",
        "context_window": window,
    }
    return json.dumps(body, indent=2).encode() + b"\n"


def sink(
    kube: KubeCluster, name: str = "genstudio-llama", key: str = "credential.json", **kw: Any
) -> KubernetesSecretSink:
    return KubernetesSecretSink(kube.client(), name, NAMESPACE, key, **kw)


def foreign_secret(kube: KubeCluster, name: str = "genstudio-llama") -> None:
    kube.put_secret(
        NAMESPACE, name, {"type": "Opaque", "data": {"credential.json": base64.b64encode(b"theirs").decode()}}
    )


def test_is_a_credential_sink(kube: KubeCluster) -> None:
    out: CredentialSink = sink(kube)
    assert out.describe() == "kubernetes secret genstudio/genstudio-llama key credential.json"


def test_write_creates_a_labelled_annotated_secret(kube: KubeCluster) -> None:
    out = sink(kube)
    assert out.read() == Held("absent")
    assert out.check() == []
    out.write(credential(), TARGET)

    secret = kube.secret(NAMESPACE, "genstudio-llama")
    assert secret is not None
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "hfops"}
    annotations = secret["metadata"]["annotations"]
    assert annotations["hfops.dev/endpoint"] == "acme/llama"
    assert annotations["hfops.dev/owner"] == "team-a"
    assert json.loads(annotations["hfops.dev/keys"]) == {
        "credential.json": {"endpoint": "acme/llama", "owner": "team-a"}
    }
    stored = kube.secret_data(NAMESPACE, "genstudio-llama")
    assert stored == {"credential.json": credential()}
    assert json.loads(stored["credential.json"])["api_key"] == API_KEY

    held = out.read()
    assert (held.state, held.content, held.address, held.owner) == ("ours", credential(), "acme/llama", "team-a")
    assert API_KEY not in repr(held)


def test_new_content_updates_the_key(kube: KubeCluster) -> None:
    out = sink(kube)
    out.write(credential(), TARGET)
    before = kube.secret(NAMESPACE, "genstudio-llama")
    out.write(credential(key="hf_rotated_key_abcdefghijklmnop"), TARGET)
    after = kube.secret(NAMESPACE, "genstudio-llama")
    assert before is not None and after is not None
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # updated in place, not recreated
    assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    assert kube.secret_data(NAMESPACE, "genstudio-llama") == {
        "credential.json": credential(key="hf_rotated_key_abcdefghijklmnop")
    }
    assert out.read().content == credential(key="hf_rotated_key_abcdefghijklmnop")


def test_other_keys_are_kept_and_never_taken_over(kube: KubeCluster) -> None:
    out = sink(kube)
    out.write(credential(), TARGET)
    client = kube.client()
    client.patch_secret(NAMESPACE, "genstudio-llama", {"data": {"ca.crt": base64.b64encode(b"by hand").decode()}})

    out.write(credential(window=8192), TARGET)
    assert kube.secret_data(NAMESPACE, "genstudio-llama") == {
        "credential.json": credential(window=8192),
        "ca.crt": b"by hand",
    }

    by_hand = sink(kube, key="ca.crt")  # a key hfops did not write, in an hfops Secret
    assert by_hand.read() == Held("foreign")
    assert "did not write" in by_hand.check()[0]
    with pytest.raises(CredentialsError, match="never overwrites"):
        by_hand.write(credential(), TARGET)
    by_hand.remove(TARGET)

    out.remove(TARGET)  # the last key hfops wrote: the Secret stays for the key someone else put there
    assert kube.secret_data(NAMESPACE, "genstudio-llama") == {"ca.crt": b"by hand"}
    assert out.read() == Held("absent")


def test_remove_deletes_the_secret_with_its_last_key(kube: KubeCluster) -> None:
    out = sink(kube)
    out.write(credential(), TARGET)
    out.remove(TARGET)
    assert kube.secret(NAMESPACE, "genstudio-llama") is None
    assert out.read() == Held("absent")
    out.remove(TARGET)  # absent is success


def test_two_endpoints_share_a_secret_one_key_each(kube: KubeCluster) -> None:
    llama, mistral = sink(kube, key="llama.json"), sink(kube, key="mistral.json")
    other = Target(namespace="acme", name="mistral", owner="team-a")
    llama.write(credential(), TARGET)
    mistral.write(credential(window=32768), other)
    assert (llama.read().address, mistral.read().address) == ("acme/llama", "acme/mistral")
    assert list_managed(kube.client(), NAMESPACE, "team-a") == [
        ("genstudio-llama", "llama.json", "acme/llama"),
        ("genstudio-llama", "mistral.json", "acme/mistral"),
    ]
    llama.remove(TARGET)
    assert kube.secret_data(NAMESPACE, "genstudio-llama") == {"mistral.json": credential(window=32768)}
    assert list_managed(kube.client(), NAMESPACE, "team-a") == [("genstudio-llama", "mistral.json", "acme/mistral")]


def test_list_managed_finds_only_this_owners_hfops_secrets(kube: KubeCluster) -> None:
    sink(kube, "a").write(credential(), TARGET)
    sink(kube, "b").write(credential(), Target("acme", "other", "team-b"))
    foreign_secret(kube, "c")
    KubernetesSecretSink(kube.client(), "d", "elsewhere").write(credential(), TARGET)
    assert list_managed(kube.client(), NAMESPACE, "team-a") == [("a", "credential.json", "acme/llama")]
    assert list_managed(kube.client(), NAMESPACE, "team-b") == [("b", "credential.json", "acme/other")]
    lists = [r for r in kube.emulator.requests if r.action == kmock.action.LIST]
    assert lists and all(r.params.get("labelSelector") == "app.kubernetes.io/managed-by=hfops" for r in lists)


def test_a_foreign_secret_is_refused_and_left_untouched(kube: KubeCluster) -> None:
    foreign_secret(kube)
    before = kube.secret(NAMESPACE, "genstudio-llama")
    out = sink(kube)

    problems = out.check()
    assert len(problems) == 1
    assert "genstudio/genstudio-llama" in problems[0] and "not managed by hfops" in problems[0]
    assert out.read() == Held("foreign")
    with pytest.raises(CredentialsError, match=r"genstudio/genstudio-llama exists and is not managed by hfops"):
        out.write(credential(), TARGET)
    out.remove(TARGET)

    assert kube.secret(NAMESPACE, "genstudio-llama") == before
    assert not [r for r in kube.emulator.requests if r.method in ("PATCH", "DELETE", "POST")]


def test_a_hand_labelled_secret_is_hfops(kube: KubeCluster) -> None:
    kube.put_secret(
        NAMESPACE,
        "genstudio-llama",
        {"metadata": {"labels": {"app.kubernetes.io/managed-by": "hfops"}}, "data": {"credential.json": "e30="}},
    )
    out = sink(kube)
    assert out.read() == Held("ours", content=b"{}")
    out.write(credential(), TARGET)
    assert out.read().address == "acme/llama"


def test_check_validates_names_before_any_request(kube: KubeCluster) -> None:
    problems = KubernetesSecretSink(kube.client(), "Bad_Name", "Bad.NS", "no/slash").check()
    assert len(problems) == 3
    assert "name 'Bad_Name' is invalid" in problems[0]
    assert "namespace 'Bad.NS' is invalid" in problems[1]
    assert "key 'no/slash' is invalid" in problems[2]
    assert sink(kube, "x" * 254).check() and sink(kube, key="..hidden").check() and sink(kube, "-a").check()
    assert kube.emulator.requests == []

    assert sink(kube, "a.b-c", key="A-b_c.json").check() == []
    get, create = kube.emulator.requests
    assert (get.method, create.method, create.params.get("dryRun")) == ("GET", "POST", "All")
    assert kube.secret(NAMESPACE, "a.b-c") is None  # the dry run created nothing


@pytest.mark.parametrize("verb", ["get", "create"])
def test_check_reports_forbidden(kube: KubeCluster, verb: str) -> None:
    kube.forbid(verb)
    problems = sink(kube).check()
    assert len(problems) == 1
    assert problems[0].startswith(
        f"kubernetes secret genstudio/genstudio-llama: cannot {'read' if verb == 'get' else verb}"
    )
    assert "HTTP 403 Forbidden" in problems[0] and f'cannot {verb} resource "secrets"' in problems[0]


def test_check_reports_forbidden_update_of_an_existing_secret(kube: KubeCluster) -> None:
    sink(kube).write(credential(), TARGET)
    kube.forbid("patch")
    assert "cannot update: HTTP 403 Forbidden" in sink(kube).check()[0]


def test_errors_name_the_secret_never_the_data(kube: KubeCluster) -> None:
    out = sink(kube)
    out.write(credential(), TARGET)
    kube.forbid("patch")
    with pytest.raises(KubernetesError) as caught:
        out.write(credential(key="hf_rotated_key_abcdefghijklmnop"), TARGET)
    error = caught.value
    assert isinstance(error, CredentialsError)
    assert error.status == 403
    assert "kubernetes secret genstudio/genstudio-llama: cannot update: HTTP 403 Forbidden" in str(error)
    assert error.hint is not None and "RBAC" in error.hint
    encoded = base64.b64encode(credential(key="hf_rotated_key_abcdefghijklmnop")).decode()
    assert "hf_rotated" not in str(error) and encoded not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_a_concurrent_change_is_read_again(kube: KubeCluster) -> None:
    out = sink(kube)
    out.write(credential(), TARGET)
    stale = kube.secret(NAMESPACE, "genstudio-llama")
    client = kube.client()
    client.patch_secret(NAMESPACE, "genstudio-llama", {"data": {"extra": "eA=="}})  # someone else, meanwhile
    reads = iter([stale])
    real_get = out.client.get_secret
    out.client.get_secret = lambda ns, name: next(reads, None) or real_get(ns, name)  # type: ignore[method-assign]
    out.write(credential(window=1024), TARGET)  # first patch: 409 (stale resourceVersion); then read again
    assert kube.secret_data(NAMESPACE, "genstudio-llama") == {"credential.json": credential(window=1024), "extra": b"x"}
    patches = [r for r in kube.emulator.requests if r.method == "PATCH"]
    assert len(patches) == 3  # the bystander's, the refused one, the retried one


def test_stale_resource_version_is_a_conflict(kube: KubeCluster) -> None:
    client = kube.client()
    sink(kube).write(credential(), TARGET)
    with pytest.raises(KubernetesError) as caught:
        client.patch_secret(NAMESPACE, "genstudio-llama", {"metadata": {"resourceVersion": "0"}, "data": {}})
    assert caught.value.status == 409
    assert not client.delete_secret(NAMESPACE, "nope")
    with pytest.raises(KubernetesError, match="409 Conflict"):
        client.delete_secret(NAMESPACE, "genstudio-llama", resource_version="0")
    assert kube.secret(NAMESPACE, "genstudio-llama") is not None


def test_owner_references_are_set_for_an_operator(kube: KubeCluster) -> None:
    owner = {
        "apiVersion": "hfops.dev/v1",
        "kind": "InferenceEndpoint",
        "name": "llama",
        "uid": "5b0c2a9e-0000-4000-8000-000000000001",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    sink(kube, owner_references=[owner]).write(credential(), TARGET)
    secret = kube.secret(NAMESPACE, "genstudio-llama")
    assert secret is not None and secret["metadata"]["ownerReferences"] == [owner]
