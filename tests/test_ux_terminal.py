"""Terraform habits on a terminal: coloured plans and errors, a typed `yes` before deleting, completion.

Run on a real pseudo-terminal (tests/ux_terminal.py) against the emulator; the same commands
without a terminal (the `run` fixture: pipes) must stay plain and keep refusing to delete unasked.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.factories import endpoint_manifest
from tests.ux_terminal import BIN, run_on_terminal, terminal_env

TOKEN = "hf_test_deploy_token_0123456789"
GREEN, YELLOW, RED, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[0m"
ESC = "\x1b["


@pytest.fixture
def fleet(emulator, api, run, tmp_path):
    """acme/alpha and acme/beta applied by hfops; the manifests in tmp_path/m."""
    (tmp_path / "m").mkdir()
    for name in ("alpha", "beta"):
        (tmp_path / "m" / f"{name}.yaml").write_text(endpoint_manifest(name, extra="  env: {LOG_LEVEL: info}\n"))
    assert run("apply", str(tmp_path / "m"), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    return tmp_path / "m"


def test_plan_lines_and_errors_are_coloured_on_a_terminal_only(emulator, api, fleet, run, tmp_path):
    alpha = fleet / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    (fleet / "gamma.yaml").write_text(endpoint_manifest("gamma"))
    env = terminal_env(emulator.url, tmp_path, TOKEN)

    code, screen = run_on_terminal(["plan", "m"], env, cwd=tmp_path)
    assert code == 0, screen
    assert f"{YELLOW}  ~ acme/alpha will be updated in place" in screen
    assert f"{YELLOW}      ~ env.LOG_LEVEL:" in screen
    assert f"{GREEN}  + acme/gamma will be created{RESET}" in screen
    assert "\nPlan: 1 to add, 1 to change, 0 to destroy." in screen.replace("\r\n", "\n")  # the rest: plain

    # Off with NO_COLOR (any value), off with --no-color, off without a terminal.
    for args, extra in (
        (["plan", "m"], {"NO_COLOR": "1"}),
        (["plan", "m", "--no-color"], {}),
        (["--no-color", "plan", "m"], {}),
    ):
        code, screen = run_on_terminal(args, {**env, **extra}, cwd=tmp_path)
        assert code == 0 and "  + acme/gamma will be created" in screen
        assert ESC + "3" not in screen, (args, extra)
    piped = run("plan", str(fleet))
    assert "  + acme/gamma will be created" in piped.stdout and ESC not in piped.output

    # Errors: a red `Error:` on a terminal, plain otherwise.
    code, screen = run_on_terminal(["plan", "missing"], env, cwd=tmp_path)
    assert code == 1 and f"\x1b[1;31mError:{RESET} 1 manifest error:" in screen
    code, screen = run_on_terminal(["plan", "missing"], {**env, "NO_COLOR": "1"}, cwd=tmp_path)
    assert code == 1 and "Error: 1 manifest error:" in screen and ESC not in screen


def test_destroy_asks_for_a_typed_yes_on_a_terminal(emulator, api, fleet, tmp_path):
    env = terminal_env(emulator.url, tmp_path, TOKEN, NO_COLOR="1")
    destroy = ["destroy", "m", "--credentials-dir", "c"]
    for answer in ("y", "no", ""):
        code, screen = run_on_terminal(destroy, env, cwd=tmp_path, answer=answer)
        assert code == 1, screen
        assert "Only 'yes' will be accepted to confirm." in screen and "Enter a value:" in screen
        assert "Error: cancelled; nothing was changed" in screen
        assert {e.name for e in api.list_inference_endpoints(namespace="acme", token=TOKEN)} == {"alpha", "beta"}

    code, screen = run_on_terminal(destroy, env, cwd=tmp_path, answer="yes")
    assert code == 0, screen
    assert "Destroy complete: 2 destroyed." in screen
    assert api.list_inference_endpoints(namespace="acme", token=TOKEN) == []


def test_destroy_without_a_terminal_still_refuses_and_yes_still_skips(emulator, api, fleet, run, tmp_path):
    refused = run("destroy", str(fleet), "--credentials-dir", str(tmp_path / "c"))
    assert refused.code == 1
    assert "refusing to destroy these endpoints without confirmation: no terminal to ask on" in refused.stderr
    assert len(api.list_inference_endpoints(namespace="acme", token=TOKEN)) == 2
    done = run("destroy", str(fleet), "--credentials-dir", str(tmp_path / "c"), "--yes")
    assert done.code == 0 and "Destroy complete: 2 destroyed." in done.stdout


def test_prune_asks_for_a_typed_yes_on_a_terminal(emulator, api, fleet, run, tmp_path):
    (fleet / "beta.yaml").unlink()  # beta is now only pruned
    env = terminal_env(emulator.url, tmp_path, TOKEN, NO_COLOR="1")
    apply = ["apply", "m", "--prune", "--credentials-dir", "c"]

    code, screen = run_on_terminal(apply, env, cwd=tmp_path, answer="y")
    assert code == 1 and "deleting 1 endpoint(s)?" in screen and "Only 'yes' will be accepted" in screen
    assert "Error: cancelled; nothing was changed" in screen
    assert {e.name for e in api.list_inference_endpoints(namespace="acme", token=TOKEN)} == {"alpha", "beta"}

    refused = run("apply", str(fleet), "--prune", "--credentials-dir", str(tmp_path / "c"))
    assert refused.code == 1 and "no terminal to ask on" in refused.stderr

    code, screen = run_on_terminal(apply, env, cwd=tmp_path, answer="yes")
    assert code == 0, screen
    assert {e.name for e in api.list_inference_endpoints(namespace="acme", token=TOKEN)} == {"alpha"}


def completions(shell_words: str, cword: int) -> list[str]:
    """What bash offers after sourcing `hfops completion bash`, exactly as the README says to."""
    script = (
        'eval "$(hfops completion bash)"\n'
        f"COMP_WORDS=({shell_words}); COMP_CWORD={cword}; COMPREPLY=()\n"
        "_hfops_completion hfops\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=env, check=True)
    return done.stdout.split()


def test_completion_bash_completes_commands_options_and_choices():
    assert "plan" in completions("hfops pl", 1) and "destroy" not in completions("hfops pl", 1)
    assert set(completions("hfops ''", 1)) >= {"apply", "plan", "destroy", "completion", "emulator"}
    assert completions("hfops plan --for", 2) == ["--format"]
    assert completions("hfops plan --format ''", 3) == ["text", "json"]
    assert completions("hfops completion ''", 2) == ["bash", "zsh", "fish"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _hfops_completion hfops"),
        ("zsh", "#compdef hfops"),
        ("fish", "complete --no-files --command hfops"),
    ],
)
def test_completion_prints_a_script_for_each_shell(run, shell, marker):
    result = run("completion", shell)
    assert result.code == 0 and marker in result.stdout and "_HFOPS_COMPLETE" in result.stdout


def test_completion_refuses_an_unknown_shell(run):
    result = run("completion", "tcsh")
    assert result.code == 1 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr
