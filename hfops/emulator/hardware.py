"""The emulated Inference Endpoints hardware catalogue (`/v2/provider/{ns}`): computes, GPU memory, quotas.

Each compute has a price per hour and its GPU memory (`gpuMemoryGb`, all GPUs together), which the
KV-cache model (kvcache.py, U10) turns into a served window. Quotas are per namespace, vendor, region
and instance type: 1,000 accelerators by default (contract §5), or small realistic ones (U3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_ACCELERATORS = 1000  # quota per namespace and instance type (contract §5)
# `quotas="realistic"` (U3): small per-namespace quotas like huggingface_hub's MOCK_PROVIDERS (16, 60, 2),
# and computes listed `available` whose quota is 0/0 (HH 909b162a0): listed, but not usable.
REALISTIC_QUOTAS: dict[tuple[str, str, str], int] = {
    ("aws", "us-east-1", "intel-icl"): 16,
    ("aws", "us-east-1", "nvidia-t4"): 4,
    ("aws", "us-east-1", "nvidia-l4"): 2,
    ("aws", "us-east-1", "nvidia-a10g"): 2,
    ("aws", "eu-west-1", "intel-icl"): 60,
    ("aws", "eu-west-1", "nvidia-l4"): 2,
    ("aws", "eu-west-1", "nvidia-a10g"): 2,
}  # anything else (all of gcp/us-east4): 0


def quota_for(vendor: str, region: str, instance_type: str, mode: str) -> int:
    """Accelerators a namespace may hold of one instance type in one region."""
    if mode == "generous":
        return MAX_ACCELERATORS
    return REALISTIC_QUOTAS.get((vendor, region, instance_type), 0)


@dataclass(frozen=True)
class Compute:
    """One `/v2/provider` compute entry (one instance type and size in one vendor region)."""

    vendor: str
    region: str
    accelerator: str
    instance_type: str
    instance_size: str
    architecture: str
    num_accelerators: int
    num_cpus: int
    memory_gb: float
    gpu_memory_gb: int | None
    price_per_hour: float
    status: str = "available"

    @property
    def id(self) -> str:
        return f"{self.vendor}-{self.region}-{self.instance_type}-{self.instance_size}"

    @property
    def deployable(self) -> bool:
        return self.status in ("available", "low_availability")


@dataclass(frozen=True)
class Region:
    vendor: str
    name: str
    label: str
    computes: tuple[Compute, ...]
    status: str = "available"


def _gpu(
    vendor: str,
    region: str,
    itype: str,
    arch: str,
    sizes: Iterable[tuple[str, int, int, int, int, float, str]],
) -> list[Compute]:
    return [
        Compute(vendor, region, "gpu", itype, size, arch, n, cpus, float(mem), gmem, price, status)
        for size, n, cpus, mem, gmem, price, status in sizes
    ]


def _cpu(vendor: str, region: str, sizes: Iterable[tuple[str, int, float]]) -> list[Compute]:
    # CPU instances count their vCPUs as the "accelerators" the quota is expressed in.
    return [
        Compute(vendor, region, "cpu", "intel-icl", size, "Intel Ice Lake", n, n, float(n * 2), None, price)
        for size, n, price in sizes
    ]


REGIONS: tuple[Region, ...] = (
    Region(
        "aws",
        "us-east-1",
        "US East (N. Virginia)",
        tuple(
            _gpu(
                "aws",
                "us-east-1",
                "nvidia-t4",
                "Nvidia T4",
                [("x1", 1, 4, 15, 16, 0.5, "available"), ("x4", 4, 48, 192, 64, 3.0, "available")],
            )
            + _gpu(
                "aws",
                "us-east-1",
                "nvidia-l4",
                "Nvidia L4",
                [("x1", 1, 8, 30, 24, 0.8, "available"), ("x4", 4, 48, 186, 96, 3.8, "available")],
            )
            + _gpu(
                "aws",
                "us-east-1",
                "nvidia-a10g",
                "Nvidia A10G",
                [("x1", 1, 4, 15, 24, 1.0, "available"), ("x4", 4, 48, 186, 96, 5.0, "available")],
            )
            + _cpu(
                "aws", "us-east-1", [("x1", 1, 0.033), ("x2", 2, 0.067), ("x4", 4, 0.134), ("x8", 8, 0.268)]
            )
        ),
    ),
    Region(
        "aws",
        "eu-west-1",
        "EU West (Ireland)",
        tuple(
            _gpu("aws", "eu-west-1", "nvidia-l4", "Nvidia L4", [("x1", 1, 8, 30, 24, 0.85, "available")])
            + _gpu(
                "aws",
                "eu-west-1",
                "nvidia-a10g",
                "Nvidia A10G",
                [("x1", 1, 4, 15, 24, 1.1, "low_availability")],
            )
            + _cpu("aws", "eu-west-1", [("x1", 1, 0.036), ("x2", 2, 0.072)])
        ),
    ),
    # A second vendor with entries that cannot be deployed, as the real catalogue has.
    Region(
        "gcp",
        "us-east4",
        "US East (Virginia)",
        tuple(
            _gpu(
                "gcp",
                "us-east4",
                "nvidia-l4",
                "Nvidia L4",
                [("x1", 1, 8, 32, 24, 0.7, "available"), ("x4", 4, 48, 192, 96, 2.8, "low_availability")],
            )
            + _gpu("gcp", "us-east4", "nvidia-t4", "Nvidia T4", [("x1", 1, 4, 16, 16, 0.5, "deprecated")])
            + _gpu(
                "gcp", "us-east4", "nvidia-a100", "Nvidia A100", [("x1", 1, 12, 85, 80, 3.6, "not_available")]
            )
        ),
    ),
)


def find_compute(
    vendor: str, region: str, accelerator: str, instance_type: str, instance_size: str
) -> Compute | None:
    for reg in REGIONS:
        if reg.vendor != vendor or reg.name != region:
            continue
        for comp in reg.computes:
            if (comp.accelerator, comp.instance_type, comp.instance_size) == (
                accelerator,
                instance_type,
                instance_size,
            ):
                return comp
    return None


def has_region(vendor: str, region: str) -> bool:
    return any(r.vendor == vendor and r.name == region for r in REGIONS)


def vendors() -> list[str]:
    return sorted({r.vendor for r in REGIONS})
