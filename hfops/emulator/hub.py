"""The few Hugging Face Hub routes the hfops flow needs, shaped so unmodified huggingface_hub works.

- GET /api/whoami-v2 (token required)
- GET /api/models/{repo} and /api/models/{repo}/revision/{rev} (HfApi.model_info)
- GET/HEAD /{repo}/resolve/{rev}/{file} (hf_hub_download: HEAD for X-Repo-Commit + ETag + size, then GET)
- GET /api/agent-harnesses: the agent-harness registry huggingface_hub 2.x fetches on start and
  caches for 24 h (`utils/_detect_agent.py`: {"standardEnvVars": [...], "harnesses": {id: {"envVars"}}})
  (U13); no token needed

Errors carry the `X-Error-Code` header huggingface_hub maps to exception classes (`utils/_http.py`):
RepoNotFound -> RepositoryNotFoundError, RevisionNotFound -> RevisionNotFoundError,
EntryNotFound -> RemoteEntryNotFoundError, GatedRepo -> GatedRepoError. (Never on /v2 routes.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .catalog import ORGS, USER_ID, USER_NAME, ModelCatalog, ModelEntry
from .responses import Response, error_response, json_response

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
_LAST_MODIFIED = "2024-04-18T12:00:00.000Z"
_CREATED_AT = "2023-07-18T12:00:00.000Z"


def _hex_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def _coded(status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [("X-Error-Code", code), ("X-Error-Message", message), *(extra or [])]
    return error_response(status, message, headers)


def _unauthorized() -> Response:
    return error_response(401, INVALID_CREDENTIALS, [("X-Error-Message", INVALID_CREDENTIALS)])


# The shape huggingface_hub's _detect_agent.py reads; `"*"` matches any non-empty value.
AGENT_HARNESSES: dict[str, Any] = {
    "standardEnvVars": ["AI_AGENT", "AGENT"],
    "harnesses": {
        "claude-code": {"envVars": {"CLAUDECODE": "1"}},
        "codex": {"envVars": {"CODEX_SANDBOX": "*"}},
        "cursor": {"envVars": {"CURSOR_AGENT": "1"}},
        "gemini-cli": {"envVars": {"GEMINI_CLI": "1"}},
    },
}


@dataclass(frozen=True)
class Identity:
    """The Hub user a token belongs to and its organisations (whoami-v2; U8 namespaces)."""

    name: str
    orgs: tuple[str, ...]


def whoami(identity: Identity | None = None) -> dict[str, Any]:
    who = identity or Identity(USER_NAME, ORGS)
    return {
        "type": "user",
        "id": USER_ID if who.name == USER_NAME else _hex_id(f"user:{who.name}"),
        "name": who.name,
        "fullname": "hfops emulator",
        "email": "emulator@hfops.invalid",
        "emailVerified": True,
        "canPay": True,
        "isPro": False,
        "periodEnd": None,
        "avatarUrl": "/avatars/hfops-emulator.svg",
        "orgs": [
            {
                "type": "org",
                "id": _hex_id(org),
                "name": org,
                "fullname": org.capitalize(),
                "email": None,
                "canPay": True,
                "periodEnd": None,
                "avatarUrl": f"/avatars/{org}.svg",
                "roleInOrg": "admin",
                "isEnterprise": False,
            }
            for org in who.orgs
        ],
        "auth": {
            "type": "access_token",
            "accessToken": {"displayName": "hfops-emulator", "role": "write", "createdAt": _CREATED_AT},
        },
    }


def _files(model: ModelEntry) -> dict[str, bytes]:
    return {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": (
            f"---\nlibrary_name: {model.library_name}\n---\n# {model.id}\n\nServed by the hfops emulator.\n"
        ).encode(),
        "config.json": model.config_json(),
    }


def model_info(model: ModelEntry, sha: str) -> dict[str, Any]:
    # The Hub's model_info `config` is a summary (architectures, model_type), not config.json itself:
    # context lengths must be read from config.json.
    summary = {key: model.config[key] for key in ("architectures", "model_type") if key in model.config}
    return {
        "_id": _hex_id(model.id),
        "id": model.id,
        "modelId": model.id,
        "author": model.id.split("/", 1)[0] if "/" in model.id else None,
        "sha": sha,
        "lastModified": _LAST_MODIFIED,
        "createdAt": _CREATED_AT,
        "private": False,
        "disabled": False,
        "gated": model.gated,
        "downloads": 0,
        "likes": 0,
        "library_name": model.library_name,
        "pipeline_tag": model.pipeline_tag,
        "tags": list(model.tags),
        "config": summary,
        "siblings": [{"rfilename": name} for name in _files(model)],
        "spaces": [],
        "usedStorage": sum(len(content) for content in _files(model).values()),
    }


def is_hub_path(segments: list[str]) -> bool:
    return (bool(segments) and segments[0] == "api") or _resolve_index(segments) is not None


def _resolve_index(segments: list[str]) -> int | None:
    if len(segments) >= 5 and segments[2] == "resolve":
        return 2
    if len(segments) >= 4 and segments[1] == "resolve":
        return 1
    return None


def handle(
    method: str, segments: list[str], token: str, catalog: ModelCatalog, identity: Identity | None = None
) -> Response:
    """Answer a Hub request. `token` is "valid", "invalid" or "none"; segments are URL-decoded."""
    if method not in ("GET", "HEAD"):
        return error_response(405, "Method Not Allowed")
    if segments == ["api", "whoami-v2"]:
        return json_response(200, whoami(identity)) if token == "valid" else _unauthorized()
    if segments == ["api", "agent-harnesses"]:  # public, like the Hub's
        return json_response(200, AGENT_HARNESSES)
    if token == "invalid":  # the Hub rejects a bad token even on public repositories
        return _unauthorized()
    if len(segments) >= 3 and segments[:2] == ["api", "models"]:
        return _model_route(segments[2:], catalog)
    index = _resolve_index(segments)
    if index is not None:
        repo = "/".join(segments[:index])
        revision, filename = segments[index + 1], "/".join(segments[index + 2 :])
        return _resolve(repo, revision, filename, catalog)
    return error_response(404, "Sorry, we can't find the page you are looking for.")


def _model_route(rest: list[str], catalog: ModelCatalog) -> Response:
    revision: str | None = None
    if len(rest) >= 4 and rest[2] == "revision":
        repo, revision = "/".join(rest[:2]), "/".join(rest[3:])
    elif len(rest) >= 3 and rest[1] == "revision":
        repo, revision = rest[0], "/".join(rest[2:])
    elif len(rest) <= 2:
        repo = "/".join(rest)
    else:
        return error_response(404, "Sorry, we can't find the page you are looking for.")
    model = catalog.get(repo)
    if model is None:
        return _coded(404, "RepoNotFound", "Repository not found")
    sha = model.resolve(revision)
    if sha is None:
        return _coded(404, "RevisionNotFound", f"Invalid rev id: {revision}")
    return json_response(200, model_info(model, sha))


def _resolve(repo: str, revision: str, filename: str, catalog: ModelCatalog) -> Response:
    model = catalog.get(repo)
    if model is None:
        return _coded(404, "RepoNotFound", "Repository not found")
    sha = model.resolve(revision)
    if sha is None:
        return _coded(404, "RevisionNotFound", f"Invalid rev id: {revision}")
    commit = [("X-Repo-Commit", sha)]
    if model.is_gated:
        return _coded(
            403,
            "GatedRepo",
            f"Access to model {repo} is restricted and you are not in the authorized list. "
            f"Visit https://huggingface.co/{repo} to ask for access.",
            commit,
        )
    content = _files(model).get(filename)
    if content is None:
        return _coded(404, "EntryNotFound", f"Entry not found: {filename}", commit)
    # A non-LFS file's ETag is its git blob sha1; huggingface_hub needs X-Repo-Commit and ETag.
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    content_type = "application/json" if filename.endswith(".json") else "text/plain; charset=utf-8"
    return Response(200, content, [*commit, ("ETag", f'"{blob}"'), ("Accept-Ranges", "bytes")], content_type)
