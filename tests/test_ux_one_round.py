"""Issue 14 item 10: every independent error in one run, not in rounds."""

from __future__ import annotations

import json

from tests.factories import endpoint_manifest

CPU = "{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x2}"
NO_SUCH_GPU = "{vendor: aws, region: us-east-1, accelerator: gpu, instanceType: nvidia-z9000, instanceSize: x1}"


def test_a_schema_error_does_not_hide_the_semantic_errors_of_the_other_fields(run, tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(
        "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {name: Bad_Name, namespace: acme}\n"
        f"spec:\n  model: {{repository: gpt2}}\n  compute: {CPU}\n  scaling: {{minReplica: 3, maxReplica: 1}}\n"
    )
    result = run("validate", str(path))
    assert result.code == 1
    assert result.stderr == (
        "Error: 2 manifest errors:\n"
        f"  {path}:3: metadata.name: invalid value 'Bad_Name': The endpoint's name: lowercase letters, digits and "
        "'-', at most 32, starting and ending with a letter or digit.\n"
        f"  {path}:7: spec.scaling.maxReplica: maxReplica (1) must be at least minReplica (3)\n"
    )


def test_missing_required_fields_do_not_hide_the_other_rules(run, tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(
        "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {name: chat, namespace: acme}\n"
        "spec:\n  model: {repository: gpt2}\n  scaling: {minReplica: 1, scaleToZeroTimeout: 5}\n"
        "  image: {maxInputTokens: 2048, maxTotalTokens: 1024}\n"
    )
    result = run("validate", str(path), "--format", "json")
    assert result.code == 1
    fields = [(e["line"], e["field"]) for e in json.loads(result.stdout)["errors"]]
    assert fields == [
        (4, "spec.compute"),
        (6, "spec.scaling.scaleToZeroTimeout"),
        (7, "spec.image.maxInputTokens"),
    ]


def test_a_broken_limit_silences_only_the_rules_that_read_it(run, tmp_path):
    # maxTotalTokens is broken: no TGI-limit rule may run on a stand-in for it (no invented error),
    # while the scaling rule, which does not read it, still reports.
    path = tmp_path / "a.yaml"
    path.write_text(
        endpoint_manifest(
            "chat",
            extra="  scaling: {minReplica: 2, maxReplica: 1}\n  image: {maxInputTokens: 2048, maxTotalTokens: many}\n"
            "  env: {MAX_BATCH_PREFILL_TOKENS: '10'}\n",
        )
    )
    result = run("validate", str(path))
    assert result.code == 1
    lines = result.stderr.splitlines()[1:]
    assert [line.split(": ")[1] for line in lines] == ["spec.scaling.maxReplica", "spec.image.maxTotalTokens"]


def test_model_and_hardware_errors_arrive_together(emulator, hf_env, run, tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(
        endpoint_manifest("missing-model", repository="nobody/no-such-model")
        + "---\n"
        + endpoint_manifest("bad-hardware", compute=NO_SUCH_GPU)
        + "---\n"
        + endpoint_manifest("too-long", extra="  image: {maxTotalTokens: 4096}\n")  # gpt2 serves 1024
    )
    result = run("plan", str(path))
    assert result.code == 1
    assert result.stderr == (
        "Error: 3 manifest errors:\n"
        f"  {path}:8: spec.model.repository: model nobody/no-such-model not found on the Hub (or not readable "
        "with this token) (check spec.model.repository and that HF_TOKEN can read it)\n"
        f"  {path}:19: spec.compute.instanceType: aws us-east-1 gpu nvidia-z9000 x1 is not in the hardware "
        "catalogue of acme (available here: nvidia-a10g x1, nvidia-a10g x4, nvidia-l4 x1, nvidia-l4 x4, "
        "nvidia-t4 x1, nvidia-t4 x4)\n"
        f"  {path}:30: spec.image.maxTotalTokens: maxTotalTokens 4096 is larger than the context length of gpt2 "
        "(1024); TGI would refuse to start\n"
    )
    assert not [r for r in emulator.requests() if r["method"] in ("POST", "PUT", "DELETE")]
    applied = run("apply", str(path), "--yes")
    assert applied.code == 1 and applied.stderr == result.stderr
    assert not [r for r in emulator.requests() if r["method"] in ("POST", "PUT", "DELETE")]
