"""Apply under a real rate limit: the emulator's token bucket per token (429 + Retry-After/RateLimit).

hfops paces itself from the RateLimit headers of the answers (adapters/pacing.py) instead of
running into 429s, and a 429 makes only the call that got it wait (no run-wide pause). Counted
through the emulator's request log; the wall time is only bounded loosely (a shared machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import endpoint_manifest

TOKEN = "hf_fake_ratelimit_0000"
CREATES = 80


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[Emulator] = []

    def start(**config: Any) -> Emulator:
        emulator = Emulator(
            EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0, latency_ms=20, seed=7, **config)
        )
        url = emulator.start()
        started.append(emulator)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setenv("HFOPS_API_URL", url + "/v2")
        monkeypatch.setenv("HFOPS_POLL_INTERVAL", "0.2")
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def fleet(directory: Path, count: int) -> Path:
    directory.mkdir(parents=True)
    text = "---\n".join(endpoint_manifest(f"paced-{i:03d}", "acme") for i in range(count))
    (directory / "acme.yaml").write_text(text, encoding="utf-8")
    return directory


def created(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r["method"] == "POST" and r["status"] < 300)


def refused(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["status"] == 429]


def test_apply_of_many_creates_paces_itself_to_few_429s(limited, run, tmp_path: Path) -> None:
    # 20 requests per second, a burst of 10: 80 creates at 32 in flight would meet ~70 refusals.
    emulator = limited(rate_limit=20.0, rate_burst=10)
    directory = fleet(tmp_path / "fleet", CREATES)

    result = run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "creds"))

    assert result.code == 0, result.output
    assert created(emulator) == CREATES
    assert len(refused(emulator)) <= 5, [r["path"] for r in refused(emulator)]
    assert len(list((tmp_path / "creds").glob("*.json"))) == CREATES


def test_a_429_makes_only_the_call_that_got_it_wait(limited, run, tmp_path: Path) -> None:
    # The pessimistic service: RateLimit headers only on 429s, so hfops learns of the limit by
    # hitting it. The calls that were refused wait their Retry-After (1 s); the others carry on at
    # the pace the 429's headers give, so requests keep succeeding during that second.
    emulator = limited(rate_limit=20.0, rate_burst=10, rate_limit_headers="429")
    directory = fleet(tmp_path / "fleet", 40)

    result = run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "creds"))

    assert result.code == 0, result.output
    assert created(emulator) == 40
    no = refused(emulator)
    assert no, "the limit was never reached: the test proves nothing"
    first = min(float(r["t"]) for r in no)
    during = [
        r for r in emulator.requests()
        if r["status"] < 300 and not r["path"].startswith("/endpoints/") and first < float(r["t"]) < first + 0.9
    ]
    assert len(during) >= 5, "every call paused after the first 429"
    # Learned from the first 429s: no storm of them afterwards.
    assert len(no) <= 40, len(no)
