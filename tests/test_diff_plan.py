"""Diff and plan over hand-made values: a Desired endpoint against a LiveEndpoint essence.

No network and no emulator: `live()` builds the LiveEndpoint the API would describe for a desired
endpoint that is fully applied, and each test changes one thing on one side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from hfops.core.diff import Desired, FieldChange, diff_endpoint, secrets_fingerprint
from hfops.core.fields import SENSITIVE
from hfops.core.manifest import parse_manifest_text
from hfops.core.model import OWNERSHIP_TAG, SECRETS_TAG_PREFIX, EndpointSpec, LiveEndpoint
from hfops.core.plan import (
    FORMAT_VERSION,
    Conflict,
    Create,
    Delete,
    NoOp,
    Plan,
    Replace,
    Resume,
    Update,
    build_plan,
    destroy_plan,
)
from hfops.core.render import NO_CHANGES, render_plan
from tests.factories import LiveImage, live_endpoint

SHA = "a" * 40
SECRET_VALUE = "hf_CANARYSECRET123"

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
    revision: main
  compute:
    vendor: aws
    region: us-east-1
    accelerator: gpu
    instanceType: nvidia-a10g
    instanceSize: x1
  env:
    MAX_BATCH: "8"
  secrets:
    API_SECRET: {fromEnv: API_SECRET}
"""


def spec_of(text: str = MANIFEST, **changes: object) -> EndpointSpec:
    specs, problems = parse_manifest_text(text, file="llama.yaml")
    assert problems == []
    return replace(specs[0], **changes)  # type: ignore[arg-type]


def desired_of(spec: EndpointSpec | None = None, *, secret: str = SECRET_VALUE, sha: str = SHA) -> Desired:
    spec = spec or spec_of()
    values = {key: secret for key, _ in spec.secrets}
    return Desired(spec, sha, secrets_fingerprint(spec.namespace or "", spec.name, values))


def live(desired: Desired, **changes: object) -> LiveEndpoint:
    """The endpoint as the API returns it once `desired` is fully applied and running."""
    base: dict[str, object] = {"url": "https://abc123.us-east-1.aws.endpoints.huggingface.cloud"}
    base["message"] = "Endpoint is ready"
    return live_endpoint(desired, **{**base, **changes})


def plan_for(desired: Desired, current: LiveEndpoint | None, **kwargs: object) -> Plan:
    existing = {current.address: current} if current is not None else {}
    return build_plan([desired], existing, **kwargs)  # type: ignore[arg-type]


def only_action(plan: Plan) -> object:
    assert len(plan.actions) == 1
    return plan.actions[0]


# --- nothing to do -------------------------------------------------------------------------------


def test_identical_endpoint_is_a_noop_and_says_no_changes() -> None:
    desired = desired_of()
    plan = plan_for(desired, live(desired))

    assert diff_endpoint(desired, live(desired)) == ()
    assert isinstance(only_action(plan), NoOp)
    assert not plan.has_changes
    assert plan.counts() == {"add": 0, "change": 0, "destroy": 0}
    assert render_plan(plan) == NO_CHANGES == "No changes. Your endpoints match the manifests."


@pytest.mark.parametrize(
    "server_side",
    [
        {"task": None},
        {"task": "feature-extraction"},
        {"health_route": "/ready"},
        {"state": "scaledToZero", "ready_replica": 0, "target_replica": 0},
        {"state": "initializing", "message": "Waiting for the model", "url": None},
        {"updated_at": "2030-06-01T12:00:00.123Z"},
    ],
)
def test_server_side_fields_not_in_the_manifest_are_never_drift(server_side: dict[str, object]) -> None:
    desired = desired_of()
    current = live(desired, **server_side)
    assert diff_endpoint(desired, current) == ()
    assert isinstance(only_action(plan_for(desired, current)), NoOp)


def test_tags_are_compared_as_a_set() -> None:
    desired = desired_of(spec_of(tags=("b-team", "a-team")))
    current = live(desired, tags=tuple(reversed(sorted(desired.tags))))
    assert diff_endpoint(desired, current) == ()


# --- updates in place ----------------------------------------------------------------------------


