"""A Kubernetes API emulator for tests: kmock (PyPI) on 127.0.0.1, shimmed to look like a real API server.

kmock 0.8 (`kmock.KubernetesEmulator`) keeps objects in memory and serves list/get/create/patch/delete
and watches over real HTTP. It differs from a real API server in ways clients notice; the subclass
below closes the gaps hfops (and later its kopf operator) meets:

- objects get `metadata.uid`, `metadata.resourceVersion` (a counter, new on every change),
  `creationTimestamp`, and their namespace from the URL;
- optimistic concurrency: a merge patch carrying `metadata.resourceVersion`, a JSON patch `test`
  on `/metadata/resourceVersion`, and a delete with `preconditions.resourceVersion` or `.uid` are
  refused with 409 Conflict when the object has changed, as a real server does;
- list responses carry `kind: <Kind>List`, `apiVersion` and a real `resourceVersion`, and honour
  `labelSelector` (equality and existence terms: `a=b`, `a==b`, `a!=b`, `a`, `!a`) and
  `fieldSelector` on `metadata.name`/`metadata.namespace`;
- errors are `Status` bodies served as plain `application/json` (kmock adds `; charset=utf-8`, which
  some clients do not recognise as a Status), without kmock's traceback in `details`;
- discovery: core `groupVersion` is `v1` (kmock says `/v1`, and kubectl then knows no resource),
  and `v1/namespaces` is declared (kopf waits silently without it).

Only `PUT` (replace) is not served: kmock routes no action to it; hfops patches.

The server runs in its own thread and event loop, so synchronous code under test (the `kubernetes`
client, kubectl in a subprocess, later kopf's `KopfRunner`) talks to it over TCP like to a cluster.
Custom resources for an operator: pass `resources={"hfops.dev/v1/inferenceendpoints": {...}}`
(a `kmock.ResourceInfo` or its fields) and they are served, listed, watched and discovered too.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import itertools
import json
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import yaml
from kmock._internal import dicts as _dicts

CORE_RESOURCES: dict[str, dict[str, Any]] = {
    "v1/secrets": {
        "kind": "Secret",
        "singular": "secret",
        "namespaced": True,
        "verbs": {"create", "delete", "get", "list", "patch", "watch"},
    },
    "v1/namespaces": {
        "kind": "Namespace",
        "singular": "namespace",
        "namespaced": False,
        "verbs": {"create", "delete", "get", "list", "patch", "watch"},
        "shortnames": {"ns"},
    },
}


DRY_RUNNABLE = (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE)
VERBS = {
    kmock.action.LIST: "list",
    kmock.action.WATCH: "watch",
    kmock.action.FETCH: "get",
    kmock.action.CREATE: "create",
    kmock.action.UPDATE: "patch",
    kmock.action.DELETE: "delete",
}


def _error(status: int, reason: str, message: str) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=status, reason=reason, message=message, details={})


def _conflict(plural: str, name: str | None) -> kmock.KubernetesError:
    return _error(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {plural} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
    )


def _json(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _parse_selector(selector: str) -> list[tuple[str, str, str | None]]:
    """`a=b,c!=d,e,!f` -> [(op, key, value)]; ops: `=`, `!=`, `exists`, `!exists`."""
    terms: list[tuple[str, str, str | None]] = []
    for raw in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            terms.append(("!=", key.strip(), value.strip()))
        elif "=" in raw:
            key, value = raw.split("==", 1) if "==" in raw else raw.split("=", 1)
            terms.append(("=", key.strip(), value.strip()))
        elif raw.startswith("!"):
            terms.append(("!exists", raw[1:].strip(), None))
        else:
            terms.append(("exists", raw, None))
    return terms


def _matches(fields: Mapping[str, str], terms: list[tuple[str, str, str | None]]) -> bool:
    for op, key, value in terms:
        present = key in fields
        if op == "=" and fields.get(key) != value:
            return False
        if op == "!=" and present and fields.get(key) == value:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


class ShimmedKubernetesEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock's emulator, made to answer like a real API server where clients notice (module doc)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        # Requests served, in order (`KubeEmulator.requests`). kmock keeps its own history and finds
        # each new request's reaction by scanning all of it once per reaction (~14 built in): the
        # n-th request costs O(n), a run of many requests O(n^2) (500 resources: minutes per pass).
        # A request leaves kmock's history once answered and is kept here instead.
        self.served: list[kmock.Request] = []
        # (verb, plural) pairs answered 403 as RBAC would, e.g. {("create", "secrets")}; verb "*": all.
        self.forbidden: set[tuple[str, str]] = set()

    # --- state-changing requests: stamp metadata, check preconditions --------------------------

    def _stored(self, request: kmock.Request) -> dict[str, Any] | None:
        key = (request.resource, request.namespace, request.name)
        if request.name is None or key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(dict(self.objects[key].raw))

    def _info(self, request: kmock.Request) -> kmock.ResourceInfo:
        return self.resources[request.resource]

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        self.served.append(request)
        try:
            if request.resource is not None:
                async with self._lock:
                    self._authorize(request)
                    self._shim(request)
                    if request.params.get("dryRun") and request.action in DRY_RUNNABLE:
                        return _json(self._dry_run(request), 201 if request.action == kmock.action.CREATE else 200)
            return await super()._handle(request)
        finally:
            history = self._requests  # kmock's: only requests still being answered (watches) stay
            for index in range(len(history) - 1, -1, -1):
                if history[index] is request:
                    del history[index]
                    break

    def _authorize(self, request: kmock.Request) -> None:
        verb = VERBS.get(request.action, str(request.action).lower())
        plural = request.resource.plural if request.resource is not None else ""
        if (verb, plural) in self.forbidden or ("*", plural) in self.forbidden:
            where = f' in the namespace "{request.namespace}"' if request.namespace else " at the cluster scope"
            raise kmock.KubernetesError(
                status=403,
                reason="Forbidden",
                message=f'{plural} is forbidden: User "kmock" cannot {verb} resource "{plural}" '
                f'in API group "{request.resource.group if request.resource else ""}"{where}',
                details={},
            )

    def _shim(self, request: kmock.Request) -> None:
        action = request.action
        plural = request.resource.plural if request.resource is not None else "objects"
        if action in (kmock.action.FETCH, kmock.action.UPDATE, kmock.action.DELETE):
            if request.name is not None and self._stored(request) is None:
                raise _error(404, "NotFound", f'{plural} "{request.name}" not found')
        if action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            name = meta.get("name")
            key = (request.resource, request.namespace or meta.get("namespace"), name)
            if key in self.objects and not self.objects[key].deleted:
                raise _error(409, "AlreadyExists", f'{plural} "{name}" already exists')
            if request.namespace and not meta.get("namespace"):
                meta["namespace"] = request.namespace
            info = self._info(request)
            group, version = request.resource.group, request.resource.version  # type: ignore[union-attr]
            request.data.setdefault("apiVersion", f"{group}/{version}" if group else version)
            request.data.setdefault("kind", info.kind or plural.capitalize())
            meta["uid"] = str(uuid.uuid4())
            meta["resourceVersion"] = str(next(self._versions))
            meta["creationTimestamp"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            meta.pop("deletionTimestamp", None)
        elif action == kmock.action.UPDATE:
            current = self._stored(request) or {}
            have = current.get("metadata", {}).get("resourceVersion")
            new = str(next(self._versions))
            if isinstance(request.data, dict):
                meta = request.data.get("metadata") or {}
                wanted = meta.get("resourceVersion")
                if wanted is not None and wanted != have:
                    raise _conflict(plural, request.name)
                for immutable in ("uid", "creationTimestamp", "name", "namespace"):
                    meta.pop(immutable, None)
                meta["resourceVersion"] = new
                request.data["metadata"] = meta
            elif isinstance(request.data, list):
                for op in request.data:
                    if op.get("op") == "test" and op.get("path") == "/metadata/resourceVersion":
                        if op.get("value") != have:
                            raise _conflict(plural, request.name)
                request.data.append({"op": "replace", "path": "/metadata/resourceVersion", "value": new})
        elif action == kmock.action.DELETE and isinstance(request.data, dict):
            meta = (self._stored(request) or {}).get("metadata", {})
            pre = request.data.get("preconditions") or {}
            for field in ("resourceVersion", "uid"):
                if pre.get(field) is not None and pre[field] != meta.get(field):
                    raise _conflict(plural, request.name)

    def _dry_run(self, request: kmock.Request) -> dict[str, Any]:
        """What the change would give, stored nowhere (`?dryRun=All`)."""
        if request.action == kmock.action.CREATE:
            return dict(request.data)
        current = self._stored(request) or {}
        if request.action == kmock.action.UPDATE and isinstance(request.data, dict):
            return dict(_dicts.patch_dict(current, request.data))
        return current

    # --- lists: kind, resourceVersion, selectors -----------------------------------------------

    async def _serve_list(self, request: kmock.Request) -> Any:
        result = await super()._serve_list(request)
        info = self.resources[request.resource] if request.resource is not None else None
        kind = (info.kind if info is not None and info.kind else "Object") + "List"
        group, version = request.resource.group, request.resource.version  # type: ignore[union-attr]
        items = result["items"]
        labels = _parse_selector(request.params.get("labelSelector", ""))
        fields = _parse_selector(request.params.get("fieldSelector", ""))
        items = [
            item
            for item in items
            if _matches(item.get("metadata", {}).get("labels") or {}, labels)
            and _matches(
                {
                    "metadata.name": item.get("metadata", {}).get("name", ""),
                    "metadata.namespace": item.get("metadata", {}).get("namespace", ""),
                },
                fields,
            )
        ]
        return {
            "apiVersion": f"{group}/{version}" if group else version,
            "kind": kind,
            "metadata": {"resourceVersion": str(next(self._versions))},
            "items": items,
        }

    # --- discovery and errors ------------------------------------------------------------------

    async def _serve_version(self, request: kmock.Request) -> Any:
        result = await super()._serve_version(request)
        result["groupVersion"] = result["groupVersion"].lstrip("/")
        for entry in result["resources"]:
            if entry.get("namespaced") is None:
                entry["namespaced"] = True
        return result

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, kmock.KubernetesError):
            status, reason, message = exc.status, exc.reason or type(exc).__name__, exc.message or repr(exc)
        else:
            status, reason, message = 500, "InternalError", repr(exc)
        if isinstance(exc, kmock.KubernetesObjectNotFoundError):
            reason = "NotFound"
        body = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": status,
            "reason": reason,
            "message": message,
        }
        return _json(body, status)


class KubeEmulator:
    """The shimmed emulator served on 127.0.0.1 (a free port) from a background thread.

    `with KubeEmulator() as kube:` starts it; `kube.url`, `kube.write_kubeconfig(path, namespace=...)`,
    `kube.object("v1/secrets", ns, name)` (the stored object, or None), `kube.put_object(...)`
    (seed state without going through a client) and `kube.requests` (what clients sent).
    A subclass serves another handler by setting `handler_class`.
    """

    handler_class: type[ShimmedKubernetesEmulator] = ShimmedKubernetesEmulator

    def __init__(self, resources: Mapping[str, Mapping[str, Any] | kmock.ResourceInfo] | None = None) -> None:
        self._resources = {**CORE_RESOURCES, **(resources or {})}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._handler: ShimmedKubernetesEmulator | None = None
        self._error: BaseException | None = None
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> KubeEmulator:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="kube-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the Kubernetes emulator did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:  # reported to __enter__, which is waiting for `ready`
            self._error = exc
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.handler_class() as handler, kmock.Server(handler, host="127.0.0.1") as server:
            for key, info in self._resources.items():
                handler.resources[key] = info
            self._handler = handler
            self.url = f"http://127.0.0.1:{server.port}"
            ready.set()
            await self._stop.wait()

    def _call(self, fn: Any) -> Any:
        """Run `fn()` in the server's loop (the objects are that loop's state)."""
        assert self._loop is not None

        async def run() -> Any:
            return fn()

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(10)

    # --- state, for tests ----------------------------------------------------------------------

    @property
    def handler(self) -> ShimmedKubernetesEmulator:
        assert self._handler is not None
        return self._handler

    def object(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            objects = self.handler.objects
            key = (kmock.resource(resource), namespace, name)
            if key not in objects or objects[key].deleted:
                return None
            return copy.deepcopy(dict(objects[key].raw))

        result: dict[str, Any] | None = self._call(get)
        return result

    def put_object(self, resource: str, namespace: str | None, name: str, body: Mapping[str, Any]) -> None:
        stored = copy.deepcopy(dict(body))
        meta = stored.setdefault("metadata", {})
        meta.update({"name": name, "uid": str(uuid.uuid4()), "resourceVersion": "1"})
        if namespace is not None:
            meta["namespace"] = namespace
        self._call(lambda: self.handler.objects.__setitem__((kmock.resource(resource), namespace, name), stored))

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The decoded `data` of a stored Secret, or None if there is no such Secret."""
        secret = self.object("v1/secrets", namespace, name)
        if secret is None:
            return None
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

    @property
    def requests(self) -> list[kmock.Request]:
        return list(self._call(lambda: list(self.handler.served)))

    def write_kubeconfig(self, path: Path, *, namespace: str | None = "default", context: str = "kmock") -> Path:
        ctx: dict[str, Any] = {"cluster": "kmock", "user": "kmock"}
        if namespace is not None:
            ctx["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "kmock", "user": {"token": "kmock-test-token"}}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config))
        return path
