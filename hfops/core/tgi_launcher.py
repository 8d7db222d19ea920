"""What TGI's launcher (v3.3.x, `launcher/src/main.rs`) refuses to start with, predicted before creating.

Pure. The launcher reads its limits from the image (`tgi.maxInputLength`, `tgi.maxTotalTokens`,
which the platform passes on as `MAX_INPUT_LENGTH` / `MAX_TOTAL_TOKENS`) and from the container
`env`; an image value wins over the same env variable. It aborts, and the endpoint ends `failed`:

1. `MAX_INPUT_TOKENS` together with `MAX_INPUT_LENGTH` (the deprecated name), from env or image;
2. a limit that is not a positive integer;
3. `max_input_tokens >= max_total_tokens`;
4. `max_total_tokens` above the model's context length;
5. `max_batch_prefill_tokens < max_input_tokens`;
6. `max_batch_total_tokens < max_total_tokens`.

Unset limits take TGI's defaults: the model's context (`max_position_embeddings`; 4096 when the
config names none), capped at 4096 before 2.4 (2048 / 1024 for 1.x), and `max_input_tokens =
max_total_tokens - 1`. Without a model (`hfops validate`, offline) only what the manifest alone
decides is checked: rules 1, 2, and 3, 5, 6 when both of their values are written.

The emulator (`hfops/emulator/launcher.py`, standalone, it cannot import hfops) keeps its own copy
of these rules; tests/test_launcher_rules.py holds both to one table of cases.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hfops.core import fields as catalogue
from hfops.core.errors import Diagnostic
from hfops.core.model import EndpointSpec

DEFAULT_TGI_VERSION = (3, 3, 7)  # an image tag hfops cannot read (`latest`, `sha-...`): the last release
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
# Launcher variables, and the image field (manifest path) the platform passes as each.
MAX_INPUT_TOKENS = "MAX_INPUT_TOKENS"
MAX_INPUT_LENGTH = "MAX_INPUT_LENGTH"
MAX_TOTAL_TOKENS = "MAX_TOTAL_TOKENS"
MAX_BATCH_PREFILL_TOKENS = "MAX_BATCH_PREFILL_TOKENS"
MAX_BATCH_TOTAL_TOKENS = "MAX_BATCH_TOTAL_TOKENS"
IMAGE_FIELDS = {MAX_INPUT_LENGTH: catalogue.MAX_INPUT_TOKENS.path, MAX_TOTAL_TOKENS: catalogue.MAX_TOTAL_TOKENS.path}


@dataclass(frozen=True)
class LaunchArgs:
    """What the launcher is started with: the image's limits (by launcher variable) and the env."""

    version: tuple[int, int, int]
    image: Mapping[str, int]  # MAX_INPUT_LENGTH / MAX_TOTAL_TOKENS written in the image
    env: Mapping[str, str]


@dataclass(frozen=True)
class Refusal:
    """Why the launcher would abort: its own message, and the manifest field (below spec) to blame."""

    field: str
    reason: str


@dataclass(frozen=True)
class _Limit:
    value: int
    field: str  # where it was written: image.maxTotalTokens, env.MAX_TOTAL_TOKENS


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def version_of(image_url: str | None) -> tuple[int, int, int]:
    """The TGI version an image runs, read from its tag (`...:3.3.6`)."""
    tail = (image_url or catalogue.DEFAULT_TGI_IMAGE).rsplit("/", 1)[-1]
    match = _VERSION.match(tail.split(":", 1)[1] if ":" in tail else "")
    if not match:
        return DEFAULT_TGI_VERSION
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def launch_args(
    image_url: str | None, max_input_tokens: int | None, max_total_tokens: int | None, env: Mapping[str, str]
) -> LaunchArgs:
    image = {MAX_INPUT_LENGTH: max_input_tokens, MAX_TOTAL_TOKENS: max_total_tokens}
    return LaunchArgs(version_of(image_url), {k: v for k, v in image.items() if v is not None}, dict(env))


def _env_int(args: LaunchArgs, name: str) -> _Limit | None:
    if name not in args.env:
        return None
    text = args.env[name].strip()
    if not text.isdigit() or int(text) < 1:
        raise _Refused(
            Refusal(f"env.{name}", f"invalid value '{args.env[name]}' for {name}: expected a positive integer")
        )
    return _Limit(int(text), f"env.{name}")


def _limit(args: LaunchArgs, *names: str) -> _Limit | None:
    """The first of `names` that is set: an image value before the env (as TGI's `a or b`)."""
    for name in names:
        if name in args.image:
            return _Limit(args.image[name], IMAGE_FIELDS[name])
        found = _env_int(args, name)
        if found is not None:
            return found
    return None


