"""A manifest file cut at a document start and parsed part by part (`core/manifest_parts.py`,
`manifest.join_parts`) gives what one parse of the whole file gives: the same documents, values,
lines of every field and problems, for every place it can be cut, in texts written to trip a cut
(a `---` inside block, quoted and flow scalars, CRLF and Unicode line breaks, a BOM, anchors,
empty documents, directives). The parts are parsed exactly as each process parses them."""

from __future__ import annotations

import io
import itertools
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from hfops.adapters.manifest_workers import (
    SMALLEST_PART,
    _TextSharingPickler,
    _TextSharingUnpickler,
    child_share,
    own_share,
)
from hfops.adapters.pipe_drain import drained
from hfops.core.manifest import ParsedFile, join_parts, read_documents, read_part
from hfops.core.manifest_files import ManifestTexts
from hfops.core.manifest_parts import FilePart, cut_near, document_start_at, part_text, whole

ENDPOINT = (
    "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {{name: ep-{i}, namespace: team}}\n"
    "spec:\n  model: {{repository: gpt2}}\n"
    "  compute: {{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}}\n"
)

TRICKY = {
    "plain": "---\n".join(ENDPOINT.format(i=i) for i in range(4)),
    "block scalar ended by a marker": (
        "a: |\n  line\n  --- not a marker (indented)\n---\nb: |\n  text\n---\nc: 1\n"
    ),
    "marker inside a double-quoted scalar": 'a: "one\n---\ntwo"\n---\nb: 2\n',
    "marker inside a single-quoted scalar": "a: 'one\n--- two'\n---\nb: 2\n",
    "marker inside a flow sequence": "a: [1,\n---\n 2]\n---\nb: 2\n",
    "marker inside a plain multi-line scalar": "a: one\n  two\n--- three\n---\nb: 2\n",
    "document end markers": "a: 1\n...\n---\nb: 2\n...\n---\nc: 3\n",
    "CRLF line endings": "a: 1\r\nb: [x,\r\n y]\r\n---\r\nc: 2\r\n---\r\nd: 3\r\n",
    "unicode line breaks": "a: 1\u2028b: 2\n---\nc: 3\x85d: 4\n---\ne: 5\n",
    "byte order mark": "\ufeffa: 1\n---\nb: 2\n---\nc: 3\n",
    "anchors and aliases per document": "a: &x 1\nb: *x\n---\nc: &x 2\nd: *x\n---\ne: *x\n",
    "empty documents": "---\n---\na: 1\n---\n\n---\nb: 2\n---\n",
    "markers with content": "--- {a: 1}\n--- |\n  text\n--- [1, 2]\n---\nb: 2\n",
    "comments and tabs": "# ---\na: 1 # --- \n---\t\nb:\t2\n---  # c\nc: 3\n",
    "a date and a tag": "a: 2024-01-01\n---\nb: !custom 1\n---\nc: 3\n",
    "a syntax error after the cut": "a: 1\n---\nb: [1\n---\nc: 3\n",
    "a duplicate key": "a: 1\n---\nb: 1\nb: 2\n---\nc: 3\n",
    "nul byte": "a: 1\n---\nb: \0\n---\nc: 3\n",
}


def _documents(parsed: ParsedFile) -> list[tuple[Any, ...]]:
    sources, problems = parsed
    return [
        (s.file, s.document.data, s.document.start_line, dict(s.document.lines), s.document.plain_text)
        for s in sources
    ] + [("problem", p) for p in problems]


def _starts(text: str) -> list[int]:
    return [i for i in range(1, len(text)) if document_start_at(text, i)]


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_every_cut_parses_as_the_whole_file(case: str) -> None:
    text = TRICKY[case]
    texts = ManifestTexts(("f.yaml",), ("f.yaml",), frozenset(), {"f.yaml": text}, ())
    expected = _documents(read_documents(text, file="f.yaml"))
    cuts = _starts(text)
    assert cuts, "the case must have a place to cut"
    for cut in cuts:
        head, tail = FilePart("f.yaml", 0, cut), FilePart("f.yaml", cut, len(text))
        parsed = {head: read_part(texts, head), tail: read_part(texts, tail)}
        joined, _ = join_parts(texts, parsed, {})
        assert _documents(joined["f.yaml"]) == expected, f"cut at {cut}: {text[cut:cut + 20]!r}"
    # Three parts too: the tiling, not just one cut.
    if len(cuts) >= 2:
        bounds = [0, cuts[0], cuts[-1], len(text)]
        parts = [FilePart("f.yaml", a, b) for a, b in itertools.pairwise(bounds)]
        joined, _ = join_parts(texts, {p: read_part(texts, p) for p in parts}, {})
        assert _documents(joined["f.yaml"]) == expected


