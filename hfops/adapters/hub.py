"""Model resolution through the Hub with `huggingface_hub`: existence, task, commit, context length.

Called at plan time, once per (repository, revision) however many endpoints use it. A model that
does not exist, is not readable with the token, is gated without access, or is not a
`text-generation` model is refused here, before anything is created.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
from huggingface_hub import get_session
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
    """Resolves models with huggingface_hub's session, auth headers and error types.

    The model's info is read as `HfApi.model_info` reads it (the same GET, headers and
    `hf_raise_for_status`), but without its `ModelInfo` object model and without importing `HfApi`
    (0.15 s, about a third of a 500-endpoint plan): hfops keeps three fields of the answer.
    """

    def __init__(self, settings: Settings, *, retry: RetryPolicy | None = None) -> None:
        self._settings = settings
        self._retry = retry or RetryPolicy()

    def resolve(self, repository: str, revision: str) -> ResolvedModel:
        """Resolve one model; raises PlanError with the reason a user can act on."""
        result = self.resolve_all([(repository, revision)], parallelism=2)[(repository, revision)]
        if isinstance(result, PlanError):
            raise result
        return result

    def resolve_all(
        self,
        wanted: Iterable[tuple[str, str]],
        *,
        parallelism: int = 8,
        submit: Callable[..., Future[Any]] | None = None,
    ) -> dict[tuple[str, str], ResolvedModel | PlanError]:
        """Resolve each distinct (repository, revision) once, concurrently.

        A model's info and its config.json at the requested revision are read at once (one round
        trip, not two). The config is used only if the Hub says it served it from the commit the
        info names (`X-Repo-Commit`); a branch that moved between the two reads, or an answer
        without that header, costs a second read of the config at the info's commit.
        """
        unique = sorted(set(wanted))
        if not unique:
            return {}
        # `submit`: the caller's threads (early reads run on daemon threads, which an ending
        # process does not wait for); by default a pool of this call's own.
        with contextlib.ExitStack() as stack:
            if submit is None:
                pool = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, min(parallelism, 2 * len(unique)))))
                submit = pool.submit
            infos = {key: submit(self._info, *key) for key in unique}
            configs = {key: submit(self._config, *key) for key in unique}
            # A config served from another commit than the info's (or not said) is read again at
            # that commit, in the pool too: behind a proxy that drops the header, one wave more.
            again: dict[tuple[str, str], Future[_Config]] = {}
            for key in unique:
                info = _result(infos[key])
                config = _result(configs[key])
                if isinstance(info, _ModelInfo) and info.pipeline_tag == TASK and (
                    isinstance(config, _Config) and config.commit != info.sha
                ):
                    again[key] = submit(self._config, key[0], info.sha)
            return {
                key: self._combine(key, infos[key], again.get(key) or configs[key]) for key in unique
            }

    def _combine(
        self,
        key: tuple[str, str],
        info_read: Future[_ModelInfo],
        config_read: Future[_Config],
    ) -> ResolvedModel | PlanError:
        repository, revision = key
        try:
            info = info_read.result()
        except PlanError as error:
            config_read.cancel()
            return error
        if info.pipeline_tag != TASK:
            config_read.cancel()
            return PlanError(
                f"model {repository} has task {info.pipeline_tag!r} on the Hub; hfops deploys only "
                f"{TASK!r} models served by text-generation-inference (TGI)",
            )
        try:
            config = config_read.result()
        except PlanError as error:
            return error
        return ResolvedModel(
            repository=repository,
            requested_revision=revision,
            sha=info.sha,
            pipeline_tag=info.pipeline_tag,
            context_length=context_length(config.data) if config.data else None,
            gated=info.gated,
        )

    def _info(self, repository: str, revision: str) -> _ModelInfo:
        """GET /api/models/{repo}/revision/{rev}, as `HfApi.model_info` sends it."""
        url = f"{self._settings.hub_url}/api/models/{repository}/revision/{quote(revision, safe='')}"

        def read() -> _ModelInfo:
            response = get_session().get(
                url, headers=build_hf_headers(token=self._settings.token), timeout=self._settings.http_timeout
            )
            hf_raise_for_status(response)
            data = response.json()
            sha = data["sha"]
            tag = data.get("pipeline_tag")
            if not isinstance(sha, str) or not sha or not (tag is None or isinstance(tag, str)):
                raise TypeError("sha must be a string")  # a malformed answer: retried
            return _ModelInfo(sha=sha, pipeline_tag=tag, gated=bool(data.get("gated") or False))

        try:
            return call_with_retries(read, policy=self._retry, operation=f"read model {repository} from the Hub")
        except GatedRepoError:
            raise PlanError(f"model {repository} is gated and this token has not been granted access") from None
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

    def _config(self, repository: str, ref: str) -> _Config:
        """config.json at `ref` (a revision or a commit), with the commit the Hub served it from.

        Read into memory, never through a cache on disk: hfops needs the file once per run and
        must not depend on, or fill, the user's Hub cache; and a temporary cache directory
        (/tmp/hfops-hub-*) would be left behind by a killed run.
        """
        try:
            data, commit = call_with_retries(
                lambda: self._download(repository, "config.json", ref),
                policy=self._retry,
                operation=f"read config.json of model {repository}",
            )
        except GatedRepoError:
            raise PlanError(
                f"model {repository} is gated and this token has not been granted access",
                hint=f"request access at {self._settings.hub_url}/{repository}",
            ) from None
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as error:
            # No config (or, at a revision, none any more): a commit read says which. The
            # commit is the one the Hub named, so a moved branch still reads the info's commit.
            response = getattr(error, "response", None)
            return _Config(None, _served_commit(response) if isinstance(response, httpx2.Response) else None)
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
            return _Config(None, commit)
        try:
            loaded = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: nested too deep
            return _Config(None, commit)
        return _Config(loaded if isinstance(loaded, dict) else None, commit)

    def _download(self, repository: str, filename: str, ref: str) -> tuple[bytes | None, str | None]:
        """One repository file's bytes (None when larger than MAX_CONFIG_BYTES) and the commit the
        Hub served it from; Hub errors raised typed."""
        # The Hub's resolve route, built here (hf_hub_url rewrites from the HF_ENDPOINT read at import).
        url = f"{self._settings.hub_url}/{repository}/resolve/{quote(ref, safe='')}/{quote(filename)}"
        headers = build_hf_headers(token=self._settings.token)
        with get_session().stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=self._settings.http_timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            commit = _served_commit(response)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_CONFIG_BYTES:
                    return None, commit  # not a model config: treated as none (the window is found elsewhere)
                chunks.append(chunk)
        return b"".join(chunks), commit


def _result(future: Future[Any]) -> Any:
    """The future's value, or the PlanError it raised (other errors propagate)."""
    try:
        return future.result()
    except PlanError as error:
        return error


@dataclass(frozen=True)
class _ModelInfo:
    sha: str
    pipeline_tag: str | None
    gated: bool


@dataclass(frozen=True)
class _Config:
    data: dict[str, Any] | None
    commit: str | None  # the commit the Hub says it served the file from (None: not said)


def _served_commit(response: httpx2.Response) -> str | None:
    """`X-Repo-Commit` of the answer, or of the first answer of a redirect (a CDN drops it)."""
    for answer in (response, *response.history):
        commit = answer.headers.get("X-Repo-Commit")
        if commit:
            return str(commit)
    return None
