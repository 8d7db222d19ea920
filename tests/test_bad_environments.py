"""Bad environments: what is wrong is not in the manifest's syntax but around it.

A missing token or secret variable, an unreachable or malformed API URL, a credentials directory
that is a file, sits under a file or is a symlink, hardware the catalogue does not have, a gated,
missing or non-text-generation model, a fleet over quota. Each must give one clear error (located
in the manifest when it comes from one), exit 1, no traceback, and nothing created on the service
or written to disk: a bad environment must be found before the first endpoint is paid for.

With the corpus of bad manifests (tests/data/bad, test_bad_manifests.py) this makes well over the
40 bad inputs the reliability issue asks for.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hfops.emulator import Emulator
from tests.factories import CPU_COMPUTE, endpoint_manifest

BAD_CORPUS = Path(__file__).parent / "data" / "bad"


def endpoint_doc(name: str = "svc", *, repository: str = "gpt2", compute: str = CPU_COMPUTE, extra: str = "") -> str:
    return endpoint_manifest(name, repository=repository, compute=compute, extra=extra)


def free_port() -> int:
    """A port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Case:
    """One bad environment: what to write, how to break the environment, what the error must say."""

    manifest: str
    expect: tuple[str | tuple[str, ...], ...]  # substrings of stderr (a tuple: any one of them)
    setup: Callable[[Path, pytest.MonkeyPatch, Emulator], list[str]] | None = None  # extra CLI args
    located: bool = False  # the error names the manifest file and line


def _unset(name: str) -> Callable[[Path, pytest.MonkeyPatch, Emulator], list[str]]:
    def setup(_tmp: Path, monkeypatch: pytest.MonkeyPatch, _emulator: Emulator) -> list[str]:
        monkeypatch.delenv(name, raising=False)
        return []

    return setup


Setup = Callable[[Path, pytest.MonkeyPatch, Emulator], list[str]]


