"""Frozen values for the desired state (from manifests) and the live state (from the API).

Pure data: nothing here performs I/O. `EndpointSpec` is what a manifest asks for; `LiveEndpoint`
is the *essence* of what the API returned, reduced to the fields hfops owns, so that server-side
defaults and bookkeeping never show up as drift. Secret values never live in these objects: a spec
only names the environment variable a secret comes from, and the live state only knows secret keys.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from hfops.core import fields as catalogue
from hfops.core.errors import Location
from hfops.core.fields import (
    DEFAULT_SCALE_TO_ZERO_MINUTES,
    DEFAULT_TGI_IMAGE,
    DEFAULT_TYPE,
    FRAMEWORK,
    HEALTH_ROUTE,
    TASK,
)

API_VERSION = "hfops/v1"
DEFAULT_REVISION = "main"  # what the Hub serves when no revision is named
OWNERSHIP_TAG = "hfops-managed"
# Which manifest set manages the endpoint (contract §4, `--owner ID` / HFOPS_OWNER): several
# pipelines can share a namespace, and each prunes and destroys only its own. An endpoint with the
# ownership tag but no owner tag was created before owners existed and belongs to DEFAULT_OWNER.
OWNER_TAG_PREFIX = "hfops-owner-"
DEFAULT_OWNER = "default"
# An owner ID becomes part of a tag: letters, digits, '.', '_', '-', starting with a letter or digit,
# short enough that the tag stays within the 64 characters a user tag may have.
OWNER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,47}"
# Secret values cannot be read back from the API (they come back redacted), so hfops records a
# salted fingerprint of the values it sent in a tag, and compares fingerprints, never values.
# The current format is `hfops-secrets-v2-<16 hex>` (memory-hard, see diff.secrets_fingerprint); a
# fingerprint without the version is the old v1 format (one salted SHA-256, brute-forceable).
SECRETS_TAG_PREFIX = "hfops-secrets-"
SECRETS_FINGERPRINT_VERSION = "v2-"
# A digest of the owned fields as last applied (like kubectl's last-applied annotation): it tells a
# manifest change from a change made outside hfops ("drift") without storing any field value.
APPLIED_TAG_PREFIX = "hfops-applied-"
BOOKKEEPING_PREFIXES = (SECRETS_TAG_PREFIX, APPLIED_TAG_PREFIX, OWNER_TAG_PREFIX)
__all__ = ["DEFAULT_SCALE_TO_ZERO_MINUTES", "DEFAULT_TGI_IMAGE", "DEFAULT_TYPE", "FRAMEWORK", "HEALTH_ROUTE", "TASK"]


@dataclass(frozen=True)
class FromEnv:
    """A value read at run time from hfops' own environment; the manifest holds only the name."""

    env_var: str

    def __repr__(self) -> str:
        return f"FromEnv({self.env_var!r})"


@dataclass(frozen=True)
class ImageSpec:
    """The TGI container and its token limits (`model.image.tgi` in the API).

    `url_written` False: the manifest names no url; DEFAULT_TGI_IMAGE is what hfops creates with,
    and an endpoint on the service's default image is kept (`fields.keeps_service_image`).
    """

    url: str = DEFAULT_TGI_IMAGE
    max_input_tokens: int | None = None
    max_total_tokens: int | None = None
    quantize: str | None = None
    url_written: bool = field(default=False, compare=False)  # not a value: where the url came from


@dataclass(frozen=True)
class FileOutput:
    """A credential file, relative to --credentials-dir."""

    path: str

    @cached_property  # asked for several times per endpoint by every plan
    def output_id(self) -> str:
        return "file:" + posixpath.normpath(self.path.replace("\\", "/"))

    def describe(self) -> str:
        return f"file {posixpath.normpath(self.path)}"


@dataclass(frozen=True)
class SecretOutput:
    """One key of a Kubernetes Secret; `namespace` None: the kubeconfig context's namespace."""

    name: str
    namespace: str | None = None
    key: str = "credential.json"

    @cached_property
    def output_id(self) -> str:
        return f"kubernetesSecret:{self.namespace or ''}/{self.name}#{self.key}"

    def describe(self) -> str:
        return f"kubernetes secret {self.namespace or '(context namespace)'}/{self.name} key {self.key}"


@dataclass(frozen=True)
class CommandOutput:
    """A command that receives the credential JSON on stdin (HFOPS_CREDENTIAL_ACTION=write|delete)."""

    argv: tuple[str, ...]

    @cached_property
    def output_id(self) -> str:
        return "command:" + json.dumps(list(self.argv), separators=(",", ":"))

    def describe(self) -> str:
        text = shlex.join(self.argv)
        return "command " + (text if len(text) <= 80 else text[:77] + "...")


