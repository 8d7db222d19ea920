"""The one output sink: data to stdout, progress/warnings/errors to stderr, everything scrubbed.

With `--format json` stdout carries exactly one JSON document and nothing else.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from hfops.core.redact import REDACTOR


class Output:
    def __init__(
        self, *, fmt: str = "text", stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.format = fmt
        self._stdout = stdout or sys.stdout
        self._stderr = stderr or sys.stderr
        self._lock = threading.Lock()

    @property
    def json_mode(self) -> bool:
        return self.format == "json"

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(REDACTOR.scrub(text) + "\n")
            stream.flush()

    def data(self, text: str) -> None:
        """Human-readable data; in json mode it goes to stderr so stdout stays one document."""
        self._write(self._stderr if self.json_mode else self._stdout, text)

    def document(self, doc: Any) -> None:
        self._write(self._stdout, json.dumps(doc, indent=2, sort_keys=False, default=str))

    def info(self, text: str) -> None:
        self._write(self._stderr, text)

    def warn(self, text: str) -> None:
        self._write(self._stderr, f"Warning: {text}")

    def error(self, text: str, hint: str | None = None) -> None:
        self._write(self._stderr, f"Error: {text}")
        if hint:
            self._write(self._stderr, f"Hint: {hint}")


def silence_library_progress() -> None:
    """Turn off huggingface_hub's download bars (`config.json: 100%|...`) for this process.

    hfops reads a few small files from the Hub (a model's config.json) while planning; the
    library would draw a bar for each on a terminal, between the lines hfops prints. Called by
    every command before it talks to the Hub, with huggingface_hub's own switch. A user who sets
    HF_HUB_DISABLE_PROGRESS_BARS explicitly keeps what they chose (the variable has priority).
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars

    if constants.HF_HUB_DISABLE_PROGRESS_BARS is None:
        disable_progress_bars()
