"""The README's emulator section: what it shows for the real `hf endpoints` CLI and huggingface_hub works.

The code blocks are taken from README.md as they are and run against the emulator (only the
example address http://127.0.0.1:8765 is swapped for the running emulator's).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_URL = "http://127.0.0.1:8765"
EXPECTED = {"llama-2-7b-chat", "mistral-7b-instruct"}  # the examples' endpoints in namespace acme


def emulator_section_blocks() -> dict[str, list[str]]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## The emulator\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        blocks.setdefault(language, []).append(body)
    return blocks


def test_the_readme_shows_the_hf_cli_and_python_against_the_emulator(emulator, hf_env, run, tmp_path):
    applied = run("apply", str(ROOT / "examples"), "--yes", "--no-wait", "--credentials-dir", str(tmp_path / "c"))
    assert applied.code == 0, applied.output
    blocks = emulator_section_blocks()
    assert len(blocks["sh"]) == 1 and len(blocks["python"]) == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_TOKEN", "HFOPS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python` is this environment's

    shell = blocks["sh"][0].replace(EXAMPLE_URL, emulator.url)
    assert "hf-emu endpoints ls --namespace acme" in shell
    done = subprocess.run(["bash", "--norc", "-eo", "pipefail", "-c", shell], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table, _, described = done.stdout.partition("{")
    rows = [line for line in table.splitlines()[2:] if line.strip()]
    assert len(rows) == len(EXPECTED), table  # `hf endpoints ls`: one row per endpoint of acme
    endpoint = json.loads("{" + described)  # `hf endpoints describe ... --format json`
    assert endpoint["name"] == "llama-2-7b-chat" and endpoint["model"]["repository"] == "meta-llama/Llama-2-7b-chat-hf"

    python = blocks["python"][0].replace(EXAMPLE_URL, emulator.url)
    done = subprocess.run([sys.executable, "-c", python], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(ast.literal_eval(done.stdout)) == EXPECTED  # the printed list of names
