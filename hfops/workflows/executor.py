"""The executor: carries out a Plan's actions through an `EndpointWriter`, waits, reports outcomes.

It never prints: progress goes to an injected `on_event` callback, time to an injected `Clock`,
so tests can run create -> wait -> running without real sleeps. Actions run concurrently with
bounded parallelism; one endpoint's failure never stops the others. A `stop` event (set on
SIGINT/SIGTERM) stops new work from starting and ends waits early. No thread per endpoint:
`parallelism` workers make the requests, one poller per namespace does the waiting.
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
from hfops.core.errors import HfopsError, NotStarted, RemoteError
from hfops.core.fields import TAGS_PATH, field_for, update_body
from hfops.core.model import LiveEndpoint
from hfops.core.outcome import Outcome, Result
from hfops.core.plan import Action, Conflict, Create, Delete, NoOp, Pause, Plan, Replace, Resume, Update
from hfops.workflows.endpoint_access import Clock, Poller, Seen, SystemClock, Throttled

READY_STATES = frozenset({"running", "scaledToZero"})
FAILED_STATES = frozenset({"failed", "updateFailed"})
INTERRUPTED_WAITING = "interrupted while waiting"
ENDPOINT_CALLS = 64  # health checks, /info calls and credential writes at once (each endpoint is its own server)


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


class _Job:
    """One action's progress through its phases (write, wait, finish), from thread to thread."""

    def __init__(self, index: int, action: Action) -> None:
        self.index = index
        self.action = action
        self.step: str = action.verb
        self.result: Result = "unchanged"
        self.rollout = False


class _ReadyWatch:
    """Waiting for an endpoint to be running and healthy (or scaled to zero after deploying), failed,
    or timed out: the checks `Executor` makes on each state a poll shows (see `_observe`)."""

    def __init__(self, executor: Executor, job: _Job, live: LiveEndpoint, *, rollout: bool) -> None:
        self.namespace, self.name = live.namespace, live.name
        self.since = executor._clock.monotonic()  # written_at: the write that started this wait
        self.deadline = self.since + executor._options.timeout
        self.seen_transition = not rollout or live.state not in READY_STATES
        self.last_state = ""
        self.current: LiveEndpoint | None = live
        self._executor = executor
        self._job = job

    def expected_at(self) -> float | None:
        typical = self._executor._typical_wait()
        if typical is None or (self.current is not None and self.current.state in READY_STATES):
            return None
        return self.since + typical

    def observe(self, current: LiveEndpoint | None) -> Seen:
        return self._executor._observe(self, current)

    def failed(self, error: Exception) -> None:
        self._executor._fail(self._job, error)

    def interrupted(self) -> None:
        address = self._job.action.address
        self._executor._finish(
            self._job, Outcome(address, "failed", live=self.current, message=INTERRUPTED_WAITING, step="wait")
        )


class _GoneWatch:
    """Waiting for a deleted endpoint (of a replace) to be gone before its successor is created."""

    def __init__(self, executor: Executor, job: _Job, live: LiveEndpoint, then: Callable[[], None]) -> None:
        self.namespace, self.name = live.namespace, live.name
        self.since = executor._clock.monotonic()
        self.deadline = self.since + executor._options.timeout
        self._executor = executor
        self._job = job
        self._then = then

    def expected_at(self) -> float | None:
        return None

    def observe(self, current: LiveEndpoint | None) -> Seen:
        if current is None:
            self._executor._submit(self._job, self._then)
            return "done"
        if self._executor._stop.is_set() or self._executor._clock.monotonic() > self.deadline:
            self.failed(HfopsError("the old endpoint was not deleted in time"))
            return "done"
        return "waiting"

    def failed(self, error: Exception) -> None:
        self._executor._fail(self._job, error)

    def interrupted(self) -> None:
        self.failed(HfopsError("the old endpoint was not deleted in time"))