CredentialOutput = FileOutput | SecretOutput | CommandOutput


@dataclass(frozen=True)
class GenStudioSpec:
    """How to build the GenStudio credential for the endpoint, and where it goes."""

    api_key: FromEnv | None = None
    context_window: int | None = None
    file: str | None = None  # the shorthand `genstudio.file`, as written
    outputs: tuple[CredentialOutput, ...] = ()  # resolved: never empty once a manifest is read


class FieldLocator(Protocol):
    """Where the fields of one endpoint's manifest were written (spec_builder.LayeredLocations)."""

    def locate(self, path: str) -> Location | None:
        """The location of the dotted key path `path` if a manifest layer wrote it."""
        ...

    def declares(self, path: str) -> bool:
        """Whether a manifest layer wrote `path`."""
        ...


@dataclass(frozen=True)
class EndpointSpec:
    """One desired endpoint, as a manifest declares it (defaults applied, nothing resolved)."""

    name: str
    namespace: str | None
    source: Location
    repository: str
    revision: str | None
    vendor: str
    region: str
    accelerator: str
    instance_type: str
    instance_size: str
    min_replica: int = 0
    max_replica: int = 1
    scale_to_zero_timeout: int | None = DEFAULT_SCALE_TO_ZERO_MINUTES
    type: str = DEFAULT_TYPE
    image: ImageSpec = field(default_factory=ImageSpec)
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, FromEnv], ...] = ()
    tags: tuple[str, ...] = ()
    genstudio: GenStudioSpec = field(default_factory=GenStudioSpec)
    paused: bool = False
    # Where each field was written, for errors found after loading (None: not from a manifest).
    locations: FieldLocator | None = field(default=None, repr=False, compare=False)

    @cached_property  # asked for ~11 times per endpoint by a plan (55,000 formats at 5,000)
    def address(self) -> str:
        return f"{self.namespace or '?'}/{self.name}"

    @property
    def model_key(self) -> tuple[str, str]:
        """The model this endpoint serves, as the resolver keys it: (repository, revision or main)."""
        return (self.repository, self.revision or DEFAULT_REVISION)

    def location_of(self, path: str) -> Location:
        """The location of a dotted field path, or of the closest enclosing field written."""
        probe = path
        while probe and self.locations is not None:
            found = self.locations.locate(probe)
            if found is not None:
                return Location(found.file, found.line, path)
            probe = probe.rpartition(".")[0]
        return Location(self.source.file, self.source.line, path)

    def declares(self, path: str) -> bool:
        """Whether the manifest (or a Defaults document it inherits) wrote the dotted field `path`."""
        return self.locations is not None and self.locations.declares(path)


@dataclass(frozen=True)
class ResolvedModel:
    """A model repository as the Hub describes it at plan time."""

    repository: str
    requested_revision: str
    sha: str
    pipeline_tag: str | None
    context_length: int | None  # from config.json; None if the config names none
    gated: bool = False


