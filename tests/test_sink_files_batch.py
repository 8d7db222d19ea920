"""`FileSink.read_files`, the batch a plan reads thousands of credential files with (root opened
once, ledger read once): every case gives exactly what `FileSink.read` of each file gives alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hfops.adapters.sinks.credentials_dir import prepare_root
from hfops.adapters.sinks.files import MAX_READ, FileSink
from hfops.adapters.sinks.ledger import LEDGER_NAME, Ledger
from hfops.core.credentials import Held, Target
from hfops.core.errors import CredentialsError

CREDENTIAL = json.dumps(
    {"api_key": "hf_" + "k" * 30, "endpoint": "https://x.endpoints.huggingface.cloud", "model_name": "m/m",
     "context_window": 4096}
).encode()  # fmt: skip
NAMES = [
    "ours.json", "team/nested.json", "adopted.json", "foreign.json", "replaced.json", "link.json",
    "fifo.json", "dir.json", "absent.json", "missing-dir/x.json", "big.json", "empty.json", "../escape.json",
    "not-a-dir/x.json",
]  # fmt: skip


def _fleet(root: Path) -> None:
    prepare_root(str(root))
    ledger = Ledger(root)
    for name in ("ours.json", "team/nested.json", "replaced.json"):
        FileSink(str(root), name, ledger).write(CREDENTIAL, Target("acme", name, "ci"))
    (root / "replaced.json").write_bytes(b"the user's own text")
    (root / "adopted.json").write_bytes(CREDENTIAL)
    (root / "foreign.json").write_bytes(b'{"a": 1}')
    (root / "link.json").symlink_to(root / "ours.json")
    os.mkfifo(root / "fifo.json")
    (root / "dir.json").mkdir()
    (root / "big.json").write_bytes(b" " * MAX_READ + CREDENTIAL)
    (root / "empty.json").write_bytes(b"")
    (root / "not-a-dir").write_bytes(b"")


def _alone(root: Path) -> dict[str, Held]:
    """`read` of each file, its error taken as the plan takes it (`read_held`): unreadable."""
    found = {}
    for name in NAMES:
        sink = FileSink(str(root), name, Ledger(root))
        try:
            found[sink.output_id] = sink.read()
        except CredentialsError as error:
            found[sink.output_id] = Held("unreadable", detail=error.message)
    return found


def test_a_batch_reads_every_kind_of_file_as_a_read_of_each_does(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    _fleet(root)
    alone = _alone(root)
    states = {key: held.state for key, held in alone.items()}
    assert states["file:ours.json"] == states["file:team/nested.json"] == states["file:adopted.json"] == "ours"
    assert states["file:foreign.json"] == states["file:replaced.json"] == states["file:big.json"] == "foreign"
    assert states["file:link.json"] == states["file:fifo.json"] == states["file:dir.json"] == "unreadable"
    assert states["file:absent.json"] == states["file:missing-dir/x.json"] == "absent"
    assert states["file:empty.json"] == "foreign"
    assert FileSink.read_files(str(root), NAMES, Ledger(root)) == alone
    assert list(FileSink.read_files(str(root), NAMES, Ledger(root))) == list(alone)


def test_a_batch_under_a_missing_root_finds_every_file_absent(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    assert FileSink.read_files(str(root), NAMES, Ledger(root)) == _alone(root)
    assert FileSink.read_files(str(root), [], Ledger(root)) == {}


def test_a_batch_with_an_unreadable_ledger_says_so_for_each_present_file(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    _fleet(root)
    (root / LEDGER_NAME).unlink()
    (root / LEDGER_NAME).mkdir()  # unreadable as a ledger, whoever runs the test (root reads mode 0)
    alone = _alone(root)
    assert alone["file:ours.json"].state == "unreadable" and alone["file:absent.json"].state == "absent"
    assert FileSink.read_files(str(root), NAMES, Ledger(root)) == alone


def test_a_batch_under_a_symlinked_or_non_directory_root_reads_as_each_read_does(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _fleet(real)
    root = tmp_path / "creds"
    root.symlink_to(real)  # hfops never walks through a symlink, the root included
    alone = _alone(root)
    assert alone["file:ours.json"].state == "unreadable"
    assert FileSink.read_files(str(root), NAMES, Ledger(root)) == alone
    root.unlink()
    root.write_bytes(b"")  # a file where the directory should be
    assert FileSink.read_files(str(root), NAMES, Ledger(root)) == _alone(root)


def test_a_symlinked_root_named_with_a_trailing_slash_is_refused_as_read_refuses_it(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _fleet(real)
    (tmp_path / "creds").symlink_to(real)
    for spelling in (f"{tmp_path}/creds/", f"{tmp_path}/creds/."):
        alone = _alone(Path(spelling))
        assert alone["file:ours.json"].state == "unreadable"
        assert FileSink.read_files(spelling, NAMES, Ledger(Path(spelling))) == alone


def test_a_corrupt_ledger_warns_only_when_a_file_is_there_as_read_does(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    prepare_root(str(root))
    (root / LEDGER_NAME).write_text("{not json", encoding="utf-8")
    ledger = Ledger(root)
    assert FileSink.read_files(str(root), ["absent.json"], ledger) == {"file:absent.json": Held("absent")}
    assert ledger.warnings == []
    (root / "here.json").write_bytes(b"{}")
    assert FileSink.read_files(str(root), ["here.json"], ledger)["file:here.json"].state == "foreign"
    assert ledger.warnings and "not a valid hfops ledger" in ledger.warnings[0]
