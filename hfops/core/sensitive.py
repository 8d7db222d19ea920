"""Which plain values are credentials: the rule `hfops import` and manifest validation share.

Pure. An endpoint's `env` is plain configuration the API returns verbatim; people still keep
tokens there (`HF_TOKEN: hf_...` to reach a gated model). Such a value must never reach a manifest
or a plan, so hfops recognises it by two signs:

- its **value** has the shape of a known token: `hf_` / `api_org_` (Hugging Face), `ghp_` / `gho_`
  / `github_pat_` (GitHub), `glpat-` (GitLab), `sk-` (OpenAI and others), `xoxb-` / `xoxp-` (Slack),
  `AKIA` (AWS access key id), followed by at least 8 more token characters;
- its **name** has a credential word: split at `_`, `-` and `.`, one word ends with `TOKEN`,
  `SECRET`, `KEY`, `PASSWORD` or `PASSWD`, or is `CREDENTIAL(S)`, case-insensitively
  (`HF_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `APIKEY`, `DB_PASSWORD`; not `MAX_TOTAL_TOKENS` nor
  `TOKENIZER_NAME`).

`hfops import` writes every env entry matching either sign as `secrets: {NAME: {fromEnv: VAR}}`.
Validation refuses only the value shape in `env` (a hand-written `env: {KEY: value}` is fine) and
the redaction placeholder, which is what a redacted manifest shows instead of a value.
"""

from __future__ import annotations

import re

from hfops.core.fields import SENSITIVE

TOKEN_PREFIXES = ("hf_", "api_org_", "ghp_", "gho_", "github_pat_", "glpat-", "sk-", "xoxb-", "xoxp-", "AKIA")
_TOKEN_SHAPE = re.compile("^(?:" + "|".join(re.escape(p) for p in TOKEN_PREFIXES) + r")[A-Za-z0-9_\-]{8,}$")
_WORD_ENDINGS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD")
_WHOLE_WORDS = ("CREDENTIAL", "CREDENTIALS")
# Variables hfops reads itself: an imported secret must not default to one of them (the deploy
# token would silently be sent to the endpoint's container in place of the value it had).
HFOPS_OWN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "GENSTUDIO_API_KEY", "KUBECONFIG")


def looks_like_token(value: str) -> bool:
    """The value has the shape of a known token (see the module docstring)."""
    return _TOKEN_SHAPE.match(value.strip()) is not None


def is_credential_name(name: str) -> bool:
    words = [w for w in re.split(r"[_\-.]+", name.upper()) if w]
    return any(w.endswith(_WORD_ENDINGS) or w in _WHOLE_WORDS for w in words)


def is_credential(name: str, value: str) -> bool:
    """An env entry `hfops import` must not write as a plain value."""
    return is_credential_name(name) or looks_like_token(value) or value == SENSITIVE


def is_placeholder(value: str) -> bool:
    """The text hfops prints in place of a sensitive value: never a value to apply."""
    return SENSITIVE in value


def variable_for(endpoint: str, key: str) -> str:
    """The environment variable an imported secret reads: the key itself, unless hfops reads that
    variable for its own purposes (or it is one of its HFOPS_ settings), then `<ENDPOINT>_<KEY>`."""
    if (
        key not in HFOPS_OWN_VARIABLES
        and not key.upper().startswith("HFOPS_")
        and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key)
    ):
        return key
    prefix = re.sub(r"[^A-Za-z0-9_]", "_", endpoint.upper())
    candidate = re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}_{key}")
    return candidate if re.match(r"^[A-Za-z_]", candidate) else f"_{candidate}"


def is_sensitive_change(path: str, *values: object) -> bool:
    """A plan change of `env.KEY` whose value (either side) is a credential: shown masked.

    The live side is whatever the endpoint holds, including tokens someone kept in its env.
    """
    env, dot, key = path.partition(".")
    return env == "env" and bool(dot) and any(isinstance(v, str) and is_credential(key, v) for v in values)
