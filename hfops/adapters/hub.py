"""Model resolution through the Hub with `huggingface_hub`: existence, task, commit, context length.

Called at plan time, once per (repository, revision) however many endpoints use it. A model that
does not exist, is not readable with the token, is gated without access, or is not a
`text-generation` model is refused here, before anything is created.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx2
from huggingface_hub import HfApi, get_session
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import (  # type: ignore[attr-defined]  # lazily exported, typed at their home
    build_hf_headers,
    hf_raise_for_status,
)

from hfops.adapters.retry import RetryPolicy, call_with_retries
from hfops.adapters.settings import Settings
from hfops.core.errors import PlanError, RemoteError
from hfops.core.model import TASK, ResolvedModel

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a model's config.json is a few KiB
# Keys under which model configs state their context length, most common first.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length")


def context_length(config: dict[str, Any]) -> int | None:
    """The model's context length from its config.json, looking inside `text_config` too."""
    for source in (config, config.get("text_config") or {}):
        if not isinstance(source, dict):
            continue
        for key in CONTEXT_KEYS:
            value = source.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


class ModelResolver:
    def __init__(self, settings: Settings, *, retry: RetryPolicy | None = None) -> None:
        self._api = HfApi(endpoint=settings.hub_url, token=settings.token)
        self._settings = settings
        self._retry = retry or RetryPolicy()

    def resolve(self, repository: str, revision: str) -> ResolvedModel:
        """Resolve one model; raises PlanError with the reason a user can act on."""
        token = self._settings.token
        try:
            info = call_with_retries(
                lambda: self._api.model_info(repository, revision=revision, token=token),
                policy=self._retry,
                operation=f"read model {repository} from the Hub",
            )
        except GatedRepoError:
            raise PlanError(
                f"model {repository} is gated and this token has not been granted access"
            ) from None
        except RevisionNotFoundError:
            raise PlanError(f"revision {revision!r} not found in model {repository}") from None
        except RepositoryNotFoundError:
            raise PlanError(
                f"model {repository} not found on the Hub (or not readable with this token)",
                hint="check spec.model.repository and that HF_TOKEN can read it",
            ) from None
        except HfHubHTTPError as error:
            status = error.response.status_code if error.response is not None else "?"
            raise PlanError(f"cannot read model {repository} from the Hub (HTTP {status})") from None
        except (httpx2.TransportError, ConnectionError, TimeoutError) as error:
            raise PlanError(
                f"cannot read model {repository} from the Hub at {self._settings.hub_url}: "
                f"no answer ({type(error).__name__})",
                hint="check HF_ENDPOINT and the network",
            ) from None
        except RemoteError as error:  # refused by the session (redirect, size, plain http) or unreadable
            raise PlanError(error.message, hint=error.hint) from None
        pipeline_tag = getattr(info, "pipeline_tag", None)
        if pipeline_tag != TASK:
            raise PlanError(
                f"model {repository} has task {pipeline_tag!r} on the Hub; hfops deploys only "
                f"{TASK!r} models served by text-generation-inference (TGI)",
            )
        sha = str(info.sha)
        gated = bool(getattr(info, "gated", False))
        config = self._config(repository, sha)
        return ResolvedModel(
            repository=repository,
            requested_revision=revision,
            sha=sha,
            pipeline_tag=pipeline_tag,
            context_length=context_length(config) if config else None,
            gated=gated,
        )

    def _config(self, repository: str, sha: str) -> dict[str, Any] | None:
        # Read into memory, never through a cache on disk: hfops needs the file once per run and
        # must not depend on, or fill, the user's Hub cache; and a temporary cache directory
        # (/tmp/hfops-hub-*) would be left behind by a killed run.
        try:
            data = call_with_retries(
                lambda: self._download(repository, "config.json", sha),
                policy=self._retry,
                operation=f"read config.json of model {repository}",
            )
        except GatedRepoError:
            raise PlanError(
                f"model {repository} is gated and this token has not been granted access",
                hint=f"request access at {self._settings.hub_url}/{repository}",
            ) from None
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
            return None
        except HfHubHTTPError as error:
            status = error.response.status_code if error.response is not None else "?"
            raise PlanError(f"cannot read config.json of model {repository} (HTTP {status})") from None
        except (httpx2.TransportError, ConnectionError, TimeoutError) as error:
            raise PlanError(
                f"cannot read config.json of model {repository} from {self._settings.hub_url}: "
                f"no answer ({type(error).__name__})"
            ) from None
        except RemoteError as error:
            raise PlanError(error.message, hint=error.hint) from None
        if data is None:
            return None
        try:
            loaded = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def _download(self, repository: str, filename: str, sha: str) -> bytes | None:
        """One repository file's bytes (None when larger than MAX_CONFIG_BYTES); Hub errors raised typed."""
        # The Hub's resolve route, built here (hf_hub_url rewrites from the HF_ENDPOINT read at import).
        url = f"{self._settings.hub_url}/{repository}/resolve/{quote(sha, safe='')}/{quote(filename)}"
        headers = build_hf_headers(token=self._settings.token)
        with get_session().stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=self._settings.http_timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_CONFIG_BYTES:
                    return None  # not a model config: treated as none (the window is found elsewhere)
                chunks.append(chunk)
        return b"".join(chunks)

    def resolve_all(
        self, wanted: Iterable[tuple[str, str]], *, parallelism: int = 8
    ) -> dict[tuple[str, str], ResolvedModel | PlanError]:
        """Resolve each distinct (repository, revision) once, concurrently."""
        unique = sorted(set(wanted))

        def one(key: tuple[str, str]) -> ResolvedModel | PlanError:
            try:
                return self.resolve(*key)
            except PlanError as error:
                return error

        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(unique)))) as pool:
            return dict(zip(unique, pool.map(one, unique), strict=True))
