"""Uncertain points (reference §9, U1-U13): each one an `EmulatorConfig` field and an `hfops emulator` flag.

Defaults are the variant the public evidence makes likely (the service most likely behaves so),
except namespaces (U8) and quotas (U3), whose permissive defaults the contract fixes (§5).
`--optimistic` / `EmulatorConfig.optimistic()` plays the emulator's historical, kinder behaviour;
`--pessimistic` / `EmulatorConfig.pessimistic()` the likely one (the defaults).

Per point: field / flag, optimistic (historical) -> the likely variant (the default):

- U1 `null_on_put` / --null-on-put: clear -> keep. Null reads as "unchanged" (HH PR #2476), and a
  merged config with minReplica > 0 and a timeout is a 400 (trending-deploy PR #8).
- U2 `update_rollout` / --update-rollout: immediate -> lagged. The PUT answer still says running,
  `updating` comes later, the old replica serves meanwhile (HH issue #2767, PR #2867).
- U3 `quotas` / --quotas: generous (1,000; stays the default) -> realistic: 16/60/2-sized quotas and
  computes listed `available` with quota 0/0 (HH 909b162a0, MOCK_PROVIDERS).
- U4 `private_endpoints` / --private-endpoints: lenient -> strict. Private needs
  privateService.accountId (PrivateLink docs); the URL does not answer from outside.
- U5 `secrets_readback` / --secrets-readback: null-values -> omitted (only a third-party client
  suggests keys with null values).
- U6 `type_on_put` / --type-on-put: applied -> ignored (the 2023 update schema has only compute, model).
- U7 `empty_put` / --empty-put: redeploys -> no-redeploy: a tags-only or empty PUT neither redeploys
  nor moves updatedAt (undocumented).
- U8 `namespaces` / --namespaces: any (stays the default) -> restricted: only the token's user and
  its organisations; others 401 (HH list endpoints swallows those 401s).
- U9 always: every 429 carries `RateLimit: "api";r=0;t=N` and Retry-After; `rate_limit` /
  --rate-limit RPS[:BURST] adds a per-token token bucket (default off).
- U10 `served_window` / --served-window: context -> kv-cache: with no limits set TGI serves
  min(KV-cache capacity, context) (TGI flash_causal_lm warmup; kvcache.py).
- U11 `protected_type` / --protected-type: rejected -> accepted: old endpoints still report
  `type: protected` (HH test mocks, 2025).
- U12 always: TGI images still deploy; the default image runs 3.3.7, TGI's last release.
- U13 always: `/api/agent-harnesses` is served (huggingface_hub 2.x fetches it on start).

Loopback stand-ins: a strict private endpoint keeps its emulator URL but every TGI route there answers
404 "not reachable from outside its VPC" (a real one's host resolves only inside the VPC), and the
rendered `status.private` names a PrivateLink service.
"""

from __future__ import annotations

NULL_ON_PUT = ("clear", "keep", "reject")
UPDATE_ROLLOUT = ("immediate", "lagged")
QUOTAS = ("generous", "realistic")
PRIVATE_ENDPOINTS = ("lenient", "strict")
SECRETS_READBACK = ("null-values", "omitted")
TYPE_ON_PUT = ("applied", "ignored")
EMPTY_PUT = ("redeploys", "no-redeploy")
NAMESPACES = ("any", "restricted")
SERVED_WINDOW = ("context", "kv-cache")
PROTECTED_TYPE = ("rejected", "accepted")

# field name -> (choices, optimistic/historical variant, likely variant); the default is DEFAULTS[name]
VARIANTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "null_on_put": (NULL_ON_PUT, "clear", "keep"),
    "update_rollout": (UPDATE_ROLLOUT, "immediate", "lagged"),
    "quotas": (QUOTAS, "generous", "generous"),  # contract: stays generous even when pessimistic
    "private_endpoints": (PRIVATE_ENDPOINTS, "lenient", "strict"),
    "secrets_readback": (SECRETS_READBACK, "null-values", "omitted"),
    "type_on_put": (TYPE_ON_PUT, "applied", "ignored"),
    "empty_put": (EMPTY_PUT, "redeploys", "no-redeploy"),
    "namespaces": (NAMESPACES, "any", "any"),  # contract: stays any even when pessimistic
    "served_window": (SERVED_WINDOW, "context", "kv-cache"),
    "protected_type": (PROTECTED_TYPE, "rejected", "accepted"),
}

PESSIMISTIC: dict[str, str] = {name: likely for name, (_, _, likely) in VARIANTS.items()}
OPTIMISTIC: dict[str, str] = {name: kind for name, (_, kind, _) in VARIANTS.items()}
DEFAULTS: dict[str, str] = PESSIMISTIC  # quotas and namespaces are permissive in both (contract §5)
