"""The emulator's settings, shared by the Python API (`Emulator`), `serve_forever` and the click command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .catalog import ModelEntry
from .variants import OPTIMISTIC, PESSIMISTIC, VARIANTS


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator listens and behaves. Invalid values raise ValueError at construction."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    models: tuple[ModelEntry, ...] = ()  # added to (or replacing by id) the built-in catalogue
    provision_seconds: float = 2.0  # real seconds for pending->initializing->running, updates, wake-ups
    time_scale: float = 1.0  # emulated clock speed for the scale-to-zero idle timers
    latency_ms: float = 0.0  # added before every response
    fail_rate: float = 0.0  # share of /v2 and Hub requests answered 429/500/502/503
    seed: int | None = None  # seeds the fault RNG and the endpoint URL ids
    request_log: str | None = None  # append one JSON line per request (never headers or bodies)
    # Never shown in repr: the emulator must not print or log token values.
    tokens: tuple[str, ...] = field(default=(), repr=False)  # empty: any bearer starting with hf_
    retry_after_seconds: float = 1.0  # Retry-After sent with injected 429/503s (extension)
    # Connection-level faults (extensions), for the fault-injection suite:
    drop_rate: float = 0.0  # share of /v2 and Hub requests whose connection is closed unanswered, undone
    lost_response_rate: float = 0.0  # share of /v2 writes carried out whose response is then lost
    stall_ms: float = 0.0  # a dropped or lost response holds the connection this long before closing it
    slow_body_ms: float = 0.0  # /v2 and Hub response bodies are trickled out over this many ms
    echo_errors: bool = False  # error answers echo the request's headers and body (a leaky server)
    # A hostile or broken server (extensions, /v2 only; faults.py):
    redirect_writes_to: str | None = None  # writes answered 307 to this other base URL, nothing done
    endpoint_url_base: str | None = None  # status.url given under this base instead of the emulator's
    malformed_rate: float = 0.0  # share of 2xx answers whose body is replaced (request carried out)
    malformed_kind: str = "json"  # json (truncated) | html | shape (JSON, wrong shape) | deep (nested 100,000 deep)
    oversized_mb: float = 0.0  # pad 2xx answers with this many MB of whitespace, sent chunked
    escape_errors: bool = False  # error messages carry terminal escape sequences
    strip_commit_header: bool = False  # Hub file answers without X-Repo-Commit (a mirror or proxy)
    # Uncertain-point variants (variants.py; reference §9). Defaults: the likely variant, except
    # quotas and namespaces (contract §5); `optimistic()` is the historical, kinder emulator.
    null_on_put: str = "keep"  # U1: clear | keep | reject
    update_rollout: str = "lagged"  # U2: immediate | lagged
    update_lag_seconds: float | None = None  # U2 lagged: PUT -> `updating` after this (None: provision/2)
    quotas: str = "generous"  # U3: generous (1,000) | realistic
    private_endpoints: str = "strict"  # U4: lenient | strict
    secrets_readback: str = "omitted"  # U5: null-values | omitted
    type_on_put: str = "ignored"  # U6: applied | ignored
    empty_put: str = "no-redeploy"  # U7: redeploys | no-redeploy
    namespaces: str = "any"  # U8: any | restricted
    # U8: token -> (user, orgs) for whoami and restricted namespaces; never shown (holds tokens).
    token_namespaces: tuple[tuple[str, str, tuple[str, ...]], ...] = field(default=(), repr=False)
    rate_limit: float = 0.0  # U9: requests per second per token on /v2 and Hub routes (0: off)
    rate_burst: int | None = None  # U9: bucket size (None: max(1, ceil(rate_limit)))
    rate_limit_headers: str = "always"  # U9: RateLimit headers on every limited answer, or "429" only
    served_window: str = "kv-cache"  # U10: context | kv-cache
    protected_type: str = "accepted"  # U11: rejected | accepted

    @classmethod
    def optimistic(cls, **overrides: Any) -> EmulatorConfig:
        """Every uncertain point at the emulator's historical, kinder variant (null clears, ...)."""
        settings: dict[str, Any] = dict(OPTIMISTIC)
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def pessimistic(cls, **overrides: Any) -> EmulatorConfig:
        """Every uncertain point at its likely-real variant, except namespaces and quotas (contract §5)."""
        settings: dict[str, Any] = dict(PESSIMISTIC)
        settings.update(overrides)
        return cls(**settings)

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError("port must be an integer between 0 and 65535")
        if self.provision_seconds < 0:
            raise ValueError("provision_seconds must be >= 0")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must be >= 0")
        for name in ("drop_rate", "lost_response_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("redirect_writes_to", "endpoint_url_base"):
            value = getattr(self, name)
            if value is not None and not str(value).startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL")
        if not 0.0 <= self.malformed_rate <= 1.0:
            raise ValueError("malformed_rate must be between 0 and 1")
        if self.malformed_kind not in ("json", "html", "shape", "deep"):
            raise ValueError("malformed_kind must be one of json, html, shape, deep")
        if not self.oversized_mb >= 0:
            raise ValueError("oversized_mb must be >= 0")
        for name in ("stall_ms", "slow_body_ms"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        if any(not isinstance(t, str) or not t.strip() for t in self.tokens):
            raise ValueError("tokens must be non-empty strings")
        if not all(isinstance(m, ModelEntry) for m in self.models):
            raise ValueError("models must be ModelEntry values")
        for name, (choices, _default, _likely) in VARIANTS.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}")
        if self.update_lag_seconds is not None and not self.update_lag_seconds >= 0:
            raise ValueError("update_lag_seconds must be >= 0")
        if not self.rate_limit >= 0:
            raise ValueError("rate_limit must be >= 0")
        if self.rate_burst is not None and self.rate_burst < 1:
            raise ValueError("rate_burst must be >= 1")
        identities = tuple((str(t), str(user), tuple(orgs)) for t, user, orgs in self.token_namespaces)
        if any(not t.strip() or not user.strip() for t, user, _ in identities):
            raise ValueError("token_namespaces entries need a token and a user namespace")
        object.__setattr__(self, "token_namespaces", identities)
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "tokens", tuple(self.tokens))
