"""The credentials workflow: write the credential of every declared endpoint that exists, nothing remote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hfops.core.errors import HfopsError
from hfops.workflows.reconcile import Reconciler


@dataclass(frozen=True)
class CredentialResult:
    address: str
    ok: bool
    file: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        if self.ok:
            return {"address": self.address, "ok": True, "file": self.file}
        return {"address": self.address, "ok": False, "error": self.error}


def write_credentials(reconciler: Reconciler, paths: Sequence[str]) -> list[CredentialResult]:
    from hfops.adapters.credential_files import check_credential_targets

    context = reconciler.context(paths, check_env=False)
    check_credential_targets(reconciler.settings.credentials_dir, context.specs)
    results: list[CredentialResult] = []
    for spec in context.specs:
        live = context.live.get(spec.address)
        try:
            if live is None:
                raise HfopsError(f"{spec.address}: does not exist; run hfops apply first")
            path = reconciler.write_credential(spec, live, context.models.get(spec.model_key))
            results.append(CredentialResult(spec.address, True, file=path))
        except HfopsError as error:
            results.append(CredentialResult(spec.address, False, error=error.message))
    return results
