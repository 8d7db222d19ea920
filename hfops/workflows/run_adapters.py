"""What a run talks to the API with, and the settings it refuses to run under: one of each per run.

Shared by the reconciler and the reads a plan sends before it (`early_reads.py`), which must
refuse exactly what the reconciler refuses, and hand it the very adapters they used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hfops.adapters.settings import Settings
from hfops.core.errors import UsageError
from hfops.core.model import OWNER_PATTERN

if TYPE_CHECKING:
    from hfops.adapters.endpoints import HubEndpoints
    from hfops.adapters.hub import ModelResolver
    from hfops.adapters.retry import RetryPolicy


def refusal(settings: Settings) -> UsageError | None:
    """Why a run cannot start with these settings (before any request), or None."""
    if not settings.token:
        return UsageError(
            "no Hugging Face token: set HF_TOKEN",
            hint="use a token that can manage Inference Endpoints in the target namespace",
        )
    if not re.fullmatch(OWNER_PATTERN, settings.owner):
        return UsageError(
            f"owner {settings.owner!r} cannot be recorded in a tag",
            hint="--owner / HFOPS_OWNER: up to 48 letters, digits, '.', '_' or '-'; the first a letter or a digit",
        )
    return None


@dataclass(frozen=True)
class RunAdapters:
    """One retry policy for the run (one rate-limit budget, one count of retries, one stop event)
    and the endpoints and model adapters that use it."""

    retry: RetryPolicy
    endpoints: HubEndpoints
    models: ModelResolver


def run_adapters(settings: Settings) -> RunAdapters:
    from hfops.adapters.endpoints import HubEndpoints
    from hfops.adapters.hub import ModelResolver
    from hfops.adapters.retry import RetryPolicy

    retry = RetryPolicy()
    return RunAdapters(retry, HubEndpoints(settings, retry=retry), ModelResolver(settings, retry=retry))
