"""The `emulator` click command (wired by the hfops CLI as `hfops emulator`; also `python -m hfops.emulator`).

Bad values raise click.BadParameter/UsageError; the caller maps usage errors to exit code 1.
Token values are never echoed, not even in error messages.
"""

from __future__ import annotations

import math

import click

from .catalog import ModelEntry, load_models_file
from .config import EmulatorConfig
from .server import serve_forever


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
    ):
        _finite(value, name)
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
    config = EmulatorConfig(
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
    )
    try:
        return serve_forever(config)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
