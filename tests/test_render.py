"""Plans rendered as text, compared with golden files in tests/golden/ (colour never used).

To rewrite the golden files after a deliberate change of the rendering, run with
HFOPS_UPDATE_GOLDEN=1 and review the diff like any other change.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from hfops.core.diff import Desired, FieldChange, secrets_fingerprint
from hfops.core.fields import SENSITIVE
from hfops.core.manifest import parse_manifest_text
from hfops.core.model import LiveEndpoint
from hfops.core.plan import Digests, Plan, Update, build_plan
from hfops.core.render import NO_CHANGES, render_plan, show_value
from tests.factories import live_endpoint

GOLDEN = Path(__file__).parent / "golden"
SECRET_VALUE = "hf_CANARYSECRET123"
SHA = "08751db2aca9bf2f7f80d2e516117a53d7450235"

MANIFEST = """\
apiVersion: hfops/v1
kind: Endpoint
metadata:
  name: llama
  namespace: acme
  tags: [team-ml]
spec:
  model:
    repository: meta-llama/Llama-2-7b-chat-hf
  compute:
    vendor: aws
    region: us-east-1
    accelerator: gpu
    instanceType: nvidia-a10g
    instanceSize: x1
  image:
    maxInputTokens: 4095
    maxTotalTokens: 4096
  env:
    MAX_BATCH: "8"
  secrets:
    API_SECRET: {fromEnv: API_SECRET}
