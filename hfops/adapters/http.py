"""How hfops configures huggingface_hub's HTTP session: timeouts, redirects, answer sizes, plain http.

huggingface_hub makes every request (HfApi, hf_hub_download, InferenceClient) through one shared
httpx2 client built by a factory it lets us replace (`set_client_factory`). hfops installs one that
is the library's default client (its request hook included) with four rules added:

- timeouts: a service that accepts a request and never answers fails as a transport error;
- a redirect the client would follow is followed only within the origin of the request. httpx
  drops the Authorization header on a cross-origin redirect but re-sends a 307/308's body, which
  for a create or an update holds the secret values. Redirects huggingface_hub handles itself
  (its HEAD on `resolve/`, sent with `follow_redirects=False`, stops at a CDN) are untouched;
- no Authorization header leaves over plain http, except to a loopback host (the emulator, tests);
- an answer body is read up to `MAX_ANSWER_BYTES` and no further, counted as it streams, and sent
  uncompressed (so what is counted is what is held in memory);
- requests are paced by the RateLimit headers of the answers (pacing.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx2

from hfops.adapters.pacing import PACER
from hfops.core.errors import RemoteError

MAX_ANSWER_BYTES = 32 * 1024 * 1024  # an endpoints list of thousands of endpoints is a few MB
# Plain http is accepted only to these hosts, exactly: the emulator and tests listen on them.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_FOLLOWS = "hfops.follows_redirects"  # request extension: the client follows this one's redirects


class RedirectRefused(RemoteError):
    """A redirect to another origin, which hfops does not follow."""


class AnswerTooLarge(RemoteError):
    """An answer body above `MAX_ANSWER_BYTES` (or compressed without being asked to be)."""


class InsecureUrl(RemoteError):
    """A token (or a credential) would go to a URL that is neither https nor loopback."""


class MalformedAnswer(RemoteError):
    """A 2xx answer that is not what the API returns (not JSON, HTML, the wrong shape); retried."""


def is_secure_url(url: str) -> bool:
    """https, or http to a loopback host (127.0.0.1, localhost, ::1) only."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    return parts.scheme == "http" and host in LOOPBACK_HOSTS


def _where(request: httpx2.Request) -> str:
    # Scheme, host, port and path: no query string (never holds a token here, but kept out anyway).
    url = request.url
    return f"{request.method} {url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, request: httpx2.Request, limit: int) -> None:
        self._inner = inner
        self._request = request
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise AnswerTooLarge(
                    f"{_where(self._request)}: the answer is larger than {self._limit // (1024 * 1024)} MiB; "
                    "hfops reads no further"
                )
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _refuse_plain_http_token(request: httpx2.Request) -> None:
    if "authorization" in request.headers and not is_secure_url(str(request.url)):
        raise InsecureUrl(
            f"{_where(request)}: refusing to send a token over plain http to "
            f"{request.url.host!r} (https is required; only 127.0.0.1, localhost and ::1 may use http)",
            hint="check HF_ENDPOINT / HFOPS_API_URL, and the endpoint URL the API reports",
        )


def _check_answer(response: httpx2.Response) -> None:
    request = response.request
    if response.has_redirect_location and request.extensions.get(_FOLLOWS):
        target = request.url.join(response.headers["Location"])
        if target.origin != request.url.origin:
            raise RedirectRefused(
                f"{_where(request)}: the server redirects to another origin "
                f"({target.scheme}://{target.netloc.decode('ascii', 'replace')}); hfops does not follow "
                "redirects off the origin it called",
                status=response.status_code,
                hint="check HF_ENDPOINT / HFOPS_API_URL: they must name the service itself, not a redirect",
            )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise AnswerTooLarge(f"{_where(request)}: the answer is compressed ({encoding}) though hfops asked for none")
    length = response.headers.get("Content-Length", "")
    if length.strip().isdigit() and int(length) > MAX_ANSWER_BYTES:
        raise AnswerTooLarge(
            f"{_where(request)}: the answer is {int(length)} bytes, more than the "
            f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB hfops reads"
        )
    response.stream = _CappedStream(response.stream, request, MAX_ANSWER_BYTES)


