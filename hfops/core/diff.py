"""Pure comparison of a desired endpoint with its live essence.

Both sides are first flattened to `{field path: value}` over the fields a manifest owns, named as
in the manifest (`scaling.minReplica`, `env.KEY`), so the diff never reports server
defaults or bookkeeping as drift, and what a user reads matches what they edit. Secrets are
compared by key and by fingerprint, never by value.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from hfops.core import fields as catalogue
from hfops.core.fields import SENSITIVE, field_order
from hfops.core.model import (
    APPLIED_TAG_PREFIX,
    BOOKKEEPING_PREFIXES,
    DEFAULT_OWNER,
    OWNER_TAG_PREFIX,
    OWNERSHIP_TAG,
    SECRETS_FINGERPRINT_VERSION,
    SECRETS_TAG_PREFIX,
    EndpointSpec,
    LiveEndpoint,
)
from hfops.core.sensitive import is_sensitive_change


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: `old` is None when added, `new` is None when removed."""

    path: str
    old: object
    new: object
    sensitive: bool = False

    @property
    def forces_replacement(self) -> bool:
        return catalogue.replaces(self.path)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "old": SENSITIVE if self.sensitive and self.old is not None else self.old,
            "new": SENSITIVE if self.sensitive and self.new is not None else self.new,
            "sensitive": self.sensitive,
        }


