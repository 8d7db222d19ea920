"""The committed CRD is the one generated from the schema; under 20% API faults the operator converges
and says why it waited."""

from __future__ import annotations

from pathlib import Path

import yaml

from hfops.operator import crd
from tests.operator._harness import HF_NAMESPACE, K8S_NAMESPACE, Cluster, resource

ROOT = Path(__file__).resolve().parents[2]


def test_committed_crd_is_generated_from_the_schema() -> None:
    committed = (ROOT / "deploy" / "crd.yaml").read_text()
    assert committed == crd.render(), "deploy/crd.yaml drifted: run python -m hfops.operator.crd > deploy/crd.yaml"


def test_crd_spec_follows_every_manifest_spec_field() -> None:
    manifest = crd.manifest_schema()["properties"]["spec"]["properties"]
    document = next(yaml.safe_load_all((ROOT / "deploy" / "crd.yaml").read_text()))
    spec = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(spec["properties"]) == set(manifest) | {"hfNamespace", "deletionPolicy", "hfTokenSecretRef"}
    assert spec["required"] == ["model", "compute"]
    # structural: no keyword Kubernetes refuses, everywhere in the tree
    text = (ROOT / "deploy" / "crd.yaml").read_text()
    for refused in ("$ref", "$comment", "propertyNames", "additionalProperties: false", "const:"):
        assert refused not in text
    columns = [c["name"] for c in document["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:4] == ["HF-Namespace", "State", "URL", "Ready"]


def test_defaults_crd_is_the_manifest_spec_with_nothing_required() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "crd.yaml").read_text()))
    assert [d["metadata"]["name"] for d in documents] == ["endpoints.hfops.dev", "defaults.hfops.dev"]
    spec = documents[1]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    manifest = crd.manifest_schema()["properties"]["spec"]["properties"]
    assert set(spec["properties"]) == set(manifest)  # no operator fields: hfNamespace etc. stay per resource
    assert "required:" not in yaml.safe_dump(spec)


def test_crd_makes_hf_namespace_immutable_with_a_cel_rule() -> None:
    """A cluster with CEL validation refuses the edit at the API server; the operator's own refusal
    (InvalidSpec, test_operator_lifecycle) stays for one without."""
    document = next(yaml.safe_load_all((ROOT / "deploy" / "crd.yaml").read_text()))
    schema = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    field = schema["properties"]["spec"]["properties"]["hfNamespace"]
    assert field["x-kubernetes-validations"] == [{"rule": "self == oldSelf", "message": crd.HF_NAMESPACE_IMMUTABLE}]
    assert "spec.hfNamespace cannot change" in crd.HF_NAMESPACE_IMMUTABLE
    # The only rule in the CRD: no other field is made immutable by accident.
    assert (ROOT / "deploy" / "crd.yaml").read_text().count("x-kubernetes-validations") == 1


def test_twenty_percent_api_faults_converge_and_say_why(cluster: Cluster) -> None:
    cluster.hf.set_faults(fail_rate=0.2)
    # The random faults fall where the threads' order puts them: with a few dozen requests, a run
    # may draw none (0.8^n). One scripted 503 on the first create makes every run meet a fault.
    cluster.hf.inject_fault("error", method="POST", path="/v2/endpoint/*", status=503)
    with cluster.operator(interval=1.0, retry_delay=0.2):
        for name in ("alpha", "beta", "gamma"):
            cluster.apply(resource(name))
        for name in ("alpha", "beta", "gamma"):
            cluster.wait_condition(name, "Ready", "True", timeout=40)
    for name in ("alpha", "beta", "gamma"):
        assert cluster.kube.secret_data(K8S_NAMESPACE, name) is not None
        assert cluster.hf.endpoint_raw(HF_NAMESPACE, name) is not None
    failed = [r for r in cluster.hf.requests() if r["status"] in (429, 500, 502, 503, 504)]
    assert failed, "the emulator injected no fault: the test proves nothing"
    events = cluster.events()
    reasons = {e.get("reason") for e in events}
    assert "APIRetried" in reasons, reasons  # why it waited: the API's faults, retried with backoff
    assert "Waiting" in reasons, reasons  # and provisioning
    retried = [e for e in events if e.get("reason") == "APIRetried"]
    assert all(e.get("type") == "Warning" for e in retried)


def test_argocd_configmap_carries_the_health_lua() -> None:
    lua = (ROOT / "deploy" / "argocd" / "health.lua").read_text()
    patch = yaml.safe_load((ROOT / "deploy" / "argocd" / "argocd-cm-patch.yaml").read_text())
    assert patch["data"]["resource.customizations.health.hfops.dev_Endpoint"] == lua
    for reason in ("InvalidSpec", "NotOwned", "ModelRefused", "QuotaExceeded"):
        assert reason in lua


def test_peering_flags_reach_kopf_and_the_deployment_uses_them() -> None:
    from hfops.adapters.settings import Settings
    from hfops.operator.handlers import OperatorConfig, operator_settings

    standalone = operator_settings(OperatorConfig(Settings(token=None)))
    assert standalone.peering.standalone is True
    peered = operator_settings(OperatorConfig(Settings(token=None), peering="hfops", priority=7))
    assert (peered.peering.standalone, peered.peering.name, peered.peering.priority) == (False, "hfops", 7)
    assert peered.peering.mandatory is True and peered.peering.clusterwide is True
    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text())
    assert deployment["spec"]["replicas"] == 2
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--peering") + 1] == "hfops"
    peering = list(yaml.safe_load_all((ROOT / "deploy" / "peering.yaml").read_text()))
    assert any(d["kind"] == "ClusterKopfPeering" and d["metadata"]["name"] == "hfops" for d in peering)


def test_operator_help_documents_every_flag() -> None:
    from click.testing import CliRunner

    from hfops.cli import cli

    result = CliRunner().invoke(cli, ["operator", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--interval",
        "--retry-delay",
        "--hf-namespace",
        "--namespace",
        "--owner",
        "--peering",
        "--priority",
        "--liveness",
        "--timeout",
        "--verbose",
    ):
        assert flag in result.output
    listed = CliRunner().invoke(cli, ["--help"])
    assert "operator" in listed.output
