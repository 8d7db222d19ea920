"""What a terminal shows while hfops works: no library download bars, and a live board that ticks.

The CLI runs as a subprocess on a real pseudo-terminal (with a window size, as a terminal has), so
huggingface_hub and the board see exactly what a user's terminal gives them.
"""

from __future__ import annotations

import io
import itertools
import re
import time

from hfops.adapters.progress import Progress
from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import endpoint_manifest
from tests.ux_terminal import run_on_terminal, terminal_env

TOKEN = "hf_test_deploy_token_0123456789"


def test_no_huggingface_hub_download_bars_and_the_board_ticks_on_a_terminal(tmp_path):
    # Provisioning takes 4 s with no state change after `initializing`: the elapsed column must move.
    with Emulator(EmulatorConfig(provision_seconds=4, retry_after_seconds=0.0)) as emulator:
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "a.yaml").write_text(endpoint_manifest("alpha"))
        env = terminal_env(emulator.url, tmp_path, TOKEN, NO_COLOR="1")

        code, screen = run_on_terminal(["plan", "m"], env, cwd=tmp_path)
        assert code == 0, screen
        assert "+ acme/alpha will be created" in screen
        # huggingface_hub's downloads draw `config.json: 100%|███| 1.2k/1.2k`; hfops reads the file itself.
        assert "config.json" not in screen and "%|" not in screen, screen

        code, screen = run_on_terminal(["apply", "m", "--yes", "--credentials-dir", "creds"], env, cwd=tmp_path)
    assert code == 0, screen
    assert "config.json" not in screen and "%|" not in screen, screen
    # Each redraw of the one-line board: `\x1b[2K… acme/alpha  <state>  <seconds>s`.
    frames = re.findall(r"\x1b\[2K. acme/alpha\s+(\S+)\s+(\d+)s", screen)
    # Redraws with the same state as the one before but more seconds: only the ticker draws those.
    ticks = [b for a, b in itertools.pairwise(frames) if a[0] == b[0] and int(b[1]) > int(a[1])]
    assert len(ticks) >= 2, frames
    assert frames[-1][0] == "ready"
    assert "Apply complete: 1 succeeded" in screen


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


class Screen(io.StringIO):
    def isatty(self) -> bool:
        return True


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_the_board_ticks_with_an_injected_clock_and_freezes_finished_lines():
    clock, screen = FakeClock(), Screen()
    with Progress(screen, clock=clock, tick_seconds=0.01) as board:
        board("acme/a", "initializing")
        board("acme/b", "initializing")
        clock.now += 1
        board("acme/b", "ready")
        clock.now += 41  # no event: only the ticker can show this
        assert wait_for(lambda: "initializing     42s" in screen.getvalue()), screen.getvalue()
        last = screen.getvalue().rsplit("\x1b[2F", 1)[-1]
        assert "acme/a  initializing     42s" in last
        assert "acme/b  ready             1s" in last  # finished at 1 s; it stops counting
        board("acme/a", "ready")
        assert wait_for(lambda: board._ticker is not None and not board._ticker.is_alive())
    drawn = screen.getvalue()
    clock.now += 100
    time.sleep(0.05)
    assert screen.getvalue() == drawn  # nothing left to count: no more redraws


def test_without_a_terminal_nothing_ticks():
    clock, stream = FakeClock(), io.StringIO()
    with Progress(stream, clock=clock, tick_seconds=0.01) as board:
        board("acme/a", "initializing")
        clock.now += 5
        time.sleep(0.05)
    assert stream.getvalue() == "acme/a: initializing\n"
