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

from hfops.adapters.retry import RetryPolicy, call_with_retries
from hfops.adapters.settings import Settings
from hfops.core import fields as catalogue
from hfops.core.diff import Desired
from hfops.core.errors import RemoteError
from hfops.core.hardware import Hardware
from hfops.core.model import LiveEndpoint
from hfops.core.redact import REDACTOR

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


def live_from_raw(raw: Mapping[str, Any], *, namespace: str) -> LiveEndpoint:
    return LiveEndpoint.from_api(raw, namespace=namespace)


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


def wrong_api_url(namespace: str, api_url: str, error: RemoteError) -> RemoteError:
    """A 404 from listing a namespace: say what HFOPS_API_URL should look like."""
    from hfops.adapters.settings import DEFAULT_API_URL

    if api_url.rstrip("/").endswith("/v2"):
        message = f"list endpoints in {namespace}: Not Found at HFOPS_API_URL {api_url}"
        hint = f"check the namespace {namespace!r}; HFOPS_API_URL should be the API base, like {DEFAULT_API_URL}"
    else:
        message = f"list endpoints in {namespace}: Not Found: HFOPS_API_URL {api_url} is not the API base (no /v2)"
        hint = (
            f"HFOPS_API_URL should be the Inference Endpoints API base ending in /v2, like {DEFAULT_API_URL} "
            f"(for the emulator: its URL followed by /v2); did you mean {api_url.rstrip('/')}/v2?"
        )
    return RemoteError(
        message,
        status=404,
        request_id=error.request_id,
        hint=hint,
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
        try:
            endpoints = self._call(
                f"list endpoints in {namespace}",
                lambda: self._api.list_inference_endpoints(namespace=namespace, token=self._token),
            )
        except RemoteError as error:
            if error.status != 404:
                raise
            # The list route exists for every namespace: a 404 means the base URL is wrong.
            raise wrong_api_url(namespace, self._settings.api_url, error) from None
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

        body = catalogue.create_body(desired, secrets, list(desired.tags))
        kwargs = hub_call_kwargs(body, CREATE_ARGUMENTS)

        def create() -> Any:
            if kwargs is None:  # a field HfApi cannot express: the same POST on its own session
                return _Raw(self._send("POST", f"/endpoint/{namespace}", body))
            arguments = dict(kwargs)
            name = arguments.pop("name")
            return self._api.create_inference_endpoint(name, namespace=namespace, token=self._token, **arguments)

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
        only non-None arguments, so it can neither clear a field (the scale-to-zero timeout when leaving
        scale-to-zero) nor change `type`; only then is the same PUT sent through huggingface_hub's
        own session and error handling.
        """
        kwargs = hub_call_kwargs(payload, UPDATE_ARGUMENTS)
        if kwargs is not None:
            endpoint = self._call(
                f"update {namespace}/{name}",
                lambda: self._api.update_inference_endpoint(name, namespace=namespace, token=self._token, **kwargs),
            )
            return live_from_raw(endpoint.raw, namespace=namespace)
        raw = self._call(
            f"update {namespace}/{name}", lambda: self._send("PUT", f"/endpoint/{namespace}/{name}", payload)
        )
        return live_from_raw(raw, namespace=namespace)

    def _send(self, method: str, route: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """A request HfApi has no method for, on huggingface_hub's own session, headers and errors."""
        headers = self._api._build_hf_headers(token=self._token)
        url = f"{constants.INFERENCE_ENDPOINTS_ENDPOINT}{route}"
        response = get_session().request(method, url, headers=headers, json=dict(body))
        hf_raise_for_status(response)
        answer: Mapping[str, Any] = response.json()
        return answer

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


class _Raw:
    """An API answer in the shape of `InferenceEndpoint` where hfops reads it (`.raw`)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw


# The one translation from API paths to huggingface_hub's keyword arguments. A body with a path
# missing here is sent as is (see `_send`), so a new catalogue field never needs an edit here.
UPDATE_ARGUMENTS: dict[tuple[str, ...], str] = {
    ("compute", "accelerator"): "accelerator",
    ("compute", "instanceSize"): "instance_size",
    ("compute", "instanceType"): "instance_type",
    catalogue.MIN_REPLICA.api: "min_replica",
    catalogue.MAX_REPLICA.api: "max_replica",
    catalogue.SCALE_TO_ZERO_TIMEOUT.api: "scale_to_zero_timeout",
    ("model", "repository"): "repository",
    ("model", "framework"): "framework",
    ("model", "revision"): "revision",
    ("model", "task"): "task",
    ("model", "image"): "custom_image",
    ("model", "env"): "env",
    ("model", "secrets"): "secrets",
    ("tags",): "tags",
}
CREATE_ARGUMENTS: dict[tuple[str, ...], str] = {
    **UPDATE_ARGUMENTS,
    ("name",): "name",
    ("type",): "type",
    ("provider", "vendor"): "vendor",
    ("provider", "region"): "region",
}


def hub_call_kwargs(body: Mapping[str, Any], table: Mapping[tuple[str, ...], str]) -> dict[str, Any] | None:
    """huggingface_hub keyword arguments for `body`, or None if they cannot express it.

    HfApi sends only non-None arguments, so a body that clears a field (None) cannot go through it.
    """
    kwargs: dict[str, Any] = {}
    for path, value in catalogue.walk_body(body):
        if path not in table or value is None:
            return None
        kwargs[table[path]] = value
    return kwargs
