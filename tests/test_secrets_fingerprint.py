"""The secrets fingerprint tag (issue 12 item 8): a reader of the namespace cannot get a secret back.

v1 was one salted SHA-256 with a public salt: a 6-digit secret came back from the tag in seconds.
v2 puts every value through scrypt (128 MiB, ~0.4 s a guess) salted by the namespace, then an HMAC
over the endpoint's address. These tests read the tag the emulator holds after a real apply, time
one guess the way an attacker would make it, and check old v1 tags are upgraded exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

import pytest

from hfops.core.diff import (
    SECRETS_KDF_COST,
    Desired,
    derive_secret_key,
    derived_secret_key,
    legacy_secrets_fingerprint,
)
from hfops.core.manifest import parse_manifest_text
from hfops.core.model import SECRETS_TAG_PREFIX
from hfops.workflows.executor import update_payload

TOKEN = "hf_test_deploy_token_0123456789"  # what the hf_env fixture exports as HF_TOKEN
PIN = "493817"  # a 6-digit secret: 10**6 candidates
SECONDS_PER_DAY = 86_400
CORES = 2  # this machine's, all of them for the attacker


def manifest(name: str = "pinned") -> str:
    return f"""apiVersion: hfops/v1
kind: Endpoint
metadata: {{name: {name}, namespace: acme}}
spec:
  model: {{repository: gpt2}}
  compute: {{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}}
  secrets:
    PIN_CODE: {{fromEnv: PIN_CODE}}