def launcher_refusal(args: LaunchArgs, *, model_known: bool, model_context: int | None) -> Refusal | None:
    """The launcher's first refusal for these arguments, or None when it would start.

    `model_known` False (offline): only what does not depend on the model is decided.
    """
    try:
        _check(args, model_known=model_known, model_context=model_context)
    except _Refused as refused:
        return refused.refusal
    return None


def _check(args: LaunchArgs, *, model_known: bool, model_context: int | None) -> None:
    given_input = MAX_INPUT_LENGTH in args.env or MAX_INPUT_LENGTH in args.image
    if MAX_INPUT_TOKENS in args.env and given_input:
        length = args.image.get(MAX_INPUT_LENGTH, args.env.get(MAX_INPUT_LENGTH))
        blame = f"env.{MAX_INPUT_LENGTH}" if MAX_INPUT_LENGTH in args.env else f"env.{MAX_INPUT_TOKENS}"
        raise _Refused(
            Refusal(
                blame,
                f"Both `max_input_tokens` ({args.env[MAX_INPUT_TOKENS]}) and `max_input_length` ({length}) are set. "
                "Please define only `max_input_tokens` as `max_input_length is deprecated for naming consistency.",
            )
        )
    total_set = _limit(args, MAX_TOTAL_TOKENS)
    input_set = _limit(args, MAX_INPUT_LENGTH, MAX_INPUT_TOKENS)
    prefill = _limit(args, MAX_BATCH_PREFILL_TOKENS)
    batch_total = _limit(args, MAX_BATCH_TOTAL_TOKENS)
    if not model_known:
        total, max_input = total_set, input_set
    else:
        context = model_context or 4096
        if args.version < (2, 0, 0):
            default_total = min(context, 2048)
        elif args.version < (2, 4, 0):
            default_total = min(context, 4096)
        else:
            default_total = context
        total = total_set or _Limit(default_total, "")
        if input_set is not None:
            max_input = input_set
        elif args.version < (2, 0, 0):
            max_input = _Limit(min(1024, total.value - 1), "")
        else:
            max_input = _Limit(total.value - 1, "")
    if total is not None and max_input is not None and max_input.value >= total.value:
        raise _Refused(
            Refusal(
                max_input.field or total.field,
                f"`max_input_tokens`({max_input.value}) must be < `max_total_tokens`({total.value})",
            )
        )
    if total is not None and model_context is not None and total.value > model_context:
        raise _Refused(
            Refusal(
                total.field,
                f"`max_total_tokens` ({total.value}) must be <= the model's context length ({model_context})",
            )
        )
    if prefill is not None and max_input is not None and prefill.value < max_input.value:
        raise _Refused(
            Refusal(
                prefill.field,
                "`max_batch_prefill_tokens` must be >= `max_input_tokens`. "
                f"Given: {prefill.value} and {max_input.value}",
            )
        )
    if batch_total is not None and total is not None and batch_total.value < total.value:
        raise _Refused(
            Refusal(
                batch_total.field,
                f"`max_total_tokens` must be <= `max_batch_total_tokens`. Given: {total.value} and {batch_total.value}",
            )
        )


@functools.lru_cache(maxsize=1024)
def _refusal_of(
    image_url: str | None,
    max_input_tokens: int | None,
    max_total_tokens: int | None,
    env: tuple[tuple[str, str], ...],
    model_known: bool,
    model_context: int | None,
) -> Refusal | None:
    # A fleet repeats a few images, limits and models: each combination is decided once (500
    # endpoints are checked twice per plan, at load and once the models are known).
    args = launch_args(image_url, max_input_tokens, max_total_tokens, dict(env))
    return launcher_refusal(args, model_known=model_known, model_context=model_context)


def spec_refusal(spec: EndpointSpec, *, model_known: bool, model_context: int | None) -> Diagnostic | None:
    """The launcher's refusal for an endpoint's manifest, located at the field to change."""
    image = spec.image
    limits = (image.url, image.max_input_tokens, image.max_total_tokens, spec.env)
    refusal = _refusal_of(*limits, model_known, model_context)
    if refusal is None:
        return None
    return Diagnostic(
        spec.location_of(f"spec.{refusal.field or 'image'}"),
        f"TGI's launcher would refuse to start (the endpoint would fail): {refusal.reason}",
        "TGI reads these limits from image.maxInputTokens/maxTotalTokens and the MAX_* env variables together",
    )