def test_scale_to_zero_timeout_change_is_one_field_change() -> None:
    desired = desired_of()
    plan = plan_for(desired, live(desired, scale_to_zero_timeout=30))

    action = only_action(plan)
    assert isinstance(action, Update)
    assert action.changes == (FieldChange("scaling.scaleToZeroTimeout", 30, 15),)
    assert action.adopt is False
    assert plan.counts() == {"add": 0, "change": 1, "destroy": 0}


@pytest.mark.parametrize(
    ("live_env", "expected"),
    [
        ((), (FieldChange("env.MAX_BATCH", None, "8"),)),  # added
        ((("MAX_BATCH", "8"), ("OLD", "x")), (FieldChange("env.OLD", "x", None),)),  # removed
        ((("MAX_BATCH", "4"),), (FieldChange("env.MAX_BATCH", "4", "8"),)),  # changed
    ],
)
def test_env_added_removed_changed(live_env: tuple[tuple[str, str], ...], expected: tuple[FieldChange, ...]) -> None:
    desired = desired_of()
    action = only_action(plan_for(desired, live(desired, env=live_env)))
    assert isinstance(action, Update)
    assert action.changes == expected


@pytest.mark.parametrize(
    ("live_changes", "expected"),
    [
        ({"instance_type": "nvidia-l4"}, FieldChange("compute.instanceType", "nvidia-l4", "nvidia-a10g")),
        ({"instance_size": "x4"}, FieldChange("compute.instanceSize", "x4", "x1")),
        ({"accelerator": "cpu"}, FieldChange("compute.accelerator", "cpu", "gpu")),
        ({"max_replica": 3}, FieldChange("scaling.maxReplica", 3, 1)),
        ({"type": "public"}, FieldChange("type", "public", "authenticated")),
        ({"revision": "b" * 40}, FieldChange("model.revision", "b" * 40, SHA)),
        ({"repository": "gpt2"}, FieldChange("model.repository", "gpt2", "meta-llama/Llama-2-7b-chat-hf")),
        (
            {"image": LiveImage("tgi", "ghcr.io/huggingface/text-generation-inference:2.0", None, None)},
            FieldChange(
                "image.url",
                "ghcr.io/huggingface/text-generation-inference:2.0",
                "ghcr.io/huggingface/text-generation-inference:3.3.6",
            ),
        ),
        (
            {"image": LiveImage("tgi", "ghcr.io/huggingface/text-generation-inference:3.3.6", 1024, None)},
            FieldChange("image.maxInputTokens", 1024, None),
        ),
    ],
)
def test_in_place_changes(live_changes: dict[str, object], expected: FieldChange) -> None:
    desired = desired_of()
    action = only_action(plan_for(desired, live(desired, **live_changes)))
    assert isinstance(action, Update)
    assert action.changes == (expected,)
    assert not expected.forces_replacement


def test_user_tag_added() -> None:
    desired = desired_of(spec_of(tags=("team-ml", "cost-center-7")))
    before = desired_of()
    action = only_action(plan_for(desired, live(before)))
    assert isinstance(action, Update)
    assert action.changes == (FieldChange("tags", list(before.visible_tags), list(desired.visible_tags)),)


# --- secrets -------------------------------------------------------------------------------------


def test_secret_added_is_a_sensitive_change_and_nothing_else() -> None:
    desired = desired_of()
    current = live(desired, secret_keys=(), tags=(OWNERSHIP_TAG, "team-ml"))

    action = only_action(plan_for(desired, current))

    assert isinstance(action, Update)
    assert action.changes == (FieldChange("secrets.API_SECRET", None, SENSITIVE, sensitive=True),)
    assert action.changes[0].to_json() == {
        "path": "secrets.API_SECRET",
        "old": None,
        "new": "(sensitive value)",
        "sensitive": True,
    }


def test_secret_removed_is_a_sensitive_change_and_nothing_else() -> None:
    before = desired_of()
    desired = desired_of(spec_of(secrets=()))
    assert desired.secrets_fingerprint is None

    action = only_action(plan_for(desired, live(before)))

    assert isinstance(action, Update)
    assert action.changes == (FieldChange("secrets.API_SECRET", SENSITIVE, None, sensitive=True),)