class Executor:
    """Carries out a plan with `parallelism` worker threads and one poller thread per namespace.

    No thread waits for an endpoint: a worker makes an action's writes, hands the wait to its
    namespace's `Poller`, and picks up the next action; when the poller sees the endpoint ready
    (or failed, or out of time) a worker health-checks it and writes its credential. So every
    create is sent in one wave however large the plan, and hundreds of endpoints starting at
    once cost one list call per namespace per poll.
    """

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
        # Health checks and credentials call each endpoint's own URL, not the endpoints API: they have
        # slots of their own, so that a large apply's TGI calls do not queue behind its API writes.
        self._endpoint_slots = threading.BoundedSemaphore(max(ENDPOINT_CALLS, options.parallelism))
        self._on_ready = self._limited(on_ready)
        self._health_check = self._limited(health_check)
        self._on_event = on_event or (lambda address, state, message: None)
        self._clock = clock or SystemClock(self._stop)
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._outcomes: list[Outcome | None] = []
        self._pending = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pollers: dict[str, Poller] = {}
        self._waited: list[float] = []  # seconds from write to ready, of the endpoints done so far

    def _limited(self, fn: Callable[..., Any] | None) -> Any:
        if fn is None:
            return None

        def call(*args: Any) -> Any:
            with self._endpoint_slots:
                return fn(*args)

        return call

    def run(self, plan: Plan) -> list[Outcome]:
        """Carry out every action; outcomes come back in plan order."""
        actions = [a for a in plan.actions if not isinstance(a, Conflict)]
        if not actions:
            return []
        self._outcomes = [None] * len(actions)
        self._pending = len(actions)
        workers = max(1, min(max(ENDPOINT_CALLS, self._options.parallelism), len(actions)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfops-apply") as pool:
            self._pool = pool
            for index, action in enumerate(actions):
                job = _Job(index, action)
                self._submit(job, lambda job=job: self._start(job))  # type: ignore[misc]
            with self._done:
                while self._pending:
                    self._done.wait(0.5)
        # The pollers have nothing left to watch: each ends when it next wakes, listing nothing.
        return [o for o in self._outcomes if o is not None]

    # -- bookkeeping ---------------------------------------------------------------------------

    def _submit(self, job: _Job, fn: Callable[[], None]) -> None:
        assert self._pool is not None

        def guarded() -> None:
            try:
                fn()
            except Exception as error:  # becomes the job's outcome, never lost
                self._fail(job, error)

        self._pool.submit(guarded)

    def _finish(self, job: _Job, outcome: Outcome) -> None:
        with self._done:
            if self._outcomes[job.index] is not None:
                return
            self._outcomes[job.index] = outcome
            self._pending -= 1
            self._done.notify_all()

    def _fail(self, job: _Job, error: Exception) -> None:
        action = job.action
        desired = getattr(action, "desired", None)
        if isinstance(error, NotStarted):  # from the slots or from the retry loop, whichever saw the signal
            if job.step == action.verb:  # nothing was done for this endpoint yet
                self._finish(job, Outcome(action.address, "skipped", message="not started: interrupted", step=job.step))
            else:
                self._finish(
                    job, Outcome(action.address, "failed", message=f"interrupted during {job.step}", step=job.step)
                )
        elif isinstance(error, HfopsError):
            self._event(action.address, "failed", error.message)
            self._finish(
                job, Outcome(action.address, "failed", message=error.message, step=job.step, desired=desired)
            )
        else:  # one endpoint's unexpected failure must not stop the others
            message = f"unexpected {type(error).__name__} (HFOPS_DEBUG=1 shows more)"
            self._event(action.address, "failed", message)
            self._finish(job, Outcome(action.address, "failed", message=message, step=job.step, desired=desired))

    def _event(self, address: str, state: str, message: str = "") -> None:
        self._on_event(address, state, message)

    def _poller(self, namespace: str) -> Poller:
        with self._lock:
            poller = self._pollers.get(namespace)
            if poller is None:
                interval = self._options.poll_interval
                poller = self._pollers[namespace] = Poller(
                    self._writer,
                    namespace,
                    min_interval=max(0.05, interval / 5),
                    max_interval=interval,
                    clock=self._clock,
                    stop=self._stop,
                )
            return poller

    def _typical_wait(self) -> float | None:
        with self._lock:
            waited = sorted(self._waited)
        return waited[len(waited) // 2] if waited else None

    # -- the phases of one action ---------------------------------------------------------------

    def _start(self, job: _Job) -> None:
        action = job.action
        if self._stop.is_set():
            self._finish(job, Outcome(action.address, "skipped", message="not started: interrupted"))
            return
        if isinstance(action, Delete):
            namespace, name = action.live.namespace, action.live.name
            self._event(action.address, "deleting")
            self._writer.delete(namespace, name)
            self._finish(job, Outcome(action.address, "deleted", step=job.step))
            return
        desired = action.desired
        live: LiveEndpoint
        if isinstance(action, Create):
            self._event(action.address, "creating")
            live = self._writer.create(desired, self._secrets_for(desired))
            job.result = "created"
        elif isinstance(action, Update):
            self._event(action.address, "updating", ", ".join(c.path for c in action.changes))
            payload = update_payload(desired, action.changes, self._secrets_for(desired))
            # Only a tags-only PUT may legitimately not redeploy (U7); anything else must be seen rolling out.
            # (hfops' bookkeeping tags, such as the fingerprint format upgrade, are tags too).
            job.rollout = any(change.path not in (TAGS_PATH, FINGERPRINT_FORMAT_PATH) for change in action.changes)
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
            job.result = "updated"
        elif isinstance(action, Replace):
            self._event(action.address, "replacing", "deleting the old endpoint")
            self._writer.delete(action.live.namespace, action.live.name)
            job.step = "wait for deletion"
            job.result = "replaced"
            self._poller(action.live.namespace).add(
                _GoneWatch(self, job, action.live, lambda: self._create_replacement(job))
            )
            return
        elif isinstance(action, Resume):
            self._event(action.address, "resuming")
            live = self._writer.resume(action.live.namespace, action.live.name)
            job.result = "resumed"
        elif isinstance(action, Pause):
            self._event(action.address, "pausing")
            live = self._writer.pause(action.live.namespace, action.live.name)
            self._finish(job, Outcome(action.address, "paused", live=live, desired=desired, step=job.step))
            return
        elif isinstance(action, NoOp):
            live = action.live
            job.result = "unchanged"
            if desired.spec.paused:
                self._finish(job, Outcome(action.address, "unchanged", live=live, desired=desired, step=job.step))
                return
        else:  # pragma: no cover - the union is closed; a new action type must be handled above
            raise TypeError(f"unknown action {type(action).__name__}")
        self._after_write(job, live)

    def _create_replacement(self, job: _Job) -> None:
        action = job.action
        assert isinstance(action, Replace)
        job.step = "create"
        live = self._writer.create(action.desired, self._secrets_for(action.desired))
        self._after_write(job, live)

    def _after_write(self, job: _Job, live: LiveEndpoint) -> None:
        action = job.action
        desired = getattr(action, "desired")  # noqa: B009 - every action that gets here has one
        if desired.spec.paused:
            # Paused endpoints have no URL and no credential; pausing right after a create or
            # an update is what the manifest asks for.
            job.step = "pause"
            if live.state != "paused":
                live = self._writer.pause(live.namespace, live.name)
            self._event(action.address, "paused")
            self._finish(job, Outcome(action.address, job.result, live=live, desired=desired, step=job.step))
            return
        if isinstance(action, Update) and live.state == "paused":
            job.step = "resume"
            self._event(action.address, "resuming")
            live = self._writer.resume(live.namespace, live.name)
        if not self._options.wait:
            self._finish(job, Outcome(action.address, job.result, live=live, desired=desired, step=job.step))
            return
        job.step = "wait"
        watch = _ReadyWatch(self, job, live, rollout=job.rollout)
        if self._observe(watch, live) != "done":
            self._poller(live.namespace).add(watch)

    def _observe(self, watch: _ReadyWatch, current: LiveEndpoint | None) -> Seen:
        """One state of a waited-on endpoint. After an update (`rollout`), `running` is trusted only
        once the endpoint was seen leaving it (updating, initializing, ...): the PUT answer and the
        reads after it can still describe the old deployment while the old replica serves (U2), and a
        new `updatedAt` proves nothing about the replica. A service that shows no rollout at all is
        waited on for `rollout_grace`, then taken at its word."""
        job, address = watch._job, watch._job.action.address
        watch.current = current
        if current is None:
            self._finish(job, Outcome(address, "failed", message="the endpoint disappeared", step="wait"))
            return "done"
        seen: Seen = "waiting"
        if current.state != watch.last_state:
            watch.last_state = current.state
            seen = "moved"
            self._event(address, current.state, current.message or "")
        now = self._clock.monotonic()
        if current.state not in READY_STATES:
            watch.seen_transition = True
        elif not watch.seen_transition and now - watch.since >= self._options.rollout_grace:
            watch.seen_transition = True
            grace = self._options.rollout_grace
            self._event(address, current.state, f"no rollout seen in {grace:g}s; taken as updated")
        if current.state in FAILED_STATES:
            reason = current.message or current.state
            self._finish(
                job, Outcome(address, "failed", live=current, message=f"{current.state}: {reason}", step="wait")
            )
            return "done"
        if watch.seen_transition and current.url and current.state in READY_STATES:
            if current.state == "scaledToZero" or self._health_check is None:
                if current.state != "scaledToZero":
                    self._event(address, "ready", current.url)
                self._ready(watch, current)
                return "done"
            # The health check is a request: a worker makes it; the poller goes on with the others.
            self._submit(job, lambda: self._check_health(watch, current))
            return "done"
        if self._stop.is_set():
            self._finish(job, Outcome(address, "failed", live=current, message=INTERRUPTED_WAITING, step="wait"))
            return "done"
        if now >= watch.deadline:
            self._finish(
                job,
                Outcome(
                    address,
                    "timeout",
                    live=current,
                    message=f"not ready after {self._options.timeout:g}s (state {current.state})",
                    step="wait",
                ),
            )
            return "done"
        return seen

    def _check_health(self, watch: _ReadyWatch, current: LiveEndpoint) -> None:
        if self._health_check(current):
            self._event(watch._job.action.address, "ready", current.url or "")
            self._ready(watch, current)
            return
        if self._stop.is_set():
            self._finish(
                watch._job,
                Outcome(watch._job.action.address, "failed", live=current, message=INTERRUPTED_WAITING, step="wait"),
            )
            return
        if self._clock.monotonic() >= watch.deadline:
            self._observe(watch, current)  # reports the timeout
            return
        self._poller(current.namespace).add(watch)  # not serving yet: the next polls decide

    def _ready(self, watch: _ReadyWatch, waited: LiveEndpoint) -> None:
        with self._lock:
            self._waited.append(self._clock.monotonic() - watch.since)
        job = watch._job
        if threading.current_thread().name.startswith("hfops-apply"):
            self._complete(job, waited)
        else:
            self._submit(job, lambda: self._complete(job, waited))

    def _complete(self, job: _Job, waited: LiveEndpoint) -> None:
        action = job.action
        desired = getattr(action, "desired")  # noqa: B009
        if isinstance(action, Update):
            ignored = not_applied(action, waited)
            if ignored:
                # The PUT was answered and the endpoint runs, but with the old value: the service ignored
                # part of the update (type on PUT, U6; null on PUT, U1). Never report that as updated.
                self._finish(
                    job,
                    Outcome(
                        action.address,
                        "failed",
                        live=waited,
                        desired=desired,
                        message=f"the service accepted the update but kept {', '.join(ignored)}; "
                        + _replace_remedy(action.address),
                        step="verify update",
                    ),
                )
                return
        credential = None
        if self._on_ready is not None:
            job.step = "credentials"
            credential = self._on_ready(desired, waited)
        self._finish(
            job,
            Outcome(
                action.address, job.result, live=waited, desired=desired, step=job.step, credential_path=credential
            ),
        )


def http_health_check(token: str | None) -> HealthCheck:
    def check(live: LiveEndpoint) -> bool:
        return live.url is not None and tgi.health(live.url, token=token, route=live.health_route).ok

    return check
