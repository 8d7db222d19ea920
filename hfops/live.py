"""The Inference Endpoints API through `huggingface_hub`: read live state, create, update, delete.

The only module that calls the endpoints API. It converts `InferenceEndpoint.raw` into frozen
`LiveEndpoint` essences and `huggingface_hub` errors into `RemoteError` (404 into None). Every
call passes `namespace=` and `token=` explicitly: without a namespace the client calls whoami on
every request, and endpoints it returns otherwise fall back to the ambient token.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx2
from huggingface_hub import HfApi, constants, get_session, hf_raise_for_status
from huggingface_hub.errors import HfHubHTTPError

from hfops.diff import Desired
from hfops.errors import RemoteError
from hfops.hardware import Hardware
from hfops.model import FRAMEWORK, HEALTH_ROUTE, TASK, LiveEndpoint, LiveImage
from hfops.redact import REDACTOR
from hfops.retry import RetryPolicy, call_with_retries
from hfops.settings import Settings

T = TypeVar("T")


class EndpointReader(Protocol):
    def list(self, namespace: str) -> list[LiveEndpoint]: ...
    def get(self, namespace: str, name: str) -> LiveEndpoint | None: ...


class EndpointWriter(EndpointReader, Protocol):
    def create(self, desired: Desired, secrets: Mapping[str, str]) -> LiveEndpoint: ...
    def update(self, namespace: str, name: str, payload: Mapping[str, Any]) -> LiveEndpoint: ...
    def delete(self, namespace: str, name: str) -> None: ...
    def resume(self, namespace: str, name: str) -> LiveEndpoint: ...
    def pause(self, namespace: str, name: str) -> LiveEndpoint: ...


def _int(value: object, default: int = 0) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def live_from_raw(raw: Mapping[str, Any], *, namespace: str) -> LiveEndpoint:
    """Reduce the API's endpoint object to the essence hfops compares."""
    compute = raw.get("compute") or {}
    scaling = compute.get("scaling") or {}
    model = raw.get("model") or {}
    provider = raw.get("provider") or {}
    status = raw.get("status") or {}
    image = model.get("image") or {}
    variant = next(iter(image), "huggingface")
    body = image.get(variant) or {}
    timeout = scaling.get("scaleToZeroTimeout")
    return LiveEndpoint(
        namespace=namespace,
        name=str(raw["name"]),
        state=str(status.get("state") or "unknown"),
        message=status.get("message"),
        url=status.get("url") or None,
        repository=str(model.get("repository") or ""),
        revision=model.get("revision"),
        task=model.get("task"),
        vendor=str(provider.get("vendor") or ""),
        region=str(provider.get("region") or ""),
        accelerator=str(compute.get("accelerator") or ""),
        instance_type=str(compute.get("instanceType") or ""),
        instance_size=str(compute.get("instanceSize") or ""),
        min_replica=_int(scaling.get("minReplica")),
        max_replica=_int(scaling.get("maxReplica"), 1),
        scale_to_zero_timeout=_int(timeout) if timeout is not None else None,
        type=str(raw.get("type") or ""),
        image=LiveImage(
            variant=variant,
            url=body.get("url"),
            max_input_tokens=body.get("maxInputLength"),
            max_total_tokens=body.get("maxTotalTokens"),
        ),
        env=tuple(sorted((str(k), str(v)) for k, v in (model.get("env") or {}).items())),
        secret_keys=tuple(sorted(str(k) for k in (model.get("secrets") or {}))),
        tags=tuple(str(t) for t in raw.get("tags") or ()),
        ready_replica=_int(status.get("readyReplica")),
        target_replica=_int(status.get("targetReplica")),
        updated_at=str(status.get("updatedAt") or ""),
        health_route=str(raw.get("healthRoute") or HEALTH_ROUTE),
    )


def tgi_image(desired: Desired) -> dict[str, Any]:
    """The `model.image` payload: always the `tgi` variant, complete (the API replaces it whole)."""
    image = desired.spec.image
    body: dict[str, Any] = {"url": image.url, "healthRoute": HEALTH_ROUTE, "port": 80}
    if image.max_input_tokens is not None:
        body["maxInputLength"] = image.max_input_tokens
    if image.max_total_tokens is not None:
        body["maxTotalTokens"] = image.max_total_tokens
    return {"tgi": body}


