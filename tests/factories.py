"""Test factories, in one place: manifests as users write them, live endpoints as the API describes them.

`endpoint_manifest(name, namespace, ...)` is the one text of a small CPU endpoint manifest that
the suites vary (extra spec lines, another repository or compute); test files name their own
variant of it (`GENSTUDIO_KEY_FROM_ENV`, a secret, ...) in a line.

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


CPU_COMPUTE = "{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}"
# Spec lines giving an endpoint the GenStudio key from the environment.
GENSTUDIO_KEY_FROM_ENV = "  genstudio:\n    apiKey: {fromEnv: GENSTUDIO_API_KEY}\n"


def endpoint_manifest(
    name: str,
    namespace: str | None = "acme",
    *,
    repository: str = "gpt2",
    compute: str = CPU_COMPUTE,
    extra: str = "",
) -> str:
    """One `kind: Endpoint` document; `extra` is appended to `spec` (indented two spaces)."""
    namespace_line = f"  namespace: {namespace}\n" if namespace else ""
    return (
        "apiVersion: hfops/v1\nkind: Endpoint\nmetadata:\n"
        f"  name: {name}\n{namespace_line}"
        f"spec:\n  model:\n    repository: {repository}\n  compute: {compute}\n{extra}"
    )


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


# What a person creating a small CPU text-generation endpoint by hand (UI, script) would send.
HANDMADE_ENDPOINT: dict[str, Any] = {
    "repository": "gpt2",
    "framework": "pytorch",
    "accelerator": "cpu",
    "instance_size": "x1",
    "instance_type": "intel-icl",
    "region": "us-east-1",
    "vendor": "aws",
    "task": "text-generation",
}


def create_outside_hfops(api: Any, name: str, *, namespace: str = "acme", **changes: Any) -> Any:
    """Create `namespace/name` with huggingface_hub directly, as someone not using hfops would;
    `changes` override or add `create_inference_endpoint` arguments (env, custom_image, token, ...)."""
    return api.create_inference_endpoint(name, namespace=namespace, **{**HANDMADE_ENDPOINT, **changes})
