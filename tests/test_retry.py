"""Retries and rate limits, with an injected clock (no real sleeping)."""

from __future__ import annotations

import threading

import httpx2
import pytest
from huggingface_hub.errors import HfHubHTTPError

from hfops.adapters.retry import RetryPolicy, call_with_retries
from hfops.core.errors import Interrupted, NotStarted


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def http_error(status: int, headers: dict[str, str] | None = None) -> HfHubHTTPError:
    request = httpx2.Request("GET", "http://127.0.0.1/v2/endpoint/acme")
    response = httpx2.Response(status, headers=headers or {}, request=request)
    return HfHubHTTPError(f"HTTP {status}", response=response)


def policy(clock: FakeClock, attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts,
        base_delay=0.5,
        max_delay=8.0,
        sleep=clock.sleep,
    )


def failing(errors: list[BaseException], result: str = "ok"):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


def test_429_honours_retry_after_and_only_the_told_call_waits() -> None:
    clock = FakeClock()
    retry = policy(clock)
    fn, calls = failing([http_error(429, {"Retry-After": "7"})])
    assert call_with_retries(fn, policy=retry) == "ok"
    assert calls["n"] == 2 and clock.slept == [7.0] and retry.stats.retries == 1
    # Another call of the same run is not paused by it (pacing.py paces from the headers instead).
    other, other_calls = failing([])
    assert call_with_retries(other, policy=retry) == "ok"
    assert other_calls["n"] == 1 and clock.slept == [7.0]


def test_ratelimit_header_is_understood() -> None:
    clock = FakeClock()
    fn, _ = failing([http_error(429, {"RateLimit": '"api";r=0;t=12'})])
    call_with_retries(fn, policy=policy(clock))
    assert clock.slept == [13.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_back_off_exponentially_with_a_cap(status: int) -> None:
    clock = FakeClock()
    fn, calls = failing([http_error(status) for _ in range(3)])
    assert call_with_retries(fn, policy=policy(clock)) == "ok"
    assert calls["n"] == 4
    assert all(0 <= d <= 8.0 for d in clock.slept) and len(clock.slept) == 3


def test_connection_errors_are_retried() -> None:
    clock = FakeClock()
    fn, calls = failing([httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow")])
    assert call_with_retries(fn, policy=policy(clock)) == "ok"
    assert calls["n"] == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    clock = FakeClock()
    fn, calls = failing([http_error(status)])
    with pytest.raises(HfHubHTTPError):
        call_with_retries(fn, policy=policy(clock))
    assert calls["n"] == 1 and clock.slept == []


def test_gives_up_after_the_attempts_and_raises_the_last_error() -> None:
    clock = FakeClock()
    fn, calls = failing([http_error(503) for _ in range(10)])
    with pytest.raises(HfHubHTTPError) as caught:
        call_with_retries(fn, policy=policy(clock, attempts=3))
    assert caught.value.response.status_code == 503
    assert calls["n"] == 3


def test_a_stop_before_the_first_attempt_is_not_started_and_before_a_retry_is_an_interruption() -> None:
    clock = FakeClock()
    retry = policy(clock)
    retry.stop.set()
    fn, calls = failing([])
    with pytest.raises(NotStarted, match=r"^create acme/a: not started: interrupted$"):
        call_with_retries(fn, policy=retry, operation="create acme/a")
    assert calls["n"] == 0

    # A first attempt that went out (and failed transiently) makes the stop an interruption: the
    # request may have done something, so the endpoint is not reported as not attempted.
    stop = threading.Event()
    retry = RetryPolicy(attempts=4, sleep=lambda _seconds: stop.set(), stop=stop)
    fn, calls = failing([http_error(503)])
    with pytest.raises(Interrupted, match="interrupted; not retried") as raised:
        call_with_retries(fn, policy=retry, operation="create acme/a")
    assert not isinstance(raised.value, NotStarted) and calls["n"] == 1