def test_secret_value_changed_shows_only_that_secrets_changed() -> None:
    before = desired_of(secret="hf_OLDVALUE")
    desired = desired_of(secret=SECRET_VALUE)
    assert before.secrets_fingerprint != desired.secrets_fingerprint

    plan = plan_for(desired, live(before))

    action = only_action(plan)
    assert isinstance(action, Update)
    assert action.changes == (FieldChange("secrets", SENSITIVE, SENSITIVE, sensitive=True),)
    text = render_plan(plan)
    assert "      ~ secrets: (sensitive value changed)" in text.splitlines()
    assert "hf_OLDVALUE" not in text and SECRET_VALUE not in text
    assert "hf_OLDVALUE" not in json.dumps(plan.to_json())
    assert SECRET_VALUE not in json.dumps(plan.to_json())


def test_same_secret_value_is_no_change() -> None:
    desired = desired_of()
    assert diff_endpoint(desired_of(), live(desired)) == ()


def test_secret_value_change_together_with_a_user_tag_change_keeps_both() -> None:
    before = desired_of(secret="hf_OLDVALUE")
    desired = desired_of(spec_of(tags=("team-ml", "new-tag")))

    action = only_action(plan_for(desired, live(before)))

    assert isinstance(action, Update)
    assert [c.path for c in action.changes] == ["tags", "secrets"]


def test_secrets_fingerprint_is_deterministic_salted_and_order_insensitive() -> None:
    values = {"A": "one", "B": "two"}
    fingerprint = secrets_fingerprint("acme", "llama", values)

    assert fingerprint == secrets_fingerprint("acme", "llama", {"B": "two", "A": "one"})
    # v2 (issue 12 item 8): the version, then 16 hex
    assert fingerprint is not None and fingerprint.startswith("v2-") and len(fingerprint) == 19
    assert all(c in "0123456789abcdef" for c in fingerprint[3:])
    assert secrets_fingerprint("acme", "mistral", values) != fingerprint  # other name
    assert secrets_fingerprint("beta", "llama", values) != fingerprint  # other namespace
    assert secrets_fingerprint("acme", "llama", {"A": "one", "B": "three"}) != fingerprint
    assert secrets_fingerprint("acme", "llama", {"A": "one", "C": "two"}) != fingerprint
    assert secrets_fingerprint("acme", "llama", {}) is None
    assert "one" not in fingerprint and "two" not in fingerprint


def test_desired_tags_carry_ownership_fingerprint_and_applied_digest_sorted() -> None:
    desired = desired_of()
    applied = [t for t in desired.tags if t.startswith("hfops-applied-")]
    assert len(applied) == 1 and len(applied[0]) == len("hfops-applied-") + 16
    # The owner tag (issue 12 item 3) is bookkeeping like the other two: never shown in a plan.
    assert desired.tags == tuple(
        sorted(
            (
                OWNERSHIP_TAG,
                "team-ml",
                SECRETS_TAG_PREFIX + desired.secrets_fingerprint,
                applied[0],
                "hfops-owner-default",
            )
        )
    )
    assert desired.visible_tags == (OWNERSHIP_TAG, "team-ml")
    no_secrets = desired_of(spec_of(secrets=()))
    assert [t for t in no_secrets.tags if not t.startswith("hfops-applied-")] == [
        OWNERSHIP_TAG,
        "hfops-owner-default",
        "team-ml",
    ]


# --- replace, create, conflict, adopt, resume, delete --------------------------------------------


@pytest.mark.parametrize(
    ("live_changes", "path", "old"),
    [({"vendor": "gcp"}, "compute.vendor", "gcp"), ({"region": "eu-west-1"}, "compute.region", "eu-west-1")],
)
def test_vendor_or_region_change_replaces(live_changes: dict[str, object], path: str, old: str) -> None:
    desired = desired_of()
    plan = plan_for(desired, live(desired, **live_changes))

    action = only_action(plan)
    assert isinstance(action, Replace)
    assert [(c.path, c.old, c.forces_replacement) for c in action.changes] == [
        (path, old, True),
    ]
    assert plan.counts() == {"add": 1, "change": 0, "destroy": 1}


def test_replace_keeps_the_other_changes_too() -> None:
    desired = desired_of()
    action = only_action(plan_for(desired, live(desired, region="eu-west-1", max_replica=4)))
    assert isinstance(action, Replace)
    assert [c.path for c in action.changes] == ["compute.region", "scaling.maxReplica"]


