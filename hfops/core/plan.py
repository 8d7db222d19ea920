"""Pure planning: desired endpoints + live state -> a frozen Plan of actions.

The plan is data. It can be rendered (`render.py`), serialised (`Plan.to_json`), saved and applied
(`apply.py`). It never contains a secret value: only secret keys and salted fingerprints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as with_changes
from typing import Literal

from hfops.core.credentials import CredentialAction
from hfops.core.diff import (
    Desired,
    FieldChange,
    change_cause,
    desired_fields,
    diff_endpoint,
    fields_digest,
    live_fields,
    only_format_upgrade,
)
from hfops.core.fields import SECRETS, is_sensitive
from hfops.core.hardware import EndpointCost
from hfops.core.model import DEFAULT_OWNER, LiveEndpoint
from hfops.core.sensitive import is_sensitive_change

FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Create:
    address: str
    desired: Desired = field(repr=False)
    fields: tuple[FieldChange, ...]
    symbol: Literal["+"] = "+"
    verb: Literal["create"] = "create"


@dataclass(frozen=True)
class Update:
    address: str
    desired: Desired = field(repr=False)
    live: LiveEndpoint = field(repr=False)
    changes: tuple[FieldChange, ...]
    adopt: bool = False  # not created by hfops (or by another owner) and taken over on request
    # manifest | drift | manifest+drift | unknown (see diff.change_cause) | upgrade (only hfops'
    # bookkeeping tags are rewritten in their current format)
    cause: str = "unknown"
    symbol: Literal["~"] = "~"
    verb: Literal["update"] = "update"


@dataclass(frozen=True)
class Replace:
    """Fields that cannot change in place (vendor, region): delete, then create."""

    address: str
    desired: Desired = field(repr=False)
    live: LiveEndpoint = field(repr=False)
    changes: tuple[FieldChange, ...]
    cause: str = "unknown"
    symbol: Literal["-/+"] = "-/+"
    verb: Literal["replace"] = "replace"


@dataclass(frozen=True)
class Delete:
    address: str
    live: LiveEndpoint = field(repr=False)
    reason: str = "destroy"
    symbol: Literal["-"] = "-"
    verb: Literal["delete"] = "delete"


@dataclass(frozen=True)
class Resume:
    """The endpoint matches its manifest but is paused: resume it."""

    address: str
    desired: Desired = field(repr=False)
    live: LiveEndpoint = field(repr=False)
    symbol: Literal["~"] = "~"
    verb: Literal["resume"] = "resume"


@dataclass(frozen=True)
class Pause:
    """The manifest says `paused: true` and the endpoint is not paused."""

    address: str
    desired: Desired = field(repr=False)
    live: LiveEndpoint = field(repr=False)
    symbol: Literal["~"] = "~"
    verb: Literal["pause"] = "pause"


@dataclass(frozen=True)
class NoOp:
    address: str
    desired: Desired = field(repr=False)
    live: LiveEndpoint = field(repr=False)
    symbol: Literal[" "] = " "
    verb: Literal["no-op"] = "no-op"


@dataclass(frozen=True)
class Conflict:
    """An endpoint of that name exists but hfops did not create it, or another owner manages it:
    never taken over (updated or deleted) silently."""

    address: str
    desired: Desired = field(repr=False)
    live: LiveEndpoint = field(repr=False)
    message: str
    # The owner that would adopt it (this run's): the adopt command must name it to record it.
    owner: str = DEFAULT_OWNER
    symbol: Literal["!"] = "!"
    verb: Literal["conflict"] = "conflict"

    @property
    def other_owner(self) -> str | None:
        """The owner that manages the endpoint, when it is managed by hfops for another manifest set."""
        return self.live.owner if self.live.owned else None


Action = Create | Update | Replace | Delete | Resume | Pause | NoOp | Conflict
CHANGING = (Create, Update, Replace, Delete, Resume, Pause)


class Digests:
    """A plan's two digests (of the desired state and of the live state), computed when first read.

    Only a saved plan (`--out`, `-json`) and its staleness check read them; hashing a fleet's
    fields for every plan cost 60 ms of a plan of 5,000. Each is given as its value or as the
    function that computes it from the plan's own (frozen) inputs, so the value is the same
    whenever it is read.
    """

    __slots__ = ("_live", "_manifest")

    def __init__(self, manifest: str | Callable[[], str], live: str | Callable[[], str]) -> None:
        self._manifest = manifest
        self._live = live

    @property
    def manifest(self) -> str:
        if not isinstance(self._manifest, str):
            self._manifest = self._manifest()
        return self._manifest

    @property
    def live(self) -> str:
        if not isinstance(self._live, str):
            self._live = self._live()
        return self._live

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Digests) and (self.manifest, self.live) == (other.manifest, other.live)

    def __hash__(self) -> int:
        return hash((self.manifest, self.live))

    def __repr__(self) -> str:
        return f"Digests(manifest={self.manifest!r}, live={self.live!r})"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    digests: Digests
    namespaces: tuple[str, ...]
    costs: tuple[EndpointCost, ...] = ()
    # GenStudio credential outputs: writes, updates and removals, and outputs hfops may not touch.
    credentials: tuple[CredentialAction, ...] = ()
    credential_conflicts: tuple[str, ...] = ()

    @property
    def manifest_digest(self) -> str:
        return self.digests.manifest

    @property
    def live_digest(self) -> str:
        return self.digests.live

    @property
    def hourly_max(self) -> float:
        return sum(c.hourly_max for c in self.costs)

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if isinstance(a, CHANGING))

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        return tuple(a for a in self.actions if isinstance(a, Conflict))

    @property
    def has_changes(self) -> bool:
        return bool(self.changes) or bool(self.credentials)

    @property
    def has_endpoint_changes(self) -> bool:
        return bool(self.changes)

    def credential_counts(self) -> dict[str, int]:
        return {verb: sum(c.verb == verb for c in self.credentials) for verb in ("write", "update", "remove")}

    @property
    def drifted(self) -> tuple[str, ...]:
        """Endpoints changed outside hfops since the last apply."""
        return tuple(a.address for a in self.actions if isinstance(a, (Update, Replace)) and "drift" in a.cause)

    @property
    def manifest_changed(self) -> tuple[str, ...]:
        """Endpoints whose manifest changed (or that are new or to be removed)."""
        return tuple(
            a.address
            for a in self.actions
            if isinstance(a, (Create, Delete, Resume, Pause))
            or (isinstance(a, (Update, Replace)) and a.cause != "drift")
        )

    @property
    def change_kind(self) -> str:
        """For scheduled checks: "none", "manifest", "drift" or "manifest+drift"."""
        if not self.has_changes:
            return "none"
        if not self.changes:
            return "manifest"  # only credentials change: what the manifests (or keys) ask differs
        drift, manifest = bool(self.drifted), bool(self.manifest_changed)
        if drift and manifest:
            return "manifest+drift"
        return "drift" if drift else "manifest"

    def counts(self) -> dict[str, int]:
        add = sum(isinstance(a, (Create, Replace)) for a in self.actions)
        change = sum(isinstance(a, (Update, Resume, Pause)) for a in self.actions)
        destroy = sum(isinstance(a, (Delete, Replace)) for a in self.actions)
        return {"add": add, "change": change, "destroy": destroy}

    def to_json(self) -> dict[str, object]:
        return {
            "format_version": FORMAT_VERSION,
            "namespaces": list(self.namespaces),
            "manifest_digest": self.manifest_digest,
            "live_digest": self.live_digest,
            "summary": self.counts(),
            "has_changes": self.has_changes,
            "change_kind": self.change_kind,
            "drifted": list(self.drifted),
            "actions": [action_to_json(a) for a in self.actions],
            "credentials": [c.to_json() for c in self.credentials],
            "credential_summary": self.credential_counts(),
            "credential_conflicts": list(self.credential_conflicts),
            "cost": {
                "currency": "USD",
                "hourly_at_max_replicas": round(self.hourly_max, 4),
                "hourly_when_idle": round(sum(c.hourly_idle for c in self.costs), 4),
                "endpoints": [c.to_json() for c in self.costs],
            },
        }


def action_to_json(action: Action) -> dict[str, object]:
    namespace, _, name = action.address.partition("/")
    data: dict[str, object] = {
        "address": action.address,
        "namespace": namespace,
        "name": name,
        "action": action.verb,
    }
    if isinstance(action, Create):
        data["fields"] = [c.to_json() for c in action.fields]
    elif isinstance(action, (Update, Replace)):
        data["changes"] = [c.to_json() for c in action.changes]
        data["cause"] = action.cause
        if isinstance(action, Update) and action.adopt:
            data["adopt"] = True
    elif isinstance(action, Delete):
        data["reason"] = action.reason
    elif isinstance(action, Conflict):
        data["message"] = action.message
        if action.other_owner is not None:
            data["owner"] = action.other_owner
    return data


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def desired_digest(desired: Iterable[Desired]) -> str:
    """Identifies the desired state a plan was made from (secrets by fingerprint only)."""
    return _digest([[d.spec.address, desired_fields(d), d.secrets_fingerprint] for d in desired])


def live_digest(live: Iterable[LiveEndpoint]) -> str:
    """Identifies the owned-field essence of the live state (not its ever-changing run state)."""
    return _digest(sorted([[e.address, live_fields(e), e.secrets_fingerprint] for e in live], key=str))


def _only_the_revision_moved(desired: Desired, live: LiveEndpoint) -> bool:
    """The manifest is as last applied, but its branch or tag now names another commit.

    Recomputes the desired digest with the commit the endpoint runs in place of the one the plan
    resolved: if that matches the digest recorded at the last apply, nothing else changed.
    """
    if desired.revision_sha is None or live.revision in (None, desired.revision_sha):
        return False
    as_deployed = with_changes(desired, revision_sha=live.revision)
    return fields_digest(desired_fields(as_deployed), desired.secrets_fingerprint) == live.applied_digest


def _secrets_never_recorded(desired: Desired, live: LiveEndpoint, changes: tuple[FieldChange, ...]) -> bool:
    """Only the secret values differ, and hfops never recorded them (adopted with the variables unset):
    the service never shows values, so the first apply sets them from the environment."""
    return live.secrets_fingerprint is None and all(c.path == SECRETS.path for c in changes)


def build_plan(
    desired: Iterable[Desired],
    live: Mapping[str, LiveEndpoint],
    *,
    adopt: frozenset[str] = frozenset(),
    prune: Iterable[LiveEndpoint] = (),
    namespaces: Iterable[str] = (),
    costs: Iterable[EndpointCost] = (),
    owner: str = DEFAULT_OWNER,
    replace: frozenset[str] = frozenset(),
) -> Plan:
    """Decide, for every desired endpoint, what apply must do; `live` is keyed by address.

    `owner` is the manifest set's identity: an endpoint another owner manages is a conflict like
    an unmanaged one (never updated, never deleted) until `adopt` names it. `replace` names
    endpoints to re-create even if nothing forces it (Terraform's `-replace`): the remedy when the
    service will not take a change in place.
    """
    desired = tuple(desired)
    actions: list[Action] = []
    for item in desired:
        address = item.spec.address
        current = live.get(address)
        if current is None:
            actions.append(Create(address, item, tuple(_creation_fields(item))))
            continue
        ours = current.owned_by(owner)
        if not ours and address not in adopt:
            if current.owned:
                message = f"is managed by another hfops manifest set (owner {current.owner!r}, not {owner!r})"
            else:
                message = "exists but was not created by hfops"
            actions.append(Conflict(address, item, current, message, owner=owner))
            continue
        changes = diff_endpoint(item, current)
        if only_format_upgrade(changes):
            cause = "upgrade"
        else:
            cause = change_cause(item, current) if changes and ours else "unknown"
            if cause == "manifest" and _only_the_revision_moved(item, current):
                cause = "revision"
            elif cause == "manifest" and _secrets_never_recorded(item, current, changes):
                cause = "secrets-unrecorded"
        if address in replace:
            actions.append(Replace(address, item, current, changes, cause="requested"))
        elif any(c.forces_replacement for c in changes):
            actions.append(Replace(address, item, current, changes, cause=cause))
        elif ours and current.state == "failed":
            # Like a tainted resource in Terraform: a failed deployment is not fixed by waiting or
            # by an update of nothing; it is re-created (with the changes, if any).
            actions.append(Replace(address, item, current, changes, cause="failed"))
        elif changes or not ours:
            actions.append(Update(address, item, current, changes, adopt=not ours, cause=cause))
        elif current.state == "paused" and not item.spec.paused:
            actions.append(Resume(address, item, current))
        elif current.state != "paused" and item.spec.paused:
            actions.append(Pause(address, item, current))
        else:
            actions.append(NoOp(address, item, current))
    for gone in prune:
        actions.append(Delete(gone.address, gone, reason="prune"))
    relevant = tuple(live[a.address] for a in actions if a.address in live)
    return Plan(
        actions=tuple(actions),
        digests=Digests(lambda: desired_digest(desired), lambda: live_digest(relevant)),
        namespaces=tuple(sorted(set(namespaces))),
        costs=tuple(costs),
    )


def _creation_fields(item: Desired) -> Iterable[FieldChange]:
    from hfops.core.fields import field_order

    fields = desired_fields(item)
    for path in sorted(fields, key=lambda p: field_order(p)[0]):  # stable: keeps declaration order
        value = fields[path]
        if value is not None:
            yield FieldChange(path, None, value, sensitive=is_sensitive(path) or is_sensitive_change(path, value))


def destroy_plan(
    addresses: Iterable[str], live: Mapping[str, LiveEndpoint], *, owner: str = DEFAULT_OWNER
) -> tuple[list[Delete], list[str]]:
    """Deletes for the named endpoints this owner manages; returns (deletes, notes about the rest)."""
    deletes: list[Delete] = []
    notes: list[str] = []
    for address in addresses:
        current = live.get(address)
        if current is None:
            notes.append(f"{address}: does not exist; nothing to delete")
        elif not current.owned:
            notes.append(f"{address}: not created by hfops; left alone")
        elif not current.owned_by(owner):
            notes.append(f"{address}: managed by hfops owner {current.owner!r}, not {owner!r}; left alone")
        else:
            deletes.append(Delete(address, current))
    return deletes, notes
