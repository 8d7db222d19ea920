"""What the emulated cloud and Hub know about: models (Hub repositories) here, hardware in hardware.py.

Read by the store (validation, deploy outcome, quotas), the Hub routes (model info, config.json) and
the fake TGI (context length). Pure data plus lookups; nothing here touches HTTP or state.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .hardware import (
    MAX_ACCELERATORS,
    REALISTIC_QUOTAS,
    REGIONS,
    Compute,
    Region,
    find_compute,
    has_region,
    quota_for,
    vendors,
)

# The single emulated Hub user every accepted token belongs to, and its organisations.
USER_NAME = "hfops-emulator"
USER_ID = "65f2c0ffee4d1e2a3b4c5d6e"
ORGS = ("acme", "genstudio")

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# A Hub repo id: `name` or `org/name` (letters, digits, `-`, `_`, `.`).
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")

# Keys TGI reads, in order, to find a model's context length (max_position_embeddings first).
CONTEXT_KEYS = ("max_position_embeddings", "max_seq_len", "n_positions", "seq_length")


@dataclass(frozen=True)
class ModelEntry:
    """One Hub model repository as the emulator serves it.

    `gated` is False, True (same as "manual"), "manual" or "auto". `revisions` maps extra named refs
    (tags/branches, e.g. "v1.0") to commit shas; `main` and the model's own `sha` always resolve.
    """

    id: str
    pipeline_tag: str | None
    sha: str
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    gated: bool | str = False
    revisions: Mapping[str, str] = field(default_factory=dict, hash=False)
    library_name: str | None = "transformers"
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _REPO_ID_RE.match(self.id):
            raise ValueError(f"invalid model id {self.id!r}: expected 'name' or 'org/name'")
        if self.pipeline_tag is not None and not isinstance(self.pipeline_tag, str):
            raise ValueError(f"model {self.id}: pipeline_tag must be a string or null")
        if not isinstance(self.sha, str) or not _SHA_RE.match(self.sha):
            raise ValueError(f"model {self.id}: sha must be 40 lowercase hexadecimal characters")
        if not isinstance(self.config, Mapping):
            raise ValueError(f"model {self.id}: config must be an object")
        if self.gated not in (False, True, "manual", "auto"):
            raise ValueError(f"model {self.id}: gated must be false, true, 'manual' or 'auto'")
        if not isinstance(self.revisions, Mapping):
            raise ValueError(f"model {self.id}: revisions must be an object")
        for ref, sha in self.revisions.items():
            if not isinstance(ref, str) or not ref or not isinstance(sha, str) or not _SHA_RE.match(sha):
                raise ValueError(f"model {self.id}: revision {ref!r} must map to a 40-hex commit sha")
        if self.library_name is not None and not isinstance(self.library_name, str):
            raise ValueError(f"model {self.id}: library_name must be a string or null")
        if not all(isinstance(t, str) for t in self.tags):
            raise ValueError(f"model {self.id}: tags must be strings")
        # Own private copies, so a caller mutating its dict cannot change the served model.
        object.__setattr__(self, "config", copy.deepcopy(dict(self.config)))
        object.__setattr__(self, "revisions", dict(self.revisions))
        object.__setattr__(self, "tags", tuple(self.tags))
        if self.gated is True:
            object.__setattr__(self, "gated", "manual")

    @property
    def is_gated(self) -> bool:
        return self.gated is not False

    @property
    def context_length(self) -> int | None:
        return context_length(self.config)

    def config_json(self) -> bytes:
        """The repository's config.json, byte-stable (sorted keys) so its ETag is stable."""
        return (json.dumps(self.config, indent=2, sort_keys=True) + "\n").encode()

    def resolve(self, revision: str | None) -> str | None:
        """Commit sha a revision names (None or 'main' -> head), or None if the repo has no such revision."""
        if revision is None or revision == "main" or revision == self.sha:
            return self.sha
        if revision in self.revisions:
            return self.revisions[revision]
        if revision in self.revisions.values():
            return revision
        return None


def context_length(config: Mapping[str, Any]) -> int | None:
    """The context length TGI would read from a config.json (first of CONTEXT_KEYS that is an int)."""
    for key in CONTEXT_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _llama_config(max_pos: int, vocab: int, kv_heads: int, rope_theta: float) -> dict[str, Any]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008 if vocab == 32000 else 14336,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": max_pos,
        "vocab_size": vocab,
        "rms_norm_eps": 1e-05 if vocab == 128256 else 1e-06,
        "rope_theta": rope_theta,
        "hidden_act": "silu",
        "torch_dtype": "bfloat16" if vocab == 128256 else "float16",
        "bos_token_id": 128000 if vocab == 128256 else 1,
        "eos_token_id": 128009 if vocab == 128256 else 2,
        "tie_word_embeddings": False,
        "transformers_version": "4.40.0.dev0" if vocab == 128256 else "4.32.0.dev0",
    }


