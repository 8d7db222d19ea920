"""The Inference Endpoints API through `huggingface_hub`: read live state, create, update, delete.

The only module that calls the endpoints API. It converts `InferenceEndpoint.raw` into frozen
`LiveEndpoint` essences and `huggingface_hub` errors into `RemoteError` (404 into None). Every
call passes `namespace=` and `token=` explicitly: without a namespace the client calls whoami on
every request, and endpoints it returns otherwise fall back to the ambient token.

What the API answers is not trusted further than it must be: an answer that is not what the API
returns becomes a located `RemoteError` (retried like a lost answer), and an endpoint URL that is
neither https nor loopback is refused before any token or credential goes near it (http.py has
the session's own rules: redirects, sizes, plain http).

Why one module of ~420 lines: it is the one place hfops speaks to the endpoints API, and every
call shares the same retry, error location and answer checks; its pieces (the call tables, the
raw-PUT fallback, the error mapping) only make sense together. The HTTP session rules are `http`.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload
from urllib.parse import quote

import httpx2
from huggingface_hub import constants, get_session, hf_raise_for_status
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazily exported

from hfops.adapters.http import InsecureUrl, MalformedAnswer, is_secure_url, start_session
from hfops.adapters.retry import RetryPolicy, call_with_retries
from hfops.adapters.settings import Settings
from hfops.core import fields as catalogue
from hfops.core.diff import Desired
from hfops.core.errors import Interrupted, NotStarted, RemoteError
from hfops.core.gc_pause import paused_gc
from hfops.core.hardware import Hardware
from hfops.core.model import LiveEndpoint
from hfops.core.redact import REDACTOR, strip_control

if TYPE_CHECKING:
    from huggingface_hub import HfApi

T = TypeVar("T")

# One list answer decoded into endpoints at a time. Decoding holds the GIL, so lists decoded side by
# side finish no sooner; but each one's parsed JSON (~4.5 MB per thousand endpoints, three times the
# endpoints made of it) would be alive at once: five lists of 1,000 arriving together were the peak
# of a plan's memory.
_DECODING = threading.Lock()


class EndpointReader(Protocol):
    def list(self, namespace: str) -> list[LiveEndpoint]: ...
    def get(self, namespace: str, name: str) -> LiveEndpoint | None: ...


class EndpointWriter(EndpointReader, Protocol):
    def create(self, desired: Desired, secrets: Mapping[str, str]) -> LiveEndpoint: ...
    def update(self, namespace: str, name: str, payload: Mapping[str, Any]) -> LiveEndpoint: ...
    def delete(self, namespace: str, name: str) -> None: ...
    def resume(self, namespace: str, name: str) -> LiveEndpoint: ...
    def pause(self, namespace: str, name: str) -> LiveEndpoint: ...


def _object(answer: Any) -> Mapping[str, Any]:
    if not isinstance(answer, Mapping):
        raise TypeError(f"the answer is a {type(answer).__name__}, not an object")
    return answer


def live_from_raw(raw: Mapping[str, Any], *, namespace: str) -> LiveEndpoint:
    """The essence of one endpoint the API returned; raises on a shape or URL hfops cannot use.

    A wrong shape raises what reading it raises (KeyError, TypeError, ...), which the retry wrapper
    turns into a located `MalformedAnswer`. A URL that is not https (loopback excepted: the
    emulator) raises `InsecureUrl`: hfops would send the deploy token there for health and /info,
    write it into the credential, and verify would send the GenStudio key to it.
    """
    if not isinstance(raw, Mapping):
        raise TypeError(f"an endpoint is a {type(raw).__name__}, not an object")
    live = LiveEndpoint.from_api(raw, namespace=namespace)
    if live.url is not None and not is_secure_url(live.url):
        raise InsecureUrl(
            f"{namespace}/{live.name}: the API reports the endpoint URL {strip_control(live.url)[:200]!r}, which is "
            "not https; hfops sends no token to it and writes no credential for it",
            hint="HFOPS_API_URL must be the real endpoints API (only 127.0.0.1, localhost and ::1 may use http)",
        )
    return live


def live_list(raws: Any, *, namespace: str) -> list[LiveEndpoint]:
    with paused_gc():  # thousands of endpoints: see gc_pause
        return [live_from_raw(raw, namespace=namespace) for raw in raws]


def remote_error(error: HfHubHTTPError, operation: str) -> RemoteError:
    status = error.response.status_code if error.response is not None else None
    # Terminal control out first: a carriage return would otherwise end the first line early.
    server = strip_control(error.server_message or "").strip().splitlines()
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
    request_id = strip_control(error.request_id)[:100] if error.request_id else None
    return RemoteError(f"{operation}: {detail}", status=status, request_id=request_id, hint=hint)


def located(error: RemoteError, operation: str, api_url: str | None = None) -> RemoteError:
    """A session-level refusal (redirect, size, plain http) or an unreadable answer, named by the
    operation it stopped (and, for an unreadable answer, the API that gave it)."""
    hint = error.hint
    if isinstance(error, MalformedAnswer) and hint is None and api_url:
        hint = f"the endpoints API at {api_url} did not answer with its JSON; rerunning is safe"
    message = error.message if error.message.startswith(f"{operation}:") else f"{operation}: {error.message}"
    if message == error.message and hint == error.hint:
        return error
    located_error = type(error)(message, hint=hint)
    located_error.status, located_error.request_id = error.status, error.request_id
    return located_error


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


def import_writes_client() -> None:
    """Import `HfApi` (0.15 s) now, for a run that will likely write (`apply`, while its reads are
    out): `HubEndpoints` imports it on its first write, which would then wait for it."""
    from huggingface_hub import HfApi  # noqa: F401


class HubEndpoints:
    """`EndpointWriter` over `huggingface_hub.HfApi`."""

    def __init__(self, settings: Settings, *, retry: RetryPolicy | None = None) -> None:
        # huggingface_hub reads this constant at call time and offers no other way to move the
        # endpoints API (HF_ENDPOINT only moves the Hub), so the adapter sets it.
        constants.INFERENCE_ENDPOINTS_ENDPOINT = settings.api_url
        start_session(settings.http_timeout, (settings.api_url, settings.hub_url))
        self._settings = settings
        self._token = settings.token
        self._hf_api: HfApi | None = None
        self._retry = retry or RetryPolicy()

    @property
    def _api(self) -> HfApi:
        # Imported on the first write: `HfApi` costs 0.15 s to import, a third of a no-op plan of
        # 500 endpoints, which reads through the session alone (list, get).
        if self._hf_api is None:
            from huggingface_hub import HfApi

            self._hf_api = HfApi(endpoint=self._settings.hub_url, token=self._settings.token)
        return self._hf_api

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        try:
            return call_with_retries(fn, policy=self._retry, operation=operation)
        except HfHubHTTPError as error:
            raise remote_error(error, operation) from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, operation, self._settings.api_url) from None
        except RemoteError as error:
            raise located(error, operation, self._settings.api_url) from None

    def list(self, namespace: str) -> builtins.list[LiveEndpoint]:
        # The GET `HfApi.list_inference_endpoints` sends, on its session, headers and errors, without
        # its `InferenceEndpoint.from_raw` per item (timestamps parsed, a client each), of which hfops
        # keeps only `.raw`. Read inside the retried call: a garbled list is retried like a lost one.
        try:
            return self._call(
                f"list endpoints in {namespace}",
                lambda: self._send(
                    "GET",
                    f"/endpoint/{quote(namespace, safe='')}",
                    None,
                    read=lambda answer: live_list(answer["items"], namespace=namespace),
                ),
            )
        except RemoteError as error:
            if error.status != 404:
                raise
            # The list route exists for every namespace: a 404 means the base URL is wrong.
            raise wrong_api_url(namespace, self._settings.api_url, error) from None

    def get(self, namespace: str, name: str) -> LiveEndpoint | None:
        operation = f"read {namespace}/{name}"
        try:
            return call_with_retries(
                lambda: live_from_raw(
                    self._get(f"/endpoint/{quote(namespace, safe='')}/{quote(name, safe='')}"), namespace=namespace
                ),
                policy=self._retry,
                operation=operation,
            )
        except HfHubHTTPError as error:
            if error.response is not None and error.response.status_code == 404:
                return None
            raise remote_error(error, operation) from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, operation, self._settings.api_url) from None
        except RemoteError as error:
            raise located(error, operation, self._settings.api_url) from None

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
            endpoint = call_with_retries(create, policy=self._retry, operation=f"create {spec.address}")
        except HfHubHTTPError as error:
            if error.response is not None and error.response.status_code == 409:
                # A create whose response was lost may have succeeded: read back, and carry on
                # only if the endpoint that exists is the one we asked for: same owner, and the
                # same applied digest (every owned field and the secrets fingerprint). Another
                # apply that created it at the same moment with another config is not a success.
                try:
                    existing = self.get(namespace, spec.name)
                except NotStarted:
                    # The POST went out (its 409 says so): the endpoint may exist, so this create was
                    # attempted, whatever the read-back the signal came before.
                    raise Interrupted(
                        f"create {spec.address}: interrupted after the create was sent; not read back"
                    ) from None
                if (
                    existing is not None
                    and existing.owned_by(desired.owner)
                    and existing.applied_digest == desired.applied_digest
                ):
                    return existing
                if existing is not None:
                    by = f"hfops owner {existing.owner!r}" if existing.owned else "someone outside hfops"
                    raise RemoteError(
                        f"create {spec.address}: conflict: it was created meanwhile by {by} with another "
                        "configuration (another apply at the same time?); this apply did not change it",
                        status=409,
                        request_id=error.request_id,
                        hint="run one apply per target at a time (see examples/ci), then plan again",
                    ) from None
            raise remote_error(error, f"create {spec.address}") from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, f"create {spec.address}", self._settings.api_url) from None
        except RemoteError as error:
            raise located(error, f"create {spec.address}", self._settings.api_url) from None
        return self._read_answer(f"create {spec.address}", endpoint, namespace)

    def _read_answer(self, operation: str, endpoint: Any, namespace: str) -> LiveEndpoint:
        """`live_from_raw` of a write's answer, read after the call (a write is not resent for it)."""
        try:
            return live_from_raw(endpoint.raw, namespace=namespace)
        except RemoteError as error:
            raise located(error, operation, self._settings.api_url) from None
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise RemoteError(
                f"{operation}: the answer is not what the API returns ({type(error).__name__}); "
                "run plan to see what the API now holds"
            ) from None

    def update(self, namespace: str, name: str, payload: Mapping[str, Any]) -> LiveEndpoint:
        """Send a partial update (the API's PUT: omitted fields are left as they are).

        Goes through `HfApi.update_inference_endpoint` whenever it can express the payload. It sends
        only non-None arguments, so it can neither clear a field (the scale-to-zero timeout when leaving
        scale-to-zero) nor change `type`; only then is the same PUT sent through huggingface_hub's
        own session and error handling.
        """
        kwargs = hub_call_kwargs(payload, UPDATE_ARGUMENTS)
        operation = f"update {namespace}/{name}"
        if kwargs is not None:
            return self._call(
                operation,
                lambda: live_from_raw(
                    self._api.update_inference_endpoint(name, namespace=namespace, token=self._token, **kwargs).raw,
                    namespace=namespace,
                ),
            )
        return self._call(
            operation,
            lambda: live_from_raw(self._send("PUT", f"/endpoint/{namespace}/{name}", payload), namespace=namespace),
        )

    @overload
    def _send(self, method: str, route: str, body: Mapping[str, Any] | None) -> Mapping[str, Any]: ...

    @overload
    def _send(
        self, method: str, route: str, body: Mapping[str, Any] | None, *, read: Callable[[Mapping[str, Any]], T]
    ) -> T: ...

    def _send(
        self,
        method: str,
        route: str,
        body: Mapping[str, Any] | None,
        *,
        read: Callable[[Mapping[str, Any]], Any] | None = None,
    ) -> Any:
        """A request on huggingface_hub's own session, headers and errors (what HfApi's methods send).

        `read`: what to make of the answer's JSON object, made under `_DECODING` with the decoding,
        so that the JSON is let go before another answer is decoded.
        """
        headers = build_hf_headers(token=self._token)
        url = f"{constants.INFERENCE_ENDPOINTS_ENDPOINT}{route}"
        if body is None:
            response = get_session().request(method, url, headers=headers)
        else:
            response = get_session().request(method, url, headers=headers, json=dict(body))
        hf_raise_for_status(response)
        if read is None:
            return _object(response.json())
        with _DECODING:
            return read(_object(response.json()))

    def _get(self, route: str) -> Mapping[str, Any]:
        return self._send("GET", route, None)

    def delete(self, namespace: str, name: str) -> None:
        operation = f"delete {namespace}/{name}"
        try:
            call_with_retries(
                lambda: self._api.delete_inference_endpoint(name, namespace=namespace, token=self._token),
                policy=self._retry,
                operation=operation,
            )
        except HfHubHTTPError as error:
            if error.response is not None and error.response.status_code == 404:
                return  # already gone: the desired outcome
            raise remote_error(error, operation) from None
        except TRANSPORT_ERRORS as error:
            raise transport_error(error, operation, self._settings.api_url) from None
        except RemoteError as error:
            raise located(error, operation, self._settings.api_url) from None

    def resume(self, namespace: str, name: str) -> LiveEndpoint:
        return self._call(
            f"resume {namespace}/{name}",
            lambda: live_from_raw(
                self._api.resume_inference_endpoint(
                    name, namespace=namespace, token=self._token, running_ok=True
                ).raw,
                namespace=namespace,
            ),
        )

    def pause(self, namespace: str, name: str) -> LiveEndpoint:
        return self._call(
            f"pause {namespace}/{name}",
            lambda: live_from_raw(
                self._api.pause_inference_endpoint(name, namespace=namespace, token=self._token).raw,
                namespace=namespace,
            ),
        )

    def whoami(self) -> str:
        def name() -> str:
            info = self._api.whoami(token=self._token)
            if not isinstance(info, Mapping) or not isinstance(info.get("name") or "", str):
                raise TypeError("whoami is not an object with a name")
            return str(info.get("name") or "")

        return self._call("whoami", name)

    def hardware(self, namespace: str) -> builtins.list[Hardware]:
        """The namespace's hardware catalogue, with prices and accelerator quotas."""
        return self._call(
            f"read the hardware catalogue of {namespace}",
            lambda: self._hardware_items(
                self._api.list_inference_endpoints_hardware(namespace=namespace, token=self._token)
            ),
        )

    @staticmethod
    def _hardware_items(items: Any) -> builtins.list[Hardware]:
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
