"""The CustomResourceDefinition of `endpoints.hfops.dev`, generated from schemas/endpoint.schema.json.

The resource's `spec` schema is the manifest schema's `spec`, converted to a Kubernetes structural
OpenAPI v3 schema (refs inlined; `const` as a one-value enum; keywords Kubernetes refuses dropped:
`$comment`, `propertyNames`, `additionalProperties: false` beside `properties` (Kubernetes prunes
unknown fields instead), defaults (hfops applies its own, so a stored spec stays as written);
multi-type values as `x-kubernetes-preserve-unknown-fields`), plus `hfNamespace` and
`deletionPolicy`. The operator validates every resource against the full JSON Schema anyway.

`defaults.hfops.dev` (`kind: Defaults`): its `spec` is a Defaults document's `spec`, the same
fields with none required; Endpoint resources of its Kubernetes namespace inherit from it.

`python -m hfops.operator.crd > deploy/crd.yaml` regenerates the committed file;
tests/operator/test_crd.py fails when the two differ.
"""

from __future__ import annotations

import copy
import json
import sys
from importlib import resources
from typing import Any

from hfops.operator.resource import (
    DEFAULTS_KIND,
    DEFAULTS_PLURAL,
    DELETION_POLICIES,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
)

_DROPPED = ("$comment", "propertyNames", "default", "$schema", "$id", "title", "examples")


def manifest_schema() -> dict[str, Any]:
    text = resources.files("hfops").joinpath("schemas/endpoint.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = node["$ref"].split("/")[-1]
        merged = {**copy.deepcopy(defs[target]), **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
            continue
        if key == "additionalProperties":
            if value is False:
                continue
            out[key] = _structural(value, defs) if isinstance(value, dict) else value
            continue
        out[key] = _structural(value, defs)
    if isinstance(out.get("type"), list):
        out.pop("type")
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "type" not in out and "enum" in out and all(isinstance(v, str) for v in out["enum"]):
        out["type"] = "string"
    if "type" not in out and ("properties" in out or "additionalProperties" in out):
        out["type"] = "object"
    return out


HF_NAMESPACE_IMMUTABLE = (
    "spec.hfNamespace cannot change: the endpoint lives there; delete the resource (its endpoint goes "
    "with it) and create it anew in the other namespace"
)


def spec_schema() -> dict[str, Any]:
    schema = manifest_schema()
    spec = _structural(schema["properties"]["spec"], schema.get("$defs", {}))
    spec["properties"]["hfNamespace"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 96,
        "description": "The Inference Endpoints namespace (user or organisation); else the operator's "
        "--hf-namespace. Fixed once set: another namespace would be a second endpoint.",
        # Refused by the API server on a cluster with CEL validation (Kubernetes 1.25+); the
        # operator refuses the change too (InvalidSpec) where the server does not.
        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": HF_NAMESPACE_IMMUTABLE}],
    }
    secret_key_ref = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 253},
            "key": {"type": "string", "minLength": 1, "maxLength": 253},
        },
    }
    spec["properties"]["hfTokenSecretRef"] = {
        **secret_key_ref,
        "description": "A Secret of this namespace holding this resource's Hugging Face token (key default "
        "token), in place of the operator's HF_TOKEN.",
    }
    api_key = spec["properties"]["genstudio"]["properties"]["apiKey"]
    api_key.pop("required", None)  # fromEnv or fromSecret (the operator checks it is exactly one)
    api_key["properties"]["fromSecret"] = {
        **secret_key_ref,
        "required": ["name", "key"],
        "description": "A key of a Secret of this namespace holding the GenStudio api_key.",
    }
    spec["properties"]["deletionPolicy"] = {
        "type": "string",
        "enum": list(DELETION_POLICIES),
        "description": "Delete (default): deleting the resource deletes the endpoint; Orphan: it is kept.",
    }
    return dict(spec)


STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "state": {"type": "string", "nullable": True},
        "url": {"type": "string", "nullable": True},
        "hfNamespace": {"type": "string", "nullable": True},
        "credentialSecret": {"type": "string", "nullable": True},
        "observedGeneration": {"type": "integer", "nullable": True},
        "replicas": {
            "type": "object",
            "nullable": True,
            "properties": {"ready": {"type": "integer"}, "target": {"type": "integer"}},
        },
        "conditions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "status"],
                "properties": {
                    "type": {"type": "string"},
                    "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                    "reason": {"type": "string"},
                    "message": {"type": "string"},
                    "lastTransitionTime": {"type": "string", "format": "date-time"},
                    "observedGeneration": {"type": "integer", "nullable": True},
                },
            },
        },
    },
}


def crd() -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {"name": "HF-Namespace", "type": "string", "jsonPath": ".status.hfNamespace", "priority": 1},
        {"name": "State", "type": "string", "jsonPath": ".status.state"},
        {"name": "URL", "type": "string", "jsonPath": ".status.url"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            "priority": 1,
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _definition(
        KIND,
        PLURAL,
        description="A Hugging Face Inference Endpoint (TGI) managed by hfops (contract §6).",
        properties={"spec": spec_schema(), "status": STATUS_SCHEMA},
        columns=columns,
        short_names=["hfe"],
        status=True,
    )


def _definition(
    kind: str,
    plural: str,
    *,
    description: str,
    properties: dict[str, Any],
    columns: list[dict[str, Any]],
    short_names: list[str] | None = None,
    status: bool = False,
) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition of group hfops.dev, one served and stored version."""
    names: dict[str, Any] = {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"}
    if short_names:
        names["shortNames"] = short_names
    names["categories"] = ["hfops"]
    version: dict[str, Any] = {"name": VERSION, "served": True, "storage": True}
    if status:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = columns
    version["schema"] = {
        "openAPIV3Schema": {
            "type": "object",
            "description": description,
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                **properties,
            },
        }
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/name": "hfops"}},
        "spec": {"group": GROUP, "scope": "Namespaced", "names": names, "versions": [version]},
    }


def defaults_spec_schema() -> dict[str, Any]:
    """A Defaults resource's spec: the manifest spec's fields, none required (as schema.defaults_schema)."""
    schema = manifest_schema()
    spec = _structural(schema["properties"]["spec"], schema.get("$defs", {}))

    def optional(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("required", None)
            for value in node.values():
                optional(value)
        elif isinstance(node, list):
            for value in node:
                optional(value)

    optional(spec)
    return dict(spec)


def defaults_crd() -> dict[str, Any]:
    return _definition(
        DEFAULTS_KIND,
        DEFAULTS_PLURAL,
        description="Defaults for every hfops.dev Endpoint of this namespace, as a "
        "manifest's kind: Defaults document (contract §6).",
        properties={"spec": defaults_spec_schema()},
        columns=[{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
    )


HEADER = "# Generated by `python -m hfops.operator.crd` from hfops/schemas/endpoint.schema.json: do not edit.\n"


def render() -> str:
    import yaml

    return HEADER + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=120) for d in (crd(), defaults_crd()))


if __name__ == "__main__":
    sys.stdout.write(render())
