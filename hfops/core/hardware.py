"""Pure checks of desired endpoints against a namespace's hardware catalogue, and their cost.

The catalogue comes from `/v2/provider/{namespace}` (one read per namespace). An instance that
does not exist, is not available, or would exceed the namespace's accelerator quota is refused
before anything is created. Cost is per hour at max replicas; scaled-to-zero replicas cost nothing
while idle, so an endpoint with minReplica 0 costs nothing when unused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hfops.core.diff import Desired
from hfops.core.errors import Diagnostic
from hfops.core.model import LiveEndpoint

UNDEPLOYABLE = frozenset({"not_available", "deprecated"})


@dataclass(frozen=True)
class Hardware:
    vendor: str
    region: str
    accelerator: str
    instance_type: str
    instance_size: str
    num_accelerators: int
    price_per_hour: float
    status: str
    max_accelerators: int | None
    used_accelerators: int | None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.vendor, self.region, self.accelerator, self.instance_type, self.instance_size)


@dataclass(frozen=True)
class EndpointCost:
    address: str
    instance: str  # "aws us-east-1 nvidia-a10g x1"
    price_per_hour: float  # one replica
    max_replicas: int
    min_replicas: int
    paused: bool = False

    @property
    def hourly_max(self) -> float:
        return 0.0 if self.paused else self.price_per_hour * self.max_replicas

    @property
    def hourly_idle(self) -> float:
        return 0.0 if self.paused else self.price_per_hour * self.min_replicas

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "instance": self.instance,
            "price_per_replica_hour": round(self.price_per_hour, 4),
            "max_replicas": self.max_replicas,
            "hourly_at_max_replicas": round(self.hourly_max, 4),
            "hourly_when_idle": round(self.hourly_idle, 4),
            "paused": self.paused,
        }


def _key(vendor: str, region: str, accelerator: str, instance_type: str, size: str) -> tuple[str, ...]:
    return (vendor, region, accelerator, instance_type, size)


def check_hardware(
    desired: Sequence[Desired],
    live: Mapping[str, LiveEndpoint],
    catalogues: Mapping[str, Iterable[Hardware]],
) -> tuple[list[EndpointCost], list[Diagnostic]]:
    """Costs for every desired endpoint, and the located problems that forbid applying."""
    problems: list[Diagnostic] = []
    costs: list[EndpointCost] = []
    tables: dict[str, dict[tuple[str, ...], Hardware]] = {
        ns: {h.key: h for h in hardware} for ns, hardware in catalogues.items()
    }
    # Accelerators used after apply, per quota: namespace, vendor, region and instance type.
    delta: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for item in desired:
        spec = item.spec
        namespace = spec.namespace or ""
        table = tables.get(namespace, {})
        wanted = _key(spec.vendor, spec.region, spec.accelerator, spec.instance_type, spec.instance_size)
        hardware = table.get(wanted)
        if hardware is None:
            here = sorted(
                f"{h.instance_type} {h.instance_size}"
                for h in table.values()
                if (h.vendor, h.region, h.accelerator) == (spec.vendor, spec.region, spec.accelerator)
                and h.status not in UNDEPLOYABLE
            )
            hint = (
                f"available here: {', '.join(here)}"
                if here
                else (f"no {spec.accelerator} instances in {spec.vendor} {spec.region} for {namespace}")
            )
            problems.append(
                Diagnostic(
                    spec.location_of("spec.compute.instanceType"),
                    f"{spec.vendor} {spec.region} {spec.accelerator} {spec.instance_type} {spec.instance_size} "
                    f"is not in the hardware catalogue of {namespace}",
                    hint,
                )
            )
            continue
        if hardware.status in UNDEPLOYABLE:
            problems.append(
                Diagnostic(
                    spec.location_of("spec.compute.instanceType"),
                    f"{spec.instance_type} {spec.instance_size} in {spec.vendor} {spec.region} is {hardware.status}",
                )
            )
            continue
        costs.append(
            EndpointCost(
                address=spec.address,
                instance=f"{spec.vendor} {spec.region} {spec.instance_type} {spec.instance_size}",
                price_per_hour=hardware.price_per_hour,
                max_replicas=spec.max_replica,
                min_replicas=spec.min_replica,
                paused=spec.paused,
            )
        )
        if hardware.max_accelerators == 0 and not spec.paused:
            # Listed (even as available) with a 0/0 quota: the namespace may not use it (U3).
            problems.append(
                Diagnostic(
                    spec.location_of("spec.compute.instanceType"),
                    f"{spec.instance_type} in {spec.vendor} {spec.region} is listed for {namespace}, but its quota "
                    "there is 0 accelerators, so it cannot be deployed",
                    "ask Hugging Face for a quota, or choose another instance type or region",
                )
            )
            continue
        if not spec.paused:
            delta[(namespace, spec.vendor, spec.region, spec.instance_type)] += (
                spec.max_replica * hardware.num_accelerators
            )
        current = live.get(spec.address)
        if current is not None and current.state != "paused":
            old = table.get(
                _key(
                    current.vendor,
                    current.region,
                    current.accelerator,
                    current.instance_type,
                    current.instance_size,
                )
            )
            if old is not None:
                delta[(namespace, current.vendor, current.region, current.instance_type)] -= (
                    current.max_replica * old.num_accelerators
                )
    for (namespace, vendor, region, instance_type), change in sorted(delta.items()):
        if change <= 0:
            continue
        quota = next(
            (
                h
                for h in tables.get(namespace, {}).values()
                if (h.vendor, h.region, h.instance_type) == (vendor, region, instance_type)
                and h.max_accelerators is not None
            ),
            None,
        )
        if quota is None or quota.max_accelerators is None:
            continue
        used = quota.used_accelerators or 0
        if used + change > quota.max_accelerators:
            using = [
                d.spec
                for d in desired
                if (d.spec.namespace, d.spec.vendor, d.spec.region, d.spec.instance_type)
                == (namespace, vendor, region, instance_type)
                and not d.spec.paused
            ]
            who = ", ".join(s.address for s in using[:5]) + (f" and {len(using) - 5} more" if len(using) > 5 else "")
            problems.append(
                Diagnostic(
                    using[0].location_of("spec.scaling.maxReplica"),
                    f"{namespace} would use {used + change} {instance_type} accelerators, over its quota of "
                    f"{quota.max_accelerators} in {vendor} {region} ({used} in use; at max replicas: {who})",
                    "lower maxReplica, pause endpoints, or ask for a larger quota",
                )
            )
    return costs, problems
