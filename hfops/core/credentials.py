"""GenStudio credentials as planned data: what each output should hold, what it holds, what to change.

Pure. The workflow reads every output through its sink (`adapters/sinks`) into a `Held`, builds a
`WantedCredential` per endpoint and output, and `plan_credentials` compares them into
`CredentialAction`s (`+` write, `~` update, `-` remove) that the plan renders, counts and saves.
Actions never carry a key: an api_key change is only ever shown as a sensitive change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hfops.core.diff import FieldChange
from hfops.core.errors import CredentialsError
from hfops.core.json_object import load_object
from hfops.core.model import Credential, CredentialOutput, EndpointSpec

KNOWN_AFTER_APPLY = "(known after apply)"
SENSITIVE_CHANGED = "(sensitive value changed)"
HeldState = Literal["absent", "ours", "foreign", "unreadable"]
WindowSource = Literal["manifest", "endpoint /info", "recorded /info", "image.maxTotalTokens", "env", "model config"]


@dataclass(frozen=True)
class Held:
    """What an output holds now.

    - `absent`: nothing there;
    - `ours`: hfops wrote it (for `address`, by `owner`); `content` is the credential JSON found,
      or None for a sink that cannot be read back, which then has the `digest` of what it was given;
    - `foreign`: something hfops did not write is there: never overwritten nor removed;
    - `unreadable`: the sink could not be read (the reason is in `detail`).
    """

    state: HeldState
    content: bytes | None = field(default=None, repr=False)
    address: str | None = None
    owner: str | None = None
    digest: str | None = None
    detail: str | None = None

    def __repr__(self) -> str:  # never show the content: it holds a key
        return f"Held(state={self.state!r}, address={self.address!r}, owner={self.owner!r})"

    def document(self) -> dict[str, Any] | None:
        """`content` decoded as a JSON object (`load_object`). Decoded at each call, not kept: kept
        on the 5,000 `Held` of a plan of 5,000, the documents were 3 MB more at its peak (median of
        8, for no time measurable against decoding twice)."""
        return load_object(self.content)


@dataclass(frozen=True)
class Target:
    """Who a write or removal is for: recorded on what the sink stores, so it can tell its own."""

    namespace: str
    name: str
    owner: str

    @property
    def address(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ContextWindow:
    value: int
    source: WindowSource


def derived_window(spec: EndpointSpec) -> ContextWindow | None:
    """What TGI would serve from the limits the manifest sets (image first, then env)."""
    if spec.image.max_total_tokens is not None:
        return ContextWindow(spec.image.max_total_tokens, "image.maxTotalTokens")
    env = dict(spec.env)
    text = env.get("MAX_TOTAL_TOKENS")
    if text is not None and text.strip().isdigit():
        return ContextWindow(int(text), "env")
    return None


def choose_context_window(
    spec: EndpointSpec, *, served: int | None, recorded: int | None = None, model_context: int | None
) -> ContextWindow:
    """Contract §3 precedence: declared; served (read now, or recorded while it sleeps); derived; config.

    A served value that is not a positive integer or exceeds the model's context is refused, as is
    a declared window above what the endpoint serves.
    """
    for value, what in ((served, "served"), (recorded, "recorded")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CredentialsError(f"{spec.address}: the endpoint reports a {what} window of {value!r}; not written")
        if model_context is not None and value > model_context:
            raise CredentialsError(
                f"{spec.address}: the endpoint reports a {what} window of {value}, above the model's context "
                f"({model_context}); not written"
            )
    serving: ContextWindow | None = None
    if served is not None:
        serving = ContextWindow(served, "endpoint /info")
    elif recorded is not None:
        serving = ContextWindow(recorded, "recorded /info")
    else:
        serving = derived_window(spec)
    declared = spec.genstudio.context_window
    if declared is not None:
        limit = serving or (ContextWindow(model_context, "model config") if model_context else None)
        if limit is not None and declared > limit.value:
            what = {
                "endpoint /info": "the endpoint serves",
                "recorded /info": "the endpoint serves",
                "image.maxTotalTokens": "image.maxTotalTokens allows",
                "env": "env MAX_TOTAL_TOKENS allows",
                "model config": "the model's context is",
            }[limit.source]
            raise CredentialsError(
                f"{spec.address}: genstudio.contextWindow {declared} is larger than what {what} ({limit.value})"
            )
        return ContextWindow(declared, "manifest")
    if serving is not None:
        return serving
    if model_context is not None:
        return ContextWindow(model_context, "model config")
    raise CredentialsError(
        f"{spec.address}: cannot tell the context window (no /info answer, no image.maxTotalTokens, "
        "no max_position_embeddings in the model config)",
        hint="set spec.genstudio.contextWindow",
    )


def credential_bytes(credential: Credential) -> bytes:
    return (json.dumps(credential.to_json_dict(), indent=2) + "\n").encode()


@dataclass(frozen=True)
class WantedCredential:
    """What one output of one endpoint should hold; `credential` None until the URL is known."""

    address: str
    output: CredentialOutput
    model_name: str
    window: ContextWindow | None
    credential: Credential | None = field(default=None, repr=False)
    reason: str = ""  # why it is written: "new endpoint", "endpoint replaced", ...
    key_known: bool = True  # False when the GenStudio key is not in the environment (a plan job)


CredentialVerb = Literal["write", "update", "remove"]
_SYMBOLS: dict[str, str] = {"write": "+", "update": "~", "remove": "-"}


@dataclass(frozen=True)
class CredentialAction:
    address: str
    output: CredentialOutput
    verb: CredentialVerb
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""
    wanted: WantedCredential | None = field(default=None, repr=False, compare=False)

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self.verb]

    @property
    def content_changes(self) -> bool:
        """GenStudio must be given this credential again (it has no API for it)."""
        return self.verb != "remove"

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "output": self.output.output_id,
            "action": self.verb,
            "reason": self.reason,
            "changes": [c.to_json() for c in self.changes],
        }


def _fields_of(data: Mapping[str, object]) -> dict[str, object]:
    return {k: data.get(k) for k in ("endpoint", "model_name", "context_window")}


def _changes(old: Mapping[str, object] | None, wanted: WantedCredential, held_key: object) -> list[FieldChange]:
    new: dict[str, object] = {
        "endpoint": wanted.credential.endpoint if wanted.credential else KNOWN_AFTER_APPLY,
        "model_name": wanted.model_name,
        "context_window": wanted.window.value if wanted.window else KNOWN_AFTER_APPLY,
    }
    before = _fields_of(old) if old is not None else {}
    changes = [
        FieldChange(key, before.get(key), value)
        for key, value in new.items()
        if old is None or before.get(key) != value
    ]
    key = wanted.credential.api_key if wanted.credential and wanted.key_known else None
    if old is None:
        changes.append(FieldChange("api_key", None, SENSITIVE_CHANGED, sensitive=True))
    elif key is not None and held_key != key:
        changes.append(FieldChange("api_key", SENSITIVE_CHANGED, SENSITIVE_CHANGED, sensitive=True))
    return changes


def plan_credentials(
    wanted: Sequence[WantedCredential],
    held: Mapping[str, Held],
    *,
    stale: Iterable[tuple[str, CredentialOutput, str]] = (),
    digest_of: Callable[[bytes], str | None] = lambda content: None,
) -> tuple[tuple[CredentialAction, ...], tuple[str, ...]]:
    """Actions that bring every output to what is wanted, and conflicts (outputs hfops may not touch).

    `held` is keyed by output id; `stale` lists (address, output, reason) of outputs hfops wrote
    that no managed endpoint wants any more; `digest_of` fingerprints wanted content for outputs
    that cannot be read back.
    """
    actions: list[CredentialAction] = []
    conflicts: list[str] = []
    for item in wanted:
        found = held.get(item.output.output_id, Held("absent"))
        if found.state == "foreign":
            conflicts.append(
                f"{item.address}: {item.output.describe()} exists and was not written by hfops; it is never overwritten"
            )
            continue
        if found.state == "unreadable":
            conflicts.append(f"{item.address}: {item.output.describe()}: {found.detail or 'cannot be read'}")
            continue
        if found.state == "absent":
            actions.append(
                CredentialAction(
                    item.address, item.output, "write", tuple(_changes(None, item, None)), item.reason or "new", item
                )
            )
            continue
        if found.address not in (None, item.address):
            conflicts.append(f"{item.address}: {item.output.describe()} holds the credential of {found.address}")
            continue
        if found.content is None:  # written before, cannot be read back: compare fingerprints
            content = credential_bytes(item.credential) if item.credential and item.key_known else None
            if content is None or digest_of(content) == found.digest:
                continue  # unchanged, or cannot tell without the key (a plan job without it)
            opaque = (FieldChange("credential", SENSITIVE_CHANGED, SENSITIVE_CHANGED, sensitive=True),)
            actions.append(
                CredentialAction(item.address, item.output, "update", opaque, item.reason or "changed", item)
            )
            continue
        old = found.document() or {}
        changes = _changes(old, item, old.get("api_key"))
        if changes:
            actions.append(
                CredentialAction(item.address, item.output, "update", tuple(changes), item.reason or "changed", item)
            )
    for address, output, reason in stale:
        actions.append(CredentialAction(address, output, "remove", (), reason))
    return tuple(actions), tuple(conflicts)
