"""A manifest file's text cut at a document boundary, so that two processes can each parse a part.

A plan of a large set parses its files in two processes (`adapters/manifest_workers.py`). With
whole files as the unit, five files of a thousand endpoints give one process three and the other
two, and the first ends ~0.4 s after the second. A file cut where a document starts (a line
`---`) gives each process the share that makes them end together.

A part is parsed as the text of the file with everything before it replaced by its line breaks
alone (`part_text`): each value is on the line it has in the file, so every location is the
same. Where the cut could change what YAML reads, no file is cut (`can_cut`): a `%` directive
belongs to the document after it. A `---` at the start of a line always starts a document, or
is an error where it cannot (inside a quoted or flow scalar): then a part has a problem too, and
the whole file is parsed again in one piece (`join_parts` callers), so a cut never changes an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# YAML's line breaks (PyYAML's reader): the padding keeps them all, so lines count the same.
_NOT_A_LINE_BREAK = re.compile("[^\r\n\x85\u2028\u2029]+")
_MARKER_ENDS = frozenset(" \t\r\n")


@dataclass(frozen=True, order=True)
class FilePart:
    """The characters [start, end) of one file's text; the whole file or a part cut by `cut_near`."""

    file: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def whole(file: str, text: str) -> FilePart:
    return FilePart(file, 0, len(text))


def is_whole(part: FilePart, text: str) -> bool:
    return part.start == 0 and part.end == len(text)


def can_cut(text: str) -> bool:
    """Whether a cut at a document start parses, part by part, as the whole text does.

    Not with a `%` directive (it applies to the next document: a cut could part them).
    """
    return not text.startswith("%") and "\n%" not in text and "\r%" not in text


def document_start_at(text: str, position: int) -> bool:
    """Whether a line `---` (a document start) begins at `position`."""
    if not text.startswith("---", position) or (position > 0 and text[position - 1] not in "\r\n"):
        return False
    after = position + 3
    return after == len(text) or text[after] in _MARKER_ENDS


def cut_near(text: str, offset: int, *, smallest_part: int) -> int | None:
    """The document start nearest `offset` that leaves each part at least `smallest_part`
    characters, or None (no such start, or a text `can_cut` refuses)."""
    if not can_cut(text) or len(text) < 2 * smallest_part:
        return None
    low, high = smallest_part, len(text) - smallest_part
    offset = min(max(offset, low), high)
    best: int | None = None
    after = text.find("\n---", offset - 1)
    while after >= 0 and after + 1 <= high:
        if document_start_at(text, after + 1):
            best = after + 1
            break
        after = text.find("\n---", after + 1)
    before = text.rfind("\n---", 0, offset)
    while before >= 0 and before + 1 >= low:
        if document_start_at(text, before + 1):
            if best is None or offset - (before + 1) < best - offset:
                best = before + 1
            break
        before = text.rfind("\n---", 0, before)
    return best


def part_text(text: str, part: FilePart) -> str:
    """What to parse for `part`: the file's text itself when it is whole, else its characters
    after the line breaks of all before it (so each value keeps its line)."""
    if is_whole(part, text):
        return text
    return _NOT_A_LINE_BREAK.sub("", text[: part.start]) + text[part.start : part.end]
