"""Which secret environment variables a set of specs needs and the environment lacks. Pure.

Checked before any request (a plan refuses what apply would refuse), by the reconciler and by the
plan command before it reads ahead (`workflows/early_reads.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hfops.core.errors import Diagnostic, Location
from hfops.core.model import EndpointSpec

__all__ = ["check_secret_env"]


def check_secret_env(
    specs: Sequence[EndpointSpec], env: Mapping[str, str], *, api_keys: bool = True
) -> list[Diagnostic]:
    """Secret environment variables that are not set, located at the manifest field naming them.

    One problem per cause: a variable named once in a Defaults file is one line, naming the
    endpoints that use it (`used by acme/a, acme/b, +3 more`), not one line per endpoint.
    `api_keys=False` leaves the GenStudio key out (commands that write no credential).
    """
    causes: dict[tuple[Location, str, str], list[EndpointSpec]] = {}
    for spec in specs:
        for key, ref in spec.secrets:
            if not env.get(ref.env_var):
                cause = (spec.location_of(f"spec.secrets.{key}"), ref.env_var, "")
                causes.setdefault(cause, []).append(spec)
        api_key = spec.genstudio.api_key
        if api_keys and api_key is not None and not env.get(api_key.env_var):
            cause = (spec.location_of("spec.genstudio.apiKey"), api_key.env_var, "needed for the GenStudio api_key")
            causes.setdefault(cause, []).append(spec)
    files = list(dict.fromkeys(where.file for where, _, _ in causes))
    problems = []
    for (where, variable, why), users in sorted(
        causes.items(), key=lambda item: (files.index(item[0][0].file), item[0][0].line)
    ):
        detail = "; ".join(part for part in (why, _used_by(where, users)) if part)
        problems.append(
            Diagnostic(where, f"environment variable {variable} is not set" + (f" ({detail})" if detail else ""))
        )
    return problems


def _used_by(where: Location, users: Sequence[EndpointSpec], shown: int = 2) -> str:
    """`used by a, b, +3 more` when the line is shared or outside the endpoint's own file."""
    if len(users) == 1 and users[0].source.file == where.file:
        return ""
    names = [u.address for u in users]
    more = f", +{len(names) - shown} more" if len(names) > shown + 1 else ""
    return f"used by {', '.join(names[: shown if more else len(names)])}{more}"
