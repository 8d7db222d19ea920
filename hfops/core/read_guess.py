"""What a set of manifests will ask the API for, guessed from their text before they are parsed.

A browser's preload scanner reads ahead of its parser for the resources a page will fetch; a plan
does the same (`workflows/early_reads.py`): while a large set is parsed (150 ms for 500 endpoints,
over a second for 5,000), the list of each namespace and the info and config of each model it
names are already on their way. Pure and cheap (regular expressions over the raw text, a few ms
for 5,000 endpoints), and only a guess: the parsed manifests decide what is used. A wrong guess
costs a read too many (a namespace that only looked like one) or a read made later, never a
different plan.

Read: `metadata` mappings (flow `{name: a, namespace: b}` or block style), their `namespace`;
`model` mappings, their `repository` and `revision`. Values must look like what the API accepts
(plain names); anything quoted oddly, escaped, anchored or templated is not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hfops.core.model import DEFAULT_REVISION

# At most this many of each: a guess that large is more likely wrong than useful.
MAX_GUESSED = 64
# The scan reads the first documents of each file up to this much, and this much in all: a set's
# namespaces and models repeat (a file per team), and a read it misses is made after the parse.
# Unbounded, it cost 25 ms of a 5,000-endpoint plan for a guess the first files already gave.
SCAN_BYTES_PER_FILE = 32 * 1024
SCAN_BYTES = 512 * 1024

_NAME = r"""["']?([A-Za-z0-9][A-Za-z0-9._/-]*)["']?"""
_KEYS = ("metadata", "model")
_KEY = {
    key: re.compile(rf"(?:^|[{{,])[ \t]*{key}:[ \t]*{_NAME}[ \t]*(?=[,}}]|#|$)", re.MULTILINE)
    for key in ("namespace", "repository", "revision")
}


@dataclass(frozen=True)
class LikelyReads:
    """The namespaces to list and the models, as (repository, revision), to resolve."""

    namespaces: tuple[str, ...] = ()
    models: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.namespaces or self.models)


def _value(body: str, key: str) -> str | None:
    """The one value of `key` in a mapping's own text, or None if absent or written twice."""
    found = {match.group(1) for match in _KEY[key].finditer(body)}
    return found.pop() if len(found) == 1 else None


def _mappings(text: str) -> Iterable[tuple[str, str]]:
    """(key, own text) of every `metadata:` and `model:` mapping of a manifest text: the body of
    a flow mapping on one line (`{name: a, namespace: b}`), or the lines of a block mapping at
    its first indentation (a nested mapping's keys are deeper, and not the endpoint's)."""
    for key in _KEYS:
        word = key + ":"
        at = text.find(word)
        while at >= 0:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            lead = text[start:at]
            before = lead.strip()
            after = text[at + len(word) : end].split("#", 1)[0].strip()
            at = text.find(word, at + len(word))
            if before not in ("", "-"):
                continue  # not a key at the start of its line (`x_model:`, a value)
            if after.startswith("{") and after.endswith("}") and after.count("{") == 1:
                yield key, after[1:-1]
            elif not after:
                yield key, _block_body(text, end + 1, len(lead) - len(lead.lstrip()))


def _block_body(text: str, position: int, indent: int) -> str:
    """The lines of the block mapping starting at `position` under a key indented `indent`."""
    own: list[str] = []
    first: int | None = None
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        line = text[position:end]
        position = end + 1
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(stripped)
        if depth <= indent:
            break
        if first is None:
            first = depth
        if depth == first:
            own.append(line)
    return "\n".join(own)


def _first_documents(text: str, limit: int) -> str:
    """The documents of `text` that begin and end within its first `limit` characters (at least
    the first document): a mapping cut in half would look like one without a namespace."""
    if len(text) <= limit:
        return text
    end = text.rfind("\n---", 0, limit)
    if end < 0:
        end = text.find("\n---", limit)
    return text if end < 0 else text[: end + 1]


def likely_reads(texts: Iterable[str], *, default_namespace: str | None) -> LikelyReads:
    """The reads a plan of these manifest texts will probably make (see the module's docstring).

    `default_namespace` (`--namespace`, HFOPS_NAMESPACE) is guessed when some `metadata` mapping
    names no namespace of its own. Texts with YAML that a regular expression cannot follow
    (anchors, aliases, tags, merge keys, escapes) give nothing: those are parsed first.
    """
    namespaces: set[str] = set()
    models: set[tuple[str, str]] = set()
    unnamed = False
    budget = SCAN_BYTES
    for whole in texts:
        if budget <= 0:
            break
        text = _first_documents(whole, min(SCAN_BYTES_PER_FILE, budget))
        budget -= len(text)
        if any(mark in text for mark in ("&", "*", "!", "<<", "\\", "%")):
            continue
        for key, body in _mappings(text):
            if key == "metadata":
                namespace = _value(body, "namespace")
                if namespace is None:
                    unnamed = unnamed or "namespace" not in body
                else:
                    namespaces.add(namespace)
            else:
                repository = _value(body, "repository")
                if repository is not None and "revision" not in body:
                    models.add((repository, DEFAULT_REVISION))
                elif repository is not None:
                    revision = _value(body, "revision")
                    if revision is not None:
                        models.add((repository, revision))
        if len(namespaces) > MAX_GUESSED or len(models) > MAX_GUESSED:
            return LikelyReads()
    if unnamed and default_namespace:
        namespaces.add(default_namespace)
    return LikelyReads(tuple(sorted(namespaces)), tuple(sorted(models)))
