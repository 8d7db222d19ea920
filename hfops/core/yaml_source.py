"""Safe YAML reading that keeps, for every value, the line it was written on.

Called by `manifest.py` only. PyYAML's safe loader is used for scanning and composing; the
construction into Python values is done here so that (a) every value's line is recorded by path,
(b) duplicate keys, non-standard tags (`!!python/...`, custom `!tags`) and alias bombs are refused
with a located error instead of being silently accepted or expanded.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from hfops.core.gc_pause import paused_gc

# A document that expands (through aliases) to more nodes than this is refused: the classic
# "billion laughs" manifest is a few lines of text and billions of nodes once expanded.
MAX_EXPANDED_NODES = 100_000
# Deeper nesting is refused (a manifest is a handful of levels deep): each level costs a frame in
# the YAML composer and in every tree walk after it, and thousands of them end in RecursionError.
MAX_NESTING = 64
_TIMESTAMP = "tag:yaml.org,2002:timestamp"

_STANDARD_TAGS = frozenset(
    {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:map",
        "tag:yaml.org,2002:seq",
    }
)

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlProblem:
    line: int
    message: str
    path: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class YamlDocument:
    """One YAML document: its value, the line of every path in it, and where it starts.

    The lines of a parsed document are found when first asked for (`LazyLines`): only an error
    needs them, and recording the line of every value of 5,000 manifests cost a quarter of
    loading them and a fifth of the memory of a plan.
    """

    data: Any
    lines: Mapping[Path, int]
    start_line: int
    # The text of the plain (unquoted) scalars that YAML did not read as strings, as written, in
    # the mappings the parser was asked to keep them for, so that values such as `1.10` or `010`
    # can be kept verbatim where a string is meant (environment values).
    plain_text: dict[Path, str] = field(default_factory=dict)
    # The watched words no value of the document can contain (`absent_words`): a check that looks
    # for a text in every value can skip a document whose file does not contain it.
    text_free_of: frozenset[str] = frozenset()


class _FileLines:
    """The lines of every document of one file's text, found on first use by composing it again
    (with the composer that parsed it: the same nodes) and walking the paths as `_Builder` does."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: list[dict[Path, int]] | None = None
        self._lock = threading.Lock()

    def of(self, index: int) -> dict[Path, int]:
        with self._lock:
            if self._lines is None:
                with paused_gc():
                    self._lines = [_node_lines(node) if node is not None else {} for node in _compose(self._text)]
                self._text = ""  # no longer needed
            return self._lines[index]

    # Sent between processes (`adapters/manifest_workers.py`) as its text and lines, without the lock.
    def __getstate__(self) -> tuple[str, list[dict[Path, int]] | None]:
        with self._lock:
            return self._text, self._lines

    def __setstate__(self, state: tuple[str, list[dict[Path, int]] | None]) -> None:
        self._text, self._lines = state
        self._lock = threading.Lock()


def _node_lines(root: yaml.Node) -> dict[Path, int]:
    lines: dict[Path, int] = {}

    def walk(node: yaml.Node, path: Path) -> None:
        lines[path] = node.start_mark.line + 1
        if len(path) >= MAX_NESTING:
            return
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = sys.intern(str(key_node.value))
                if key in seen:
                    continue  # a duplicate: the builder kept the first one
                seen.add(key)
                child = (*path, key)
                walk(value_node, child)
                lines[child] = key_node.start_mark.line + 1  # a key's line: where the user typed it
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    walk(root, ())
    return lines


class LazyLines(Mapping[Path, int]):
    """The line of every path of document `index` of a file, computed when first read."""

    def __init__(self, source: _FileLines, index: int, known: dict[Path, int]) -> None:
        self._source = source
        self._index = index
        self._known = known  # the lines recorded while parsing (`watched_paths`): no walk for them

    def _table(self) -> dict[Path, int]:
        return self._source.of(self._index)

    def __getitem__(self, path: Path) -> int:
        line = self._known.get(path)
        return line if line is not None else self._table()[path]

    def __iter__(self) -> Iterator[Path]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __contains__(self, path: object) -> bool:
        return path in self._known or path in self._table()


def absent_words(text: str, words: frozenset[str]) -> frozenset[str]:
    """Which of `words` no value parsed from `text` can contain.

    Without a backslash in the file no escape can spell a letter, and folding only changes the
    spaces between words: a word that is not in the text is in no value.
    """
    if "\\" in text:
        return frozenset()
    return frozenset(word for word in words if word not in text)



class _Budget:
    def __init__(self) -> None:
        self.nodes = 0


def _count_expanded(node: yaml.Node, budget: _Budget) -> None:
    budget.nodes += 1
    if budget.nodes > MAX_EXPANDED_NODES:
        raise _TooLarge()
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _count_expanded(key, budget)
            _count_expanded(value, budget)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _count_expanded(item, budget)


class _TooLarge(Exception):
    pass


