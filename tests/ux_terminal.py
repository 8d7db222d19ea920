"""Run `hfops` as a subprocess on a real pseudo-terminal (120x40), as a user's terminal runs it.

huggingface_hub's progress bars, the live board, colours and confirmation prompts all look at
whether they are on a terminal; this gives them one, and types `answer` when asked.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def run_on_terminal(
    args: list[str], env: dict[str, str], *, cwd: Path, answer: str | None = None, timeout: float = 60
) -> tuple[int, str]:
    """`hfops ARGS` with stdin, stdout and stderr on one pseudo-terminal; returns (code, screen)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [str(BIN / "hfops"), *args],
        stdin=slave if answer is not None else subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        close_fds=True,
    )
    os.close(slave)
    if answer is not None:
        os.write(master, answer.encode() + b"\n")  # held by the terminal until hfops reads it
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    code = process.wait(timeout=10)
    return code, b"".join(chunks).decode(errors="replace")


def terminal_env(hub_url: str, home: Path, token: str, **extra: str) -> dict[str, str]:
    """The user's environment pointed at an emulator, with an empty Hub cache in `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HFOPS_", "HUGGING", "NO_COLOR"))}
    env.update(
        HOME=str(home),
        HF_HOME=str(home / "hf"),  # an empty cache: config.json is really downloaded
        HF_TOKEN=token,
        HF_ENDPOINT=hub_url,
        HFOPS_API_URL=hub_url + "/v2",
        HFOPS_POLL_INTERVAL="0.1",
        TERM="xterm-256color",
        **extra,
    )
    return env
