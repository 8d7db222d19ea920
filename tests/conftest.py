"""Shared fixtures: an isolated environment, a live emulator on 127.0.0.1, and a CLI runner.

The environment is isolated before huggingface_hub is imported anywhere (it reads HF_HOME and
friends at import time), so no test reads or writes the real user's Hub cache or token.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="hfops-tests-home-")
os.environ["HF_HOME"] = _HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HFOPS_NAMESPACE", "HF_ENDPOINT", "HFOPS_API_URL"):
    os.environ.pop(_name, None)

import io  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from hfops.emulator import Emulator, EmulatorConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_test_deploy_token_0123456789"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator per test: fast provisioning, real HTTP on 127.0.0.1."""
    import os as _os

    # The emulator plays the service's likely behaviour by default; HFOPS_TEST_VARIANTS=optimistic runs
    # the suite against its historical, kinder variants too (hfops must pass under both).
    if _os.environ.get("HFOPS_TEST_VARIANTS") == "optimistic":
        config = EmulatorConfig.optimistic(provision_seconds=0.3, retry_after_seconds=0.0)
    else:
        config = EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0.0)
    with Emulator(config) as server:
        yield server


def point_at(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point hfops (its environment, as a user would set it) at `emulator`; returns what was set."""
    values = {
        "HF_TOKEN": TOKEN,
        "HF_ENDPOINT": emulator.url,
        "HFOPS_API_URL": emulator.url + "/v2",
        "HFOPS_POLL_INTERVAL": "0.1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def client_for(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> object:
    """The real client (HfApi) pointed at `emulator`: its endpoints API URL is a constant."""
    import huggingface_hub
    from huggingface_hub import HfApi

    monkeypatch.setattr(huggingface_hub.constants, "INFERENCE_ENDPOINTS_ENDPOINT", emulator.url + "/v2")
    return HfApi(endpoint=emulator.url, token=TOKEN)


@pytest.fixture
def hf_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment pointing hfops at the emulator, as a user would set it."""
    return point_at(emulator, monkeypatch)


@pytest.fixture
def api(emulator: Emulator, hf_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> object:
    """The real client (HfApi), as someone changing endpoints outside hfops would use it."""
    return client_for(emulator, monkeypatch)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Run `hfops ARGS...` in-process through the real entry point; returns code/stdout/stderr."""
    from hfops.cli import main
    from hfops.core.redact import REDACTOR

    def invoke(*args: str, stdin: str = "") -> Result:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
        finally:
            monkeypatch.setattr(sys, "stdout", sys.__stdout__)
            monkeypatch.setattr(sys, "stderr", sys.__stderr__)
        return Result(code, out.getvalue(), err.getvalue())

    yield invoke
    REDACTOR.clear()
