"""Read-only workflows over manifests and the live state: status and verify."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hfops.core.model import EndpointSpec, LiveEndpoint
from hfops.workflows.reconcile import Reconciler
from hfops.workflows.verify import VerifyResult, verify_endpoint


@dataclass(frozen=True)
class StatusRow:
    spec: EndpointSpec
    live: LiveEndpoint | None

    def to_json(self) -> dict[str, object]:
        live = self.live
        return {
            "address": self.spec.address,
            "name": self.spec.name,
            "namespace": self.spec.namespace,
            "state": live.state if live else "absent",
            "url": live.url if live else None,
            "ready_replicas": live.ready_replica if live else 0,
            "target_replicas": live.target_replica if live else 0,
            "managed": live.owned if live else None,
        }


def read_declared(reconciler: Reconciler, paths: Sequence[str]) -> list[tuple[EndpointSpec, LiveEndpoint | None]]:
    """Every endpoint the manifests declare, with its live state (one list call per namespace)."""
    _manifests, specs = reconciler.load(paths)
    live = reconciler.read_live(sorted({s.namespace for s in specs if s.namespace}))
    return [(spec, live.get(spec.address)) for spec in specs]


def status(reconciler: Reconciler, paths: Sequence[str]) -> list[StatusRow]:
    return [StatusRow(spec, live) for spec, live in read_declared(reconciler, paths)]


def verify(reconciler: Reconciler, paths: Sequence[str], *, scale_up_timeout: int) -> list[VerifyResult]:
    credentials_dir = reconciler.settings.credentials_dir
    return [
        verify_endpoint(spec, live, credentials_dir=credentials_dir, scale_up_timeout=scale_up_timeout)
        for spec, live in read_declared(reconciler, paths)
    ]