def _set(name: str, value: str | Callable[[Emulator], str]) -> Setup:
    def setup(_tmp: Path, monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> list[str]:
        monkeypatch.setenv(name, value(emulator) if callable(value) else value)
        return []

    return setup


def _creds_dir(make: Callable[[Path], Path]) -> Callable[[Path, pytest.MonkeyPatch, Emulator], list[str]]:
    def setup(tmp: Path, _monkeypatch: pytest.MonkeyPatch, _emulator: Emulator) -> list[str]:
        return ["--credentials-dir", str(make(tmp))]

    return setup


def _a_file(tmp: Path) -> Path:
    path = tmp / "not-a-dir"
    path.write_text("I am a file\n")
    return path


def _under_a_file(tmp: Path) -> Path:
    return _a_file(tmp) / "credentials"


def _symlinked_dir(tmp: Path) -> Path:
    real = tmp / "real-credentials"
    real.mkdir()
    link = tmp / "credentials"
    link.symlink_to(real, target_is_directory=True)
    return link


def _symlink_at_file(tmp: Path) -> Path:
    creds = tmp / "credentials"
    creds.mkdir(mode=0o700)
    target = tmp / "precious.txt"
    target.write_text("keep\n")
    (creds / "svc.json").symlink_to(target)
    return creds


def _symlinked_subdir(tmp: Path) -> Path:
    creds = tmp / "credentials"
    creds.mkdir(mode=0o700)
    (tmp / "outside").mkdir()
    (creds / "team").symlink_to(tmp / "outside", target_is_directory=True)
    return creds


def _args(*args: str) -> Setup:
    def setup(tmp: Path, _monkeypatch: pytest.MonkeyPatch, _emulator: Emulator) -> list[str]:
        return [*args, "--credentials-dir", str(tmp / "credentials")]

    return setup


UNUSED = free_port()
GPU = "{{vendor: aws, region: us-east-1, accelerator: gpu, instanceType: {t}, instanceSize: {s}}}"
SECRETS = "  secrets:\n    DB_PASSWORD: {fromEnv: DB_PASSWORD_UNSET}\n"
GENSTUDIO = "  genstudio:\n    apiKey: {fromEnv: GENSTUDIO_KEY_UNSET}\n"

CASES: dict[str, Case] = {
    # The environment hfops reads
    "no_hf_token": Case(endpoint_doc(), ("HF_TOKEN",), _unset("HF_TOKEN")),
    "empty_hf_token": Case(endpoint_doc(), ("HF_TOKEN",), _set("HF_TOKEN", "")),
    "token_refused_401": Case(endpoint_doc(), ("401",), _set("HF_TOKEN", "not-a-hugging-face-token")),
    "secret_env_var_unset": Case(
        endpoint_doc(extra=SECRETS), ("spec.secrets.DB_PASSWORD", "DB_PASSWORD_UNSET"), located=True
    ),
    "genstudio_key_env_var_unset": Case(
        endpoint_doc(extra=GENSTUDIO), ("spec.genstudio.apiKey", "GENSTUDIO_KEY_UNSET"), located=True
    ),
    # Numbers that are not a wait: usage errors, never an endless (or no) wait or an OverflowError
    **{
        f"poll_interval_{label}": Case(
            endpoint_doc(), ("HFOPS_POLL_INTERVAL", value), _set("HFOPS_POLL_INTERVAL", value)
        )
        for label, value in (("inf", "inf"), ("nan", "nan"), ("zero", "0"), ("negative", "-1"), ("word", "soon"))
    },
    "http_timeout_inf": Case(endpoint_doc(), ("HFOPS_HTTP_TIMEOUT", "'inf'"), _set("HFOPS_HTTP_TIMEOUT", "inf")),
    **{
        f"timeout_{label}": Case(endpoint_doc(), ("--timeout", value), _args("--timeout", value))
        for label, value in (("nan", "nan"), ("inf", "inf"), ("negative", "-5"))
    },
    # Where hfops is pointed
    "api_url_unreachable": Case(
        endpoint_doc(),
        ((f"127.0.0.1:{UNUSED}", "HFOPS_API_URL"),),
        _set("HFOPS_API_URL", lambda _e: f"http://127.0.0.1:{UNUSED}/v2"),
    ),
    "hub_url_unreachable": Case(
        endpoint_doc(),
        ((f"127.0.0.1:{UNUSED}", "HF_ENDPOINT"),),
        _set("HF_ENDPOINT", lambda _e: f"http://127.0.0.1:{UNUSED}"),
    ),
    "api_url_not_a_url": Case(
        endpoint_doc(), (("api.example.invalid", "HFOPS_API_URL"),), _set("HFOPS_API_URL", "api.example.invalid/v2")
    ),
    # Where credentials would go
    "credentials_dir_is_a_file": Case(endpoint_doc(), ("not-a-dir",), _creds_dir(_a_file)),
    "credentials_dir_under_a_file": Case(endpoint_doc(), ("not-a-dir",), _creds_dir(_under_a_file)),
    "credentials_dir_is_a_symlink": Case(endpoint_doc(), ("symlink",), _creds_dir(_symlinked_dir)),
    "credential_file_is_a_symlink": Case(endpoint_doc(), ("symlink",), _creds_dir(_symlink_at_file)),
    "credential_subdir_is_a_symlink": Case(
        endpoint_doc(extra="  genstudio:\n    file: team/svc.json\n"), ("symlink",), _creds_dir(_symlinked_subdir)
    ),
    # Hardware
    "unknown_instance_type": Case(
        endpoint_doc(compute=GPU.format(t="nvidia-zz9", s="x1")), ("spec.compute", "nvidia-zz9"), located=True
    ),
    "unknown_instance_size": Case(
        endpoint_doc(compute=GPU.format(t="nvidia-a10g", s="x3")), ("spec.compute", "x3"), located=True
    ),
    "unknown_region": Case(
        endpoint_doc(
            compute="{vendor: aws, region: eu-west-9, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}"
        ),
        ("eu-west-9",),
        located=True,
    ),
    "fleet_over_quota": Case(
        "---\n".join(
            endpoint_doc(
                f"big-{i}",
                compute=GPU.format(t="nvidia-a10g", s="x4"),
                extra="  scaling: {minReplica: 0, maxReplica: 100}\n",
            )
            for i in range(3)
        ),
        ("quota",),
    ),
    # Models
    "gated_model": Case(
        endpoint_doc(repository="meta-llama/Meta-Llama-3-8B-Instruct"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "gated"),
        located=True,
    ),
    "missing_model": Case(
        endpoint_doc(repository="nobody/no-such-model"), ("nobody/no-such-model", "not found"), located=True
    ),
    "missing_revision": Case(
        endpoint_doc().replace("repository: gpt2", "repository: gpt2\n    revision: no-such-branch"),
        ("no-such-branch",),
        located=True,
    ),
    "not_text_generation": Case(
        endpoint_doc(repository="sentence-transformers/all-MiniLM-L6-v2"), ("feature-extraction",), located=True
    ),
}


def writes(emulator: Emulator) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in emulator.requests() if r["method"] in ("POST", "PUT", "DELETE")]


