"""Where a GenStudio credential goes: the sink seam.

The code that decides a credential's contents (`core.credentials`) is apart from the code that
stores it. A sink is one output of one endpoint (a file, a Kubernetes Secret key, a command) and
answers four questions: can it be written (`check`, before anything is created), what does it
hold now (`read`), write it, remove it. Sinks never log or return a key except in `Held.content`,
which only the planner reads (to compare) and `--reveal` prints.
"""

from __future__ import annotations

from typing import Protocol

from hfops.core.credentials import Held, HeldState, Target

# The values are pure data, defined in the core (the planner compares them); re-exported here.
__all__ = ["CredentialSink", "Held", "HeldState", "Target"]


class CredentialSink(Protocol):
    def describe(self) -> str:
        """One line naming the output, never its content: `file credentials/llama.json`."""
        ...

    def check(self) -> list[str]:
        """Problems that would make a write fail, found before anything is created (empty: fine)."""
        ...

    def read(self) -> Held: ...

    def write(self, content: bytes, target: Target) -> None:
        """Store `content` (the credential JSON); refuses (CredentialsError) a foreign one."""
        ...

    def remove(self, target: Target) -> None:
        """Remove what hfops wrote; leaves anything foreign alone; absent is success."""
        ...