def test_missing_endpoint_is_created_with_every_set_field() -> None:
    desired = desired_of()
    plan = plan_for(desired, None)

    action = only_action(plan)
    assert isinstance(action, Create)
    assert [(c.path, c.new) for c in action.fields] == [
        ("model.repository", "meta-llama/Llama-2-7b-chat-hf"),
        ("model.revision", SHA),
        ("compute.vendor", "aws"),
        ("compute.region", "us-east-1"),
        ("compute.accelerator", "gpu"),
        ("compute.instanceType", "nvidia-a10g"),
        ("compute.instanceSize", "x1"),
        ("scaling.minReplica", 0),
        ("scaling.maxReplica", 1),
        ("scaling.scaleToZeroTimeout", 15),
        ("type", "authenticated"),
        ("image.url", "ghcr.io/huggingface/text-generation-inference:3.3.6"),
        ("env.MAX_BATCH", "8"),
        ("secrets.API_SECRET", SENSITIVE),
        ("tags", list(desired.visible_tags)),
    ]
    assert all(c.old is None for c in action.fields)
    assert [c.path for c in action.fields if c.sensitive] == ["secrets.API_SECRET"]
    assert plan.counts() == {"add": 1, "change": 0, "destroy": 0}


def test_existing_endpoint_not_created_by_hfops_is_a_conflict() -> None:
    desired = desired_of()
    current = live(desired, tags=("team-ml",))
    assert not current.owned

    plan = plan_for(desired, current)

    action = only_action(plan)
    assert isinstance(action, Conflict)
    assert action.message == "exists but was not created by hfops"
    assert plan.conflicts == (action,)
    assert not plan.has_changes
    assert plan.counts() == {"add": 0, "change": 0, "destroy": 0}
    text = render_plan(plan, paths=["manifests/"])
    assert "hfops apply --adopt acme/llama manifests/" in text
    assert NO_CHANGES not in text


def test_conflict_even_when_the_unowned_endpoint_matches() -> None:
    desired = desired_of()
    current = live(desired, tags=tuple(t for t in desired.tags if t != OWNERSHIP_TAG))
    assert isinstance(only_action(plan_for(desired, current)), Conflict)


def test_adopted_endpoint_is_updated_with_adopt_flag() -> None:
    desired = desired_of()
    current = live(desired, tags=("team-ml",), scale_to_zero_timeout=60)

    plan = plan_for(desired, current, adopt=frozenset({"acme/llama"}))

    action = only_action(plan)
    assert isinstance(action, Update)
    assert action.adopt is True
    assert [c.path for c in action.changes] == ["scaling.scaleToZeroTimeout", "tags", "secrets"]
    assert plan.to_json()["actions"][0]["adopt"] is True  # type: ignore[index]
    assert plan.counts() == {"add": 0, "change": 1, "destroy": 0}


def test_adopting_an_owned_endpoint_is_a_plain_update() -> None:
    desired = desired_of()
    action = only_action(plan_for(desired, live(desired, max_replica=2), adopt=frozenset({"acme/llama"})))
    assert isinstance(action, Update)
    assert action.adopt is False


def test_paused_and_unchanged_is_resumed() -> None:
    desired = desired_of()
    plan = plan_for(desired, live(desired, state="paused", url=None, ready_replica=0, target_replica=0))
    assert isinstance(only_action(plan), Resume)
    assert plan.has_changes
    assert plan.counts() == {"add": 0, "change": 1, "destroy": 0}


def test_paused_with_a_diff_is_an_update() -> None:
    desired = desired_of()
    action = only_action(plan_for(desired, live(desired, state="paused", max_replica=2)))
    assert isinstance(action, Update)


def test_prune_deletes_and_counts_a_destroy() -> None:
    desired = desired_of()
    orphan = live(desired_of(spec_of(name="old-model")))
    plan = build_plan([desired], {desired.spec.address: live(desired)}, prune=[orphan])

    assert [type(a) for a in plan.actions] == [NoOp, Delete]
    assert plan.actions[1].address == "acme/old-model"
    assert plan.counts() == {"add": 0, "change": 0, "destroy": 1}


def test_destroy_plan_touches_only_owned_endpoints() -> None:
    owned = live(desired_of())
    foreign = live(desired_of(spec_of(name="theirs")), tags=("team-ml",))
    existing = {owned.address: owned, foreign.address: foreign}

    deletes, notes = destroy_plan(["acme/llama", "acme/theirs", "acme/ghost"], existing)

    assert [(d.address, d.reason) for d in deletes] == [("acme/llama", "destroy")]
    assert notes == [
        "acme/theirs: not created by hfops; left alone",
        "acme/ghost: does not exist; nothing to delete",
    ]