def remote_error(error: HfHubHTTPError, operation: str) -> RemoteError:
    status = error.response.status_code if error.response is not None else None
    server = (error.server_message or "").strip().splitlines()
    # Scrubbed before it is shortened: a cut could leave part of an echoed secret unrecognisable.
    detail = REDACTOR.scrub(server[0]) if server else "no message"
    if len(detail) > 300:  # a server may echo the whole request back; the gist is at the start
        detail = detail[:297] + "..."
    hint = None
    if status == 401:
        hint = "check HF_TOKEN: it must be a valid token with access to this namespace"
    elif status == 403:
        hint = "the token lacks permission for this namespace"
    elif status == 429:
        hint = "rate limited; retry later"
    return RemoteError(f"{operation}: {detail}", status=status, request_id=error.request_id, hint=hint)


def install_http_timeouts(read_seconds: float) -> None:
    """Give huggingface_hub's HTTP client timeouts (its default client has none).

    Without them a service that accepts a request and never answers would hold hfops forever;
    with them the call fails as a transport error and is retried. Uses the client factory hook
    huggingface_hub provides for this, with its own request hook kept.
    """
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils._http import hf_request_event_hook

    timeout = httpx2.Timeout(read_seconds, connect=min(10.0, read_seconds))
    set_client_factory(
        lambda: httpx2.Client(
            event_hooks={"request": [hf_request_event_hook]}, follow_redirects=True, timeout=timeout
        )
    )


# No HTTP answer at all, after the retries: refused or dropped connections, timeouts.
TRANSPORT_ERRORS = (httpx2.TransportError, ConnectionError, TimeoutError)


def transport_error(error: BaseException, operation: str, url: str) -> RemoteError:
    return RemoteError(
        f"{operation}: no answer from {url} ({type(error).__name__}) after retries",
        hint="check HFOPS_API_URL / HF_ENDPOINT and the network; rerunning is safe",
    )