BUILTIN_MODELS: tuple[ModelEntry, ...] = (
    # Not gated here (it is on the real Hub) so that the demo works without an access grant.
    ModelEntry(
        id="meta-llama/Llama-2-7b-chat-hf",
        pipeline_tag="text-generation",
        sha="f5db02db724555f92da89c216ac04704f23d4590",
        config=_llama_config(4096, 32000, 32, 10000.0),
        tags=("transformers", "pytorch", "safetensors", "llama", "text-generation", "conversational"),
    ),
    ModelEntry(
        id="mistralai/Mistral-7B-Instruct-v0.2",
        pipeline_tag="text-generation",
        sha="3ad372fc79158a2148299e3318516c786aeded6c",
        config={
            "architectures": ["MistralForCausalLM"],
            "model_type": "mistral",
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_attention_heads": 32,
            "num_hidden_layers": 32,
            "num_key_value_heads": 8,
            "max_position_embeddings": 32768,
            "sliding_window": None,
            "rope_theta": 1000000.0,
            "vocab_size": 32000,
            "rms_norm_eps": 1e-05,
            "hidden_act": "silu",
            "torch_dtype": "bfloat16",
            "bos_token_id": 1,
            "eos_token_id": 2,
            "tie_word_embeddings": False,
            "transformers_version": "4.36.0",
        },
        tags=("transformers", "pytorch", "safetensors", "mistral", "text-generation", "conversational"),
    ),
    # gpt2's config has no max_position_embeddings: TGI falls back to n_positions (1024).
    ModelEntry(
        id="gpt2",
        pipeline_tag="text-generation",
        sha="607a30d783dfa663caf39e06633721c8d4cfcd7e",
        config={
            "activation_function": "gelu_new",
            "architectures": ["GPT2LMHeadModel"],
            "attn_pdrop": 0.1,
            "bos_token_id": 50256,
            "embd_pdrop": 0.1,
            "eos_token_id": 50256,
            "initializer_range": 0.02,
            "layer_norm_epsilon": 1e-05,
            "model_type": "gpt2",
            "n_ctx": 1024,
            "n_embd": 768,
            "n_head": 12,
            "n_layer": 12,
            "n_positions": 1024,
            "resid_pdrop": 0.1,
            "summary_activation": None,
            "summary_first_dropout": 0.1,
            "summary_proj_to_labels": True,
            "summary_type": "cls_index",
            "summary_use_proj": True,
            "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
            "vocab_size": 50257,
        },
        tags=("transformers", "pytorch", "tf", "jax", "safetensors", "gpt2", "text-generation", "en"),
    ),
    ModelEntry(
        id="sentence-transformers/all-MiniLM-L6-v2",
        pipeline_tag="feature-extraction",
        sha="c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        config={
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": 384,
            "intermediate_size": 1536,
            "num_attention_heads": 12,
            "num_hidden_layers": 6,
            "max_position_embeddings": 512,
            "vocab_size": 30522,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-12,
            "pad_token_id": 0,
            "torch_dtype": "float32",
            "transformers_version": "4.8.2",
        },
        library_name="sentence-transformers",
        tags=("sentence-transformers", "pytorch", "safetensors", "bert", "feature-extraction", "en"),
    ),
    ModelEntry(
        id="meta-llama/Meta-Llama-3-8B-Instruct",
        pipeline_tag="text-generation",
        sha="e1945c40cd546c78e41f1151f4db032b271faeaa",
        config=_llama_config(8192, 128256, 8, 500000.0),
        gated="manual",
        tags=("transformers", "safetensors", "llama", "text-generation", "conversational", "llama-3"),
    ),
)


_MODEL_FILE_KEYS = {"id", "pipeline_tag", "sha", "config", "gated", "revisions", "library_name", "tags"}


def load_models_file(path: str) -> tuple[ModelEntry, ...]:
    """Read a `--models FILE`: a JSON list of {"id", "pipeline_tag", "sha", "config", "gated"}.

    Optional extra keys: "revisions" ({ref: sha}), "library_name", "tags". Raises ValueError with the
    file name and the offending entry on any problem (unreadable file, bad JSON, bad field).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read models file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of models, got {type(data).__name__}")
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        where = f"{path}: model #{index + 1}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected an object")
        unknown = sorted(set(item) - _MODEL_FILE_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        missing = [key for key in ("id", "pipeline_tag", "sha", "config") if key not in item]
        if missing:
            raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
        tags = item.get("tags", [])
        if not isinstance(tags, list):
            raise ValueError(f"{where}: tags must be a list of strings")
        try:
            entry = ModelEntry(
                id=item["id"],
                pipeline_tag=item["pipeline_tag"],
                sha=item["sha"],
                config=item["config"],
                gated=item.get("gated", False),
                revisions=item.get("revisions", {}),
                library_name=item.get("library_name", "transformers"),
                tags=tuple(tags),
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        if entry.id in seen:
            raise ValueError(f"{where}: duplicate model id {entry.id!r}")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)


class ModelCatalog:
    """Built-in models plus the configured ones (a configured id replaces the built-in one)."""

    def __init__(self, extra: Iterable[ModelEntry] = ()) -> None:
        self._models: dict[str, ModelEntry] = {m.id: m for m in BUILTIN_MODELS}
        for entry in extra:
            self._models[entry.id] = entry

    def get(self, repo_id: str) -> ModelEntry | None:
        return self._models.get(repo_id)

    def ids(self) -> list[str]:
        return list(self._models)

    def push_commit(self, repo_id: str, sha: str, ref: str = "main") -> None:
        """A new commit on branch `ref`: the branch now resolves to `sha`; earlier commits still resolve,
        as on the Hub (a pinned endpoint keeps its commit, a branch moves on)."""
        entry = self._models[repo_id]
        revisions = dict(entry.revisions)
        if ref == "main":
            revisions[entry.sha] = entry.sha  # the old head stays reachable by its sha
            self._models[repo_id] = replace(entry, sha=sha, revisions=revisions)
        else:
            if ref in revisions:
                revisions[revisions[ref]] = revisions[ref]
            revisions[ref] = sha
            self._models[repo_id] = replace(entry, revisions=revisions)


__all__ = [
    "MAX_ACCELERATORS",
    "REALISTIC_QUOTAS",
    "REGIONS",
    "Compute",
    "ModelCatalog",
    "ModelEntry",
    "Region",
    "find_compute",
    "has_region",
    "load_models_file",
    "quota_for",
    "vendors",
]
