"""Frozen values for the desired state (from manifests) and the live state (from the API).

Pure data: nothing here performs I/O. `EndpointSpec` is what a manifest asks for; `LiveEndpoint`
is the *essence* of what the API returned, reduced to the fields hfops owns, so that server-side
defaults and bookkeeping never show up as drift. Secret values never live in these objects: a spec
only names the environment variable a secret comes from, and the live state only knows secret keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfops.errors import Location

API_VERSION = "hfops/v1"
OWNERSHIP_TAG = "hfops-managed"
# Secret values cannot be read back from the API (they come back redacted), so hfops records a
# salted fingerprint of the values it sent in a tag, and compares fingerprints, never values.
SECRETS_TAG_PREFIX = "hfops-secrets-"
# A digest of the owned fields as last applied (like kubectl's last-applied annotation): it tells a
# manifest change from a change made outside hfops ("drift") without storing any field value.
APPLIED_TAG_PREFIX = "hfops-applied-"
BOOKKEEPING_PREFIXES = (SECRETS_TAG_PREFIX, APPLIED_TAG_PREFIX)
DEFAULT_TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.6"
DEFAULT_SCALE_TO_ZERO_MINUTES = 15
DEFAULT_TYPE = "authenticated"
TASK = "text-generation"
FRAMEWORK = "pytorch"
HEALTH_ROUTE = "/health"


@dataclass(frozen=True)
class FromEnv:
    """A value read at run time from hfops' own environment; the manifest holds only the name."""

    env_var: str

    def __repr__(self) -> str:
        return f"FromEnv({self.env_var!r})"


@dataclass(frozen=True)
class ImageSpec:
    """The TGI container and its token limits (`model.image.tgi` in the API)."""

    url: str = DEFAULT_TGI_IMAGE
    max_input_tokens: int | None = None
    max_total_tokens: int | None = None


@dataclass(frozen=True)
class GenStudioSpec:
    """How to build the GenStudio credential for the endpoint."""

    api_key: FromEnv | None = None
    context_window: int | None = None
    file: str | None = None


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
    # Where each field was written, for errors found after loading (dotted path -> location).
    locations: tuple[tuple[str, Location], ...] = field(default=(), repr=False, compare=False)

    @property
    def address(self) -> str:
        return f"{self.namespace or '?'}/{self.name}"

    def location_of(self, path: str) -> Location:
        """The location of a dotted field path, or of the closest enclosing field written."""
        table = dict(self.locations)
        probe = path
        while probe:
            if probe in table:
                return Location(table[probe].file, table[probe].line, path)
            probe = probe.rpartition(".")[0]
        return Location(self.source.file, self.source.line, path)


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
class LiveImage:
    variant: str
    url: str | None
    max_input_tokens: int | None
    max_total_tokens: int | None


@dataclass(frozen=True)
class LiveEndpoint:
    """The essence of an endpoint as the API returns it."""

    namespace: str
    name: str
    state: str
    message: str | None
    url: str | None
    repository: str
    revision: str | None
    task: str | None
    vendor: str
    region: str
    accelerator: str
    instance_type: str
    instance_size: str
    min_replica: int
    max_replica: int
    scale_to_zero_timeout: int | None
    type: str
    image: LiveImage
    env: tuple[tuple[str, str], ...]
    secret_keys: tuple[str, ...]
    tags: tuple[str, ...]
    ready_replica: int
    target_replica: int
    updated_at: str
    health_route: str = HEALTH_ROUTE

    @property
    def address(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def owned(self) -> bool:
        return OWNERSHIP_TAG in self.tags

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