class _TlsWhenNeeded(httpx2.BaseTransport):
    """The client's own transport, with TLS set up by its first https request, not by the client.

    httpx makes the TLS context with the client: OpenSSL loads the CA bundle, 20-45 ms of CPU that
    the first request waits for. A run against plain-http loopback (the emulator, tests) never
    uses it; one against the real service pays it once, on its first request, as before. Plain
    http goes through a transport whose TLS context trusts no one: it never makes a TLS connection
    (proxies from the environment have transports of their own), and if it did it would fail.
    """

    def __init__(self, make: Any) -> None:
        self._make = make  # verify -> the transport httpx would have made with it
        self._lock = threading.Lock()
        self._plain: httpx2.BaseTransport | None = None
        self._tls: httpx2.BaseTransport | None = None

    def _for(self, scheme: str) -> httpx2.BaseTransport:
        with self._lock:
            if scheme == "http":
                if self._plain is None:
                    import ssl

                    self._plain = self._make(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
                return self._plain
            if self._tls is None:
                self._tls = self._make(None)
            return self._tls

    def prepare(self, scheme: str) -> None:
        """Make the transport of `scheme` now (`warm_session`), not on its first request."""
        self._for(scheme)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self._for(request.url.scheme).handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports, self._plain, self._tls = (self._plain, self._tls), None, None
        for transport in transports:
            if transport is not None:
                transport.close()


class _Client(httpx2.Client):
    """The session client: marks the requests whose redirects it follows, asks for no compression,
    and sets up TLS when it is first needed (`_TlsWhenNeeded`)."""

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx2.BaseTransport:
        # httpx's own default transport, made per scheme on first use. Only the default one: a
        # transport passed in, and the proxies' (from the environment), are httpx's as they are.
        if kwargs.get("transport") is not None or args:
            return super()._init_transport(*args, **kwargs)

        def make(verify: Any) -> httpx2.BaseTransport:
            chosen = kwargs if verify is None else {**kwargs, "verify": verify}
            return super(_Client, self)._init_transport(**chosen)

        return _TlsWhenNeeded(make)

    def send(
        self,
        request: httpx2.Request,
        *,
        stream: bool = False,
        auth: Any = httpx2.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx2.USE_CLIENT_DEFAULT,
    ) -> httpx2.Response:
        follows = follow_redirects if isinstance(follow_redirects, bool) else self.follow_redirects
        if follows:
            request.extensions = {**request.extensions, _FOLLOWS: True}
        request.headers["Accept-Encoding"] = "identity"
        return super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)


def _origin(url: httpx2.URL) -> str:
    # The service a budget belongs to: origin and first path segment (`/v2`, `/api`, `/endpoints`):
    # on one host the endpoints API, the Hub API and the endpoints' own URLs may be limited apart.
    first = url.path.lstrip("/").split("/", 1)[0]
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}/{first}"


def _pace(request: httpx2.Request) -> None:
    PACER.before_request(_origin(request.url))


class _RequestCount:
    """How many requests the shared client has started, for work that should wait until a wave
    of requests is out (it would otherwise share the GIL with their sending)."""

    def __init__(self) -> None:
        self._started = 0
        self._changed = threading.Condition()

    def count(self, _request: httpx2.Request) -> None:
        with self._changed:
            self._started += 1
            self._changed.notify_all()

    @property
    def started(self) -> int:
        return self._started

    def wait_for(self, target: int, timeout: float) -> bool:
        """Until `target` requests have started, or `timeout` seconds; whether they have."""
        with self._changed:
            return self._changed.wait_for(lambda: self._started >= target, timeout)


REQUESTS = _RequestCount()


def _learn_budget(response: httpx2.Response) -> None:
    PACER.after_response(_origin(response.request.url), response.headers)


_installed: list[float] = []  # the read timeout of the factory installed, once installed
_install_lock = threading.Lock()


def install_session(read_seconds: float) -> None:
    """Make huggingface_hub's shared session the hfops one (see the module docstring).

    Once per timeout: installing a factory closes the shared client, and a request another thread
    is making through it at that moment fails ("the client has been closed") or hangs. The
    operator builds an adapter per reconcile, several at once.
    """
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils._http import hf_request_event_hook

    timeout = httpx2.Timeout(read_seconds, connect=min(10.0, read_seconds))
    with _install_lock:
        if _installed == [read_seconds]:
            return
        set_client_factory(
            lambda: _Client(
                event_hooks={
                    "request": [hf_request_event_hook, _refuse_plain_http_token, _pace, REQUESTS.count],
                    "response": [_learn_budget, _check_answer],
                },
                follow_redirects=True,
                timeout=timeout,
            )
        )
        _installed[:] = [read_seconds]


_warming: list[threading.Thread] = []


def warm_session(urls: Sequence[str] = ()) -> None:
    """Build huggingface_hub's shared client now, in the background, once per process, with the
    transport of each URL's scheme (`_TlsWhenNeeded`: for https, its TLS context).

    The TLS context loads the CA bundle (25-45 ms here), which OpenSSL does with the GIL released:
    started before the manifests load, it is ready when the first read goes out instead of
    delaying it. A failure is left for the first real request to raise where it is reported.
    """
    if _warming:
        return
    from huggingface_hub import get_session

    schemes = {urlsplit(url).scheme for url in urls} or {"https"}

    def build() -> None:
        with contextlib.suppress(Exception):
            transport = getattr(get_session(), "_transport", None)
            if isinstance(transport, _TlsWhenNeeded):
                for scheme in sorted(schemes):
                    transport.prepare(scheme)

    thread = threading.Thread(target=build, name="hfops-session", daemon=True)
    _warming.append(thread)
    thread.start()


def start_session(read_seconds: float, urls: Sequence[str] = ()) -> None:
    """`install_session` and `warm_session`: what every adapter does before its first request,
    with the URLs it will call (their schemes: which transports to make ahead)."""
    install_session(read_seconds)
    warm_session(urls)


def finish_warming_session(timeout: float = 10.0) -> None:
    """Wait until the client `warm_session` is building is ready (no-op if none is being built).

    For a caller with time to spare now (a plan whose manifests a second process is parsing):
    the build then does not hold up the first request, nor share the GIL with it.
    """
    for thread in list(_warming):
        thread.join(timeout)

