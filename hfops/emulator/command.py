"""The `emulator` click command (wired by the hfops CLI as `hfops emulator`; also `python -m hfops.emulator`).

Bad values raise click.BadParameter/UsageError; the caller maps usage errors to exit code 1.
Token values are never echoed, not even in error messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .catalog import ModelEntry, load_models_file
from .config import EmulatorConfig
from .server import serve_forever
from .variants import (
    EMPTY_PUT,
    NAMESPACES,
    NULL_ON_PUT,
    OPTIMISTIC,
    PESSIMISTIC,
    PRIVATE_ENDPOINTS,
    PROTECTED_TYPE,
    QUOTAS,
    SECRETS_READBACK,
    SERVED_WINDOW,
    TYPE_ON_PUT,
    UPDATE_ROLLOUT,
)

# Uncertain points (reference §9): flag -> (config field, choices, help). Defaults: today's behaviour.
_VARIANT_FLAGS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("--null-on-put", "null_on_put", NULL_ON_PUT,
     "U1: a null field in a PUT. Likely real: keep (unchanged), and minReplica>0 with a timeout is a 400."),
    ("--update-rollout", "update_rollout", UPDATE_ROLLOUT,
     "U2: likely real: lagged (PUT answer says running, updating later, old replica serves meanwhile)."),
    ("--quotas", "quotas", QUOTAS,
     "U3: likely real: realistic (small quotas, some computes available with quota 0/0)."),
    ("--private-endpoints", "private_endpoints", PRIVATE_ENDPOINTS,
     "U4: likely real: strict (private needs privateService.accountId; its URL 404s from outside)."),
    ("--secrets-readback", "secrets_readback", SECRETS_READBACK,
     "U5: secrets on GET. Likely real: omitted (no keys come back at all)."),
    ("--type-on-put", "type_on_put", TYPE_ON_PUT, "U6: `type` in a PUT. Likely real: ignored silently."),
    ("--empty-put", "empty_put", EMPTY_PUT,
     "U7: tags-only/empty PUT. Likely real: no-redeploy (stays running, updatedAt unchanged)."),
    ("--namespaces", "namespaces", NAMESPACES,
     "U8: likely real: restricted (only the token's user and its orgs; others 401)."),
    ("--served-window", "served_window", SERVED_WINDOW,
     "U10: TGI max_total_tokens with no limits. Likely real: kv-cache (min of GPU KV capacity, context)."),
    ("--protected-type", "protected_type", PROTECTED_TYPE,
     "U11: likely real: accepted (old endpoints still report type protected)."),
)


_F = TypeVar("_F", bound=Callable[..., Any])


def _variant_options(command: _F) -> _F:
    for flag, field, choices, text in reversed(_VARIANT_FLAGS):
        default = EmulatorConfig.__dataclass_fields__[field].default
        command = click.option(
            flag, field, type=click.Choice(choices), default=None, show_default=str(default), help=text
        )(command)
    return command


def _token_namespace(value: str) -> tuple[str, str, tuple[str, ...]]:
    token, sep, names = value.partition("=")
    parts = [part.strip() for part in names.split(",")]
    if not sep or not token.strip() or not parts[0] or any(not part for part in parts):
        raise click.BadParameter("expected T=USER[,ORG...]", param_hint="--token-namespace")
    return token.strip(), parts[0], tuple(parts[1:])


def _rate_limit(value: str) -> tuple[float, int | None]:
    rate, _, burst = value.partition(":")
    try:
        rps = float(rate)
        size = int(burst) if burst else None
    except ValueError as exc:
        raise click.BadParameter("expected RPS[:BURST], e.g. 5 or 5:20", param_hint="--rate-limit") from exc
    if not math.isfinite(rps) or rps <= 0 or (size is not None and size < 1):
        raise click.BadParameter("RPS must be > 0 and BURST >= 1", param_hint="--rate-limit")
    return rps, size


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise click.BadParameter("must be a finite number", param_hint=name)
    return value


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on (0: a free port).",
)
@click.option(
    "--models",
    "models_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help='JSON list of {"id", "pipeline_tag", "sha", "config", "gated"} added to the built-in models.',
)
@click.option(
    "--provision-seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Real seconds from pending to running (also updates and scale-up from zero).",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Speed of the emulated clock that runs scale-to-zero idle timers.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Delay added before every response.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of API and Hub requests answered 429 or 5xx.",
)
@click.option("--seed", type=int, default=None, help="Seed for injected faults and endpoint ids.")
@click.option(
    "--request-log",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Append one JSON line per request (method, path, status).",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="T",
    help="Accept only this bearer token (repeatable). Default: any token starting with hf_.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Retry-After seconds sent with injected faults.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of API and Hub requests whose connection is closed without an answer (nothing done).",
)
@click.option(
    "--lost-response-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of API writes carried out whose answer is then lost (a retried create gets 409).",
)
@click.option(
    "--stall-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="How long a dropped or lost answer holds the connection open before closing it.",
)
@click.option(
    "--slow-body-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Trickle every API and Hub response body out over this many milliseconds.",
)
@click.option(
    "--echo-errors",
    is_flag=True,
    help="Error answers echo the request's headers and body (to test that clients redact them).",
)
@click.option(
    "--redirect-writes-to",
    metavar="URL",
    default=None,
    help="Hostile server: answer every /v2 write (POST/PUT/DELETE/PATCH) with a 307 to URL + the same "
    "path, another origin (nothing done).",
)
@click.option(
    "--endpoint-url-base",
    metavar="URL",
    default=None,
    help="Hostile server: report each endpoint's status.url under URL (e.g. http://other-host:9) "
    "instead of this emulator's own base.",
)
@click.option(
    "--malformed-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Broken server: share of /v2 2xx answers whose body is replaced (the request carried out).",
)
@click.option(
    "--malformed-kind",
    type=click.Choice(("json", "html", "shape", "deep")),
    default="json",
    show_default=True,
    help=(
        "What --malformed-rate answers: truncated JSON, an HTML page, JSON of the wrong shape, "
        "or JSON nested too deep to decode."
    ),
)
@click.option(
    "--oversized-mb",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Hostile server: pad every /v2 2xx answer with this many MB of whitespace, sent chunked.",
)
@click.option(
    "--escape-errors",
    is_flag=True,
    help="Hostile server: error messages carry terminal escape sequences (OSC title, CSI, C1).",
)
@click.option(
    "--strip-commit-header",
    is_flag=True,
    help="A Hub mirror or proxy that drops X-Repo-Commit from file answers (the commit a file was served from).",
)
@click.option(
    "--pessimistic",
    is_flag=True,
    help="Every uncertain point (U1-U11) at its likely-real variant, except --namespaces and --quotas "
    "(the defaults already are).",
)
@click.option(
    "--optimistic",
    is_flag=True,
    help="Every uncertain point at the emulator's historical, kinder variant (null clears, immediate "
    "rollouts, secret keys echoed, ...).",
)
@_variant_options
@click.option(
    "--update-lag-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="U2 lagged: seconds a PUT still shows the old state before `updating` (default: half provision).",
)
@click.option(
    "--token-namespace",
    "token_namespaces",
    multiple=True,
    metavar="T=USER[,ORG...]",
    help="U8: whoami user and organisations of token T (repeatable; T is accepted). "
    "Default for other tokens: user hfops-emulator, orgs acme, genstudio.",
)
@click.option(
    "--rate-limit",
    default=None,
    metavar="RPS[:BURST]",
    help="U9: token bucket per token on API and Hub routes; when empty 429 with Retry-After and "
    "RateLimit (every 429 carries both, as the Hub's may). Default: off.",
)
@click.option(
    "--rate-limit-headers",
    type=click.Choice(["always", "429"]),
    default="always",
    show_default=True,
    help="U9: with --rate-limit, RateLimit/RateLimit-Policy on every limited answer (as the Hub's), "
    "or only on 429s (a client learns of the limit only by hitting it).",
)
def emulator(
    host: str,
    port: int,
    models_file: str | None,
    provision_seconds: float,
    time_scale: float,
    latency_ms: float,
    fail_rate: float,
    seed: int | None,
    request_log: str | None,
    tokens: tuple[str, ...],
    retry_after: float,
    drop_rate: float,
    lost_response_rate: float,
    stall_ms: float,
    slow_body_ms: float,
    echo_errors: bool,
    redirect_writes_to: str | None,
    endpoint_url_base: str | None,
    malformed_rate: float,
    malformed_kind: str,
    oversized_mb: float,
    escape_errors: bool,
    strip_commit_header: bool,
    pessimistic: bool,
    optimistic: bool,
    update_lag_seconds: float | None,
    token_namespaces: tuple[str, ...],
    rate_limit: str | None,
    rate_limit_headers: str,
    **variants: str | None,
) -> int:
    """Run the local Inference Endpoints, Hub and TGI emulator until stopped (SIGINT/SIGTERM).

    The first line on stdout is its base URL. Point hfops at it with HF_ENDPOINT=<url> and
    HFOPS_API_URL=<url>/v2.
    """
    for value, name in (
        (provision_seconds, "--provision-seconds"),
        (time_scale, "--time-scale"),
        (latency_ms, "--latency-ms"),
        (retry_after, "--retry-after"),
        (stall_ms, "--stall-ms"),
        (slow_body_ms, "--slow-body-ms"),
        (oversized_mb, "--oversized-mb"),
    ):
        _finite(value, name)
    for url, name in ((redirect_writes_to, "--redirect-writes-to"), (endpoint_url_base, "--endpoint-url-base")):
        if url is not None and not url.startswith(("http://", "https://")):
            raise click.BadParameter("expected an http(s) URL", param_hint=name)
    if any(not token.strip() for token in tokens):
        raise click.BadParameter("a token must not be empty", param_hint="--token")
    models: tuple[ModelEntry, ...] = ()
    if models_file is not None:
        try:
            models = load_models_file(models_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--models") from exc
    if request_log is not None:
        try:
            with open(request_log, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise click.BadParameter(
                f"cannot write {request_log}: {exc.strerror}", param_hint="--request-log"
            ) from exc
    if pessimistic and optimistic:
        raise click.UsageError("--pessimistic and --optimistic contradict each other")
    chosen: dict[str, str] = dict(PESSIMISTIC) if pessimistic else dict(OPTIMISTIC) if optimistic else {}
    chosen.update({name: value for name, value in variants.items() if value is not None})
    rps, burst = _rate_limit(rate_limit) if rate_limit is not None else (0.0, None)
    if update_lag_seconds is not None:
        _finite(update_lag_seconds, "--update-lag-seconds")
    config = EmulatorConfig(
        **chosen,
        update_lag_seconds=update_lag_seconds,
        token_namespaces=tuple(_token_namespace(value) for value in token_namespaces),
        rate_limit=rps,
        rate_burst=burst,
        rate_limit_headers=rate_limit_headers,
        host=host,
        port=port,
        models=models,
        provision_seconds=provision_seconds,
        time_scale=time_scale,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        seed=seed,
        request_log=request_log,
        tokens=tokens,
        retry_after_seconds=retry_after,
        drop_rate=drop_rate,
        lost_response_rate=lost_response_rate,
        stall_ms=stall_ms,
        slow_body_ms=slow_body_ms,
        echo_errors=echo_errors,
        redirect_writes_to=redirect_writes_to,
        endpoint_url_base=endpoint_url_base,
        malformed_rate=malformed_rate,
        malformed_kind=malformed_kind,
        oversized_mb=oversized_mb,
        escape_errors=escape_errors,
        strip_commit_header=strip_commit_header,
    )
    try:
        return serve_forever(config)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
