"""Last line of defence against leaks: every known secret is scrubbed from anything printed.

Tokens and secret values are registered as soon as hfops reads them; the output sink passes all
text through `REDACTOR.scrub`. Code must still never put a secret in a message; this only makes
sure that a mistake (or a server echoing a request) does not reach a terminal or a CI log.
"""

from __future__ import annotations

import re
import threading

MASK = "(sensitive value)"
# Shapes of credentials even when hfops never saw the value (a server echoing a header back):
# a bearer credential, and Hugging Face tokens (hf_ followed by a long random part).
_PATTERNS = (
    (re.compile(r"(?i)(\bbearer\s+)(?!\(sensitive value\))[^\s;,\"']+"), r"\1" + MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{10,}"), MASK),
)


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        # Very short values would mask ordinary words; real tokens and keys are long.
        if value and len(value) >= 6:
            import json

            # Also the forms a value takes when a server echoes it back inside JSON or a repr.
            forms = {value, json.dumps(value)[1:-1], repr(value)[1:-1], json.dumps(json.dumps(value))[3:-3]}
            with self._lock:
                self._values.update(f for f in forms if len(f) >= 6)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


REDACTOR = Redactor()