# --- the plan as data ----------------------------------------------------------------------------


def two_endpoint_plan(max_replica: int = 1) -> Plan:
    existing = desired_of()
    new = desired_of(spec_of(name="mistral", repository="mistralai/Mistral-7B-Instruct-v0.2"))
    return build_plan(
        [desired_of(spec_of(max_replica=max_replica)), new],
        {existing.spec.address: live(existing, scale_to_zero_timeout=30)},
        namespaces=["acme"],
    )


def test_counts_and_summary_line() -> None:
    plan = two_endpoint_plan()
    assert [a.verb for a in plan.actions] == ["update", "create"]
    assert plan.counts() == {"add": 1, "change": 1, "destroy": 0}
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in render_plan(plan).splitlines()


def test_plan_json_has_version_summary_and_no_secret_value() -> None:
    plan = two_endpoint_plan()
    data = plan.to_json()
    text = json.dumps(data)

    assert data["format_version"] == FORMAT_VERSION == "1"
    assert data["namespaces"] == ["acme"]
    assert data["summary"] == {"add": 1, "change": 1, "destroy": 0}
    assert data["has_changes"] is True
    actions = data["actions"]
    assert isinstance(actions, list)
    assert [(a["address"], a["namespace"], a["name"], a["action"]) for a in actions] == [
        ("acme/llama", "acme", "llama", "update"),
        ("acme/mistral", "acme", "mistral", "create"),
    ]
    assert actions[0]["changes"] == [{"path": "scaling.scaleToZeroTimeout", "old": 30, "new": 15, "sensitive": False}]
    secret_fields = [f for f in actions[1]["fields"] if f["sensitive"]]
    assert secret_fields == [{"path": "secrets.API_SECRET", "old": None, "new": "(sensitive value)", "sensitive": True}]
    assert SECRET_VALUE not in text
    assert json.loads(text) == data


def test_conflict_json_carries_its_message() -> None:
    desired = desired_of()
    data = plan_for(desired, live(desired, tags=())).to_json()
    assert data["actions"] == [
        {
            "address": "acme/llama",
            "namespace": "acme",
            "name": "llama",
            "action": "conflict",
            "message": "exists but was not created by hfops",
        }
    ]
    assert data["has_changes"] is False


def test_digests_are_stable_and_follow_the_desired_state() -> None:
    first, again = two_endpoint_plan(), two_endpoint_plan()
    assert (first.manifest_digest, first.live_digest) == (again.manifest_digest, again.live_digest)
    assert len(first.manifest_digest) == 64

    changed = two_endpoint_plan(max_replica=2)
    assert changed.manifest_digest != first.manifest_digest
    assert changed.live_digest == first.live_digest


def test_manifest_digest_follows_secret_values_but_not_the_file_they_are_in() -> None:
    base = build_plan([desired_of()], {})
    other_secret = build_plan([desired_of(secret="hf_other")], {})
    moved = build_plan([desired_of(spec_of(source=replace(spec_of().source, file="elsewhere.yaml", line=40)))], {})
    assert other_secret.manifest_digest != base.manifest_digest
    assert moved.manifest_digest == base.manifest_digest


def test_live_digest_ignores_run_state_but_not_owned_fields() -> None:
    desired = desired_of()
    base = plan_for(desired, live(desired)).live_digest
    scaled = plan_for(desired, live(desired, state="scaledToZero", ready_replica=0, url=None)).live_digest
    edited = plan_for(desired, live(desired, max_replica=5)).live_digest
    assert scaled == base
    assert edited != base


def test_fingerprint_and_digests_are_stable_across_processes() -> None:
    """Nothing may depend on hash randomisation: a saved plan is checked by another process."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_diff_plan as t; "
        "p = t.two_endpoint_plan(); "
        "f = t.secrets_fingerprint('acme', 'llama', {'A': 'one', 'B': 'two'}); "
        "print(f, p.manifest_digest, p.live_digest)"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, os.path.dirname(__file__)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    plan = two_endpoint_plan()
    fingerprint = secrets_fingerprint("acme", "llama", {"A": "one", "B": "two"})
    assert outputs == {f"{fingerprint} {plan.manifest_digest} {plan.live_digest}"}
