"""Test factories, in one place: live endpoints as the API would describe them.

`live_endpoint(desired, **changes)` builds the API object that a fully applied `desired` endpoint
would have (the create body the catalogue derives, plus status), parses it with the same code that
reads real API answers (`LiveEndpoint.from_api`), then applies `changes`: run-state attributes
(state, url, tags, ...) as they are, and owned fields by `EndpointSpec` attribute name
(`max_replica=4`, `region="eu-west-1"`, `env=(...)`, `secret_keys=()`, `image=LiveImage(...)`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from hfops.core import fields as catalogue
from hfops.core.diff import Desired
from hfops.core.model import LiveEndpoint


class LiveImage(NamedTuple):
    variant: str
    url: str | None
    max_input_tokens: int | None
    max_total_tokens: int | None


# hfops' own files in a credentials directory, beside the credentials.
BOOKKEEPING = (".gitignore", ".hfops-ledger")

RUN_STATE = {
    "namespace",
    "name",
    "state",
    "message",
    "url",
    "tags",
    "task",
    "ready_replica",
    "target_replica",
    "updated_at",
    "health_route",
}
_BY_ATTRIBUTE = {f.attribute: f for f in catalogue.FIELDS}


def live_endpoint(desired: Desired, **changes: Any) -> LiveEndpoint:
    spec = desired.spec
    raw = catalogue.create_body(desired, {k: "(secret)" for k, _ in spec.secrets}, list(desired.tags))
    raw["status"] = {
        "state": "running",
        "message": None,
        "url": f"https://{spec.name}.us-east-1.aws.endpoints.huggingface.cloud",
        "readyReplica": 1,
        "targetReplica": 1,
        "updatedAt": "2025-01-01T00:00:00Z",
    }
    if desired.revision_sha is not None:
        raw["model"]["revision"] = desired.revision_sha
    current = LiveEndpoint.from_api(raw, namespace=spec.namespace or "")
    fields = current.field_values
    run_state: dict[str, Any] = {}
    for attribute, value in changes.items():
        if attribute in RUN_STATE:
            run_state[attribute] = value
        elif attribute == "env":
            fields = {k: v for k, v in fields.items() if not k.startswith("env.")}
            fields.update((f"env.{k}", v) for k, v in value)
        elif attribute == "secret_keys":
            fields = {k: v for k, v in fields.items() if not k.startswith("secrets.")}
            fields.update((f"secrets.{k}", catalogue.SENSITIVE) for k in value)
        elif attribute == "image":
            run_state["image_variant"] = value.variant
            fields[catalogue.IMAGE_URL.path] = value.url if value.variant == "tgi" else f"<{value.variant} image>"
            fields[catalogue.MAX_INPUT_TOKENS.path] = value.max_input_tokens
            fields[catalogue.MAX_TOTAL_TOKENS.path] = value.max_total_tokens
        else:
            fields[_BY_ATTRIBUTE[attribute].path] = value
    return replace(current, fields=tuple(sorted(fields.items())), **run_state)
