"""The field catalogue: one declaration per field hfops owns on an endpoint.

Each entry says where the field is written in a manifest (below `spec`), which `EndpointSpec`
attribute holds it, where the Inference Endpoints API keeps it, whether a change is made in place
or re-creates the endpoint, and whether its value is sensitive. Everything else is derived from
this table: reading a manifest (`spec_builder._to_spec`), the live essence of an API object
(`live_from_raw`), the diff (`desired_fields` / `live_fields`), the create and update bodies
(`create_body` / `update_body`) and `hfops import` (`manifest_spec_for`).

Adding a plain field means: the schema, the `EndpointSpec` attribute, and one `Field` below.

Three kinds of field:
- `value`: one scalar at one API path;
- `map`: a mapping whose keys are fields of their own (`env.KEY`), sent whole;
- `secret-keys`: like `map`, but only the keys are known; values come from the environment when
  sent and are compared by fingerprint, never by value.
A field may belong to an API *group* that the API replaces whole (the TGI image): any change to
one of its fields sends the whole group.

Image fields are read inside the live image variant (`image_variant`). hfops always sends the
`tgi` variant; it reads as its own image a `tgi` one, and a `custom` one whose url is TGI served as
hfops serves it (`managed_tgi_url`: port 80, /health, no registry credentials), url as `image.url`.
The `huggingface` (default) variant has no url: TGI at the service's version, read as
SERVICE_DEFAULT_IMAGE, never as DEFAULT_TGI_IMAGE (the versions differ). A manifest that writes no
image field pins no version and counts it as no change (`keeps_service_image`, used by the diff;
this is what `hfops import` writes); any image field written makes the url a change. Any other
variant reads as `<variant image>`, a change from every url a manifest can name.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal, Protocol, TypeGuard

# The catalogue is the bottom of the core: it imports nothing from hfops, and `model` builds on it.
EndpointSpec = Any  # hfops.core.model.EndpointSpec; fields are read from it by attribute name
DEFAULT_TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.6"
DEFAULT_SCALE_TO_ZERO_MINUTES = 15
DEFAULT_TYPE = "authenticated"
SENSITIVE = "(sensitive value)"
# The API's old name for `authenticated` (a Hugging Face token needed): older endpoints may still
# report it (reference §9 U11); hfops reads it as `authenticated`, so it is neither drift nor imported.
LEGACY_AUTHENTICATED = "protected"
# Held at a `secret-keys` field's path when the API answer shows no secret keys (no mapping, or an
# empty one): the service may not echo them on GET (reference §9 U5), so "none" and "not shown"
# cannot be told apart; the secrets fingerprint tag then says what hfops last sent.
NOT_ECHOED = "(not echoed by the API)"
# What `image.url` reads as for the API's `huggingface` image variant: the service's default
# container, which for a text-generation model is TGI at a version the service picks (3.3.7 in
# the emulator) and does not report. It is no url a manifest can name, so hfops never calls it
# DEFAULT_TGI_IMAGE (the versions differ); see `keeps_service_image` for when it is no change.
SERVICE_DEFAULT_IMAGE = "(the service's default image)"
FRAMEWORK = "pytorch"
TASK = "text-generation"
HEALTH_ROUTE = "/health"
TGI_PORT = 80
IMAGE_GROUP = ("model", "image")

Kind = Literal["value", "map", "secret-keys"]


class DesiredValues(Protocol):
    """What the catalogue needs of a desired endpoint (`diff.Desired`)."""

    @property
    def spec(self) -> EndpointSpec: ...
    @property
    def revision_sha(self) -> str | None: ...


class _Unowned:
    """A field the manifest leaves to the service (no `revision`: the repository's default)."""

    def __repr__(self) -> str:
        return "UNOWNED"


UNOWNED: Any = _Unowned()
REQUIRED: Any = object()


@dataclass(frozen=True)
class Derived:
    """A default that depends on other values of the same manifest (by EndpointSpec attribute)."""

    rule: Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Field:
    path: str  # below `spec` in a manifest, and the name users read in plans: scaling.minReplica
    attribute: str  # EndpointSpec attribute; dotted for a nested value object (image.max_total_tokens)
    api: tuple[str, ...]  # where the API object keeps it (inside the image variant for image fields)
    default: Any = REQUIRED  # when the manifest leaves it out
    kind: Kind = "value"
    replace: bool = False  # a change cannot be made in place: the endpoint is re-created
    sensitive: bool = False
    group: tuple[str, ...] | None = None  # API subtree replaced whole when any of its fields changes
    # Overrides, for fields whose desired value is not the manifest's value as written:
    desired: Callable[[DesiredValues], Any] | None = None
    # `attribute` read by C (operator.attrgetter takes dotted names): a plan reads ~18 fields of
    # each of thousands of endpoints.
    _get: Callable[[Any], Any] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_get", operator.attrgetter(self.attribute))

    @property
    def name(self) -> str:
        """The field's own key, as a user writes it: scaleToZeroTimeout."""
        return self.path.rpartition(".")[2]

    @property
    def manifest_path(self) -> str:
        return f"spec.{self.path}"

    def spec_value(self, spec: EndpointSpec) -> Any:
        return self._get(spec)

    def desired_value(self, desired: DesiredValues) -> Any:
        return self.desired(desired) if self.desired is not None else self.spec_value(desired.spec)

    def live_value(self, raw: Mapping[str, Any]) -> Any:
        node: Any = raw
        for key in self.api:
            node = node.get(key) if type(node) is dict or isinstance(node, Mapping) else None  # see _is_mapping
        return node


def _revision(desired: DesiredValues) -> Any:
    # The commit the plan resolved; without a revision in the manifest the field is not owned.
    return desired.revision_sha if desired.revision_sha is not None else UNOWNED


REPOSITORY = Field("model.repository", "repository", ("model", "repository"))
REVISION = Field("model.revision", "revision", ("model", "revision"), default=None, desired=_revision)
VENDOR = Field("compute.vendor", "vendor", ("provider", "vendor"), replace=True)
REGION = Field("compute.region", "region", ("provider", "region"), replace=True)
ACCELERATOR = Field("compute.accelerator", "accelerator", ("compute", "accelerator"))
INSTANCE_TYPE = Field("compute.instanceType", "instance_type", ("compute", "instanceType"))
INSTANCE_SIZE = Field("compute.instanceSize", "instance_size", ("compute", "instanceSize"))
MIN_REPLICA = Field("scaling.minReplica", "min_replica", ("compute", "scaling", "minReplica"), default=0)
MAX_REPLICA = Field("scaling.maxReplica", "max_replica", ("compute", "scaling", "maxReplica"), default=1)
SCALE_TO_ZERO_TIMEOUT = Field(
    "scaling.scaleToZeroTimeout",
    "scale_to_zero_timeout",
    ("compute", "scaling", "scaleToZeroTimeout"),
    # Scale to zero is the default setup: a timeout when minReplica is 0, none otherwise.
    default=Derived(lambda read: DEFAULT_SCALE_TO_ZERO_MINUTES if read.get("min_replica") == 0 else None),
)
TYPE = Field("type", "type", ("type",), default=DEFAULT_TYPE)
IMAGE_URL = Field(
    "image.url",
    "image.url",
    ("url",),
    default=DEFAULT_TGI_IMAGE,
    group=IMAGE_GROUP,
)
# Recorded beside image.url (ImageSpec.url_written): whether the manifest wrote it (`keeps_service_image`).
URL_WRITTEN = "image.url_written"
MAX_INPUT_TOKENS = Field("image.maxInputTokens", "image.max_input_tokens", ("maxInputLength",), None, group=IMAGE_GROUP)
MAX_TOTAL_TOKENS = Field("image.maxTotalTokens", "image.max_total_tokens", ("maxTotalTokens",), None, group=IMAGE_GROUP)
QUANTIZE = Field("image.quantize", "image.quantize", ("quantize",), None, group=IMAGE_GROUP)
ENV = Field("env", "env", ("model", "env"), default=(), kind="map")
SECRETS = Field("secrets", "secrets", ("model", "secrets"), default=(), kind="secret-keys", sensitive=True)

FIELDS: tuple[Field, ...] = (
    REPOSITORY,
    REVISION,
    VENDOR,
    REGION,
    ACCELERATOR,
    INSTANCE_TYPE,
    INSTANCE_SIZE,
    MIN_REPLICA,
    MAX_REPLICA,
    SCALE_TO_ZERO_TIMEOUT,
    TYPE,
    IMAGE_URL,
    MAX_INPUT_TOKENS,
    MAX_TOTAL_TOKENS,
    QUANTIZE,
    ENV,
    SECRETS,
)
TAGS_PATH = "tags"
_BY_PATH = {f.path: f for f in FIELDS}
_SECTIONS = {top: i for i, top in enumerate(dict.fromkeys(f.path.partition(".")[0] for f in FIELDS))}


def field_for(path: str) -> Field | None:
    """The catalogue entry of a diff path (`env.KEY` belongs to `env`), or None (tags, secrets)."""
    found = _BY_PATH.get(path)
    if found is None and "." in path:
        found = _BY_PATH.get(path.partition(".")[0])
        if found is not None and found.kind == "value":
            return None
    return found


def field_order(path: str) -> tuple[int, str]:
    """Plan order: by section (model, compute, scaling, type, image, env, secrets, then tags) in
    catalogue order, alphabetically within a section."""
    return (_SECTIONS.get(path.partition(".")[0], len(_SECTIONS)), path)


def replaces(path: str) -> bool:
    owner = field_for(path)
    return owner is not None and owner.replace


def is_sensitive(path: str) -> bool:
    owner = field_for(path)
    return path == SECRETS.path or (owner is not None and owner.sensitive)


# -- reading a manifest --------------------------------------------------------------------------


def read_manifest_values(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The `value` fields of a manifest's `spec` mapping (schema-checked), by EndpointSpec attribute.

    Nested attributes come back dotted (`image.url`); the caller builds the value objects.
    """
    read: dict[str, Any] = {}
    derived: list[Field] = []
    for field in FIELDS:
        if field.kind != "value":
            continue
        node: Any = spec
        for key in field.path.split("."):
            node = node.get(key, REQUIRED) if isinstance(node, Mapping) else REQUIRED
        if field is IMAGE_URL:
            read[URL_WRITTEN] = node is not REQUIRED
        if node is REQUIRED and isinstance(field.default, Derived):
            derived.append(field)
            continue
        if node is REQUIRED:
            if field.default is REQUIRED:
                raise KeyError(field.manifest_path)  # the schema requires it: a bug if reached
            node = field.default
        read[field.attribute] = node
    for field in derived:
        read[field.attribute] = field.default.rule(read)
    return read


# -- flattening for the diff --------------------------------------------------------------------


def desired_fields(desired: DesiredValues) -> dict[str, object]:
    """Every field the manifest owns, by manifest path (tags excluded)."""
    fields: dict[str, object] = {}
    for field in FIELDS:
        value = field.desired_value(desired)
        if value is UNOWNED:
            continue
        if field.kind == "value":
            fields[field.path] = value
        elif field.kind == "map":
            fields.update((f"{field.path}.{k}", v) for k, v in value)
        else:
            fields.update((f"{field.path}.{k}", SENSITIVE) for k, _ in value)
    return fields


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    # `type(...) is dict` first: an answer's JSON is made of dicts, and the ABC check alone was a
    # third of decoding a list of endpoints.
    return type(value) is dict or isinstance(value, Mapping)


def image_variant(raw: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    image = ((raw.get("model") or {}).get("image")) or {}
    variant = next(iter(image), "huggingface") if _is_mapping(image) else "huggingface"
    body = image.get(variant) if _is_mapping(image) else None
    return str(variant), body if _is_mapping(body) else {}


def managed_tgi_url(variant: str, image: Mapping[str, Any]) -> str | None:
    """The url of an image hfops can hold as its own `tgi` image, or None.

    The `tgi` variant, and a `custom` one whose url is a TGI image served the way hfops serves TGI
    (port 80, /health, no registry credentials): huggingface_hub's documented pattern
    `custom_image={"url": "ghcr.io/huggingface/text-generation-inference:...", "health_route":
    "/health", "port": 80}` is stored that way. Such a custom image is the same container as the
    `tgi` image of the same url; its TGI limits, if any, sit in env (read as env). hfops writes
    the `tgi` variant when it next sends the image (an image field change, shown in the plan).
    """
    url = image.get("url")
    if variant == "tgi":
        return str(url) if url is not None else None
    if variant != "custom" or not isinstance(url, str) or "text-generation-inference" not in url:
        return None
    route = image.get("healthRoute", image.get("health_route", HEALTH_ROUTE))
    if image.get("port", TGI_PORT) != TGI_PORT or route != HEALTH_ROUTE or image.get("credentials"):
        return None  # another port, route or a private registry: not what hfops would send
    return url


def keeps_service_image(spec: EndpointSpec, live: Mapping[str, object], task: object) -> bool:
    """Whether a live `huggingface` (default) image is no change for `spec`.

    True only when the manifest writes no image field at all (no url, no limits, no quantize) and
    the endpoint is a text-generation one on the service's default image, i.e. TGI at the
    service's version. Such a manifest pins no TGI version: hfops creates with DEFAULT_TGI_IMAGE
    and leaves an existing default image alone. This is what `hfops import` writes for it. Any
    image field written in the manifest makes the url a change too (the image is sent whole).
    """
    image = spec.image
    written = (image.max_input_tokens, image.max_total_tokens, image.quantize)
    pinned = image.url_written or any(v is not None for v in written)
    return live.get(IMAGE_URL.path) == SERVICE_DEFAULT_IMAGE and task == TASK and not pinned


def read_live_fields(
    raw: Mapping[str, Any], variant_image: tuple[str, Mapping[str, Any]] | None = None
) -> dict[str, object]:
    """The owned fields of an API endpoint object, by manifest path, values as the API holds them
    (`variant_image`: its `image_variant`, if the caller has it already)."""
    variant, image = variant_image or image_variant(raw)
    fields: dict[str, object] = {}
    for field in FIELDS:
        if field.group == IMAGE_GROUP:
            value = field.live_value(image)
            if field is IMAGE_URL:
                # Not a TGI image hfops can hold: a marker that differs from any url a manifest names.
                value = SERVICE_DEFAULT_IMAGE if variant == "huggingface" else managed_tgi_url(variant, image)
                value = value or f"<{variant} image>"
            fields[field.path] = value
        elif field.kind == "value":
            fields[field.path] = field.live_value(raw)
        else:
            mapping = field.live_value(raw)
            if not mapping and field.kind == "secret-keys":
                fields[field.path] = NOT_ECHOED
            elif _is_mapping(mapping):
                for key, item in mapping.items():
                    fields[f"{field.path}.{key}"] = SENSITIVE if field.kind == "secret-keys" else str(item)
    if fields.get(TYPE.path) == LEGACY_AUTHENTICATED:
        fields[TYPE.path] = "authenticated"  # the same access under its old name (U11): not a change
    return fields


def map_items(fields: Mapping[str, object], field: Field) -> tuple[tuple[str, str], ...]:
    prefix = field.path + "."
    return tuple(sorted((p[len(prefix) :], str(v)) for p, v in fields.items() if p.startswith(prefix)))


# -- API bodies -----------------------------------------------------------------------------------


def tgi_image(spec: EndpointSpec) -> dict[str, Any]:
    """The `model.image` body: always the `tgi` variant, complete (the API replaces it whole)."""
    body: dict[str, Any] = {"healthRoute": HEALTH_ROUTE, "port": TGI_PORT}
    for field in FIELDS:
        if field.group == IMAGE_GROUP:
            value = field.spec_value(spec)
            if value is not None:
                _put(body, field.api, value)
    return {"tgi": body}


def _put(node: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _body_value(field: Field, desired: DesiredValues, secrets: Mapping[str, str]) -> Any:
    if field.kind == "secret-keys":
        return dict(secrets)
    value = field.desired_value(desired)
    return dict(value) if field.kind == "map" else value


def create_body(desired: DesiredValues, secrets: Mapping[str, str], tags: list[str]) -> dict[str, Any]:
    """The whole endpoint object to create, in the API's own shape."""
    spec = desired.spec
    body: dict[str, Any] = {"name": spec.name, "type": spec.type}
    for field in FIELDS:
        if field.group is not None:
            continue
        value = _body_value(field, desired, secrets)
        if value is UNOWNED or value is None or (field.kind != "value" and not value):
            continue
        _put(body, field.api, value)
    _put(body, IMAGE_GROUP, tgi_image(spec))
    _put(body, ("model", "framework"), FRAMEWORK)
    _put(body, ("model", "task"), TASK)
    body["tags"] = tags
    return body


def update_body(desired: DesiredValues, paths: set[str], secrets: Mapping[str, str], tags: list[str]) -> dict[str, Any]:
    """The PUT body for the changed `paths`: only what changed (groups and maps whole), plus the tags."""
    body: dict[str, Any] = {}
    for path in paths:
        if path == SECRETS.path:  # same keys, other values: the fingerprint told
            _put(body, SECRETS.api, dict(secrets))
            continue
        field = field_for(path)
        if field is None:
            continue
        if field.group == IMAGE_GROUP:
            _put(body, IMAGE_GROUP, tgi_image(desired.spec))
        else:
            value = _body_value(field, desired, secrets)
            _put(body, field.api, None if value is UNOWNED else value)
    # Tags always go along: besides ownership they carry the digest of what is being applied
    # (drift detection) and the secrets fingerprint; the API replaces the list whole.
    body["tags"] = tags
    return body


def walk_body(body: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(API path, value) of every leaf of a body, groups and maps as leaves."""
    groups = {IMAGE_GROUP, *(f.api for f in FIELDS if f.kind != "value"), ("tags",)}
    for key, value in body.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and path not in groups:
            yield from walk_body(value, path)
        else:
            yield path, value


# -- import ---------------------------------------------------------------------------------------


def manifest_spec_for(fields: Mapping[str, object]) -> dict[str, Any]:
    """The manifest `spec` mapping for live field values (unset values and defaults left out)."""
    spec: dict[str, Any] = {}
    for field in FIELDS:
        if field.kind == "value":
            value = fields.get(field.path)
            if value is None:
                continue
            _put(spec, tuple(field.path.split(".")), value)
        elif field.kind == "map":
            items = map_items(fields, field)
            if items:
                spec[field.path] = dict(items)
        else:
            keys = [k for k, _ in map_items(fields, field)]
            if keys:
                spec[field.path] = {key: {"fromEnv": key} for key in keys}
    return spec
