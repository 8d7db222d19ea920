"""Manifests as a user writes them: valid files -> EndpointSpec values, mistakes -> located errors.

Everything here goes through `load_manifests` (files on disk, as the CLI reads them) or
`parse_manifest_text` (one file's text), and asserts on what a user reads: the spec values, and for
mistakes the `file:line: field: message (hint)` lines of the one `ManifestError`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hfops.core.errors import Diagnostic, Location, ManifestError
from hfops.core.manifest import load_manifests, parse_manifest_text
from hfops.core.model import DEFAULT_TGI_IMAGE, EndpointSpec, FileOutput, FromEnv, GenStudioSpec, ImageSpec
from hfops.core.spec_checks import check_fleet, credential_file_problem

CANARY = "hf_CANARYSECRET123"

# The manifest of contract section 1, verbatim apart from the env map.
CONTRACT_EXAMPLE = """\
apiVersion: hfops/v1
kind: Endpoint
metadata:
  name: llama-2-7b-chat            # the endpoint's name
  namespace: acme
  tags: [team-ml]
spec:
  model:
    repository: meta-llama/Llama-2-7b-chat-hf
    revision: main
    task: text-generation
  compute:
    vendor: aws
    region: us-east-1
    accelerator: gpu
    instanceType: nvidia-a10g
    instanceSize: x1
  scaling:
    minReplica: 0
    maxReplica: 1
    scaleToZeroTimeout: 15
  type: authenticated
  image:
    url: ghcr.io/huggingface/text-generation-inference:3.3.6
    maxInputTokens: 4095
    maxTotalTokens: 4096
  env: {KEY: value, BATCH: 8, RATIO: 0.5, TRUST: true}
  secrets:
    SOME_KEY: {fromEnv: SOME_ENV_VAR}
  genstudio:
    apiKey: {fromEnv: GENSTUDIO_API_KEY}
    contextWindow: 4096
    file: llama-2-7b-chat.json
"""

# The smallest valid manifest: lines 1-13, so extra `spec` keys can be appended from line 14.
MINIMAL = """\
apiVersion: hfops/v1
kind: Endpoint
metadata:
  name: demo
spec:
  model:
    repository: gpt2
  compute:
    vendor: aws
    region: us-east-1
    accelerator: gpu
    instanceType: nvidia-a10g
    instanceSize: x1
