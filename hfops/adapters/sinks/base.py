"""Where a GenStudio credential goes: the sink seam.

The code that decides a credential's contents (`core.credentials`) is apart from the code that
stores it. A sink is one output of one endpoint (a file, a Kubernetes Secret key, a command) and
answers four questions: can it be written (`check`, before anything is created), what does it
hold now (`read`), write it, remove it. Sinks never log or return a key except in `Held.content`,
which only the planner reads (to compare) and `--reveal` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

HeldState = Literal["absent", "ours", "foreign", "unreadable"]


@dataclass(frozen=True)
class Held:
    """What an output holds now.

    - `absent`: nothing there;
    - `ours`: hfops wrote it (for `address`, by `owner`); `content` is the credential JSON found;
    - `foreign`: something hfops did not write is there: never overwritten nor removed;
    - `unreadable`: the sink cannot be read back (a command); `content` is None.
    """

    state: HeldState
    content: bytes | None = field(default=None, repr=False)
    address: str | None = None  # the endpoint an `ours` output was written for
    owner: str | None = None
    # For sinks that cannot be read back (commands): the fingerprint of what was last delivered,
    # as `content_fingerprint` computes it, so a plan can tell a change without the content.
    digest: str | None = None

    def __repr__(self) -> str:  # never show the content: it holds a key
        return f"Held(state={self.state!r}, address={self.address!r}, owner={self.owner!r})"


@dataclass(frozen=True)
class Target:
    """Who a write or removal is for: recorded on what the sink stores, so it can tell its own."""

    namespace: str  # the endpoint's Inference Endpoints namespace
    name: str  # the endpoint's name
    owner: str  # the manifest set's owner identity (contract §4)

    @property
    def address(self) -> str:
        return f"{self.namespace}/{self.name}"


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
