"""The bad-input corpus: every file in tests/data/bad/ holds exactly one mistake.

Each must be refused with a `ManifestError` holding exactly one located diagnostic (file, line,
field, message, hint), quickly, without executing or expanding anything, and without echoing a
secret. Inputs that cannot be committed as files (over 1 MiB, missing paths, empty directories)
are made in tmp_path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from hfops.core.errors import Diagnostic, ManifestError
from hfops.core.manifest import load_manifests

BAD = Path(__file__).parent / "data" / "bad"
CANARY = "hf_CANARYSECRET123"
FROM_ENV_HINT = "write {fromEnv: ENV_VAR_NAME}; secret values never go in a manifest"


class Expected(NamedTuple):
    line: int
    field: str  # a substring of the diagnostic's field ("" when the problem is not in one field)
    message: str  # a substring of the message
    hint: str | None = None  # a substring of the hint; None: no hint expected


# Every corpus file starts with a comment line naming its mistake, so line 2 is the first key.
CORPUS: dict[str, Expected] = {
    # YAML that does not parse
    "yaml_unclosed_bracket.yaml": Expected(7, "", "invalid YAML: expected ',' or ']', but got ':'"),
    "yaml_tab_indent.yaml": Expected(6, "", "invalid YAML: found character '\\t' that cannot start any token"),
    "yaml_bad_indent.yaml": Expected(6, "", "invalid YAML: expected <block end>"),
    # The quote opens on line 9; the file has 15 lines, so "line 16" would point past its end.
    "yaml_unterminated_quote.yaml": Expected(9, "", "invalid YAML"),
    # YAML that parses but is not a manifest
    "document_is_list.yaml": Expected(2, "", "a manifest document must be a mapping"),
    "document_is_scalar.yaml": Expected(2, "", "a manifest document must be a mapping"),
    "wrong_api_version.yaml": Expected(2, "apiVersion", "must be 'hfops/v1', not 'hfops/v2'"),
    "missing_api_version.yaml": Expected(2, "apiVersion", "missing required field 'apiVersion'"),
    "wrong_kind.yaml": Expected(3, "kind", "unknown kind 'Endpiont'; supported: Endpoint", "did you mean 'Endpoint'?"),
    # YAML features refused on purpose
    "alias_bomb.yaml": Expected(2, "", "expands to more than 100000 values through aliases (refused: an alias bomb"),
    "recursive_alias.yaml": Expected(2, "", "recursive alias"),
    "python_object_tag.yaml": Expected(9, "", "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    "custom_ref_tag.yaml": Expected(12, "", "unsupported YAML tag '!Ref' (only plain YAML data is allowed)"),
    "duplicate_key.yaml": Expected(6, "", "duplicate key 'name' (first written on line 5)"),
    "merge_key.yaml": Expected(11, "", "YAML merge keys ('<<') are not supported"),
    "not_utf8.yaml": Expected(0, "", "not UTF-8 text"),
    "nul_byte.yaml": Expected(17, "", "invalid YAML: a NUL byte"),
    "env_unquoted_date.yaml": Expected(
        17, "spec.env.RELEASE", "2024-01-01 is read by YAML as a date, not as text; quote it: '2024-01-01'"
    ),
    # Schema
    "unknown_field_minreplicas.yaml": Expected(
        17, "spec.scaling.minReplicas", "unknown field 'minReplicas'", "did you mean 'minReplica'?"
    ),
    "unknown_field_revison.yaml": Expected(
        10, "spec.model.revison", "unknown field 'revison'", "did you mean 'revision'?"
    ),
    "unknown_field_labels.yaml": Expected(
        7, "metadata.labels", "unknown field 'labels'", "allowed: name, namespace, tags"
    ),
    "wrong_type_max_replica.yaml": Expected(17, "spec.scaling.maxReplica", "must be an integer, not a string"),
    "wrong_type_scaling.yaml": Expected(16, "spec.scaling", "must be a mapping, not an integer"),
    "missing_region.yaml": Expected(10, "spec.compute.region", "missing required field 'region'"),
    "accelerator_typo.yaml": Expected(
        13,
        "spec.compute.accelerator",
        "must be one of 'cpu', 'gpu', 'neuron', not 'gup'",
        "did you mean 'gpu'?",
    ),
    "type_typo.yaml": Expected(16, "spec.type", "not 'privat'", "did you mean 'private'?"),
    "negative_min_replica.yaml": Expected(17, "spec.scaling.minReplica", "must be >= 0, not -1"),
    "name_uppercase.yaml": Expected(5, "metadata.name", "invalid value 'Llama-Chat': The endpoint's name"),
    "name_too_long.yaml": Expected(5, "metadata.name", "must be at most 32 characters long"),
    "name_leading_dash.yaml": Expected(5, "metadata.name", "invalid value '-demo'"),
    "task_not_text_generation.yaml": Expected(
        10, "spec.model.task", "must be 'text-generation', not 'feature-extraction'"
    ),
    "image_not_tgi.yaml": Expected(17, "spec.image.url", "The TGI container image (text-generation-inference)"),
    "credential_file_absolute.yaml": Expected(17, "spec.genstudio.file", "relative to --credentials-dir"),
    "env_value_list.yaml": Expected(17, "spec.env.STOP", "must be a string or a number or true or false, not a list"),
    # The key is on line 17; the message must say it is the key that is wrong, not the value.
    "env_bad_key.yaml": Expected(17, "spec.env.1ST_KEY", "invalid key '1ST_KEY'"),
    "secret_plain_value.yaml": Expected(17, "spec.secrets.HF_TOKEN", "must be a mapping, not a string", "fromEnv"),
    "api_key_plain_value.yaml": Expected(17, "spec.genstudio.apiKey", "must be a mapping, not a string", FROM_ENV_HINT),
    # Semantic rules
    "scale_to_zero_with_min_replica.yaml": Expected(
        19,
        "spec.scaling.scaleToZeroTimeout",
        "scaleToZeroTimeout needs minReplica 0 (it is 1)",
        "remove scaleToZeroTimeout, or set minReplica: 0",
    ),
    "max_replica_below_min.yaml": Expected(
        18, "spec.scaling.maxReplica", "maxReplica (2) must be at least minReplica (3)"
    ),
    "input_tokens_not_below_total.yaml": Expected(
        17, "spec.image.maxInputTokens", "maxInputTokens (4096) must be below maxTotalTokens (4096)"
    ),
    "context_window_above_total.yaml": Expected(
        19, "spec.genstudio.contextWindow", "contextWindow (8192) is larger than image.maxTotalTokens (4096)"
    ),
    "credential_file_escapes.yaml": Expected(
        17,
        "spec.genstudio.file",
        "file 'team/../../genstudio.json' would be written outside --credentials-dir",
    ),
    "reserved_tag.yaml": Expected(7, "metadata.tags", "tag 'hfops-managed' is reserved for hfops' own bookkeeping"),
    "env_key_also_secret.yaml": Expected(19, "spec.secrets.API_KEY", "API_KEY is both in env and in secrets"),
    # Integers are integers: JSON Schema calls 15.0 one, the API refuses it at create.
    "scale_to_zero_decimal.yaml": Expected(
        18,
        "spec.scaling.scaleToZeroTimeout",
        "must be an integer, not the decimal number 15.0",
        "write 15, without the decimal point",
    ),
    "context_window_decimal.yaml": Expected(
        17, "spec.genstudio.contextWindow", "must be an integer, not the decimal number 512.0", "write 512"
    ),
    # Credentials: the redaction placeholder is never a value; a token is never a plain env value.
    "env_redacted_placeholder.yaml": Expected(
        18, "spec.env.HF_TOKEN", "'(sensitive value)' is the placeholder hfops prints", "spec.secrets"
    ),
    "env_token_value.yaml": Expected(
        18, "spec.env.GATED_READ", "GATED_READ holds what looks like a token", "secrets: {GATED_READ: {fromEnv:"
    ),
}


def refuse(path: Path | str) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    return caught.value


def the_diagnostic(error: ManifestError) -> Diagnostic:
    assert len(error.diagnostics) == 1, f"one mistake, one diagnostic; got:\n{error}"
    return error.diagnostics[0]


def test_corpus_table_covers_every_file() -> None:
    on_disk = sorted(p.name for p in BAD.iterdir())
    assert on_disk == sorted(CORPUS), "every corpus file needs a row in CORPUS, and every row a file"
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_bad_file_gives_one_located_diagnostic(name: str) -> None:
    expected = CORPUS[name]
    path = BAD / name

    started = time.perf_counter()
    error = refuse(path)
    elapsed = time.perf_counter() - started

    diagnostic = the_diagnostic(error)
    assert diagnostic.location.file == str(path)
    assert diagnostic.location.line == expected.line, str(diagnostic)
    assert expected.field in diagnostic.location.field, str(diagnostic)
    assert expected.message in diagnostic.message, str(diagnostic)
    if expected.hint is None:
        assert diagnostic.hint is None, str(diagnostic)
    else:
        assert diagnostic.hint is not None and expected.hint in diagnostic.hint, str(diagnostic)
    assert str(error) == f"1 manifest error:\n  {diagnostic}"
    assert CANARY not in str(error)
    assert elapsed < 1.0, f"{name} took {elapsed:.2f}s"


def test_the_whole_corpus_in_one_run_names_every_file() -> None:
    error = refuse(BAD)
    files = {Path(d.location.file).name for d in error.diagnostics}
    # A directory scan skips YAML files that are not hfops manifests at all (no document with an
    # hfops apiVersion or kind, e.g. a CI workflow kept beside the manifests); named explicitly,
    # they are errors (checked file by file above).
    not_manifests = {"document_is_scalar.yaml", "document_is_list.yaml"}
    assert files == set(CORPUS) - not_manifests
    assert CANARY not in str(error)


def test_alias_bomb_is_refused_quickly_and_not_expanded() -> None:
    started = time.perf_counter()
    error = refuse(BAD / "alias_bomb.yaml")
    assert time.perf_counter() - started < 0.5
    assert "alias bomb" in str(error)


def test_python_tag_is_never_executed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args) or 0)
    marker = tmp_path / "pwned"
    file = tmp_path / "evil.yaml"
    file.write_text(
        (BAD / "python_object_tag.yaml").read_text().replace("echo pwned", f"touch {marker}"),
        encoding="utf-8",
    )

    for path in (BAD / "python_object_tag.yaml", file):
        assert "unsupported YAML tag" in str(refuse(path))

    assert calls == []
    assert not marker.exists()


def test_file_over_one_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 110_000, encoding="utf-8")  # 1,100,000 bytes of comments
    size = big.stat().st_size

    diagnostic = the_diagnostic(refuse(big))

    assert str(diagnostic) == f"{big}: file is {size} bytes; manifests are limited to 1048576 bytes"


def test_file_of_exactly_one_mebibyte_is_read(tmp_path: Path) -> None:
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"#" * (1024 * 1024 - 1) + b"\n")
    assert load_manifests([str(exact)]).specs == ()


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing here yet\n", "---\n", "---\n---\n# comment\n...\n"])
def test_empty_file_gives_no_specs_and_no_error(tmp_path: Path, text: str) -> None:
    file = tmp_path / "empty.yaml"
    file.write_text(text, encoding="utf-8")
    loaded = load_manifests([str(file)])
    assert loaded.specs == ()
    assert loaded.files == (str(file),)


def test_directory_without_manifests_is_an_error(tmp_path: Path) -> None:
    """`hfops plan manifest/` (a typo, or the wrong directory) must not plan "nothing to do"."""
    (tmp_path / "README.md").write_text("no manifests here", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text("apiVersion: hfops/v1\n", encoding="utf-8")

    diagnostic = the_diagnostic(refuse(tmp_path))

    assert diagnostic.location.file == str(tmp_path)
    assert ".yaml" in diagnostic.message


def test_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    diagnostic = the_diagnostic(refuse(missing))
    assert str(diagnostic) == f"{missing}: no such file or directory"


def test_a_path_that_is_neither_file_nor_directory(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    diagnostic = the_diagnostic(refuse(fifo))
    assert str(diagnostic) == f"{fifo}: not a regular file or directory"


def test_missing_path_next_to_good_ones_still_fails_the_run(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text((BAD / "wrong_kind.yaml").read_text().replace("Endpiont", "Endpoint"), encoding="utf-8")
    assert len(load_manifests([str(good)]).specs) == 1

    error = refuse(tmp_path / "typo")  # alone
    assert len(error.diagnostics) == 1
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(good), str(tmp_path / "typo")])
    assert [d.message for d in caught.value.diagnostics] == ["no such file or directory"]


def test_utf8_bom_and_crlf_line_endings_are_fine(tmp_path: Path) -> None:
    text = (BAD / "wrong_kind.yaml").read_text().replace("Endpiont", "Endpoint")
    file = tmp_path / "windows.yaml"
    file.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    (spec,) = load_manifests([str(file)]).specs
    assert spec.name == "demo"
    assert spec.source.line == 5


DEEP = 5000  # far beyond Python's recursion limit


@pytest.mark.parametrize(
    "nesting",
    [
        "  env:\n    X: " + "[" * DEEP + "]" * DEEP + "\n",
        "  env:\n    X: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n",
        "  env:\n    X:\n" + "      " + "- " * DEEP + "x\n",
        "  env:\n    X:\n" + "".join("      " + " " * i + "k:\n" for i in range(90)) + "      " + " " * 90 + "x\n",
    ],
    ids=["flow-sequences", "flow-mappings", "block-sequences", "block-mappings"],
)
def test_deep_nesting_is_a_located_error_not_a_recursion_error(tmp_path: Path, nesting: str, run: object) -> None:
    base = (BAD / "wrong_type_max_replica.yaml").read_text().split("  scaling:")[0]
    path = tmp_path / "deep.yaml"
    path.write_text(base + nesting)
    diagnostic = the_diagnostic(refuse(path))
    assert "nests more than 64 levels deep" in diagnostic.message
    assert diagnostic.location.file == str(path) and diagnostic.location.line >= 17, str(diagnostic)
    result = run("validate", str(path))  # type: ignore[operator]
    assert result.code == 1 and "RecursionError" not in result.output and "unexpected" not in result.output
    assert f"{path}:{diagnostic.location.line}: " in result.stderr