class HubEndpoints:
    """`EndpointWriter` over `huggingface_hub.HfApi`."""

    def __init__(self, settings: Settings, *, retry: RetryPolicy | None = None) -> None:
        # huggingface_hub reads this constant at call time and offers no other way to move the
        # endpoints API (HF_ENDPOINT only moves the Hub), so the adapter sets it.
        constants.INFERENCE_ENDPOINTS_ENDPOINT = settings.api_url
        install_http_timeouts(settings.http_timeout)
        self._settings = settings
        self._api = HfApi(endpoint=settings.hub_url, token=settings.token)
        self._token = settings.token
        self._retry = retry or RetryPolicy()

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        try:
            return call_with_retries(fn, policy=self._retry)
        except HfHubHTTPError as error:
            raise remote_error(error, operation) from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, operation, self._settings.api_url) from None

    def list(self, namespace: str) -> builtins.list[LiveEndpoint]:
        endpoints = self._call(
            f"list endpoints in {namespace}",
            lambda: self._api.list_inference_endpoints(namespace=namespace, token=self._token),
        )
        return [live_from_raw(e.raw, namespace=namespace) for e in endpoints]

    def get(self, namespace: str, name: str) -> LiveEndpoint | None:
        try:
            endpoint = call_with_retries(
                lambda: self._api.get_inference_endpoint(name, namespace=namespace, token=self._token),
                policy=self._retry,
            )
        except HfHubHTTPError as error:
            if error.response is not None and error.response.status_code == 404:
                return None
            raise remote_error(error, f"read {namespace}/{name}") from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, f"read {namespace}/{name}", self._settings.api_url) from None
        return live_from_raw(endpoint.raw, namespace=namespace)

    def create(self, desired: Desired, secrets: Mapping[str, str]) -> LiveEndpoint:
        spec = desired.spec
        namespace = spec.namespace or ""

        def create() -> Any:
            return self._api.create_inference_endpoint(
                spec.name,
                repository=spec.repository,
                framework=FRAMEWORK,
                accelerator=spec.accelerator,
                instance_size=spec.instance_size,
                instance_type=spec.instance_type,
                region=spec.region,
                vendor=spec.vendor,
                min_replica=spec.min_replica,
                max_replica=spec.max_replica,
                scale_to_zero_timeout=spec.scale_to_zero_timeout,
                revision=desired.revision_sha,
                task=TASK,
                custom_image=tgi_image(desired),
                env=dict(spec.env) or None,
                secrets=dict(secrets) or None,
                type=spec.type,
                tags=list(desired.tags),
                namespace=namespace,
                token=self._token,
            )

        try:
            endpoint = call_with_retries(create, policy=self._retry)
        except HfHubHTTPError as error:
            if error.response is not None and error.response.status_code == 409:
                # A create whose response was lost may have succeeded: read back, and carry on
                # only if the endpoint that exists is the one we asked for.
                existing = self.get(namespace, spec.name)
                if existing is not None and existing.owned and existing.repository == spec.repository:
                    return existing
            raise remote_error(error, f"create {spec.address}") from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, f"create {spec.address}", self._settings.api_url) from None
        return live_from_raw(endpoint.raw, namespace=namespace)

    def update(self, namespace: str, name: str, payload: Mapping[str, Any]) -> LiveEndpoint:
        """Send a partial update (the API's PUT: omitted fields are left as they are).

        Goes through `HfApi.update_inference_endpoint` whenever it can express the payload. It sends
        only non-None arguments, so it can neither clear a field (`scaleToZeroTimeout` when leaving
        scale-to-zero) nor change `type`; only then is the same PUT sent through huggingface_hub's
        own session and error handling.
        """
        kwargs = hub_update_kwargs(payload)
        if kwargs is not None:
            endpoint = self._call(
                f"update {namespace}/{name}",
                lambda: self._api.update_inference_endpoint(name, namespace=namespace, token=self._token, **kwargs),
            )
            return live_from_raw(endpoint.raw, namespace=namespace)
        url = f"{constants.INFERENCE_ENDPOINTS_ENDPOINT}/endpoint/{namespace}/{name}"

        def put() -> Mapping[str, Any]:
            headers = self._api._build_hf_headers(token=self._token)
            response = get_session().put(url, headers=headers, json=dict(payload))
            hf_raise_for_status(response)
            body: Mapping[str, Any] = response.json()
            return body

        raw = self._call(f"update {namespace}/{name}", put)
        return live_from_raw(raw, namespace=namespace)

    def delete(self, namespace: str, name: str) -> None:
        try:
            call_with_retries(
                lambda: self._api.delete_inference_endpoint(name, namespace=namespace, token=self._token),
                policy=self._retry,
            )
        except HfHubHTTPError as error:
            if error.response is not None and error.response.status_code == 404:
                return  # already gone: the desired outcome
            raise remote_error(error, f"delete {namespace}/{name}") from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, f"delete {namespace}/{name}", self._settings.api_url) from None

    def resume(self, namespace: str, name: str) -> LiveEndpoint:
        endpoint = self._call(
            f"resume {namespace}/{name}",
            lambda: self._api.resume_inference_endpoint(name, namespace=namespace, token=self._token, running_ok=True),
        )
        return live_from_raw(endpoint.raw, namespace=namespace)

    def pause(self, namespace: str, name: str) -> LiveEndpoint:
        endpoint = self._call(
            f"pause {namespace}/{name}",
            lambda: self._api.pause_inference_endpoint(name, namespace=namespace, token=self._token),
        )
        return live_from_raw(endpoint.raw, namespace=namespace)

    def whoami(self) -> str:
        info = self._call("whoami", lambda: self._api.whoami(token=self._token))
        return str(info.get("name") or "")

    def hardware(self, namespace: str) -> builtins.list[Hardware]:
        """The namespace's hardware catalogue, with prices and accelerator quotas."""
        items = self._call(
            f"read the hardware catalogue of {namespace}",
            lambda: self._api.list_inference_endpoints_hardware(namespace=namespace, token=self._token),
        )
        return [
            Hardware(
                vendor=h.vendor,
                region=h.region,
                accelerator=h.accelerator,
                instance_type=h.instance_type,
                instance_size=h.instance_size,
                num_accelerators=int(h.num_accelerators or 0),
                price_per_hour=float(h.price_per_hour or 0.0),
                status=str(h.status),
                max_accelerators=getattr(h, "max_accelerators", None),
                used_accelerators=getattr(h, "used_accelerators", None),
            )
            for h in items
        ]


_UPDATE_ARGUMENTS = {
    ("compute", "accelerator"): "accelerator",
    ("compute", "instanceSize"): "instance_size",
    ("compute", "instanceType"): "instance_type",
    ("compute", "scaling", "minReplica"): "min_replica",
    ("compute", "scaling", "maxReplica"): "max_replica",
    ("compute", "scaling", "scaleToZeroTimeout"): "scale_to_zero_timeout",
    ("model", "repository"): "repository",
    ("model", "framework"): "framework",
    ("model", "revision"): "revision",
    ("model", "task"): "task",
    ("model", "image"): "custom_image",
    ("model", "env"): "env",
    ("model", "secrets"): "secrets",
    ("tags",): "tags",
}


def hub_update_kwargs(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """`update_inference_endpoint` arguments for `payload`, or None if it cannot express it."""
    kwargs: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> bool:
        for key, value in node.items():
            path = (*prefix, key)
            if path in _UPDATE_ARGUMENTS:
                if value is None:
                    return False  # a clear: the client would drop it
                kwargs[_UPDATE_ARGUMENTS[path]] = value
            elif isinstance(value, Mapping):
                if not walk(value, path):
                    return False
            else:
                return False
        return True

    return kwargs if walk(payload, ()) else None
