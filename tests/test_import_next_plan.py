"""What `hfops import --help` promises about the next plan, under both answers the service may give
about secrets (reference U5: keys shown with null values, or not shown at all).

The endpoints are made with the real huggingface_hub client, as someone outside hfops would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfops.emulator import Emulator, EmulatorConfig
from tests.conftest import client_for, point_at
from tests.factories import create_outside_hfops

SECRET = "fake-db-password-0000"
UNRECORDED = (
    "~ acme/keyed will be updated in place  # hfops holds no record of the secret values; "
    "apply sets them from the environment"
)


@pytest.fixture(params=["null-values", "omitted"])
def service(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Two endpoints made outside hfops, one with a secret; returns the imported manifests' path."""
    config = EmulatorConfig(provision_seconds=0.2, retry_after_seconds=0.0, secrets_readback=request.param)
    with Emulator(config) as emulator:
        point_at(emulator, monkeypatch)
        api = client_for(emulator, monkeypatch)
        create_outside_hfops(api, "plain")
        create_outside_hfops(api, "keyed", secrets={"DB_PASSWORD": SECRET})
        yield tmp_path / "m" / "imported.yaml"


def imported(run: Any, out: Path) -> Any:
    out.parent.mkdir(exist_ok=True)
    result = run("import", "acme/plain", "acme/keyed", "--out", str(out))
    assert result.code == 0, result.output
    return result


def plan(run: Any, out: Path) -> Any:
    return run("plan", str(out), "--detailed-exitcode", "--credentials-dir", str(out.parent.parent / "c"))


def keys_shown(out: Path) -> bool:
    return "DB_PASSWORD" in out.read_text()


def test_with_the_variables_set_during_import_the_next_plan_has_no_changes(
    service: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    result = imported(run, service)

    planned = plan(run, service)

    assert planned.code == 0, planned.output
    assert "No changes." in planned.stdout
    if not keys_shown(service):  # the service shows no secret keys: said once, naming the endpoints
        assert "the service does not show secret keys (acme/plain, acme/keyed)" in result.stderr
        assert result.stderr.count("does not show secret keys") == 1


def test_with_the_variables_unset_during_import_only_the_secret_values_are_planned(
    service: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported(run, service)
    monkeypatch.setenv("DB_PASSWORD", SECRET)

    planned = plan(run, service)

    if not keys_shown(service):  # nothing hfops can see to plan
        assert planned.code == 0, planned.output
        return
    assert planned.code == 2, planned.output
    assert UNRECORDED in planned.stdout
    assert "      ~ secrets: (sensitive value changed)\n\nPlan: 0 to add, 1 to change, 0 to destroy." in planned.stdout
    assert "acme/plain will be" not in planned.stdout
    assert run("apply", str(service), "--yes", "--credentials-dir", str(service.parent.parent / "c")).code == 0
    assert plan(run, service).code == 0