def test_a_part_keeps_every_line_of_the_file() -> None:
    text = "a: 1\r\nb: 2\u2028c: 3\n---\nd: 4\n"
    cut = text.index("---")
    padded = part_text(text, FilePart("f", cut, len(text)))
    assert padded.endswith("---\nd: 4\n") and padded[: -len("---\nd: 4\n")] == "\r\n\u2028\n"
    sources, problems = read_documents(padded, file="f")
    whole_sources, _ = read_documents(text, file="f")
    assert not problems and sources[0].document.lines[("d",)] == whole_sources[1].document.lines[("d",)] == 5


def test_parts_that_do_not_cover_the_file_are_parsed_again_whole() -> None:
    text = TRICKY["plain"]
    texts = ManifestTexts(("f",), ("f",), frozenset(), {"f": text}, ())
    cut = _starts(text)[1]
    head = FilePart("f", 0, cut)
    joined, _ = join_parts(texts, {head: read_part(texts, head)}, {})  # the tail is missing
    assert _documents(joined["f"]) == _documents(read_documents(text, file="f"))


def test_cut_near_picks_the_nearest_document_start_and_refuses_directives() -> None:
    text = "---\n".join(ENDPOINT.format(i=i) for i in range(400))
    starts = _starts(text)
    middle = len(text) // 2
    cut = cut_near(text, middle, smallest_part=1000)
    assert cut in starts and abs(cut - middle) == min(abs(s - middle) for s in starts)
    assert cut_near(text, 10, smallest_part=1000) == min(s for s in starts if s >= 1000)
    assert cut_near("%YAML 1.1\n" + text, middle, smallest_part=1000) is None
    assert cut_near(text.replace("\n---", "\n%TAG ! x\n---", 1), middle, smallest_part=1000) is None
    assert cut_near(text, middle, smallest_part=len(text)) is None


def _big_texts(files: int, per_file: int) -> ManifestTexts:
    texts = {f"team-{f}.yaml": "---\n".join(ENDPOINT.format(i=i) for i in range(per_file)) for f in range(files)}
    names = tuple(texts)
    return ManifestTexts(names, names, frozenset(), texts, ())


def test_five_equal_files_are_shared_with_one_of_them_cut() -> None:
    # Whole files gave the child three of five, which ended ~0.4 s after this process's two.
    texts = _big_texts(5, 1000)
    child = child_share(texts)
    mine = own_share(texts, child)
    cut = [p for p in child if p.end != len(texts.texts[p.file])]
    assert len(cut) == 1 and cut[0].size >= SMALLEST_PART
    assert document_start_at(texts.texts[cut[0].file], cut[0].end)
    # Every character is in exactly one share, in file order.
    covered = sorted([*child, *mine])
    for file, text in texts.texts.items():
        spans = [(p.start, p.end) for p in covered if p.file == file]
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_a_file_that_may_hold_defaults_is_not_cut() -> None:
    texts = _big_texts(5, 1000)
    for file in texts.texts:
        texts.texts[file] = "# Defaults: none\n" + texts.texts[file]
    assert all(p.start == 0 and p.end == len(texts.texts[p.file]) for p in child_share(texts))


def test_a_files_text_is_not_sent_back_with_its_documents() -> None:
    texts = _big_texts(1, 50)
    file, text = next(iter(texts.texts.items()))
    parsed = read_documents(text, file=file)
    stream = io.BytesIO()
    _TextSharingPickler(stream, texts).dump((whole(file, text), parsed, None))
    assert b"instanceType: intel-icl" not in stream.getvalue()  # named, not copied
    stream.seek(0)
    part, again, _ = _TextSharingUnpickler(stream, texts).load()
    assert part == whole(file, text)
    # Lines are found from the parent's own text, and are those of the file.
    assert [dict(s.document.lines) for s in again[0]] == [dict(s.document.lines) for s in parsed[0]]


