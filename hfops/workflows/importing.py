"""The import workflow: manifests for endpoints that exist, and (optionally) their adoption."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hfops.core.diff import Desired, secrets_fingerprint
from hfops.core.errors import HfopsError, UsageError
from hfops.core.model import LiveEndpoint
from hfops.workflows.reconcile import Reconciler, secret_values


def import_endpoints(
    reconciler: Reconciler,
    addresses: Sequence[str],
    *,
    adopt: bool,
    deliver: Callable[[str], None],
    on_adopted: Callable[[str], None] = lambda address: None,
) -> list[str]:
    """Deliver manifests for existing endpoints (YAML text); with `adopt`, then tag them.

    `deliver` (write the --out file, or print) runs before any endpoint is adopted: adoption
    makes an endpoint hfops' to manage and, with --prune, to delete, so it must never happen for
    a manifest the user did not get. If delivering fails, nothing is adopted.

    Adoption only sets tags (ownership, applied digest, secrets fingerprint when the secret
    environment variables are set), so the printed manifests plan as No changes right after
    (except for credentials moved from env to secrets, see `hfops.core.importer`).
    """
    from hfops.core.importer import manifest_for, render_manifests
    from hfops.core.manifest import parse_manifest_text

    manifests = []
    found: list[LiveEndpoint] = []
    for address in addresses:
        namespace, slash, name = address.partition("/")
        if not slash or not namespace or not name:
            raise UsageError(f"{address!r}: expected NAMESPACE/NAME")
        live = reconciler.endpoints.get(namespace, name)
        if live is None:
            raise HfopsError(f"{address}: no such endpoint")
        manifest = manifest_for(live)
        for note in manifest.notes:
            reconciler.warn(note)
        manifests.append(manifest)
        found.append(live)
    unseen = [live.address for live in found if not live.secrets_echoed]
    if unseen:
        # The service shows neither secret keys nor values (reference U5): import cannot write them
        # and plans cannot see them. Said once, so an empty `secrets` does not look complete.
        reconciler.warn(
            f"the service does not show secret keys ({', '.join(unseen)}): declare any secrets these "
            "endpoints have under spec.secrets with fromEnv; hfops cannot see or compare undeclared secrets"
        )
    text = render_manifests(manifests)
    specs, problems = parse_manifest_text(text, file="<import>")
    if problems:  # pragma: no cover - the generator only writes what the schema accepts
        raise HfopsError("generated manifests do not validate: " + "; ".join(map(str, problems)))
    deliver(text)
    adopted: list[str] = []
    if adopt:
        for spec, live in zip(specs, found, strict=True):
            values = secret_values(spec, reconciler.env)
            complete = len(values) == len(spec.secrets)
            desired = Desired(
                spec=spec,
                revision_sha=live.revision if spec.revision else None,
                secrets_fingerprint=secrets_fingerprint(live.namespace, live.name, values) if complete else None,
                owner=reconciler.settings.owner,  # adoption records the run's owner (HFOPS_OWNER)
            )
            reconciler.endpoints.update(live.namespace, live.name, {"tags": list(desired.tags)})
            adopted.append(live.address)
            on_adopted(live.address)
    return adopted
