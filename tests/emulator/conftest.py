"""Fixtures for the emulator tests: an emulator on a free loopback port, driven by unmodified huggingface_hub.

huggingface_hub reads HF_HOME, telemetry and offline settings at import time, so they are set here,
before any test module imports it; the autouse fixture also patches the constants in case another
test package imported huggingface_hub first. Nothing is read from or written to the real home.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Keep an isolated HF_HOME a parent conftest already set up; otherwise make our own.
if not os.environ.get("HF_HOME", "").startswith(tempfile.gettempdir()):
    _HF_HOME = tempfile.mkdtemp(prefix="hfops-emulator-tests-hf-home-")
    atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
    os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("HF_TOKEN", None)

import huggingface_hub
import pytest
from huggingface_hub import HfApi

from hfops.emulator import Emulator

from ._kit import TOKEN, start_emulator


@pytest.fixture(autouse=True)
def _isolated_hf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(home))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(home / "token"))


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emulator = start_emulator(monkeypatch)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def api(emu: Emulator) -> HfApi:
    return HfApi(endpoint=emu.url, token=TOKEN)
