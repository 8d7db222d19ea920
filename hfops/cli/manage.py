"""`hfops destroy`, `hfops import`, `hfops demo`: parse, call one workflow, render, exit code."""

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
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def destroy(
    paths: Sequence[str], namespace: str | None, fmt: str, credentials_dir: str, owner: str | None, yes: bool
) -> int:
    """Delete the endpoints the manifests name (only those hfops manages)."""
    from hfops.cli.signals import SignalGuard
    from hfops.workflows.destroy import plan_destroy, run_destroy

    out = Output(fmt=fmt)
    reconciler = o.reconciler(out, o.settings(namespace=namespace, credentials_dir=credentials_dir, owner=owner))
    planned = plan_destroy(reconciler, paths)
    for note in planned.notes:
        out.info(note)
    for delete in planned.deletes:
        out.plan(f"  - {delete.address} will be destroyed")
    for removal in planned.plan.credentials:
        out.plan(f"  - credential {removal.address} -> {removal.output.describe()} will be removed")
    if not planned.deletes and not planned.plan.credentials:
        out.data("No changes. Nothing to destroy.")
        if out.json_mode:
            out.document(
                {"format_version": "1", "deleted": [], "credentials_removed": [], "notes": list(planned.notes)}
            )
        return EXIT_OK
    summary = f"Plan: 0 to add, 0 to change, {len(planned.deletes)} to destroy."
    if planned.plan.credentials:
        summary += f" Credentials: 0 to write, 0 to change, {len(planned.plan.credentials)} to remove."
    out.data(summary)
    if not yes:
        o.confirm_typed("Do you really want to destroy these endpoints?", doing="destroy these endpoints")
    with SignalGuard(reconciler.retry.stop) as guard:
        outcomes, removed = run_destroy(
            reconciler, planned, on_deleted=lambda a: out.info(f"{a}: deleted"), stop=guard.stop
        )
    deleted = [x.address for x in outcomes if x.result == "deleted"]
    for failed in (x for x in outcomes if not x.ok):
        out.error(f"{failed.address}: {failed.message or failed.result}")
    for item in removed:
        if item.ok:
            out.info(f"{item.address}: removed credential {item.output}")
        else:
            out.error(f"{item.address}: credential {item.output} not removed: {item.message}")
    if out.json_mode:
        out.document(
            {
                "format_version": "1",
                "deleted": deleted,
                "credentials_removed": [r.to_json() for r in removed],
                "notes": list(planned.notes),
            }
        )
    else:
        out.data(f"Destroy complete: {len(deleted)} destroyed.")
    return EXIT_OK if all(x.ok for x in outcomes) and all(r.ok for r in removed) else EXIT_ERROR


@click.command("import")
@click.argument("addresses", nargs=-1, required=True, metavar="NAMESPACE/NAME...")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write the manifests to FILE.")
@click.option("--no-adopt", is_flag=True, help="Only print manifests; do not tag the endpoints as managed by hfops.")
def import_(addresses: Sequence[str], out_file: str | None, no_adopt: bool) -> int:
    """Print manifests for existing endpoints, and adopt them (tag them as managed by hfops).

    Adoption is the explicit act that lets hfops manage (and, with --prune, delete) an endpoint
    it did not create; it only adds tags, nothing else changes. Right after, `hfops plan` on the
    printed manifests says No changes, with one exception: the service never shows secret values,
    so when the secrets' environment variables were not set during the import, the first plan shows
    the secrets as a change and apply sets them. Where the service does not even show secret keys,
    import says so: declare those secrets yourself.
    """
    from pathlib import Path

    from hfops.adapters.atomic import atomic_write
    from hfops.core.errors import HfopsError
    from hfops.workflows.importing import import_endpoints

    out = Output()
    reconciler = o.reconciler(out, o.settings())

    def deliver(text: str) -> None:
        # Written (atomically) before anything is adopted: a failed write adopts nothing.
        if not out_file:
            out.data(text.rstrip("\n"))
            return
        try:
            atomic_write(Path(out_file), text.encode(), mode=0o644)
        except OSError as error:
            raise HfopsError(
                f"cannot write {out_file}: {error.strerror or error}",
                hint="nothing was adopted; choose a writable --out path",
            ) from None
        out.info(f"Wrote {len(addresses)} manifest(s) to {out_file}")

    import_endpoints(
        reconciler,
        addresses,
        adopt=not no_adopt,
        deliver=deliver,
        on_adopted=lambda address: out.info(f"{address}: adopted (tagged as managed by hfops; nothing else changed)"),
    )
    return EXIT_OK


@click.command()
@click.option(
    "--examples",
    "examples_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Manifests to deploy (default: the shipped examples/).",
)
@click.option(
    "--credentials-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where to write the credentials (default: a new temporary directory).",
)
def demo(examples_dir: str | None, credentials_dir: str | None) -> int:
    """The whole flow on a built-in emulator and the shipped examples; no account, no network."""
    from hfops.workflows.demo import run_demo

    return run_demo(Output(), examples_dir=examples_dir, credentials_dir=credentials_dir)