def test_a_drained_pipe_never_makes_its_writer_wait() -> None:
    read_fd, write_fd = os.pipe()
    reader = drained(read_fd)
    payload = os.urandom(3 * 1024 * 1024)  # three times what a pipe holds
    writer = threading.Thread(target=lambda: (os.write(write_fd, payload), os.close(write_fd)), daemon=True)
    writer.start()
    writer.join(timeout=20)
    assert not writer.is_alive(), "the writer waited for a reader"
    assert reader.read() == payload
    reader.close()


def test_a_large_set_parsed_by_two_processes_with_a_cut_file_is_one_load(tmp_path: Path) -> None:
    import subprocess
    import sys

    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for f in range(5):
        docs = [ENDPOINT.format(i=f"{f}-{i}") for i in range(600)]
        (fleet / f"team-{f}.yaml").write_text("---\n".join(docs), encoding="utf-8")
    script = """
import json, sys
from hfops.core import gc_pause
from hfops.core.manifest import load_manifests
from hfops.adapters.manifest_workers import start_manifest_load
gc_pause.command_ends_process()
with start_manifest_load([sys.argv[1]], default_namespace=None, allow_empty=False) as started:
    assert started.pid is not None
    loaded = started.result()
serial = load_manifests([sys.argv[1]])
where = lambda specs: [[str(s.location_of(f)) for f in ("spec.compute.region", "metadata.name")] for s in specs]
print(json.dumps({"same": loaded.specs == serial.specs and where(loaded.specs) == where(serial.specs),
                  "cut": [p.end for p in started.child_parts if p.end != len(started.texts.texts[p.file])]}))
"""
    env = {k: v for k, v in os.environ.items() if k != "HFOPS_MANIFEST_WORKERS"}
    run = subprocess.run(
        [sys.executable, "-c", script, str(fleet)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert '"same": true' in run.stdout and '"cut": [' in run.stdout and '"cut": []' not in run.stdout, run.stdout


@pytest.mark.parametrize("syntax_error", [False, True])
def test_errors_on_both_sides_of_a_cut_are_located_as_one_process_locates_them(
    tmp_path: Path, syntax_error: bool
) -> None:
    import subprocess
    import sys

    from hfops.core.manifest_files import read_manifest_files

    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for f in range(5):
        docs = [ENDPOINT.format(i=f"{f}-{i}") for i in range(600)]
        (fleet / f"team-{f}.yaml").write_text("---\n".join(docs), encoding="utf-8")
    cut_file = next(p.file for p in child_share(read_manifest_files([str(fleet)], allow_empty=False))
                    if p.end != (fleet / Path(p.file).name).stat().st_size)
    path = Path(cut_file)
    docs = path.read_text(encoding="utf-8").split("---\n")
    docs[0] = docs[0].replace("instanceSize: x1", "instanceSize: x1, instanceSizes: 2")  # before any cut
    if syntax_error:  # after any cut: the file's only error then (YAML stops there)
        docs[-1] = docs[-1].replace("region: us-east-1", "region: [us-east-1")
    else:
        docs[-1] = docs[-1].replace("region: us-east-1", "region: us-east-1, regions: x")
    docs[len(docs) // 2] = docs[len(docs) // 2].replace("ep-", "EP_")  # near the cut
    path.write_text("---\n".join(docs), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("HFOPS_MANIFEST_WORKERS", "HFOPS_DEBUG")}
    env.update(HF_TOKEN="hf_test_parts_0123456789", HFOPS_API_URL="http://127.0.0.1:9/v2", HF_ENDPOINT="http://127.0.0.1:9")
    hfops = str(Path(sys.executable).parent / "hfops")

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([hfops, "plan", str(fleet)], env={**env, **extra}, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    two, one = run(HFOPS_DEBUG="1"), run(HFOPS_MANIFEST_WORKERS="1")
    assert "and part of 1 more" in two.stderr  # the file was cut
    said = [line for line in two.stderr.split("Traceback")[0].splitlines() if not line.startswith("hfops: ")]
    assert two.returncode == one.returncode == 1
    assert said == one.stderr.splitlines()
    if syntax_error:
        assert f"{path.name}:" in one.stderr and "invalid YAML" in one.stderr
    else:
        assert "instanceSizes" in one.stderr and "regions" in one.stderr and "EP_" in one.stderr
