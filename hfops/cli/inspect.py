"""`hfops status`, `hfops verify`, `hfops credentials`: parse, call one workflow, render, exit code."""

from __future__ import annotations

from collections.abc import Sequence

import click

from hfops.adapters.output import Output
from hfops.cli import options as o
from hfops.core.errors import EXIT_ERROR, EXIT_OK


@click.command()
@o.paths_argument
@o.namespace_option
@o.format_option
@o.no_color_option
@o.credentials_option
@o.owner_option
@click.option(
    "--reveal",
    metavar="NAMESPACE/NAME",
    help="Print exactly that endpoint's credential JSON on stdout (to paste into GenStudio); changes nothing.",
)
def credentials(
    paths: Sequence[str], namespace: str | None, fmt: str, credentials_dir: str, owner: str | None, reveal: str | None
) -> int:
    """Apply only credential changes (write, update, remove outputs); changes nothing remote."""
    from hfops.workflows.credentials import apply_credentials
    from hfops.workflows.credentials import reveal as reveal_credential

    out = Output(fmt=fmt)
    reconciler = o.reconciler(out, o.settings(namespace=namespace, credentials_dir=credentials_dir, owner=owner))
    if reveal:
        # The one place a key is printed on purpose: written raw, around the redacting output.
        import sys

        sys.stdout.write(reveal_credential(reconciler, paths, reveal).decode())
        sys.stdout.flush()
        return EXIT_OK
    results = apply_credentials(reconciler, paths)
    for result in results:
        if result.ok:
            out.data(f"{result.address}: {result.verb} {result.output}")
        else:
            out.error(result.message or "failed")
    if not results:
        out.data("No changes. The credential outputs hold what the endpoints serve.")
    if out.json_mode:
        out.document({"format_version": "1", "credentials": [r.to_json() for r in results]})
    return EXIT_OK if all(r.ok for r in results) else EXIT_ERROR


@click.command()
@o.paths_argument
@o.namespace_option
@o.format_option
@o.no_color_option
def status(paths: Sequence[str], namespace: str | None, fmt: str) -> int:
    """One line per endpoint: name, state, url, replicas (ready/target)."""
    from hfops.workflows.inspect import status as read_status

    out = Output(fmt=fmt)
    reconciler = o.reconciler(out, o.settings(namespace=namespace))
    rows = [row.to_json() for row in read_status(reconciler, paths)]
    if out.json_mode:
        out.document({"format_version": "1", "endpoints": rows})
    else:
        width = max((len(str(r["address"])) for r in rows), default=10)
        for r in rows:
            replicas = f"{r['ready_replicas']}/{r['target_replicas']}"
            out.data(f"{str(r['address']).ljust(width)}  {r['state']!s:<13} {r['url'] or '-'}  replicas {replicas}")
    return EXIT_OK


@click.command()
@o.paths_argument
@o.namespace_option
@o.format_option
@o.no_color_option
@o.credentials_option
@click.option(
    "--scale-up-timeout",
    type=click.IntRange(min=0),
    default=600,
    show_default=True,
    help="Seconds a scaled-to-zero endpoint may take to wake (sent as X-Scale-Up-Timeout).",
)
def verify(paths: Sequence[str], namespace: str | None, fmt: str, credentials_dir: str, scale_up_timeout: int) -> int:
    """Call each endpoint the way GenStudio will, with its credential; report ok or why not."""
    from hfops.workflows.inspect import verify as run_verify

    out = Output(fmt=fmt)
    reconciler = o.reconciler(out, o.settings(namespace=namespace, credentials_dir=credentials_dir))
    results = run_verify(reconciler, paths, scale_up_timeout=scale_up_timeout)
    if out.json_mode:
        out.document({"format_version": "1", "results": [r.to_json() for r in results]})
    else:
        for result in results:
            out.data(f"{result.address}: {'ok' if result.ok else 'FAILED'} — {result.detail}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_ERROR