"""


def minimal(name: str = "demo", namespace: str | None = None, extra: str = "") -> str:
    """MINIMAL with another name/namespace and `extra` (already indented) appended under `spec`."""
    text = MINIMAL.replace("  name: demo\n", f"  name: {name}\n")
    if namespace is not None:
        text = text.replace(f"  name: {name}\n", f"  name: {name}\n  namespace: {namespace}\n")
    return text + "".join(f"  {line}\n" for line in textwrap.dedent(extra).splitlines())


def write(directory: Path, relative: str, text: str) -> str:
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def errors_of(paths: list[str], **kwargs: str) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        load_manifests(paths, **kwargs)
    return caught.value


def one_error(paths: list[str], **kwargs: str) -> Diagnostic:
    error = errors_of(paths, **kwargs)
    assert len(error.diagnostics) == 1, str(error)
    return error.diagnostics[0]


def lines_of(error: ManifestError) -> list[str]:
    return [str(d) for d in error.diagnostics]


# --- valid manifests ---------------------------------------------------------------------------


def test_contract_example_gives_every_value(tmp_path: Path) -> None:
    file = write(tmp_path, "llama.yaml", CONTRACT_EXAMPLE)

    loaded = load_manifests([file], default_namespace="ignored-because-metadata-says-acme")

    assert loaded.files == (file,)
    assert loaded.namespaces == ("acme",)
    (spec,) = loaded.specs
    assert spec == EndpointSpec(
        name="llama-2-7b-chat",
        namespace="acme",
        source=Location(file, 4, "metadata.name"),
        repository="meta-llama/Llama-2-7b-chat-hf",
        revision="main",
        vendor="aws",
        region="us-east-1",
        accelerator="gpu",
        instance_type="nvidia-a10g",
        instance_size="x1",
        min_replica=0,
        max_replica=1,
        scale_to_zero_timeout=15,
        type="authenticated",
        image=ImageSpec(
            url="ghcr.io/huggingface/text-generation-inference:3.3.6",
            max_input_tokens=4095,
            max_total_tokens=4096,
        ),
        env=(("BATCH", "8"), ("KEY", "value"), ("RATIO", "0.5"), ("TRUST", "true")),
        secrets=(("SOME_KEY", FromEnv("SOME_ENV_VAR")),),
        tags=("team-ml",),
        genstudio=GenStudioSpec(
            api_key=FromEnv("GENSTUDIO_API_KEY"),
            context_window=4096,
            file="llama-2-7b-chat.json",
            outputs=(FileOutput("llama-2-7b-chat.json"),),
        ),
    )
    assert spec.address == "acme/llama-2-7b-chat"


def test_minimal_manifest_gets_the_documented_defaults(tmp_path: Path) -> None:
    (spec,) = load_manifests([write(tmp_path, "m.yaml", MINIMAL)], default_namespace="team").specs

    assert spec.namespace == "team"
    assert spec.revision is None
    assert (spec.min_replica, spec.max_replica, spec.scale_to_zero_timeout) == (0, 1, 15)
    assert spec.type == "authenticated"
    assert spec.image == ImageSpec(url=DEFAULT_TGI_IMAGE, max_input_tokens=None, max_total_tokens=None)
    assert "text-generation-inference" in DEFAULT_TGI_IMAGE
    assert (spec.env, spec.secrets, spec.tags) == ((), (), ())
    assert spec.genstudio == GenStudioSpec(
        api_key=None, context_window=None, file=None, outputs=(FileOutput(f"{spec.name}.json"),)
    )


def test_no_scale_to_zero_default_when_min_replica_is_above_zero() -> None:
    text = minimal(extra="scaling:\n  minReplica: 1\n  maxReplica: 2\n")
    (spec,), problems = parse_manifest_text(text, file="m.yaml")
    assert problems == []
    assert (spec.min_replica, spec.max_replica, spec.scale_to_zero_timeout) == (1, 2, None)


def test_explicit_scale_to_zero_timeout_is_kept() -> None:
    (spec,), problems = parse_manifest_text(minimal(extra="scaling:\n  scaleToZeroTimeout: 60\n"), file="m")
    assert problems == []
    assert (spec.min_replica, spec.scale_to_zero_timeout) == (0, 60)


def test_env_values_are_strings_and_secrets_are_only_env_var_names() -> None:
    extra = """\
    env:
      B_TEXT: hello
      A_INT: 8
      C_FALSE: false
      D_FLOAT: 0.25
    secrets:
      Z_TOKEN: {fromEnv: MY_TOKEN}
      A_KEY: {fromEnv: OTHER}
    """
    (spec,), problems = parse_manifest_text(minimal(extra=extra), file="m.yaml")
    assert problems == []
    assert spec.env == (("A_INT", "8"), ("B_TEXT", "hello"), ("C_FALSE", "false"), ("D_FLOAT", "0.25"))
    assert spec.secrets == (("A_KEY", FromEnv("OTHER")), ("Z_TOKEN", FromEnv("MY_TOKEN")))
    assert repr(FromEnv("MY_TOKEN")) == "FromEnv('MY_TOKEN')"


@pytest.mark.parametrize(
    ("written", "key", "expected"),
    [
        ("VERSION: 1.10", "VERSION", "1.10"),  # YAML 1.1 float -> "1.1"
        ("MODE: 010", "MODE", "010"),  # YAML 1.1 octal -> "8"
        ("ON: x", "ON", "x"),  # YAML 1.1 bool key -> env var "True"
    ],
)
def test_env_keys_and_values_are_kept_as_written(written: str, key: str, expected: str) -> None:
    """An env value is text for the container; YAML 1.1 number/bool coercion must not change it.

    Either the value is kept exactly as written, or the manifest is refused at that env entry (with,
    e.g., a hint to quote it). Silently sending "1.1" for `1.10` or `8` for `010` is wrong.
    """
    specs, problems = parse_manifest_text(minimal(extra=f"env:\n  {written}\n"), file="m.yaml")
    if problems:
        assert [p.location.field for p in problems] == [f"spec.env.{key}"], problems
        return
    assert dict(specs[0].env) == {key: expected}


def test_namespace_from_metadata_else_default_namespace_else_none(tmp_path: Path) -> None:
    file_with = write(tmp_path, "a.yaml", minimal(name="with-ns", namespace="acme"))
    file_without = write(tmp_path, "b.yaml", minimal(name="without-ns"))

    by_default = load_manifests([file_with, file_without], default_namespace="fallback").specs
    assert [(s.namespace, s.address) for s in by_default] == [
        ("acme", "acme/with-ns"),
        ("fallback", "fallback/without-ns"),
    ]
    no_default = load_manifests([file_without]).specs
    assert [(s.namespace, s.address) for s in no_default] == [(None, "?/without-ns")]


def test_several_documents_in_one_file_with_empty_documents_skipped(tmp_path: Path) -> None:
    text = "---\n" + minimal(name="first") + "---\n# only a comment\n---\n" + minimal(name="second") + "---\n"
    file = write(tmp_path, "fleet.yaml", text)

    specs = load_manifests([file]).specs

    assert [s.name for s in specs] == ["first", "second"]
    # `name` of the second document: 1 (---) + 13 + 3 (---, comment, ---) + 4.
    assert [s.source for s in specs] == [
        Location(file, 5, "metadata.name"),
        Location(file, 21, "metadata.name"),
    ]


def test_directory_means_every_yaml_and_yml_below_it_sorted_hidden_skipped(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    write(root, "b.yml", minimal(name="b"))
    write(root, "a.yaml", minimal(name="a"))
    write(root, "team/c.yaml", minimal(name="c"))
    write(root, "README.md", "not a manifest")
    write(root, "notes.txt", "apiVersion: nonsense")
    write(root, ".git/hooks.yaml", "this: [is not read")
    write(root, ".hidden.yaml", "neither: [is this")
    write(root, "team/.cache/old.yaml", "nor: [this")

    loaded = load_manifests([str(root)])

    assert [s.name for s in loaded.specs] == ["a", "b", "c"]
    assert loaded.files == (str(root / "a.yaml"), str(root / "b.yml"), str(root / "team" / "c.yaml"))


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    file = write(tmp_path, "m.yaml", MINIMAL)
    loaded = load_manifests([str(tmp_path), file])
    assert loaded.files == (file,)
    assert len(loaded.specs) == 1


def test_empty_file_declares_nothing_and_is_not_an_error(tmp_path: Path) -> None:
    loaded = load_manifests([write(tmp_path, "empty.yaml", "")])
    assert loaded.specs == ()


# --- many mistakes, one run ----------------------------------------------------------------------


def test_three_mistakes_in_one_file_give_three_located_errors(tmp_path: Path) -> None:
    text = MINIMAL.replace("    repository: gpt2\n", "    repository: gpt2\n    revison: main\n") + (
        "  scaling:\n    minReplicas: 1\n    maxReplica: two\n"
    )
    file = write(tmp_path, "three.yaml", text)

    error = errors_of([file])

    assert str(error) == (
        "3 manifest errors:\n"
        f"  {file}:8: spec.model.revison: unknown field 'revison' (did you mean 'revision'?)\n"
        f"  {file}:16: spec.scaling.minReplicas: unknown field 'minReplicas' (did you mean 'minReplica'?)\n"
        f"  {file}:17: spec.scaling.maxReplica: must be an integer, not a string"
    )
    assert [d.location for d in error.diagnostics] == [
        Location(file, 8, "spec.model.revison"),
        Location(file, 16, "spec.scaling.minReplicas"),
        Location(file, 17, "spec.scaling.maxReplica"),
    ]


def test_errors_in_several_files_and_documents_are_reported_together(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", minimal(name="Bad") + "---\n" + minimal(name="ok", extra="type: privat\n"))
    second = write(tmp_path, "b.yaml", minimal(extra="scaling:\n  minReplica: 2\n  maxReplica: 1\n"))

    error = errors_of([first, second])

    assert str(error).startswith("3 manifest errors:\n")
    assert [(d.location.file, d.location.line, d.location.field) for d in error.diagnostics] == [
        (first, 4, "metadata.name"),
        (first, 28, "spec.type"),
        (second, 16, "spec.scaling.maxReplica"),
    ]


def test_semantic_error_is_reported_alongside_an_unknown_field_in_the_same_document() -> None:
    """'every error in one run': an unknown key elsewhere must not hide maxReplica < minReplica."""
    text = minimal(extra="scaling:\n  minReplica: 3\n  maxReplica: 2\n  scaleToZeroTimout: 5\n")
    _, problems = parse_manifest_text(text, file="m.yaml")
    assert sorted((p.location.line, p.location.field) for p in problems) == [
        (16, "spec.scaling.maxReplica"),
        (17, "spec.scaling.scaleToZeroTimout"),
    ]


# --- single mistakes: message, location and hint -------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "line", "field", "message", "hint"),
    [
        (
            "scaling:\n  minReplicas: 0\n",
            15,
            "spec.scaling.minReplicas",
            "unknown field 'minReplicas'",
            "did you mean 'minReplica'?",
        ),
        (
            "scaling:\n  maxReplicas: 2\n",
            15,
            "spec.scaling.maxReplicas",
            "unknown field 'maxReplicas'",
            "did you mean 'maxReplica'?",
        ),
        ("scalling: {}\n", 14, "spec.scalling", "unknown field 'scalling'", "did you mean 'scaling'?"),
        (
            "genstudio:\n  contextwindow: 4096\n",
            15,
            "spec.genstudio.contextwindow",
            "unknown field 'contextwindow'",
            "did you mean 'contextWindow'?",
        ),
        (
            "image:\n  maxTotalToken: 4096\n",
            15,
            "spec.image.maxTotalToken",
            "unknown field 'maxTotalToken'",
            "did you mean 'maxTotalTokens'?",
        ),
        (
            "replicas: 2\n",
            14,
            "spec.replicas",
            "unknown field 'replicas'",
            "allowed: compute, env, genstudio, image, model, paused, scaling, secrets, type",
        ),
        (
            "type: privat\n",
            14,
            "spec.type",
            "must be one of 'public', 'authenticated', 'private', not 'privat'",
            "did you mean 'private'?",
        ),
    ],
)
def test_unknown_keys_and_typos_get_a_hint(extra: str, line: int, field: str, message: str, hint: str) -> None:
    _, problems = parse_manifest_text(minimal(extra=extra), file="m.yaml")
    assert problems == [Diagnostic(Location("m.yaml", line, field), message, hint)]


def test_misspelled_key_in_model_and_metadata() -> None:
    text = MINIMAL.replace("  name: demo\n", "  name: demo\n  namepsace: acme\n").replace(
        "    repository: gpt2\n", "    repository: gpt2\n    revison: main\n"
    )
    _, problems = parse_manifest_text(text, file="m.yaml")
    assert [str(p) for p in problems] == [
        "m.yaml:5: metadata.namepsace: unknown field 'namepsace' (did you mean 'namespace'?)",
        "m.yaml:9: spec.model.revison: unknown field 'revison' (did you mean 'revision'?)",
    ]


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("scaling:\n  maxReplica: '2'\n", "spec.scaling.maxReplica", "must be an integer, not a string"),
        ("scaling:\n  minReplica: 1.5\n", "spec.scaling.minReplica", "must be an integer, not a number"),
        ("scaling:\n  minReplica: true\n", "spec.scaling.minReplica", "must be an integer, not a boolean"),
        ("scaling: [1, 2]\n", "spec.scaling", "must be a mapping, not a list"),
        ("env: [A=1]\n", "spec.env", "must be a mapping, not a list"),
        ("env:\n  A: [1]\n", "spec.env.A", "must be a string or a number or true or false, not a list"),
        ("image:\n  maxTotalTokens: many\n", "spec.image.maxTotalTokens", "must be an integer, not a string"),
        (
            "genstudio:\n  contextWindow: 4k\n",
            "spec.genstudio.contextWindow",
            "must be an integer, not a string",
        ),
        ("scaling:\n  minReplica: -1\n", "spec.scaling.minReplica", "must be >= 0, not -1"),
        ("scaling:\n  maxReplica: 0\n", "spec.scaling.maxReplica", "must be >= 1, not 0"),
    ],
)
def test_wrong_types_and_ranges(extra: str, field: str, message: str) -> None:
    _, problems = parse_manifest_text(minimal(extra=extra), file="m.yaml")
    assert [(p.location.field, p.message) for p in problems] == [(field, message)]


def test_instance_size_written_as_a_number() -> None:
    _, problems = parse_manifest_text(MINIMAL.replace("instanceSize: x1", "instanceSize: 1"), file="m.yaml")
    assert [str(p) for p in problems] == ["m.yaml:13: spec.compute.instanceSize: must be a string, not an integer"]


NAME_RULE = "lowercase letters, digits and '-', at most 32, starting and ending with a letter or digit"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Llama", f"invalid value 'Llama': The endpoint's name: {NAME_RULE}."),
        ("my_endpoint", f"invalid value 'my_endpoint': The endpoint's name: {NAME_RULE}."),
        ('"-demo"', f"invalid value '-demo': The endpoint's name: {NAME_RULE}."),
        ("demo-", f"invalid value 'demo-': The endpoint's name: {NAME_RULE}."),
        ("a" * 33, "must be at most 32 characters long"),
        ("1234", "must be a string, not an integer"),
        ("no", "must be a string, not a boolean"),
    ],
)
def test_bad_names(name: str, message: str) -> None:
    _, problems = parse_manifest_text(MINIMAL.replace("name: demo", f"name: {name}"), file="m.yaml")
    assert problems == [Diagnostic(Location("m.yaml", 4, "metadata.name"), message)]


@pytest.mark.parametrize("name", ["a", "a" * 32, "llama-2-7b-chat", "0-0"])
def test_good_names(name: str) -> None:
    specs, problems = parse_manifest_text(MINIMAL.replace("name: demo", f"name: {name}"), file="m.yaml")
    assert problems == []
    assert specs[0].name == name


@pytest.mark.parametrize(
    ("extra", "line", "field", "message", "hint"),
    [
        (
            "scaling:\n  minReplica: 1\n  maxReplica: 2\n  scaleToZeroTimeout: 30\n",
            17,
            "spec.scaling.scaleToZeroTimeout",
            "scaleToZeroTimeout needs minReplica 0 (it is 1)",
            "remove scaleToZeroTimeout, or set minReplica: 0 to scale to zero when idle",
        ),
        (
            "scaling:\n  minReplica: 3\n  maxReplica: 2\n",
            16,
            "spec.scaling.maxReplica",
            "maxReplica (2) must be at least minReplica (3)",
            None,
        ),
        (
            # maxReplica defaults to 1: the error points at `scaling`, the closest field written.
            "scaling:\n  minReplica: 2\n",
            14,
            "spec.scaling.maxReplica",
            "maxReplica (1) must be at least minReplica (2)",
            None,
        ),
        (
            "image:\n  maxInputTokens: 4096\n  maxTotalTokens: 4096\n",
            15,
            "spec.image.maxInputTokens",
            "maxInputTokens (4096) must be below maxTotalTokens (4096); TGI refuses to start otherwise",
            None,
        ),
        (
            "image:\n  maxTotalTokens: 4096\ngenstudio:\n  contextWindow: 8192\n",
            17,
            "spec.genstudio.contextWindow",
            "contextWindow (8192) is larger than image.maxTotalTokens (4096), which is what the endpoint will serve",
            None,
        ),
        (
            "image:\n  url: ghcr.io/huggingface/text-embeddings-inference:1.5\n",
            15,
            "spec.image.url",
            "invalid value 'ghcr.io/huggingface/text-embeddings-inference:1.5': "
            "The TGI container image (text-generation-inference).",
            None,
        ),
        (
            "genstudio:\n  file: /etc/genstudio.json\n",
            15,
            "spec.genstudio.file",
            "invalid value '/etc/genstudio.json': Credential file, relative to --credentials-dir and never outside it.",
            None,
        ),
        (
            "genstudio:\n  file: ../genstudio.json\n",
            15,
            "spec.genstudio.file",
            "file '../genstudio.json' would be written outside --credentials-dir",
            None,
        ),
        (
            "genstudio:\n  file: team/../../genstudio.json\n",
            15,
            "spec.genstudio.file",
            "file 'team/../../genstudio.json' would be written outside --credentials-dir",
            None,
        ),
        (
            "genstudio:\n  file: C:/creds/llama.json\n",
            15,
            "spec.genstudio.file",
            "file must be relative to --credentials-dir",
            None,
        ),
        (
            "env:\n  API_KEY: placeholder\nsecrets:\n  API_KEY: {fromEnv: API_KEY}\n",
            17,
            "spec.secrets.API_KEY",
            "API_KEY is both in env and in secrets; keep one",
            None,
        ),
    ],
)
def test_semantic_rules(extra: str, line: int, field: str, message: str, hint: str | None) -> None:
    _, problems = parse_manifest_text(minimal(extra=extra), file="m.yaml")
    assert problems == [Diagnostic(Location("m.yaml", line, field), message, hint)]


def test_task_other_than_text_generation_is_refused() -> None:
    text = MINIMAL.replace("    repository: gpt2\n", "    repository: gpt2\n    task: feature-extraction\n")
    _, problems = parse_manifest_text(text, file="m.yaml")
    assert [str(p) for p in problems] == [
        "m.yaml:8: spec.model.task: must be 'text-generation', not 'feature-extraction'"
    ]


@pytest.mark.parametrize(
    "extra",
    [
        "image:\n  maxInputTokens: 4095\n  maxTotalTokens: 4096\ngenstudio:\n  contextWindow: 4096\n",
        "genstudio:\n  file: team/llama.json\n",
        "genstudio:\n  file: team/../llama.json\n",
        "scaling:\n  minReplica: 1\n  maxReplica: 1\n",
    ],
)
def test_limits_that_are_fine(extra: str) -> None:
    _, problems = parse_manifest_text(minimal(extra=extra), file="m.yaml")
    assert problems == []


@pytest.mark.parametrize("tag", ["hfops-managed", "hfops-secrets-0123456789abcdef"])
def test_reserved_tags_are_refused(tag: str) -> None:
    text = MINIMAL.replace("  name: demo\n", f"  name: demo\n  tags: [team-ml, {tag}]\n")
    _, problems = parse_manifest_text(text, file="m.yaml")
    assert problems == [
        Diagnostic(Location("m.yaml", 5, "metadata.tags"), f"tag {tag!r} is reserved for hfops' own bookkeeping")
    ]


def test_repeated_tag_is_refused() -> None:
    _, problems = parse_manifest_text(MINIMAL.replace("  name: demo\n", "  name: demo\n  tags: [a, a]\n"), file="m")
    assert [str(p) for p in problems] == ["m:5: metadata.tags: must not repeat items"]


# --- across files: names and credential files ------------------------------------------------------


def test_duplicate_endpoint_in_one_namespace_across_two_files_names_the_first(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", minimal(namespace="acme"))
    second = write(tmp_path, "b.yaml", "# the same endpoint again\n" + minimal(namespace="acme"))

    diagnostic = one_error([first, second])

    assert diagnostic == Diagnostic(
        Location(second, 5, "metadata.name"), f"endpoint acme/demo is declared twice (first at {first}:4)"
    )


def test_duplicate_through_default_namespace(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", minimal(namespace="acme"))
    second = write(tmp_path, "b.yaml", minimal())

    diagnostic = one_error([first, second], default_namespace="acme")

    assert diagnostic.location == Location(second, 4, "metadata.name")
    assert diagnostic.message == f"endpoint acme/demo is declared twice (first at {first}:4)"


def test_same_name_in_two_namespaces_is_fine(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", minimal(namespace="acme", extra="genstudio:\n  file: acme-demo.json\n"))
    second = write(tmp_path, "b.yaml", minimal(namespace="beta", extra="genstudio:\n  file: beta-demo.json\n"))

    loaded = load_manifests([first, second])

    assert [s.address for s in loaded.specs] == ["acme/demo", "beta/demo"]
    assert loaded.namespaces == ("acme", "beta")


def test_same_name_in_two_namespaces_with_default_credential_files_says_how_to_fix(tmp_path: Path) -> None:
    """Both would write credentials/demo.json; the error must tell the user to set genstudio.file."""
    first = write(tmp_path, "a.yaml", minimal(namespace="acme"))
    second = write(tmp_path, "b.yaml", minimal(namespace="beta"))

    diagnostic = one_error([first, second])

    assert diagnostic.location.file == second
    assert diagnostic.message == "credential file 'demo.json' is also used by acme/demo"
    assert diagnostic.hint is not None and "genstudio.file" in diagnostic.hint


def test_duplicate_credential_file_is_refused(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", minimal(name="one", extra="genstudio:\n  file: shared.json\n"))
    second = write(tmp_path, "b.yaml", minimal(name="two", extra="genstudio:\n  file: ./shared.json\n"))

    diagnostic = one_error([first, second], default_namespace="acme")

    assert diagnostic == Diagnostic(
        Location(second, 15, "spec.genstudio.file"),
        "credential file 'shared.json' is also used by acme/one",
        "set spec.genstudio.file to a distinct file for one of them",
    )


def test_explicit_file_colliding_with_a_default_one(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", minimal(name="llama"))
    second = write(tmp_path, "b.yaml", minimal(name="other", extra="genstudio:\n  file: llama.json\n"))

    diagnostic = one_error([first, second], default_namespace="acme")

    assert str(diagnostic) == (
        f"{second}:15: spec.genstudio.file: credential file 'llama.json' is also used by acme/llama"
        " (set spec.genstudio.file to a distinct file for one of them)"
    )


def test_check_fleet_on_specs_without_problems() -> None:
    specs = [parse_manifest_text(minimal(name=n, namespace="acme"), file=f"{n}.yaml")[0][0] for n in "abc"]
    assert check_fleet(specs) == []


@pytest.mark.parametrize(
    ("file", "problem"),
    [
        ("llama.json", None),
        ("team/llama.json", None),
        ("a/../b.json", None),
        ("/etc/passwd", "file must be relative to --credentials-dir"),
        ("\\\\server\\share\\x.json", "file must be relative to --credentials-dir"),
        ("C:\\x.json", "file must be relative to --credentials-dir"),
        ("..", "file '..' would be written outside --credentials-dir"),
        ("../x.json", "file '../x.json' would be written outside --credentials-dir"),
        ("a/../../x.json", "file 'a/../../x.json' would be written outside --credentials-dir"),
        ("..\\x.json", "file '..\\\\x.json' would be written outside --credentials-dir"),
        (".", "file '.' would be written outside --credentials-dir"),
        ("a/..", "file 'a/..' would be written outside --credentials-dir"),
    ],
)
def test_credential_file_problem(file: str, problem: str | None) -> None:
    assert credential_file_problem(file) == problem


# --- secrets never echoed ----------------------------------------------------------------------------


def test_secret_written_as_a_plain_value_is_refused_without_echoing_it() -> None:
    _, problems = parse_manifest_text(minimal(extra=f"secrets:\n  HF_TOKEN: {CANARY}\n"), file="m.yaml")

    assert len(problems) == 1
    (problem,) = problems
    assert problem.location == Location("m.yaml", 15, "spec.secrets.HF_TOKEN")
    assert problem.message == "must be a mapping, not a string"
    assert problem.hint == "write {fromEnv: ENV_VAR_NAME}; secret values never go in a manifest"
    assert CANARY not in str(problem)


def test_api_key_written_as_a_plain_value_is_refused_without_echoing_it() -> None:
    _, problems = parse_manifest_text(minimal(extra=f"genstudio:\n  apiKey: {CANARY}\n"), file="m.yaml")

    assert [str(p) for p in problems] == [
        "m.yaml:15: spec.genstudio.apiKey: must be a mapping, not a string "
        "(write {fromEnv: ENV_VAR_NAME}; secret values never go in a manifest)"
    ]


@pytest.mark.parametrize(
    "extra",
    [
        f"secrets:\n  HF_TOKEN: {CANARY}\n",
        f"secrets:\n  HF_TOKEN: [{CANARY}]\n",
        f"secrets: {CANARY}\n",
        f"secrets:\n  HF_TOKEN: {{value: {CANARY}}}\n",
        f"secrets:\n  HF_TOKEN: {{fromEnv: {CANARY}-x}}\n",
        f"secrets:\n  HF_TOKEN: {{fromEnv: A, value: {CANARY}}}\n",
        f"secrets:\n  HF_TOKEN: {{fromEnv: A}}\n  HF_TOKEN: {CANARY}\n",
        f"secrets:\n  HF_TOKEN: !secret {CANARY}\n",
        f'secrets:\n  HF_TOKEN: "{CANARY}\n',
        f"secrets: {{HF_TOKEN={CANARY}}}\n",  # docker -e habit: the value ends up in the key
        f"secrets:\n  HF_TOKEN={CANARY}:\n",
        f"genstudio:\n  apiKey: {CANARY}\n",
        f"genstudio:\n  apiKey: [{CANARY}]\n",
        f"genstudio:\n  apiKey: {{fromEnv: {CANARY}-x}}\n",
        f"genstudio:\n  apiKey: {{fromEnv: X, token: {CANARY}}}\n",
    ],
)
def test_no_diagnostic_ever_contains_a_secret_written_in_the_wrong_place(extra: str, tmp_path: Path) -> None:
    file = write(tmp_path, "m.yaml", minimal(extra=extra))

    error = errors_of([file])

    assert error.diagnostics, "the mistake must be reported"
    for text in (str(error), repr(error.diagnostics), *(d.hint or "" for d in error.diagnostics)):
        assert CANARY not in text


def test_directory_scan_skips_yaml_that_is_not_an_hfops_manifest(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "workflow.yml").write_text("on: [push]\njobs:\n  plan:\n    runs-on: ubuntu-latest\n")
    (tmp_path / "a.yaml").write_text(minimal(name="one", namespace="acme"))
    loaded = load_manifests([str(tmp_path)])
    assert [s.name for s in loaded.specs] == ["one"]
    assert loaded.skipped == (str(tmp_path / "ci" / "workflow.yml"),)
    # Named explicitly, the same file is an error: the user said it is a manifest.
    with pytest.raises(ManifestError):
        load_manifests([str(tmp_path / "ci" / "workflow.yml")])