@dataclass(frozen=True)
class Desired:
    """A spec with what the plan resolved: the model commit and the secrets' fingerprint."""

    spec: EndpointSpec
    # The commit the manifest's revision resolved to; None when the manifest names no revision,
    # in which case the endpoint follows the repository's default branch and the field is not owned.
    revision_sha: str | None
    secrets_fingerprint: str | None
    # The manifest set's owner identity, recorded in a tag on what hfops creates or adopts.
    owner: str = DEFAULT_OWNER
    # The same secret values in the old v1 format, only to recognise an endpoint tagged by an
    # earlier version (never written): its secrets are unchanged, only the tag format is old.
    legacy_secrets_fingerprint: str | None = field(default=None, repr=False, compare=False)

    @cached_property
    def owned_fields(self) -> dict[str, object]:
        """Every field the manifest owns, by path, tags included; computed once (a plan reads it for
        the diff, the digests and the plan's own digest). Read it through `desired_fields`, a copy."""
        fields = catalogue.desired_fields(self)
        fields[catalogue.TAGS_PATH] = list(self.visible_tags)
        return fields

    @property
    def visible_tags(self) -> tuple[str, ...]:
        """The tags a user sees in a plan: their own plus the ownership tag."""
        return tuple(sorted({*self.spec.tags, OWNERSHIP_TAG}))

    @property
    def applied_digest(self) -> str:
        """What the `hfops-applied-` tag records for this desired state (see `change_cause`)."""
        return fields_digest(desired_fields(self), self.secrets_fingerprint)

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag hfops sends, bookkeeping included."""
        tags = {*self.visible_tags, APPLIED_TAG_PREFIX + self.applied_digest, OWNER_TAG_PREFIX + self.owner}
        if self.secrets_fingerprint:
            tags.add(SECRETS_TAG_PREFIX + self.secrets_fingerprint)
        return tuple(sorted(tags))


# The secrets fingerprint is public (a tag anyone who can list the namespace reads) and secrets can
# be short (a 6-digit PIN), so a fast hash of them is a lookup table away from the values: v1, one
# salted SHA-256, gave a 6-digit secret back in seconds. v2 puts every value through scrypt first:
# N=2**17, r=8, p=1 costs 128 MiB and ~0.37 s of one core per guess on a 2-core CI machine
# (measured; tests/test_secrets_fingerprint.py times it and asserts that 10**6 guesses on 2 cores
# take more than a day). The salt is the namespace, so one derivation per distinct value and
# namespace serves every endpoint there (a fleet sharing a few secrets pays a few derivations per
# plan, not one per endpoint) while a table built for one namespace is useless in any other. The
# endpoint's name and the secret keys go into an HMAC keyed by the derived values, so equal
# secrets on two endpoints still give unrelated tags. Deterministic (no random salt to store):
# two plans of the same manifests, a retried create and a saved plan all agree on the tag.
_SECRETS_KDF = {"n": 2**17, "r": 8, "p": 1, "maxmem": 256 * 1024 * 1024, "dklen": 32}
SECRETS_KDF_COST = dict(_SECRETS_KDF)  # for the tests that time a guess


def derive_secret_key(namespace: str, value: str) -> bytes:
    """scrypt of one secret value, salted with the namespace: the expensive step of a guess."""
    salt = f"hfops-secrets-v2\0{namespace}".encode()
    return hashlib.scrypt(value.encode(), salt=salt, **_SECRETS_KDF)


# One derivation per value and namespace per process (a plan derives each once; the reconciler
# warms this cache in parallel). Memory only; the values are in the process' environment anyway.
derived_secret_key = functools.lru_cache(maxsize=4096)(derive_secret_key)


def secrets_fingerprint(namespace: str, name: str, values: Mapping[str, str]) -> str | None:
    """A fingerprint of the secret values: enough to notice a change, infeasible to guess one from.

    `v2-` + 16 hex of HMAC-SHA256(keyed by the scrypt-derived values, over the address and the
    secret keys). None when there are no secrets.
    """
    if not values:
        return None
    key = b"".join(derived_secret_key(namespace, values[k]) for k in sorted(values))
    message = json.dumps([namespace, name, sorted(values)], separators=(",", ":")).encode()
    return SECRETS_FINGERPRINT_VERSION + hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def legacy_secrets_fingerprint(namespace: str, name: str, values: Mapping[str, str]) -> str | None:
    """The v1 fingerprint (one salted SHA-256), only to recognise tags an earlier version wrote."""
    if not values:
        return None
    canonical = json.dumps(sorted(values.items()), separators=(",", ":"))
    digest = hashlib.sha256(f"hfops-secrets-v1\0{namespace}/{name}\0{canonical}".encode())
    return digest.hexdigest()[:16]


def is_legacy_fingerprint(fingerprint: str | None) -> bool:
    return fingerprint is not None and not fingerprint.startswith(SECRETS_FINGERPRINT_VERSION)


# The diff path of a bookkeeping-only change: the secrets tag is rewritten in the v2 format (the
# values are unchanged). Not a catalogue field, so an update sends only the tags for it.
FINGERPRINT_FORMAT_PATH = "tags.secretsFingerprint"


def fields_digest(fields: Mapping[str, object], secrets_fingerprint: str | None) -> str:
    """A short digest of owned field values (never of secret values: only their fingerprint)."""
    text = json.dumps([dict(fields), secrets_fingerprint], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def desired_fields(desired: Desired) -> dict[str, object]:
    return dict(desired.owned_fields)


def live_fields(live: LiveEndpoint) -> dict[str, object]:
    fields = live.field_values
    fields[catalogue.TAGS_PATH] = sorted(t for t in live.tags if not t.startswith(BOOKKEEPING_PREFIXES))
    return fields


def diff_fields(old: Mapping[str, object], new: Mapping[str, object]) -> Iterator[FieldChange]:
    """Every path whose value differs, in a stable, readable order."""
    if old == new:
        return  # the common case of a fleet at rest, without sorting every path of every endpoint
    for path in sorted(set(old) | set(new), key=field_order):
        before, after = old.get(path), new.get(path)
        if before != after:
            # An env entry holding a credential (on either side) is masked like a secret.
            sensitive = catalogue.is_sensitive(path) or is_sensitive_change(path, before, after)
            yield FieldChange(path, before, after, sensitive=sensitive)


def _comparable_live(desired: Desired, live: LiveEndpoint) -> dict[str, object]:
    current = live_fields(live)
    if not live.secrets_echoed:
        # The service does not show secret keys: take the manifest's as what is there, and let the
        # secrets fingerprint tag (what hfops last sent) tell a change, instead of a perpetual diff.
        current.pop(catalogue.SECRETS.path, None)
        current.update({f"{catalogue.SECRETS.path}.{key}": catalogue.SENSITIVE for key, _ in desired.spec.secrets})
    if catalogue.keeps_service_image(desired.spec, current, live.task):
        current[catalogue.IMAGE_URL.path] = catalogue.IMAGE_URL.desired_value(desired)  # pins no version
    if catalogue.REVISION.desired_value(desired) is catalogue.UNOWNED:
        current.pop(catalogue.REVISION.path, None)  # not owned by this manifest
    return current


def diff_endpoint(desired: Desired, live: LiveEndpoint) -> tuple[FieldChange, ...]:
    """The changes that would bring `live` to `desired` (empty: nothing to do)."""
    changes = list(diff_fields(_comparable_live(desired, live), desired_fields(desired)))
    # Same secret keys on both sides but different values: only the fingerprint tells.
    same_keys = not live.secrets_echoed or {k for k, _ in desired.spec.secrets} == set(live.secret_keys)
    if desired.spec.secrets and same_keys and desired.secrets_fingerprint != live.secrets_fingerprint:
        if is_legacy_fingerprint(live.secrets_fingerprint) and (
            live.secrets_fingerprint == desired.legacy_secrets_fingerprint
        ):
            # Tagged by an earlier version, same values: shown once, then the tag is v2 and the
            # endpoint plans as unchanged. The update sends only tags (nothing redeploys).
            changes.append(FieldChange(FINGERPRINT_FORMAT_PATH, "v1", "v2"))
        else:
            changes.append(FieldChange(catalogue.SECRETS.path, SENSITIVE, SENSITIVE, sensitive=True))
    return tuple(changes)


def only_format_upgrade(changes: tuple[FieldChange, ...]) -> bool:
    return bool(changes) and all(c.path == FINGERPRINT_FORMAT_PATH for c in changes)


def change_cause(desired: Desired, live: LiveEndpoint) -> str:
    """Why an owned endpoint differs: "manifest", "drift", "manifest+drift", or "unknown".

    Compares both sides with the digest recorded at the last apply: if the live fields no longer
    match it, someone changed the endpoint outside hfops; if the manifest no longer matches it,
    the manifest changed.
    """
    recorded = live.applied_digest
    if recorded is None:
        return "unknown"
    manifest_changed = fields_digest(desired_fields(desired), desired.secrets_fingerprint) != recorded
    drifted = fields_digest(_comparable_live(desired, live), live.secrets_fingerprint) != recorded
    if manifest_changed and drifted:
        return "manifest+drift"
    if drifted:
        return "drift"
    return "manifest" if manifest_changed else "unknown"