"""


def secrets_tag(emulator, name: str = "pinned") -> str:
    tags = [t for t in emulator.endpoint_raw("acme", name)["tags"] if t.startswith(SECRETS_TAG_PREFIX)]
    assert len(tags) == 1
    return tags[0][len(SECRETS_TAG_PREFIX) :]


def attacker_guess(candidate: str, *, namespace: str, name: str, key: str) -> str:
    """What a reader of the namespace computes per candidate: the tag's recipe (public: this code),
    the namespace, the name and the secret key are all visible to them; only the value is not."""
    derived = derive_secret_key(namespace, candidate)  # uncached: every guess pays it
    message = json.dumps([namespace, name, [key]], separators=(",", ":")).encode()
    return "v2-" + hmac.new(derived, message, hashlib.sha256).hexdigest()[:16]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_the_tag_is_not_v1_and_brute_forcing_a_6_digit_secret_takes_more_than_a_day(
    emulator, hf_env, run, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIN_CODE", PIN)
    (tmp_path / "m.yaml").write_text(manifest())
    applied = run("apply", str(tmp_path / "m.yaml"), "--yes")
    assert applied.code == 0, applied.output
    tag = secrets_tag(emulator)

    assert tag.startswith("v2-")
    # The v1 recipe (the one that gave the PIN back in 4.7 s) does not describe this tag.
    assert tag != legacy_secrets_fingerprint("acme", "pinned", {"PIN_CODE": PIN})
    assert PIN not in json.dumps(emulator.endpoint_raw("acme", "pinned")["tags"])

    # One guess, timed as the attacker makes it; the right guess does reproduce the tag, so this
    # times the real recipe, and a wrong one does not.
    timings = []
    for candidate in ("000000", "999999", PIN):
        started = time.perf_counter()
        guessed = attacker_guess(candidate, namespace="acme", name="pinned", key="PIN_CODE")
        timings.append(time.perf_counter() - started)
        assert (guessed == tag) == (candidate == PIN)
    per_guess = min(timings)  # the fastest: the attacker's best case on this machine
    whole_space = per_guess * 10**6 / CORES
    assert whole_space > SECONDS_PER_DAY, (
        f"{per_guess:.3f} s a guess: 10**6 guesses on {CORES} cores take {whole_space / 3600:.1f} h"
    )
    # The memory cost (128 MiB a guess) is what keeps GPUs from doing much better.
    assert 128 * SECRETS_KDF_COST["n"] * SECRETS_KDF_COST["r"] >= 128 * 1024 * 1024


def test_a_plan_derives_once_per_distinct_secret_value_not_once_per_endpoint(
    emulator, hf_env, run, tmp_path, monkeypatch
):
    """500 endpoints with secrets (two values shared by the fleet): two derivations, a fast plan."""
    shared = {"FLEET_SECRET_A": secrets.token_hex(8), "FLEET_SECRET_B": secrets.token_hex(8)}
    for key, value in shared.items():
        monkeypatch.setenv(key, value)
    documents = []
    for index in range(500):
        documents.append(
            manifest(f"fleet-{index:03d}").replace(
                "    PIN_CODE: {fromEnv: PIN_CODE}\n",
                "    A: {fromEnv: FLEET_SECRET_A}\n    B: {fromEnv: FLEET_SECRET_B}\n",
            )
        )
    (tmp_path / "fleet.yaml").write_text("---\n".join(documents))
    before = derived_secret_key.cache_info().misses
    started = time.perf_counter()
    planned = run("plan", str(tmp_path / "fleet.yaml"), "--format", "json")
    elapsed = time.perf_counter() - started
    assert planned.code == 0, planned.stderr
    assert json.loads(planned.stdout)["summary"]["add"] == 500
    assert derived_secret_key.cache_info().misses - before == 2  # one per distinct value
    assert elapsed < 30, f"plan of 500 endpoints with secrets took {elapsed:.1f} s"


def old_tags(name: str, value: str) -> list[str]:
    """The tags hfops before v2 fingerprints and owners wrote for `manifest(name)` with PIN_CODE=value."""
    (spec,), problems = parse_manifest_text(manifest(name), file="m.yaml")
    assert problems == []
    legacy = legacy_secrets_fingerprint("acme", name, {"PIN_CODE": value})
    assert legacy is not None and len(legacy) == 16
    return [t for t in Desired(spec, None, legacy).tags if not t.startswith("hfops-owner-")]


def test_a_v1_tag_is_upgraded_once_with_a_tags_only_update(emulator, hf_env, run, api, tmp_path, monkeypatch):
    monkeypatch.setenv("PIN_CODE", PIN)
    path = tmp_path / "m.yaml"
    path.write_text(manifest())
    assert run("apply", str(path), "--yes").code == 0
    api.update_inference_endpoint("pinned", namespace="acme", tags=old_tags("pinned", PIN), token=TOKEN)
    assert len(secrets_tag(emulator)) == 16  # as an earlier version left it

    planned = run("plan", str(path), "--detailed-exitcode")
    assert planned.code == 2, planned.output
    assert "~ acme/pinned will be updated in place  # hfops' bookkeeping tags only; nothing redeploys" in planned.stdout
    assert "~ secrets: fingerprint tag rewritten in the v2 format (values unchanged" in planned.stdout
    assert "sensitive value changed" not in planned.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in planned.stdout
    as_json = json.loads(run("plan", str(path), "--format", "json").stdout)
    (action,) = as_json["actions"]
    assert (action["action"], action["cause"]) == ("update", "upgrade")

    emulator.clear_requests()
    upgraded = run("apply", str(path), "--yes")
    assert upgraded.code == 0, upgraded.output
    # Tags only: nothing redeploys, so apply does not wait for a rollout (the 60 s grace) either.
    assert "no rollout seen" not in upgraded.output
    puts = [r for r in emulator.requests() if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == ["/v2/endpoint/acme/pinned"]
    assert secrets_tag(emulator).startswith("v2-")
    assert "hfops-owner-default" in emulator.endpoint_raw("acme", "pinned")["tags"]
    # Shown once: from now on the endpoint plans as unchanged.
    again = run("plan", str(path), "--detailed-exitcode")
    assert again.code == 0, again.output
    assert "No changes." in again.stdout


def test_the_upgrade_sends_only_tags_and_a_changed_value_under_a_v1_tag_is_a_secret_change(
    emulator, hf_env, run, api, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIN_CODE", "111111")
    path = tmp_path / "m.yaml"
    path.write_text(manifest())
    assert run("apply", str(path), "--yes").code == 0
    api.update_inference_endpoint("pinned", namespace="acme", tags=old_tags("pinned", "222222"), token=TOKEN)
    planned = run("plan", str(path), "--detailed-exitcode")
    assert planned.code == 2
    assert "~ secrets: (sensitive value changed)" in planned.stdout
    assert "fingerprint tag rewritten" not in planned.stdout

    # The body of a format upgrade: the tags, nothing that would redeploy or carry a value.
    from hfops.core.diff import FINGERPRINT_FORMAT_PATH, FieldChange

    (spec,), _ = parse_manifest_text(manifest(), file="m.yaml")
    desired = Desired(spec, None, "v2-0123456789abcdef")
    body = update_payload(desired, (FieldChange(FINGERPRINT_FORMAT_PATH, "v1", "v2"),), {"PIN_CODE": PIN})
    assert list(body) == ["tags"] and PIN not in json.dumps(body)