def assert_one_clear_error(result: Any, expect: tuple[str | tuple[str, ...], ...]) -> None:
    assert result.code == 1, result.output
    stderr = result.stderr
    assert "Traceback" not in result.output
    assert "unexpected" not in stderr, f"an unexpected error is a bug, not a clear error:\n{stderr}"
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, f"one error, not {len(errors)}:\n{stderr}"
    for needle in expect:
        options = needle if isinstance(needle, tuple) else (needle,)
        assert any(option in stderr for option in options), f"none of {options} in:\n{stderr}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_environment_is_refused_before_anything_is_created(
    name: str, emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    manifest = tmp_path / "manifests" / "svc.yaml"
    manifest.parent.mkdir()
    manifest.write_text(case.manifest)
    default_creds = tmp_path / "credentials"
    extra = case.setup(tmp_path, monkeypatch, emulator) if case.setup else []
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))

    result = run("apply", str(manifest), "--yes", *(extra or ["--credentials-dir", str(default_creds)]))

    assert_one_clear_error(result, case.expect)
    if case.located:
        assert f"{manifest}:" in result.stderr, "the error must name the manifest file and line"
    assert writes(emulator) == [], "nothing may be created, changed or deleted"
    after = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert after == before, "nothing may be written to disk"


def test_plan_refuses_the_same_without_writing_anything(
    emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(endpoint_doc(extra=SECRETS) + "---\n" + endpoint_doc("other", extra=GENSTUDIO))
    result = run("plan", str(manifest), "--out", str(tmp_path / "plan.json"))
    assert result.code == 1
    assert "spec.secrets.DB_PASSWORD" in result.stderr
    assert not (tmp_path / "plan.json").exists()
    assert writes(emulator) == []


def test_a_corrupted_saved_plan_is_refused(
    emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(endpoint_doc())
    plan_file = tmp_path / "plan.json"
    assert run("plan", str(manifest), "--out", str(plan_file)).code == 0
    plan_file.write_text(plan_file.read_text()[: len(plan_file.read_text()) // 2])  # truncated

    result = run("apply", str(plan_file), "--credentials-dir", str(tmp_path / "c"))

    assert_one_clear_error(result, (str(plan_file),))
    assert writes(emulator) == []
    assert not (tmp_path / "c").exists()


def test_a_saved_plan_whose_manifests_are_gone_is_refused(
    emulator: Emulator, hf_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(endpoint_doc())
    plan_file = tmp_path / "plan.json"
    assert run("plan", str(manifest), "--out", str(plan_file)).code == 0
    manifest.unlink()

    result = run("apply", str(plan_file), "--credentials-dir", str(tmp_path / "c"))

    assert_one_clear_error(result, (str(manifest),))
    assert writes(emulator) == []


def test_the_bad_input_corpus_has_at_least_forty_inputs() -> None:
    corpus = [p for p in BAD_CORPUS.iterdir() if p.is_file()]
    assert len(corpus) + len(CASES) >= 40
    # The corpus files are each one mistake in one manifest (see test_bad_manifests.py).
    assert all(p.suffix == ".yaml" for p in corpus)
    assert json.dumps(sorted(CASES))  # every case has a stable name for the test id
