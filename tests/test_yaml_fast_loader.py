"""The composer's tag shortcut (`yaml_source._fast_loader`) resolves exactly as PyYAML does.

It remembers each scalar's tag by its text and by how it was written (plain or quoted): a value
written both ways in one file must still be read both ways.
"""

from __future__ import annotations

import yaml

from hfops.core import yaml_source
from hfops.core.yaml_source import parse_yaml_documents

# Texts YAML 1.1 reads as something other than a string when plain.
TRICKY = ["1", "010", "0x1f", "1_000", "1.10", ".inf", "-.Inf", ".nan", "~", "null", "yes", "No", "on",
          "OFF", "true", "2024-01-01", "2024-01-01 10:00:00", "1e3", "+12", "0o17", "<<", "=", "text", "", "1:20"]


def _tags(node: yaml.Node) -> list[tuple[str, str]]:
    if isinstance(node, yaml.MappingNode):
        return [t for key, value in node.value for t in (*_tags(key), *_tags(value))]
    if isinstance(node, yaml.SequenceNode):
        return [t for item in node.value for t in _tags(item)]
    return [(str(node.value), node.tag)]


def _document() -> str:
    # Each text plain, then single- and double-quoted, repeated: the second time is a remembered tag.
    lines = []
    for round_ in range(2):
        for i, text in enumerate(TRICKY):
            lines.append(f"p{round_}_{i}: {text}" if text else f"p{round_}_{i}:")
            lines.append(f"s{round_}_{i}: '{text}'")
            lines.append(f'd{round_}_{i}: "{text}"')
    return "\n".join(lines) + "\n"


def test_the_fast_composer_gives_every_scalar_the_tag_pyyaml_gives_it() -> None:
    assert yaml_source._FAST_LOADER is not None  # libyaml is a dependency: the shortcut is in use
    text = _document() + "---\n" + _document()
    fast = [_tags(n) for n in yaml.compose_all(text, Loader=yaml_source._FAST_LOADER)]
    plain = [_tags(n) for n in yaml.compose_all(text, Loader=yaml.SafeLoader)]
    assert fast == plain
    # And it is not vacuous: the same text is an int when plain and a string when quoted.
    tags = dict(fast[0])
    assert ("010", "tag:yaml.org,2002:int") in fast[0] and ("010", "tag:yaml.org,2002:str") in fast[0]
    assert tags["p0_0"] == "tag:yaml.org,2002:str"  # keys are strings


def test_values_written_plain_and_quoted_in_one_file_are_read_each_as_written() -> None:
    documents, problems = parse_yaml_documents("a: 1\nb: '1'\nc: 1\nd: yes\ne: 'yes'\nf: yes\n")
    assert problems == []
    assert documents[0].data == {"a": 1, "b": "1", "c": 1, "d": True, "e": "yes", "f": True}


def test_a_path_resolver_registered_later_is_honoured() -> None:
    # The shortcut skips path resolvers only while the safe loaders have none; its class checks
    # again on every call, so one added at run time is honoured as libyaml's own loader does.
    loader_class = yaml_source._FAST_LOADER
    assert loader_class is not None
    text = "port: abc\nhost: abc\n"
    before = yaml.compose(text, Loader=loader_class)
    assert before.value[0][1].tag == "tag:yaml.org,2002:str"
    try:
        yaml.add_path_resolver("tag:example.com,2026:port", ["port"], yaml.ScalarNode, Loader=loader_class)
        node = yaml.compose(text, Loader=loader_class)
        assert node.value[0][1].tag == "tag:example.com,2026:port"
        assert node.value[1][1].tag == "tag:yaml.org,2002:str"  # the same text elsewhere: its own tag
    finally:
        del loader_class.yaml_path_resolvers  # back to the (empty) inherited table
    assert not loader_class.yaml_path_resolvers
