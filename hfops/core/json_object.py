"""JSON that hfops did not just write (a file, an answer, an annotation), read as an object or not at all."""

from __future__ import annotations

import json
from typing import Any


def load_object(text: str | bytes | None) -> dict[str, Any] | None:
    """`text` decoded as a JSON object; None if there is none, or it is not JSON, or not an object.

    JSON nested deeper than the decoder recurses is not JSON here either: `json` raises
    RecursionError for it, not ValueError, and it escaped as an "unexpected RecursionError".
    """
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
