"""The interrupt that lands between an apply's slot and its first request.

The apply's slots check the stop event when a write gets its slot; the retry loop checks it again
before each attempt. A signal that lands between the two used to surface as a failed create
("create acme/svc-02: not started: interrupted") though nothing was sent. Here the two checks see
two events, so that the window is hit every time: the slots' event stays clear, the retry loop's
is set, as if the signal had come just after the slot was taken.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hfops.adapters.settings import settings_from_env
from hfops.emulator import Emulator
from hfops.workflows.executor import ApplyOptions, Executor
from hfops.workflows.reconcile import Reconciler
from tests.factories import endpoint_manifest


def test_a_create_the_signal_came_before_is_not_attempted_and_nothing_is_sent(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("---\n".join(endpoint_manifest(f"svc-{i}", "acme") for i in range(3)), encoding="utf-8")
    reconciler = Reconciler(settings_from_env(credentials_dir=str(tmp_path / "creds")), warn=lambda _m: None)
    _context, plan = reconciler.plan([str(path)])
    assert [a.verb for a in plan.actions] == ["create"] * 3

    reconciler.retry.stop.set()  # the signal, seen by the retry loop only
    events: list[tuple[str, str]] = []
    outcomes = Executor(
        reconciler.endpoints,
        options=ApplyOptions(poll_interval=0.05),
        secrets_for=lambda _d: {},
        on_event=lambda address, state, _message: events.append((address, state)),
    ).run(plan)

    assert [(o.address, o.result, o.message) for o in outcomes] == [
        (f"acme/svc-{i}", "skipped", "not started: interrupted") for i in range(3)
    ]
    assert not any(state == "failed" for _address, state in events), events
    assert [r for r in emulator.requests() if r["method"] == "POST"] == []


def test_a_create_sent_whose_read_back_the_signal_came_before_is_attempted_not_skipped(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(endpoint_manifest("svc-0", "acme"), encoding="utf-8")
    reconciler = Reconciler(settings_from_env(credentials_dir=str(tmp_path / "creds")), warn=lambda _m: None)
    _context, plan = reconciler.plan([str(path)])
    # The first POST is carried out and its answer lost; the retry is held 1 s and answered 409, so
    # the adapter reads the endpoint back. The signal comes while the retry is held: before the
    # read-back's first attempt, which the retry loop then refuses to start.
    emulator.inject_fault("lost_response", method="POST", path="/v2/endpoint/acme", times=1, ms=0)
    emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", times=1, ms=1000)

    def signal_while_held() -> None:
        deadline = time.monotonic() + 20
        while emulator.pending_faults() and time.monotonic() < deadline:
            time.sleep(0.005)
        reconciler.retry.stop.set()

    signaller = threading.Thread(target=signal_while_held)
    signaller.start()
    outcomes = Executor(reconciler.endpoints, options=ApplyOptions(poll_interval=0.05), secrets_for=lambda _d: {}).run(
        plan
    )
    signaller.join()

    assert emulator.endpoint_raw("acme", "svc-0") is not None, "the create was made"
    assert [r["status"] for r in emulator.requests() if r["method"] == "POST"][-1] == 409
    [outcome] = outcomes
    assert (outcome.result, outcome.step) == ("failed", "create"), outcome
    assert "interrupted after the create was sent" in (outcome.message or "")
