"""The executor: carries out a Plan's actions through an `EndpointWriter`, waits, reports outcomes.

It never prints: progress goes to an injected `on_event` callback, time to an injected `Clock`,
so tests can run create -> wait -> running without real sleeps. Actions run concurrently with
bounded parallelism; one endpoint's failure never stops the others. A `stop` event (set on
SIGINT/SIGTERM) stops new work from starting and ends waits early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hfops.adapters import tgi
from hfops.adapters.endpoints import EndpointWriter
from hfops.core.diff import FINGERPRINT_FORMAT_PATH, Desired, FieldChange, diff_endpoint
from hfops.core.errors import HfopsError, RemoteError
from hfops.core.fields import TAGS_PATH, field_for, update_body
from hfops.core.model import LiveEndpoint
from hfops.core.outcome import Outcome, Result
from hfops.core.plan import Action, Conflict, Create, Delete, NoOp, Pause, Plan, Replace, Resume, Update
from hfops.workflows.endpoint_access import Clock, NotStarted, StatusCache, SystemClock, Throttled

READY_STATES = frozenset({"running", "scaledToZero"})
FAILED_STATES = frozenset({"failed", "updateFailed"})


@dataclass(frozen=True)
class ApplyOptions:
    wait: bool = True
    timeout: float = 1800.0
    poll_interval: float = 2.0
    parallelism: int = 8
    # After an update, how long a `running` endpoint that never showed a rollout is waited on before
    # it is taken as updated (the service may change state later than its PUT answer, U2, or not
    # redeploy at all for some changes).
    rollout_grace: float = 60.0


Event = Callable[[str, str, str], None]  # (address, state, message)
SecretsFor = Callable[[Desired], Mapping[str, str]]
OnReady = Callable[[Desired, LiveEndpoint], str | None]  # writes the credential; returns its path
HealthCheck = Callable[[LiveEndpoint], bool]


def update_payload(desired: Desired, changes: tuple[FieldChange, ...], secrets: Mapping[str, str]) -> dict[str, Any]:
    """The PUT body for `changes` (see `fields.update_body`)."""
    return update_body(desired, {c.path for c in changes}, secrets, list(desired.tags))


def cleared_paths(changes: tuple[FieldChange, ...]) -> list[str]:
    """The fields an update sets to nothing (sent as null)."""
    fields = [(c, field_for(c.path)) for c in changes if c.new is None and c.old is not None]
    return [c.path for c, field in fields if field is not None and field.kind == "value"]


def not_applied(action: Update, live: LiveEndpoint) -> list[str]:
    """The changed fields that still differ once the update is over (tags and secrets aside: the
    service replaces tags whole, and secret values cannot be read back)."""
    wanted = {c.path for c in action.changes if c.path != TAGS_PATH and not c.sensitive}
    return [c.path for c in diff_endpoint(action.desired, live) if c.path in wanted]


def _replace_remedy(address: str) -> str:
    return (
        f"to change it, re-create the endpoint (a new URL and a cold start): hfops apply --replace {address} MANIFESTS"
    )


MAX_WORKERS = 256  # endpoints in progress at once; requests in flight are limited by `parallelism`


class Executor:
    def __init__(
        self,
        writer: EndpointWriter,
        *,
        options: ApplyOptions,
        secrets_for: SecretsFor,
        on_ready: OnReady | None = None,
        health_check: HealthCheck | None = None,
        on_event: Event | None = None,
        clock: Clock | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max(1, options.parallelism))
        self._stop = stop or threading.Event()
        self._writer: EndpointWriter = Throttled(writer, self._slots, self._stop)
        self._options = options
        self._secrets_for = secrets_for
        self._on_ready = self._limited(on_ready)
        self._health_check = self._limited(health_check)
        self._on_event = on_event or (lambda address, state, message: None)
        self._clock = clock or SystemClock(self._stop)
        # Slightly younger than the poll interval, so each waiter's poll sees a fresh list.
        self._status = StatusCache(self._writer, max_age=options.poll_interval * 0.9, clock=self._clock)

    def _limited(self, fn: Callable[..., Any] | None) -> Any:
        if fn is None:
            return None

        def call(*args: Any) -> Any:
            with self._slots:
                return fn(*args)

        return call

    def run(self, plan: Plan) -> list[Outcome]:
        """Carry out every action; outcomes come back in plan order."""
        actions = [a for a in plan.actions if not isinstance(a, Conflict)]
        workers = max(1, min(MAX_WORKERS, len(actions) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfops-apply") as pool:
            return list(pool.map(self._run_one, actions))

    def _event(self, address: str, state: str, message: str = "") -> None:
        self._on_event(address, state, message)

    def _run_one(self, action: Action) -> Outcome:
        if self._stop.is_set():
            return Outcome(action.address, "skipped", message="not started: interrupted")
        step: str = action.verb
        try:
            if isinstance(action, Delete):
                namespace, name = action.live.namespace, action.live.name
                self._event(action.address, "deleting")
                self._writer.delete(namespace, name)
                return Outcome(action.address, "deleted", step=step)
            desired = action.desired
            live: LiveEndpoint
            rollout = False
            if isinstance(action, Create):
                self._event(action.address, "creating")
                live = self._writer.create(desired, self._secrets_for(desired))
                result: Result = "created"
            elif isinstance(action, Update):
                self._event(action.address, "updating", ", ".join(c.path for c in action.changes))
                payload = update_payload(desired, action.changes, self._secrets_for(desired))
                # Only a tags-only PUT may legitimately not redeploy (U7); anything else must be seen rolling out.
                # (hfops' bookkeeping tags, such as the fingerprint format upgrade, are tags too).
                rollout = any(change.path not in (TAGS_PATH, FINGERPRINT_FORMAT_PATH) for change in action.changes)
                try:
                    live = self._writer.update(action.live.namespace, action.live.name, payload)
                except RemoteError as error:
                    cleared = cleared_paths(action.changes)
                    if error.status != 400 or not cleared:
                        raise
                    # Null may mean "keep" or be refused on PUT (U1): say so, and what works whatever it means.
                    raise HfopsError(
                        f"{error.message}; the update clears {', '.join(cleared)}, which the service may not accept "
                        f"on an update; {_replace_remedy(action.address)}"
                    ) from None
                result = "updated"
            elif isinstance(action, Replace):
                self._event(action.address, "replacing", "deleting the old endpoint")
                self._writer.delete(action.live.namespace, action.live.name)
                step = "wait for deletion"
                self._wait_gone(action.live)
                step = "create"
                live = self._writer.create(desired, self._secrets_for(desired))
                result = "replaced"
            elif isinstance(action, Resume):
                self._event(action.address, "resuming")
                live = self._writer.resume(action.live.namespace, action.live.name)
                result = "resumed"
            elif isinstance(action, Pause):
                self._event(action.address, "pausing")
                live = self._writer.pause(action.live.namespace, action.live.name)
                return Outcome(action.address, "paused", live=live, desired=desired, step=step)
            elif isinstance(action, NoOp):
                live = action.live
                result = "unchanged"
                if desired.spec.paused:
                    return Outcome(action.address, "unchanged", live=live, desired=desired, step=step)
            else:  # pragma: no cover - the union is closed; a new action type must be handled above
                raise TypeError(f"unknown action {type(action).__name__}")
            if desired.spec.paused:
                # Paused endpoints have no URL and no credential; pausing right after a create or
                # an update is what the manifest asks for.
                step = "pause"
                if live.state != "paused":
                    live = self._writer.pause(live.namespace, live.name)
                self._event(action.address, "paused")
                return Outcome(action.address, result, live=live, desired=desired, step=step)
            if isinstance(action, Update) and live.state == "paused":
                step = "resume"
                self._event(action.address, "resuming")
                live = self._writer.resume(live.namespace, live.name)
            if not self._options.wait:
                return Outcome(action.address, result, live=live, desired=desired, step=step)
            step = "wait"
            waited = self._wait_ready(action.address, live, rollout=rollout)
            if isinstance(waited, Outcome):
                return waited
            if isinstance(action, Update):
                ignored = not_applied(action, waited)
                if ignored:
                    # The PUT was answered and the endpoint runs, but with the old value: the service ignored
                    # part of the update (type on PUT, U6; null on PUT, U1). Never report that as updated.
                    return Outcome(
                        action.address,
                        "failed",
                        live=waited,
                        desired=desired,
                        message=f"the service accepted the update but kept {', '.join(ignored)}; "
                        + _replace_remedy(action.address),
                        step="verify update",
                    )
            credential = None
            if self._on_ready is not None:
                step = "credentials"
                credential = self._on_ready(desired, waited)
            return Outcome(action.address, result, live=waited, desired=desired, step=step, credential_path=credential)
        except NotStarted as error:
            if step == action.verb:  # nothing was done for this endpoint yet
                return Outcome(action.address, "skipped", message=error.message, step=step)
            return Outcome(action.address, "failed", message=f"interrupted during {step}", step=step)
        except HfopsError as error:
            self._event(action.address, "failed", error.message)
            return Outcome(
                action.address,
                "failed",
                message=error.message,
                step=step,
                desired=getattr(action, "desired", None),
            )
        except Exception as error:  # one endpoint's unexpected failure must not stop the others
            message = f"unexpected {type(error).__name__} (HFOPS_DEBUG=1 shows more)"
            self._event(action.address, "failed", message)
            return Outcome(
                action.address, "failed", message=message, step=step, desired=getattr(action, "desired", None)
            )

    def _wait_gone(self, live: LiveEndpoint) -> None:
        deadline = self._clock.monotonic() + self._options.timeout
        since = self._clock.monotonic()
        while self._status.get(live.namespace, live.name, fresh_after=since) is not None:
            if self._stop.is_set() or self._clock.monotonic() > deadline:
                raise HfopsError("the old endpoint was not deleted in time")
            self._clock.sleep(self._options.poll_interval)

    def _wait_ready(self, address: str, live: LiveEndpoint, *, rollout: bool) -> LiveEndpoint | Outcome:
        """Poll until running and healthy (or scaled to zero after deploying), failed, or timed out.

        After an update (`rollout`), `running` is trusted only once the endpoint was seen leaving it
        (updating, initializing, ...): the PUT answer and the reads after it can still describe the
        old deployment while the old replica serves (U2), and a new `updatedAt` proves nothing about
        the replica. A service that shows no rollout at all is waited on for `rollout_grace`, then
        taken at its word.
        """
        written_at = self._clock.monotonic()
        deadline = written_at + self._options.timeout
        seen_transition = not rollout or live.state not in READY_STATES
        last_state = ""
        current: LiveEndpoint | None = live
        while True:
            if current is None:
                return Outcome(address, "failed", message="the endpoint disappeared", step="wait")
            if current.state != last_state:
                last_state = current.state
                self._event(address, current.state, current.message or "")
            if current.state not in READY_STATES:
                seen_transition = True
            elif not seen_transition and self._clock.monotonic() - written_at >= self._options.rollout_grace:
                seen_transition = True
                grace = self._options.rollout_grace
                self._event(address, current.state, f"no rollout seen in {grace:g}s; taken as updated")
            if current.state in FAILED_STATES:
                reason = current.message or current.state
                return Outcome(address, "failed", live=current, message=f"{current.state}: {reason}", step="wait")
            if seen_transition and current.url and current.state in READY_STATES:
                if current.state == "scaledToZero":
                    return current  # deployed, and idle: what scale-to-zero is for
                if self._health_check is None or self._health_check(current):
                    self._event(address, "ready", current.url)
                    return current
            if self._stop.is_set():
                return Outcome(address, "failed", live=current, message="interrupted while waiting", step="wait")
            if self._clock.monotonic() >= deadline:
                return Outcome(
                    address,
                    "timeout",
                    live=current,
                    message=f"not ready after {self._options.timeout:g}s (state {current.state})",
                    step="wait",
                )
            self._clock.sleep(self._options.poll_interval)
            current = self._status.get(current.namespace, current.name, fresh_after=written_at)


def http_health_check(token: str | None) -> HealthCheck:
    def check(live: LiveEndpoint) -> bool:
        return live.url is not None and tgi.health(live.url, token=token, route=live.health_route).ok

    return check
