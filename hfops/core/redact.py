"""Last line of defence against leaks: every known secret is scrubbed from anything printed.

Tokens and secret values are registered as soon as hfops reads them; the output sink passes all
text through `REDACTOR.scrub`. Code must still never put a secret in a message; this only makes
sure that a mistake (or a server echoing a request) does not reach a terminal or a CI log.

`scrub` also removes terminal control: escape sequences (CSI, OSC, DCS, ...), C0 and C1 control
characters (newline and tab excepted) and bidirectional overrides. Text a server sent (an error
message, an endpoint's status message) can carry them, and printed as is they would retitle the
terminal, hide lines or rewrite what a CI log shows.
"""

from __future__ import annotations

import json
import re
import threading

MASK = "(sensitive value)"
# Shapes of credentials even when hfops never saw the value (a server echoing a header back):
# a bearer credential, and Hugging Face tokens (hf_ followed by a long random part).
_PATTERNS = (
    (re.compile(r"(?i)(\bbearer\s+)(?!\(sensitive value\))[^\s;,\"']+"), r"\1" + MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{10,}"), MASK),
)
# Values at least this long are masked wherever they occur, even inside a longer word: a real
# token or key is never an ordinary word. Shorter ones are masked only as a whole token (below).
SUBSTRING_MIN = 6
# What a short value must not touch on either side to count as a whole token. A secret echoed by a
# server stands between quotes, spaces, `=`, `:` or `,`; requiring that keeps a 3-character secret
# "abc" from turning "abcdef" or "x_abc" into "(sensitive value)def" all over hfops's output.
_TOKEN_CHAR = r"A-Za-z0-9_\-"

# Terminal control in text from elsewhere. Whole sequences first, so an OSC's payload (a window
# title) goes with its introducer rather than being left behind as text.
_CONTROL_SEQUENCES = re.compile(
    r"(?:\x1b[P\]X^_]|[\x90\x9d\x98\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # DCS/OSC/SOS/PM/APC strings
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI
    r"|\x1b[ -/]*[0-~]?"  # other escape sequences (charset, keypad, ...), and a lone ESC
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_control(text: str) -> str:
    """`text` without terminal escape sequences or control characters (newline and tab kept)."""
    if not _CONTROL_CHARS.search(text):
        return text
    return _CONTROL_CHARS.sub("", _CONTROL_SEQUENCES.sub("", text))


def _forms(value: str) -> set[str]:
    # The forms a value takes when a server echoes it back inside JSON or a repr.
    return {value, json.dumps(value)[1:-1], repr(value)[1:-1], json.dumps(json.dumps(value))[3:-3]}


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or not value.strip():
            return
        forms = {f for f in _forms(value) if f.strip()}
        with self._lock:
            if not forms <= self._values:
                self._values.update(forms)
                self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first: a value that contains another is masked whole.
                # A mask already in the text (scrubbed twice) is matched first and left as it is.
                parts = [re.escape(MASK)]
                for value in sorted(self._values, key=len, reverse=True):
                    escaped = re.escape(value)
                    if len(value) >= SUBSTRING_MIN:
                        parts.append(escaped)
                    else:
                        parts.append(f"(?<![{_TOKEN_CHAR}]){escaped}(?![{_TOKEN_CHAR}])")
                self._pattern = re.compile("|".join(parts))
            return self._pattern

    def scrub(self, text: str) -> str:
        text = strip_control(text)
        pattern = self._compiled()
        if pattern is not None:
            # One pass over the text: a short value that happens to be a word of MASK ("value")
            # cannot then mask the mask itself.
            text = pattern.sub(MASK, text)
        for regex, replacement in _PATTERNS:
            text = regex.sub(replacement, text)
        return text

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None


REDACTOR = Redactor()
