"""Rules a manifest must follow that its JSON Schema cannot express, each located at its field.

Pure: per endpoint (`check_spec`: scaling, image limits, window, outputs, reserved tags) and
across the fleet (`check_fleet`: one endpoint per address, one owner per credential output).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable

from hfops.core import fields as catalogue
from hfops.core.errors import Diagnostic
from hfops.core.model import BOOKKEEPING_PREFIXES, OWNERSHIP_TAG, EndpointSpec, FileOutput, SecretOutput
from hfops.core.sensitive import looks_like_token
from hfops.core.tgi_launcher import spec_refusal

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# The temporary name a file output is written under first adds this much to the file name.
TEMPORARY_NAME_OVERHEAD = 24
NAME_MAX = 255
# Which manifest layer wrote a dotted field: 0 the endpoint's own document, higher a Defaults one.
LayerOf = Callable[[str], int]


def check_outputs(spec: EndpointSpec) -> list[Diagnostic]:
    at = spec.location_of
    problems: list[Diagnostic] = []
    if spec.genstudio.file is not None and spec.declares("spec.genstudio.outputs"):
        problems.append(
            Diagnostic(
                at("spec.genstudio.outputs"),
                "genstudio.file and genstudio.outputs are both set; file is the shorthand for one file output",
                "keep one: outputs: [{file: NAME}] or file: NAME",
            )
        )
    seen: set[str] = set()
    for index, output in enumerate(spec.genstudio.outputs):
        # Located only when a problem is found: finding a line costs a walk of the file (LazyLines).
        where_path = f"spec.genstudio.outputs[{index}]" if spec.genstudio.file is None else "spec.genstudio.file"
        if output.output_id in seen:
            problems.append(Diagnostic(at(where_path), f"{output.describe()} is listed twice"))
        seen.add(output.output_id)
        if isinstance(output, FileOutput):
            reason = credential_file_problem(output.path)
            if reason is None:
                longest = max(len(part.encode()) for part in posixpath.normpath(output.path).split("/"))
                if longest + TEMPORARY_NAME_OVERHEAD > NAME_MAX:
                    reason = (
                        f"file name component is {longest} bytes; at most {NAME_MAX - TEMPORARY_NAME_OVERHEAD} "
                        "(the filesystem allows 255, and the temporary name used for an atomic write is longer)"
                    )
            if reason:
                problems.append(Diagnostic(at(where_path), reason))
        elif isinstance(output, SecretOutput):
            if not output.name or len(output.name) > 253 or not _DNS_SUBDOMAIN.match(output.name):
                problems.append(
                    Diagnostic(
                        at(where_path), f"kubernetesSecret name {output.name!r} is not a valid Secret name (DNS-1123)"
                    )
                )
            if output.namespace is not None and not _DNS_LABEL.match(output.namespace):
                problems.append(
                    Diagnostic(at(where_path), f"kubernetesSecret namespace {output.namespace!r} is not valid")
                )
            if not _SECRET_KEY.match(output.key) or len(output.key) > 253:
                problems.append(
                    Diagnostic(at(where_path), f"kubernetesSecret key {output.key!r} is not a valid Secret key")
                )
    return problems


def check_scale_to_zero(spec: EndpointSpec, layer_of: LayerOf | None = None) -> list[Diagnostic]:
    """An idle timeout with minReplica above 0, blamed on the more specific of the two lines.

    `layer_of(field)` says which layer wrote a field (0: the endpoint's own document, higher: a
    less specific Defaults document). When minReplica is written more specifically than the
    timeout (an always-on endpoint in a scale-to-zero fleet), the endpoint's intent is clear but
    its Defaults still apply: the error is at the endpoint's minReplica line and says how to unset
    the inherited timeout there. hfops does not drop it silently: what the files say is what is
    deployed, as with Terraform and kustomize.
    """
    timeout, minimum = catalogue.SCALE_TO_ZERO_TIMEOUT, catalogue.MIN_REPLICA
    if spec.min_replica == 0 or spec.scale_to_zero_timeout is None:
        return []
    at = spec.location_of
    if layer_of is not None and layer_of(minimum.manifest_path) < layer_of(timeout.manifest_path):
        inherited = at(timeout.manifest_path)
        return [
            Diagnostic(
                at(minimum.manifest_path),
                f"{minimum.name} {spec.min_replica} keeps the endpoint always on, but it inherits "
                f"{timeout.name} {spec.scale_to_zero_timeout} from {inherited.file}:{inherited.line}",
                f"write {timeout.name}: null beside this {minimum.name} to not inherit it, "
                f"or set {minimum.name}: 0 to scale to zero when idle",
            )
        ]
    return [
        Diagnostic(
            at(timeout.manifest_path),
            f"{timeout.name} needs {minimum.name} 0 (it is {spec.min_replica})",
            f"remove {timeout.name}, or set {minimum.name}: 0 to scale to zero when idle",
        )
    ]


def check_spec(spec: EndpointSpec, *, layer_of: LayerOf | None = None) -> list[Diagnostic]:
    """Semantic rules the schema cannot express, each located at the offending field."""
    problems: list[Diagnostic] = []
    at = spec.location_of
    if spec.min_replica > spec.max_replica:
        problems.append(
            Diagnostic(
                at("spec.scaling.maxReplica"),
                f"maxReplica ({spec.max_replica}) must be at least minReplica ({spec.min_replica})",
            )
        )
    problems.extend(check_scale_to_zero(spec, layer_of))
    image = spec.image
    if image.max_input_tokens is not None and image.max_total_tokens is not None:
        if image.max_input_tokens >= image.max_total_tokens:
            problems.append(
                Diagnostic(
                    at("spec.image.maxInputTokens"),
                    f"maxInputTokens ({image.max_input_tokens}) must be below maxTotalTokens "
                    f"({image.max_total_tokens}); TGI refuses to start otherwise",
                )
            )
    if not problems or problems[-1].location.field != "spec.image.maxInputTokens":
        # The rest of TGI's launcher rules that the manifest alone decides (image and env together);
        # those needing the model's context are checked at plan time.
        refusal = spec_refusal(spec, model_known=False, model_context=None)
        if refusal is not None:
            problems.append(refusal)
    window = spec.genstudio.context_window
    if window is not None and image.max_total_tokens is not None and window > image.max_total_tokens:
        problems.append(
            Diagnostic(
                at("spec.genstudio.contextWindow"),
                f"contextWindow ({window}) is larger than image.maxTotalTokens ({image.max_total_tokens}),"
                " which is what the endpoint will serve",
            )
        )
    if spec.type == "private":
        # A private endpoint needs AWS PrivateLink settings (an account id allowed in) the API refuses
        # a create without, and its URL answers only inside that VPC: neither hfops (health, /info)
        # nor GenStudio could reach it (reference §9 U4).
        problems.append(
            Diagnostic(
                at("spec.type"),
                "type private needs AWS PrivateLink settings hfops does not manage, and a private endpoint "
                "answers only inside its VPC, where neither hfops nor GenStudio can reach it",
                "use type: authenticated (callers need a Hugging Face token) for a GenStudio endpoint",
            )
        )
    problems.extend(check_outputs(spec))
    env_keys = {k for k, _ in spec.env}
    for key, value in spec.env:
        if looks_like_token(value):
            # A plain env value is shown in plans and saved plans, and read back by `import`.
            problems.append(
                Diagnostic(
                    at(f"{catalogue.ENV.manifest_path}.{key}"),
                    f"{key} holds what looks like a token; plain env values are shown in plans, never do that",
                    f"declare it as secrets: {{{key}: {{fromEnv: ENV_VAR_NAME}}}} and set ENV_VAR_NAME",
                )
            )
    for key, _ in spec.secrets:
        if key in env_keys:
            problems.append(Diagnostic(at(f"spec.secrets.{key}"), f"{key} is both in env and in secrets; keep one"))
    for tag in spec.tags:
        if tag == OWNERSHIP_TAG or tag.startswith(BOOKKEEPING_PREFIXES):
            problems.append(Diagnostic(at("metadata.tags"), f"tag {tag!r} is reserved for hfops' own bookkeeping"))
    return problems


def credential_file_problem(file: str) -> str | None:
    """Why `file` cannot be a credential path relative to the credentials dir, or None."""
    if os.path.isabs(file) or file.startswith(("/", "\\")) or (len(file) > 1 and file[1] == ":"):
        return "file must be relative to --credentials-dir"
    normal = posixpath.normpath(file.replace("\\", "/"))
    if normal == ".." or normal.startswith("../") or normal in (".", ""):
        return f"file {file!r} would be written outside --credentials-dir"
    if "\0" in file:
        return "file contains a NUL byte"
    return None


def check_fleet(specs: Iterable[EndpointSpec]) -> list[Diagnostic]:
    """Rules across manifests: one endpoint per name and namespace, one credential file per path."""
    problems: list[Diagnostic] = []
    seen: dict[tuple[str | None, str], EndpointSpec] = {}
    outputs: dict[str, EndpointSpec] = {}
    for spec in specs:
        key = (spec.namespace, spec.name)
        if key in seen:
            first = seen[key]
            where = f"{first.source.file}:{first.source.line}"
            problems.append(
                Diagnostic(
                    spec.source,
                    f"endpoint {spec.address} is declared twice (first at {where})",
                )
            )
            continue
        seen[key] = spec
        for output in spec.genstudio.outputs:
            output_id = output.output_id
            if output_id in outputs:
                other = outputs[output_id]
                what = "credential file " + repr(output_id[5:]) if isinstance(output, FileOutput) else output.describe()
                declared = spec.declares("spec.genstudio.outputs")
                problems.append(
                    Diagnostic(
                        spec.location_of("spec.genstudio.outputs" if declared else "spec.genstudio.file"),
                        f"{what} is also used by {other.address}",
                        "give one of them a distinct output (e.g. with {namespace}/{name} in it)"
                        if declared
                        else "set spec.genstudio.file to a distinct file for one of them",
                    )
                )
            else:
                outputs[output_id] = spec
    files = {k[5:]: s for k, s in outputs.items() if k.startswith("file:")}
    for path, spec in files.items():
        parent = posixpath.dirname(path)
        while parent:
            if parent in files:
                problems.append(
                    Diagnostic(
                        spec.location_of("spec.genstudio.outputs"),
                        f"credential file {path!r} needs {parent!r} to be a directory, but it is the credential "
                        f"file of {files[parent].address}",
                    )
                )
                break
            parent = posixpath.dirname(parent)
    return problems