@dataclass(frozen=True)
class LiveEndpoint:
    """The essence of an endpoint as the API returns it: run state, tags and the owned fields.

    `fields` holds every catalogue field by manifest path, read by `from_api`; the properties
    below are conveniences over it for the checks that need a typed value.
    """

    namespace: str
    name: str
    state: str
    message: str | None
    url: str | None
    fields: tuple[tuple[str, object], ...]
    image_variant: str
    task: str | None
    tags: tuple[str, ...]
    ready_replica: int
    target_replica: int
    updated_at: str
    health_route: str = HEALTH_ROUTE
    image_source_url: str | None = None  # the image's url as the API holds it (any variant), for messages

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, namespace: str) -> LiveEndpoint:
        """Reduce the API's endpoint object to the essence hfops compares."""
        status = raw.get("status") or {}
        variant_image = catalogue.image_variant(raw)
        variant, image = variant_image
        return cls(
            namespace=namespace,
            name=str(raw["name"]),
            state=str(status.get("state") or "unknown"),
            message=status.get("message"),
            url=status.get("url") or None,
            fields=tuple(sorted(catalogue.read_live_fields(raw, variant_image).items())),
            image_variant=variant,
            task=(raw.get("model") or {}).get("task"),
            tags=tuple(str(t) for t in raw.get("tags") or ()),
            ready_replica=_int(status.get("readyReplica")),
            target_replica=_int(status.get("targetReplica")),
            updated_at=str(status.get("updatedAt") or ""),
            health_route=str(raw.get("healthRoute") or HEALTH_ROUTE),
            image_source_url=str(image["url"]) if image.get("url") is not None else None,
        )

    @cached_property
    def _field_map(self) -> dict[str, object]:
        return dict(self.fields)

    @property
    def field_values(self) -> dict[str, object]:
        """The owned fields by path (a copy: callers adjust it to compare)."""
        return dict(self._field_map)

    def value(self, field: catalogue.Field) -> Any:
        return self._field_map.get(field.path)

    @property
    def repository(self) -> str:
        return str(self.value(catalogue.REPOSITORY) or "")

    @property
    def revision(self) -> str | None:
        value = self.value(catalogue.REVISION)
        return str(value) if value is not None else None

    @property
    def vendor(self) -> str:
        return str(self.value(catalogue.VENDOR) or "")

    @property
    def region(self) -> str:
        return str(self.value(catalogue.REGION) or "")

    @property
    def accelerator(self) -> str:
        return str(self.value(catalogue.ACCELERATOR) or "")

    @property
    def instance_type(self) -> str:
        return str(self.value(catalogue.INSTANCE_TYPE) or "")

    @property
    def instance_size(self) -> str:
        return str(self.value(catalogue.INSTANCE_SIZE) or "")

    @property
    def min_replica(self) -> int:
        return _int(self.value(catalogue.MIN_REPLICA))

    @property
    def max_replica(self) -> int:
        return _int(self.value(catalogue.MAX_REPLICA), 1)

    @property
    def type(self) -> str:
        return str(self.value(catalogue.TYPE) or "")

    @property
    def image_url(self) -> str | None:
        value = self.value(catalogue.IMAGE_URL)
        # A TGI image hfops holds (`tgi`, or `custom` served as hfops serves TGI); never a marker.
        return str(value) if value is not None and not str(value).startswith(("<", "(")) else None

    @property
    def env(self) -> tuple[tuple[str, str], ...]:
        return catalogue.map_items(self._field_map, catalogue.ENV)

    @property
    def secret_keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in catalogue.map_items(self._field_map, catalogue.SECRETS))

    @property
    def secrets_echoed(self) -> bool:
        """False when the API answer did not show secret keys at all (U5): they are unknown, not absent."""
        return self._field_map.get(catalogue.SECRETS.path) != catalogue.NOT_ECHOED

    @property
    def address(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def owned(self) -> bool:
        return OWNERSHIP_TAG in self.tags

    @property
    def owner(self) -> str | None:
        """The owner identity of a managed endpoint (None: not managed by hfops at all).

        An endpoint created before owner tags existed has none and is the default owner's, so an
        upgrade keeps managing it; the owner tag is written with its next update.
        """
        if not self.owned:
            return None
        for tag in self.tags:
            if tag.startswith(OWNER_TAG_PREFIX):
                return tag[len(OWNER_TAG_PREFIX) :]
        return DEFAULT_OWNER

    def owned_by(self, owner: str) -> bool:
        return self.owner == owner

    @property
    def secrets_fingerprint(self) -> str | None:
        for tag in self.tags:
            if tag.startswith(SECRETS_TAG_PREFIX):
                return tag[len(SECRETS_TAG_PREFIX) :]
        return None

    @property
    def applied_digest(self) -> str | None:
        for tag in self.tags:
            if tag.startswith(APPLIED_TAG_PREFIX):
                return tag[len(APPLIED_TAG_PREFIX) :]
        return None

    @property
    def user_tags(self) -> tuple[str, ...]:
        return tuple(t for t in self.tags if t != OWNERSHIP_TAG and not t.startswith(BOOKKEEPING_PREFIXES))


@dataclass(frozen=True)
class Credential:
    """The GenStudio credential: exactly the four keys GenStudio reads."""

    api_key: str
    endpoint: str
    model_name: str
    context_window: int

    def to_json_dict(self) -> dict[str, object]:
        return {
            "api_key": self.api_key,
            "endpoint": self.endpoint,
            "model_name": self.model_name,
            "context_window": self.context_window,
        }

    def __repr__(self) -> str:  # never show the key, even in a traceback or debugger
        return (
            f"Credential(api_key=(sensitive value), endpoint={self.endpoint!r}, "
            f"model_name={self.model_name!r}, context_window={self.context_window})"
        )


def _int(value: object, default: int = 0) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