"""


def desired(
    name: str = "llama", repository: str | None = None, secret: str = SECRET_VALUE, **changes: object
) -> Desired:
    (spec,), problems = parse_manifest_text(MANIFEST.replace("name: llama", f"name: {name}"), file="m.yaml")
    assert problems == []
    if repository:
        changes["repository"] = repository
    spec = replace(spec, **changes)  # type: ignore[arg-type]
    fingerprint = secrets_fingerprint("acme", name, {k: secret for k, _ in spec.secrets})
    return Desired(spec, SHA, fingerprint)


def live(item: Desired, **changes: object) -> LiveEndpoint:
    return live_endpoint(item, **changes)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("HFOPS_UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


def create_update_conflict_plan() -> Plan:
    llama = desired("llama")
    llama_before = live(
        desired("llama", secret="hf_OLDVALUE"),
        scale_to_zero_timeout=30,
        env=(("MAX_BATCH", "4"), ("OLD_FLAG", "1")),
    )
    mistral = desired("mistral", repository="mistralai/Mistral-7B-Instruct-v0.2")
    gpt2 = desired("gpt2", repository="openai-community/gpt2")
    theirs = live(gpt2, tags=("team-ml",))
    return build_plan(
        [llama, mistral, gpt2],
        {"acme/llama": llama_before, "acme/gpt2": theirs},
        namespaces=["acme"],
    )


def test_golden_create_update_conflict() -> None:
    plan = create_update_conflict_plan()
    assert [a.verb for a in plan.actions] == ["update", "create", "conflict"]
    text = render_plan(plan, paths=["manifests/"])
    assert SECRET_VALUE not in text and "hf_OLDVALUE" not in text
    assert_golden("plan_create_update_conflict.txt", text)


def test_golden_replace_adopt_resume_prune() -> None:
    llama = desired("llama")
    mistral = desired("mistral", repository="mistralai/Mistral-7B-Instruct-v0.2")
    gpt2 = desired("gpt2", repository="openai-community/gpt2")
    plan = build_plan(
        [llama, mistral, gpt2],
        {
            "acme/llama": live(llama, region="eu-west-1", max_replica=2),
            "acme/mistral": live(mistral, state="paused", url=None),
            "acme/gpt2": live(gpt2, tags=("team-ml",), secret_keys=(), scale_to_zero_timeout=60),
        },
        adopt=frozenset({"acme/gpt2"}),
        prune=[live(desired("old-model"))],
        namespaces=["acme"],
    )
    assert [a.verb for a in plan.actions] == ["replace", "resume", "update", "delete"]
    assert_golden("plan_replace_adopt_resume_prune.txt", render_plan(plan))


def test_no_changes_is_one_line_and_unchanged_can_be_listed() -> None:
    llama = desired("llama")
    plan = build_plan([llama], {"acme/llama": live(llama)})
    assert render_plan(plan) == NO_CHANGES
    assert render_plan(plan, show_unchanged=True) == (
        "    acme/llama is up to date\n\nNo changes. Your endpoints match the manifests."
    )


def test_empty_plan_says_no_changes() -> None:
    assert render_plan(build_plan([], {})) == NO_CHANGES


def test_conflict_only_plan_does_not_claim_no_changes() -> None:
    gpt2 = desired("gpt2")
    plan = build_plan([gpt2], {"acme/gpt2": live(gpt2, tags=())})
    assert render_plan(plan).splitlines() == [
        "hfops will perform the following actions:",
        "",
        "  ! acme/gpt2: exists but was not created by hfops",
        "      to manage it with hfops, adopt it explicitly: hfops apply --adopt acme/gpt2",
        "",
        "This plan cannot be applied: 1 endpoint(s) exist but are not managed by hfops.",
    ]


def test_adopt_command_quotes_paths_for_the_shell() -> None:
    gpt2 = desired("gpt2")
    plan = build_plan([gpt2], {"acme/gpt2": live(gpt2, tags=())})
    text = render_plan(plan, paths=["my manifests/", "b.yaml"])
    assert "adopt it explicitly: hfops apply --adopt acme/gpt2 'my manifests/' b.yaml" in text


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (FieldChange("secrets.TOKEN", None, SENSITIVE, sensitive=True), "+ secrets.TOKEN: (sensitive value)"),
        (FieldChange("secrets.TOKEN", SENSITIVE, None, sensitive=True), "- secrets.TOKEN: (sensitive value)"),
        (
            FieldChange("secrets", SENSITIVE, SENSITIVE, sensitive=True),
            "~ secrets: (sensitive value changed)",
        ),
        (FieldChange("env.A", None, "1"), '+ env.A: "1"'),
        (FieldChange("env.A", "1", None), '- env.A: "1"'),
        (FieldChange("scaling.maxReplica", 1, 2), "~ scaling.maxReplica: 1 -> 2"),
        (FieldChange("image.maxInputTokens", 1024, None), "- image.maxInputTokens: 1024"),
        (
            FieldChange("compute.region", "eu-west-1", "us-east-1"),
            '~ compute.region: "eu-west-1" -> "us-east-1"  # forces replacement',
        ),
    ],
)
def test_change_lines(change: FieldChange, line: str) -> None:
    llama = desired("llama")
    before = live(llama)
    plan = Plan(
        actions=(Update("acme/llama", llama, before, (change,)),),
        digests=Digests("", ""),
        namespaces=(),
    )
    assert render_plan(plan).splitlines()[3] == f"      {line}"


def test_sensitive_values_render_as_sensitive_even_if_a_value_slips_in() -> None:
    """Defence in depth: a FieldChange marked sensitive never prints what it carries."""
    change = FieldChange("secrets.TOKEN", "hf_OLDVALUE", SECRET_VALUE, sensitive=True)
    llama = desired("llama")
    plan = Plan(
        actions=(Update("acme/llama", llama, live(llama), (change,)),),
        digests=Digests("", ""),
        namespaces=(),
    )
    text = render_plan(plan)
    assert SECRET_VALUE not in text and "hf_OLDVALUE" not in text
    assert change.to_json() == {
        "path": "secrets.TOKEN",
        "old": SENSITIVE,
        "new": SENSITIVE,
        "sensitive": True,
    }


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("x", '"x"'),
        ('say "hi"', '"say \\"hi\\""'),
        (None, "null"),
        (15, "15"),
        (["a", "b"], '["a", "b"]'),
        ((), "[]"),
    ],
)
def test_show_value(value: object, shown: str) -> None:
    assert show_value(value) == shown
    assert show_value(value, sensitive=True) == "(sensitive value)"
