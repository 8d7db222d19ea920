"""The one output sink: data to stdout, progress/warnings/errors to stderr, everything scrubbed.

With `--format json` stdout carries exactly one JSON document and nothing else. On a terminal,
plan lines (`+ ~ - -/+ !`) and `Error:`/`Warning:` lines are coloured here, at the output layer,
so the renderers (and the golden files) stay plain text. Colour is off when the stream is not a
terminal, when NO_COLOR is set to anything (https://no-color.org), and with `--no-color`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from hfops.core import errors
from hfops.core.redact import REDACTOR

# How many JSON documents this process printed on stdout: the CLI adds an error document only
# when the failing command printed none, so stdout always holds exactly one.
_documents = 0
_documents_lock = threading.Lock()


def documents_written() -> int:
    return _documents


def reset_documents() -> None:
    global _documents, _colour_allowed
    with _documents_lock:
        _documents = 0
    _colour_allowed = True


# `--no-color` turns this off for the rest of the run (reset by the CLI at the start of each).
_colour_allowed = True


def disable_colour() -> None:
    global _colour_allowed
    _colour_allowed = False


def colour_wanted(stream: TextIO) -> bool:
    if not _colour_allowed or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


_RESET = "\x1b[0m"
# The leading symbol of a plan line (after its indentation), longest first, and its colour.
_PLAN_LINE = re.compile(r"^(\s*)(-/\+|\+|~|-|!)(\s)")
_PLAN_COLOURS = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", "-/+": "\x1b[35m", "!": "\x1b[1;31m"}
_PREFIX_COLOURS = {"Error:": "\x1b[1;31m", "Warning:": "\x1b[33m", "Hint:": "\x1b[36m"}


def colour_plan(text: str) -> str:
    """Terminal colours for plan lines (by their leading symbol); text is otherwise unchanged."""
    lines = []
    for line in text.split("\n"):
        match = _PLAN_LINE.match(line)
        lines.append(f"{_PLAN_COLOURS[match.group(2)]}{line}{_RESET}" if match else line)
    return "\n".join(lines)


def colour_prefixes(text: str) -> str:
    """Terminal colours for the `Error:`, `Warning:` and `Hint:` prefixes of message lines."""
    lines = []
    for line in text.split("\n"):
        for prefix, colour in _PREFIX_COLOURS.items():
            if line.startswith(prefix):
                line = f"{colour}{prefix}{_RESET}{line[len(prefix):]}"
                break
        lines.append(line)
    return "\n".join(lines)


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

    def _write(self, stream: TextIO, text: str, *, colour: Callable[[str], str] | None = None) -> None:
        text = REDACTOR.scrub(text)
        if colour is not None and colour_wanted(stream):
            text = colour(text)
        with self._lock:
            stream.write(text + "\n")
            stream.flush()

    def data(self, text: str) -> None:
        """Human-readable data; in json mode it goes to stderr so stdout stays one document."""
        self._write(self._stderr if self.json_mode else self._stdout, text)

    def plan(self, text: str) -> None:
        """A rendered plan: data, with its `+ ~ - -/+ !` lines coloured on a terminal."""
        self._write(self._stderr if self.json_mode else self._stdout, text, colour=colour_plan)

    def document(self, doc: Any) -> None:
        global _documents
        self._write(self._stdout, json.dumps(doc, indent=2, sort_keys=False, default=str))
        with _documents_lock:
            _documents += 1

    def info(self, text: str) -> None:
        self._write(self._stderr, text)

    def warn(self, text: str) -> None:
        self._write(self._stderr, f"Warning: {text}", colour=colour_prefixes)

    def error(self, text: str, hint: str | None = None) -> None:
        self._write(self._stderr, f"Error: {text}", colour=colour_prefixes)
        if hint:
            self._write(self._stderr, f"Hint: {hint}", colour=colour_prefixes)


def _kind(error: BaseException) -> str:
    """The error's kind in a JSON error document (most specific class first)."""
    for cls, kind in (
        (errors.ManifestError, "manifest"),
        (errors.ConfirmationError, "confirmation"),
        (errors.UsageError, "usage"),
        (errors.StalePlanError, "stale_plan"),
        (errors.PlanError, "plan"),
        (errors.RemoteError, "remote"),
        (errors.ApplyError, "apply"),
        (errors.CredentialsError, "credentials"),
        (errors.Interrupted, "interrupted"),
        (errors.HfopsError, "error"),
    ):
        if isinstance(error, cls):
            return kind
    return "internal"


def error_entries(error: BaseException, *, kind: str | None = None) -> list[dict[str, Any]]:
    """One entry per cause: a manifest error becomes one located entry per diagnostic."""
    kind = kind or _kind(error)
    if isinstance(error, errors.ManifestError):
        return [
            {
                "kind": "manifest",
                "message": d.message,
                "hint": d.hint,
                "file": d.location.file,
                "line": d.location.line or None,
                "field": d.location.field or None,
            }
            for d in error.diagnostics
        ]
    entry: dict[str, Any] = {
        "kind": kind,
        "message": error.message if isinstance(error, errors.HfopsError) else str(error),
        "hint": error.hint if isinstance(error, errors.HfopsError) else None,
    }
    if isinstance(error, errors.RemoteError):
        entry.update(status=error.status, request_id=error.request_id)
    if isinstance(error, (errors.PlanError, errors.ApplyError)) and error.endpoint:
        entry["endpoint"] = error.endpoint
    if isinstance(error, errors.ApplyError):
        entry["step"] = error.step
    return [entry]


def error_document(
    command: str, entries: list[dict[str, Any]], *, exit_code: int, **extra: Any
) -> dict[str, Any]:
    """What a command run with `--format json` prints on stdout when it fails (README: JSON output)."""
    return {"format_version": "1", "command": command, "ok": False, "exit_code": exit_code, "errors": entries, **extra}
