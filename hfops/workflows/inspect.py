"""Read-only workflows over manifests and the live state: status and verify."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hfops.core.errors import HfopsError
from hfops.core.json_object import load_object
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
    """Each endpoint called with the credential its outputs hold (the first output that can be read)."""
    from hfops.core.model import CommandOutput
    from hfops.workflows.outputs import CredentialDelivery

    declared = read_declared(reconciler, paths)
    sinks = reconciler.output_sinks([spec for spec, _ in declared])
    delivery = CredentialDelivery(sinks, token=None, owner=reconciler.settings.owner, api_key_for=None, models={})
    results = []
    for spec, live in declared:
        credential, where = None, "its outputs"
        try:
            readable = [o for o in delivery.outputs(spec) if not isinstance(o, CommandOutput)]
            for output in readable:
                where = output.describe()
                credential = load_object(sinks.sink(output).read().content)
                if credential is not None:
                    break
        except HfopsError as error:
            results.append(VerifyResult(spec.address, False, error.message, live.state if live else None))
            continue
        results.append(
            verify_endpoint(spec, live, credential=credential, path=where, scale_up_timeout=scale_up_timeout)
        )
    return results
