"""Where huggingface_hub's own Hub calls go, for the length of a run against a local Hub.

huggingface_hub 2.x fetches an agent-harness registry from `{constants.ENDPOINT}/api/agent-harnesses`
before its first request, and caches it in `HF_HOME` for a day. `constants.ENDPOINT` is read from
`HF_ENDPOINT` once, at import, so a Hub started later (the demo's emulator, on a free port) does
not get that call: it goes to huggingface.co, and the answer lands in the user's Hub cache.
`local_hub` points both at the local Hub and a scratch file, and puts them back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def local_hub(base_url: str, scratch: Path) -> Iterator[None]:
    from huggingface_hub import constants

    saved = (constants.ENDPOINT, constants.AGENT_HARNESSES_PATH)
    constants.ENDPOINT = base_url.rstrip("/")
    constants.AGENT_HARNESSES_PATH = str(scratch / ".agent_harnesses.json")
    try:
        yield
    finally:
        constants.ENDPOINT, constants.AGENT_HARNESSES_PATH = saved
