"""How a plan reads a model from the Hub: its info and its config.json in one round trip, and the
config always the one of the commit the plan pins, whatever the Hub (or a proxy in front of it) says.

Driven through the CLI against the emulator; what is asserted is what the user sees (the model's
context length in a refusal) and the Hub requests it cost (the emulator's request log).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from hfops.emulator import Emulator, EmulatorConfig
from tests.conftest import point_at
from tests.factories import endpoint_manifest

# gpt2's config.json says n_positions 1024: a limit of 2048 is refused with that number.
TOO_LONG = "  image:\n    maxTotalTokens: 2048\n    maxInputTokens: 1000\n"
REFUSAL = "spec.image.maxTotalTokens: maxTotalTokens 2048 is larger than the context length of gpt2 (1024)"


def write(tmp_path: Path, extra: str = "", revision: str = "main") -> str:
    path = tmp_path / "m" / "e.yaml"
    path.parent.mkdir(exist_ok=True)
    text = endpoint_manifest("model", "acme", extra=extra)
    path.write_text(text.replace("    repository: gpt2\n", f"    repository: gpt2\n    revision: {revision}\n"))
    return str(path)


def hub_reads(emulator: Any) -> list[tuple[str, float]]:
    return [
        (r["path"], r["t"])
        for r in emulator.requests()
        if r["path"].startswith("/api/models/") or r["path"].endswith("/config.json")
    ]


def head_of_gpt2(emulator: Any) -> str:
    return str(emulator._runtime.router.catalog.get("gpt2").sha)


def test_info_and_config_are_read_at_once_and_the_config_is_not_read_again(
    tmp_path: Path, run: Any, monkeypatch: Any
) -> None:
    # 600 ms per answer: a read started after the other was answered starts 0.6 s later at least.
    with Emulator(EmulatorConfig(provision_seconds=0.3, latency_ms=600)) as emulator:
        point_at(emulator, monkeypatch)
        result = run("plan", write(tmp_path, TOO_LONG))
        reads = hub_reads(emulator)

    assert result.code == 1 and REFUSAL in result.stderr, result.output
    assert sorted(path for path, _ in reads) == ["/api/models/gpt2/revision/main", "/gpt2/resolve/main/config.json"]
    assert abs(reads[0][1] - reads[1][1]) < 0.4, reads  # started together, not one after the other


def test_a_hub_that_does_not_say_which_commit_served_the_config_costs_a_read_at_the_commit(
    tmp_path: Path, run: Any, monkeypatch: Any
) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.3, strip_commit_header=True)) as emulator:
        point_at(emulator, monkeypatch)
        head = head_of_gpt2(emulator)
        result = run("plan", write(tmp_path, TOO_LONG))
        paths = sorted(path for path, _ in hub_reads(emulator))

    assert result.code == 1 and REFUSAL in result.stderr, result.output
    assert paths == sorted(
        ["/api/models/gpt2/revision/main", "/gpt2/resolve/main/config.json", f"/gpt2/resolve/{head}/config.json"]
    )


def test_a_branch_that_moves_between_the_info_and_the_config_reads_the_config_of_the_pinned_commit(
    tmp_path: Path, run: Any, monkeypatch: Any
) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.3)) as emulator:
        point_at(emulator, monkeypatch)
        old_head = head_of_gpt2(emulator)
        # The config read at `main` waits 1.5 s; the branch moves while it waits, after the info
        # (which named the old head) was answered.
        emulator.inject_fault("delay", method="GET", path="/gpt2/resolve/main/config.json", ms=1500)
        planned: dict[str, Any] = {}
        planning = threading.Thread(target=lambda: planned.update(result=run("plan", write(tmp_path))))
        planning.start()
        deadline = time.monotonic() + 10
        while not any(p.startswith("/api/models/") for p, _ in hub_reads(emulator)) and time.monotonic() < deadline:
            time.sleep(0.02)
        emulator.push_commit("gpt2", "2" * 40)
        planning.join(30)
        paths = [path for path, _ in hub_reads(emulator)]

    result = planned["result"]
    assert result.code == 0, result.output
    assert f"model.revision: \"{old_head}\"" in result.stdout, result.stdout  # pinned to what the info named
    # The config served at `main` came from the new commit: hfops read the pinned commit's instead.
    assert paths[-1] == f"/gpt2/resolve/{old_head}/config.json", paths
    assert "/gpt2/resolve/main/config.json" in paths


def test_the_reads_again_at_the_commit_go_out_together(tmp_path: Path, run: Any, monkeypatch: Any) -> None:
    # Behind a proxy that drops the header every config is read again at its commit: those reads
    # are one more wave, not one round trip per model after another.
    models = ("gpt2", "mistralai/Mistral-7B-Instruct-v0.2", "meta-llama/Llama-2-7b-chat-hf")
    (tmp_path / "m").mkdir()
    for index, model in enumerate(models):
        (tmp_path / "m" / f"e{index}.yaml").write_text(endpoint_manifest(f"e{index}", "acme", repository=model))
    with Emulator(EmulatorConfig(provision_seconds=0.3, latency_ms=600, strip_commit_header=True)) as emulator:
        point_at(emulator, monkeypatch)
        result = run("plan", str(tmp_path / "m"))
        again = [t for path, t in hub_reads(emulator) if "/resolve/" in path and "/resolve/main/" not in path]

    assert result.code == 0, result.output
    assert len(again) == len(models)
    assert max(again) - min(again) < 0.4, again  # started together (600 ms per answer)


def test_the_hardware_catalogues_of_several_namespaces_are_read_at_once(
    tmp_path: Path, run: Any, monkeypatch: Any
) -> None:
    # A plan of creates checks each namespace's hardware catalogue. 600 ms per answer: catalogues
    # read one after another would start 0.6 s apart at least.
    directory = tmp_path / "m"
    directory.mkdir()
    for namespace in ("acme", "beta", "gamma"):
        (directory / f"{namespace}.yaml").write_text(endpoint_manifest(f"{namespace}-chat", namespace))
    with Emulator(EmulatorConfig(provision_seconds=0.3, latency_ms=600)) as emulator:
        point_at(emulator, monkeypatch)
        result = run("plan", str(directory))
        catalogues = [(r["path"], r["t"]) for r in emulator.requests() if r["path"].startswith("/v2/provider/")]

    assert result.code == 0 and "Plan: 3 to add" in result.stdout, result.output
    assert sorted(path for path, _ in catalogues) == ["/v2/provider/acme", "/v2/provider/beta", "/v2/provider/gamma"]
    started = [t for _, t in catalogues]
    assert max(started) - min(started) < 0.4, catalogues  # started together, not one after the other