def _too_deep(text: str) -> YamlProblem | None:
    """Where `text` first nests deeper than MAX_NESTING, by YAML's event stream (which, unlike the
    composer, does not recurse), or None."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_FAST_LOADER or yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    return YamlProblem(event.start_mark.line + 1 if event.start_mark else 0, _DEEP_MESSAGE)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as error:  # libyaml stops flow nesting itself, at 1000 levels
        mark = error.problem_mark or error.context_mark
        return YamlProblem(mark.line + 1 if mark else 0, _DEEP_MESSAGE)
    except (yaml.YAMLError, RecursionError):
        return None
    return None


_DEEP_MESSAGE = f"nests more than {MAX_NESTING} levels deep (refused: a manifest is a few levels deep)"


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, max(0, position)) + 1


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_INTERNED_LENGTH = 128
_SCALAR_TAGS = frozenset(
    {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}
)


class _Builder:
    """Builds one document's value from its nodes, refusing what is not plain YAML data.

    Records no lines (see `LazyLines`), except in the problems it finds.
    """

    def __init__(
        self, scalar_loader: yaml.SafeLoader, watched_paths: frozenset[Path], plain_text_under: frozenset[Path]
    ) -> None:
        self.plain_text: dict[Path, str] = {}
        self.lines: dict[Path, int] = {}  # of `watched_paths` only
        self._watched = watched_paths
        self._plain_text_under = plain_text_under
        self.problems: list[YamlProblem] = []
        self._scalar_loader = scalar_loader
        self._constructors = scalar_loader.yaml_constructors

    def build(self, node: yaml.Node, path: Path) -> Any:
        tag = node.tag
        # The common cases first (a string, a mapping of plain keys): most of a manifest.
        if tag == _STR and isinstance(node, yaml.ScalarNode):
            # Interned: a fleet's manifests repeat the same few values (`aws`, `us-east-1`) and keys
            # thousands of times; one copy each is a fifth of the memory of loading 5,000.
            return sys.intern(node.value) if len(node.value) <= _INTERNED_LENGTH else node.value
        line = node.start_mark.line + 1
        if len(path) >= MAX_NESTING and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            self.problems.append(YamlProblem(line, _DEEP_MESSAGE, path[:3]))
            return None
        if tag == _TIMESTAMP and isinstance(node, yaml.ScalarNode):
            # YAML reads an unquoted 2024-01-01 as a date, not as the text it looks like.
            self.problems.append(
                YamlProblem(
                    line,
                    f"{node.value} is read by YAML as a date, not as text; quote it: '{node.value}'",
                    path,
                )
            )
            return None
        if tag not in _STANDARD_TAGS:
            self.problems.append(
                YamlProblem(line, f"unsupported YAML tag {tag!r} (only plain YAML data is allowed)", path)
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and not node.style and path[:-1] in self._plain_text_under:
            self.plain_text[path] = str(node.value)
        if tag in _SCALAR_TAGS:
            # The safe loader's own constructor for the tag (int, float, bool, null): YAML's rules.
            return self._constructors[tag](self._scalar_loader, node)
        return self._scalar_loader.construct_object(node, deep=True)  # e.g. `!!map x`: its error

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        key_lines: dict[str, int] = {}  # for the message of a duplicate key
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                self.problems.append(YamlProblem(key_line, "YAML merge keys ('<<') are not supported", path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(YamlProblem(key_line, "mapping keys must be plain", path))
                continue
            if key_node.tag not in _STANDARD_TAGS:
                self.problems.append(YamlProblem(key_line, f"unsupported YAML tag {key_node.tag!r}", path))
                continue
            # Keys are names: keep them as written (YAML 1.1 would turn `ON` into True).
            key = sys.intern(str(key_node.value))
            child = (*path, key)
            if key in result:
                self.problems.append(
                    YamlProblem(key_line, f"duplicate key {key!r} (first written on line {key_lines[key]})", child)
                )
                continue
            result[key] = self.build(value_node, child)
            key_lines[key] = key_line
            if child in self._watched:
                self.lines[child] = key_line
        return result


def _fast_loader() -> type[yaml.SafeLoader] | None:
    """libyaml's composer with cheaper callbacks, or None without libyaml.

    libyaml composes in C but calls back into Python for every node: `resolve` (a scalar's implicit
    tag, by regular expressions) and `descend_resolver`/`ascend_resolver` (path resolvers, which the
    safe loader has none of). A third of composing a fleet went there. The tag of a scalar depends
    only on its text and on whether it was plain or quoted, and a fleet repeats the same texts
    thousands of times, so each loader (one per text composed) remembers the tags it resolved.
    Path resolvers are skipped only while none is registered: with one, the loader is libyaml's own.
    """
    found: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
    if found is None or found.yaml_path_resolvers:
        return found
    base = found
    scalar_node = yaml.ScalarNode
    resolve: Callable[..., str] = base.resolve

    class _Loader(base):  # type: ignore[misc,valid-type]
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._tags: dict[tuple[str, tuple[bool, bool]], str] = {}

        def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
            if kind is not scalar_node or self.yaml_path_resolvers:  # a path's tag is not the text's
                return resolve(self, kind, value, implicit)
            key = (value, implicit)
            tag = self._tags.get(key)
            if tag is None:
                tag = self._tags[key] = resolve(self, kind, value, implicit)
            return tag

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            if self.yaml_path_resolvers:  # registered after this class was made: libyaml's own
                base.descend_resolver(self, current_node, current_index)

        def ascend_resolver(self) -> None:
            if self.yaml_path_resolvers:
                base.ascend_resolver(self)

    return _Loader


# libyaml's composer is about ten times faster; the pure-Python one gives the same nodes, and is
# used again on a syntax error so that messages do not depend on which one is installed.
_FAST_LOADER = _fast_loader()


def _compose(text: str) -> list[yaml.Node]:
    if _FAST_LOADER is not None:
        try:
            return list(yaml.compose_all(text, Loader=_FAST_LOADER))
        except yaml.YAMLError:
            pass
    return list(yaml.compose_all(text, Loader=yaml.SafeLoader))


def parse_yaml_documents(
    text: str,
    *,
    watched_words: frozenset[str] = frozenset(),
    watched_paths: frozenset[Path] = frozenset(),
    plain_text_under: frozenset[Path] = frozenset(),
) -> tuple[list[YamlDocument], list[YamlProblem]]:
    """Parse every document in `text`. Returns the documents and the problems found.

    A syntax error stops parsing (later documents cannot be trusted); other problems are collected.
    Empty documents (a trailing `---`) are skipped. The garbage collector is paused meanwhile
    (`gc_pause`): a file of a thousand manifests is a million small objects. The lines of
    `watched_paths` are recorded while parsing; the others are found when first asked for. The
    plain text of non-string scalars is kept for the values of the mappings at `plain_text_under`.
    """
    with paused_gc():
        return _parse_yaml_documents(text, absent_words(text, watched_words), watched_paths, plain_text_under)


def _parse_yaml_documents(
    text: str, free_of: frozenset[str], watched_paths: frozenset[Path], plain_text_under: frozenset[Path]
) -> tuple[list[YamlDocument], list[YamlProblem]]:
    problems: list[YamlProblem] = []
    documents: list[YamlDocument] = []
    nul = text.find("\0")
    if nul >= 0:
        # YAML refuses it too, but by character position; a user needs the line.
        return [], [YamlProblem(_line_of(text, nul), "invalid YAML: a NUL byte (\\x00); manifests are plain text")]
    try:
        nodes = _compose(text)
    except RecursionError:
        return [], [_too_deep(text) or YamlProblem(0, _DEEP_MESSAGE)]
    except yaml.reader.ReaderError as error:
        # A character YAML does not accept (a control character): located by line, not position.
        character = f"#x{error.character:04x}" if isinstance(error.character, int) else repr(error.character)
        return [], [YamlProblem(_line_of(text, error.position), f"invalid YAML: unacceptable character {character}")]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        reason = error.problem or "invalid YAML"
        if error.context:
            reason = f"{reason} ({error.context})"
        at_end = error.problem_mark is not None and error.problem_mark.index >= len(text.rstrip())
        if error.context_mark is not None and at_end:
            started = error.context_mark.line + 1
            if started != line:
                # e.g. an unterminated quote: the problem is found at the end of the file, but the
                # place to fix is where the construct started.
                reason = f"{reason}, started on line {started}"
                line = started
        return [], [YamlProblem(line, f"invalid YAML: {reason}")]
    except yaml.YAMLError as error:
        return [], [YamlProblem(0, f"invalid YAML: {error}")]
    lines = _FileLines(text)
    scalar_loader = yaml.SafeLoader("")
    for index, node in enumerate(nodes):
        if node is None:
            continue
        try:
            if "&" in text:  # an alias needs an anchor: a text without `&` has no alias to expand
                _count_expanded(node, _Budget())
        except (_TooLarge, RecursionError):
            problems.append(
                YamlProblem(
                    node.start_mark.line + 1,
                    f"document expands to more than {MAX_EXPANDED_NODES} values through aliases "
                    "(refused: an alias bomb or a recursive alias)",
                )
            )
            continue
        builder = _Builder(scalar_loader, watched_paths, plain_text_under)
        try:
            data = builder.build(node, ())
        except RecursionError:
            problems.append(YamlProblem(node.start_mark.line + 1, "document nests too deeply"))
            continue
        except yaml.YAMLError as error:
            problems.append(YamlProblem(node.start_mark.line + 1, f"invalid YAML value: {error}"))
            continue
        problems.extend(builder.problems)
        if builder.problems or data is None:
            # A document with refused YAML is not checked further: its other errors would only
            # be echoes of the refused parts.
            continue
        documents.append(
            YamlDocument(
                data=data,
                lines=LazyLines(lines, index, builder.lines),
                start_line=node.start_mark.line + 1,
                plain_text=builder.plain_text,
                text_free_of=free_of,
            )
        )
    return documents, problems
