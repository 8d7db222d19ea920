"""Run-time settings from the environment and command-line flags, as one frozen value.

The token is held here and nowhere else; `Settings.__repr__` never shows it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_HUB_URL = "https://huggingface.co"
DEFAULT_API_URL = "https://api.endpoints.huggingface.cloud/v2"


@dataclass(frozen=True)
class Settings:
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    hub_url: str = DEFAULT_HUB_URL
    api_url: str = DEFAULT_API_URL
    credentials_dir: str = "credentials"
    owner: str = "default"  # the manifest set's owner identity (contract §4): --owner / HFOPS_OWNER
    timeout: float = 1800.0
    wait: bool = True
    poll_interval: float = 2.0
    parallelism: int = 8
    http_timeout: float = 20.0  # seconds without an answer before an API call is retried
    rollout_grace: float = 60.0  # HFOPS_ROLLOUT_GRACE: seconds an update may show no rollout (U2)

    def __repr__(self) -> str:
        token = "(set)" if self.token else "(unset)"
        return (
            f"Settings(token={token}, namespace={self.namespace!r}, hub_url={self.hub_url!r}, api_url={self.api_url!r})"
        )


def _positive_seconds(env: Mapping[str, str], name: str, *, zero: bool = False) -> float | None:
    """A positive (with `zero`: or 0), finite number of seconds from `name`, None when unset;
    anything else is a usage error.

    `inf` would overflow the waits (Event.wait), `nan` compares false with everything (a deadline
    never reached, or always), and 0 or a negative interval would poll without pause.
    """
    import math

    text = env.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        from hfops.core.errors import UsageError

        what = "0 or a positive" if zero else "a positive"
        raise UsageError(f"{name}={text!r} is not {what}, finite number of seconds", hint=f"e.g. {name}=2")
    return value


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from HF_TOKEN, HFOPS_NAMESPACE, HF_ENDPOINT, HFOPS_API_URL (and HFOPS_POLL_INTERVAL,
    seconds between status reads while waiting); flags override."""
    env = os.environ if env is None else env
    values: dict[str, object] = {
        "token": env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None,
        "namespace": env.get("HFOPS_NAMESPACE") or None,
        "hub_url": (env.get("HF_ENDPOINT") or DEFAULT_HUB_URL).rstrip("/"),
        "api_url": (env.get("HFOPS_API_URL") or DEFAULT_API_URL).rstrip("/"),
        "owner": env.get("HFOPS_OWNER") or "default",
    }
    http_timeout = _positive_seconds(env, "HFOPS_HTTP_TIMEOUT")
    if http_timeout is not None:
        values["http_timeout"] = max(1.0, http_timeout)
    grace = _positive_seconds(env, "HFOPS_ROLLOUT_GRACE", zero=True)
    if grace is not None:
        values["rollout_grace"] = grace
    poll = _positive_seconds(env, "HFOPS_POLL_INTERVAL")
    if poll is not None:
        values["poll_interval"] = max(0.05, poll)
    for name, key in (("HF_ENDPOINT", "hub_url"), ("HFOPS_API_URL", "api_url")):
        url = str(values[key])
        if not url.startswith(("http://", "https://")):
            from hfops.core.errors import UsageError

            raise UsageError(f"{name}={url!r} is not an http(s) URL")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
