"""`file:` credential outputs and the ledger, on real files (no mocks of the code paths)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hfops.adapters import atomic
from hfops.adapters.sinks.credentials_dir import prepare_root, remove_own_temporaries
from hfops.adapters.sinks.files import FileSink
from hfops.adapters.sinks.ledger import LEDGER_NAME, Ledger, content_fingerprint
from hfops.core.credentials import Target
from hfops.core.errors import CredentialsError

TARGET = Target("team", "llama", "ci")
CREDENTIAL = json.dumps(
    {"api_key": "hf_" + "k" * 30, "endpoint": "https://x.endpoints.huggingface.cloud", "model_name": "m/m",
     "context_window": 4096}
).encode()  # fmt: skip


def sink(root: Path, relative: str) -> FileSink:
    return FileSink(str(root), relative, Ledger(root))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_write_is_atomic_0600_in_a_0700_directory_hfops_creates_with_a_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    output = sink(root, "team/llama.json")
    assert output.check() == []
    assert not root.exists(), "check() creates nothing"
    assert output.read().state == "absent"
    prepare_root(str(root))
    output.write(CREDENTIAL, TARGET)

    assert mode(root) == 0o700
    assert (root / ".gitignore").read_text().splitlines()[-1] == "*"
    assert mode(root / "team") == 0o700
    assert (root / "team/llama.json").read_bytes() == CREDENTIAL
    assert mode(root / "team/llama.json") == 0o600
    assert mode(root / LEDGER_NAME) == 0o600
    assert "hf_" not in (root / LEDGER_NAME).read_text(), "the ledger never holds a key"
    held = output.read()
    assert (held.state, held.content, held.address, held.owner) == ("ours", CREDENTIAL, "team/llama", "ci")
    assert not [p for p in root.rglob("*") if atomic.is_temporary_name(p.name)]

    output.write(CREDENTIAL.replace(b"4096", b"8192"), TARGET)  # an update replaces it
    assert b"8192" in (root / "team/llama.json").read_bytes()


def test_an_existing_directory_keeps_its_mode_and_gets_no_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir()
    root.chmod(0o755)
    [warning] = prepare_root(str(root))
    assert "can be read by others" in warning
    sink(root, "a.json").write(CREDENTIAL, TARGET)
    assert mode(root) == 0o755
    assert not (root / ".gitignore").exists()
    assert mode(root / "a.json") == 0o600


def test_a_directory_swapped_for_a_symlink_after_check_does_not_redirect_the_write(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "creds", tmp_path / "elsewhere"
    (root / "team").mkdir(parents=True)
    elsewhere.mkdir()
    output = sink(root, "team/llama.json")
    assert output.check() == []
    (root / "team").rmdir()
    (root / "team").symlink_to(elsewhere)  # the attacker's move, between check() and write()

    with pytest.raises(CredentialsError, match="symlink"):
        output.write(CREDENTIAL, TARGET)
    assert list(elsewhere.iterdir()) == []
    assert output.check() and "symlink" in output.check()[0]


def test_a_symlink_at_the_target_or_the_root_is_refused(tmp_path: Path) -> None:
    root, decoy = tmp_path / "creds", tmp_path / "decoy.json"
    root.mkdir()
    decoy.write_text("mine")
    (root / "x.json").symlink_to(decoy)
    output = sink(root, "x.json")
    assert "symlink" in output.check()[0]
    assert output.read().state == "unreadable"
    with pytest.raises(CredentialsError):
        output.write(CREDENTIAL, TARGET)
    assert decoy.read_text() == "mine"

    link = tmp_path / "link"
    link.symlink_to(root)
    assert "is a symlink" in sink(link, "y.json").check()[0]
    with pytest.raises(CredentialsError):
        sink(link, "y.json").write(CREDENTIAL, TARGET)
    assert not (root / "y.json").exists()


def test_a_foreign_file_is_refused_and_kept_and_never_removed(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir()
    (root / "x.json").write_text('{"note": "mine"}')
    output = sink(root, "x.json")
    assert output.read().state == "foreign"
    with pytest.raises(CredentialsError, match="not written by hfops"):
        output.write(CREDENTIAL, TARGET)
    output.remove(TARGET)
    assert (root / "x.json").read_text() == '{"note": "mine"}'
    assert not [p for p in root.iterdir() if atomic.is_temporary_name(p.name)]


def test_a_file_hfops_wrote_and_the_user_replaced_is_foreign_and_kept(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    output = sink(root, "x.json")
    output.write(CREDENTIAL, TARGET)
    (root / "x.json").write_text("my notes now")
    assert output.read().state == "foreign"
    output.remove(TARGET)
    assert (root / "x.json").read_text() == "my notes now"


def test_a_credential_an_older_hfops_wrote_is_adopted(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir()
    (root / "x.json").write_bytes(CREDENTIAL)  # no ledger: before hfops kept one
    output = sink(root, "x.json")
    held = output.read()
    assert (held.state, held.address) == ("ours", None)
    output.write(CREDENTIAL.replace(b"4096", b"2048"), TARGET)
    assert Ledger(root).get("file:x.json") is not None
    assert b"2048" in (root / "x.json").read_bytes()


def test_remove_deletes_only_what_hfops_wrote_and_the_directories_it_created(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    (root / "mine").mkdir(parents=True)
    deep, kept = sink(root, "team/sub/a.json"), sink(root, "mine/b.json")
    deep.write(CREDENTIAL, TARGET)
    kept.write(CREDENTIAL, TARGET)

    deep.remove(Target("team", "other", "ci"))  # recorded for another endpoint: not touched
    assert (root / "team/sub/a.json").exists()
    deep.remove(TARGET)
    kept.remove(TARGET)
    assert not (root / "team").exists(), "empty directories hfops created are removed"
    assert (root / "mine").is_dir(), "a directory the user made stays"
    assert root.is_dir()
    assert Ledger(root).entries() == {}
    deep.remove(TARGET)  # absent: success


def test_check_reports_a_file_where_a_directory_is_needed(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir()
    (root / "team").write_text("a file")
    [problem] = sink(root, "team/x.json").check()
    assert str(root / "team") in problem and os.strerror(20) in problem  # ENOTDIR

    parent_is_a_file = tmp_path / "plain"
    parent_is_a_file.write_text("")
    [problem] = sink(parent_is_a_file / "creds", "x.json").check()
    assert str(parent_is_a_file) in problem and "Not a directory" in problem
    with pytest.raises(CredentialsError, match="Not a directory"):
        sink(parent_is_a_file / "creds", "x.json").write(CREDENTIAL, TARGET)


def test_check_reports_a_non_regular_target(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir()
    os.mkfifo(root / "x.json")
    output = sink(root, "x.json")
    assert "not a regular file" in output.check()[0]
    assert output.read().state == "unreadable"  # and reading it did not block
    with pytest.raises(CredentialsError):
        output.write(CREDENTIAL, TARGET)


def test_names_too_long_for_the_filesystem_are_refused_by_check(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir()
    name_max = os.pathconf(root, "PC_NAME_MAX")
    fits = "a" * (name_max - atomic.TEMPORARY_OVERHEAD - 5) + ".json"
    assert sink(root, fits).check() == []
    too_long_with_the_temporary = "a" * (name_max - 10) + ".json"  # fits alone, not as a temporary
    [problem] = sink(root, too_long_with_the_temporary).check()
    assert "temporary name" in problem and "File name too long" in problem
    assert "directory name" in sink(root, "d" * (name_max + 1) + "/x.json").check()[0]
    deep = "/".join(["d" * 200] * 25) + "/x.json"  # every component fine, the whole path not
    assert any("path is too long" in p for p in sink(root, deep).check())
    assert list(root.iterdir()) == []


def test_paths_outside_the_root_are_refused(tmp_path: Path) -> None:
    for bad in ("../x.json", "/etc/x.json", "a/../../x.json"):
        output = sink(tmp_path / "creds", bad)
        assert output.check(), bad
        with pytest.raises(CredentialsError):
            output.write(CREDENTIAL, TARGET)
    assert not (tmp_path / "x.json").exists()


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[object]:
    """Mount a small tmpfs (root only); unmounted afterwards."""
    mounts: list[Path] = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounts)}"
        point.mkdir()
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_directory_is_reported_by_check_before_anything(tmp_path: Path, mounted: object) -> None:
    if os.geteuid() != 0:  # permission bits are honest for anyone but root
        root = tmp_path / "ro"
        root.mkdir()
        root.chmod(0o500)
    else:  # root ignores permission bits: a read-only filesystem does not
        root = mounted("size=1m,ro")  # type: ignore[operator]
    try:
        [problem] = sink(root, "x.json").check()
        assert str(root) in problem and ("Read-only file system" in problem or "Permission denied" in problem)
        [problem] = sink(root / "creds", "x.json").check()  # the root would be created there: same
        assert str(root) in problem
        with pytest.raises(CredentialsError):
            sink(root, "x.json").write(CREDENTIAL, TARGET)
    finally:
        root.chmod(0o700) if os.geteuid() != 0 else None


def test_the_probe_finds_what_statvfs_does_not_say(mounted: object) -> None:
    """No inode left: free bytes are plenty, permission bits fine; only really creating a file tells."""
    root: Path = mounted("size=1m,nr_inodes=8,mode=0700")  # type: ignore[operator]
    for index in range(100):
        try:
            (root / f"f{index}").touch()
        except OSError:
            break
    [problem] = sink(root, "x.json").check()
    assert f"cannot create files in {root}" in problem and "No space left on device" in problem
    assert not [p for p in root.iterdir() if atomic.is_temporary_name(p.name)]


def test_too_little_free_space_is_reported(mounted: object) -> None:
    root: Path = mounted("size=64k")  # type: ignore[operator]
    (root / "fill").write_bytes(b"\0" * 40 * 1024)
    [problem] = sink(root, "x.json").check()
    assert "bytes free" in problem and "No space left on device" in problem


def test_only_hfops_own_temporary_files_are_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    (root / "sub").mkdir(parents=True)
    mine = [root / ".hfops-tmp-k1ll3d00.svc-00.json", root / "sub/.hfops-tmp-abcdef12.x.json"]
    users = [root / ".notes.ABCDEFGH.tmp", root / ".x.json.12345678.tmp", root / "sub/.hfops-tmp-short.x"]
    for path in mine + users:
        path.write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".hfops-tmp-abcdef12.y.json").write_text("not below the root")
    (root / "link").symlink_to(outside)

    assert sorted(remove_own_temporaries(root)) == sorted(mine)
    assert all(p.exists() for p in users)
    assert (outside / ".hfops-tmp-abcdef12.y.json").exists(), "symlinks are not followed"
    assert atomic.remove_stale_temporaries(root) == []


def test_a_second_interrupt_removes_a_temporary_file_being_written(tmp_path: Path) -> None:
    fd_dir = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd, name = atomic.create_temporary("x.json", dir_fd=fd_dir)
        os.close(fd)
        assert (tmp_path / name).exists() and atomic.is_temporary_name(name)
        atomic.remove_in_flight()  # keeps the lock, as before an immediate exit
        atomic._IN_FLIGHT_LOCK.release()
        assert not (tmp_path / name).exists()
        atomic.release_temporary(name, dir_fd=fd_dir, unlink=True)
    finally:
        os.close(fd_dir)


def test_atomic_write_keeps_working_for_its_callers(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    atomic.atomic_write(target, b"{}", mode=0o644)
    assert target.read_bytes() == b"{}" and mode(target) == 0o644
    (tmp_path / "link.json").symlink_to(target)
    with pytest.raises(OSError):
        atomic.atomic_write(tmp_path / "link.json", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "plan.json"]


# -- the ledger ------------------------------------------------------------------------------


_RECORDER = """
import sys
from pathlib import Path
from hfops.adapters.sinks.ledger import Ledger
ledger = Ledger(Path(sys.argv[1]))
for index in range(int(sys.argv[3])):
    ledger.record(f"file:{sys.argv[2]}-{index}.json", f"ns/{sys.argv[2]}-{index}", "ci")
"""


def test_two_runs_at_once_never_lose_each_others_entries(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    runs = [
        subprocess.Popen([sys.executable, "-c", _RECORDER, str(root), who, "40"], cwd=Path(__file__).parents[1])
        for who in ("a", "b", "c")
    ]
    assert [run.wait(timeout=60) for run in runs] == [0, 0, 0]
    entries = Ledger(root).entries()
    assert len(entries) == 120
    assert entries["file:b-7.json"].address == "ns/b-7"


def test_a_corrupt_ledger_reads_as_empty_and_is_kept_aside(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir()
    (root / LEDGER_NAME).write_text("{not json")
    ledger = Ledger(root)
    assert ledger.entries() == {}
    assert ledger.warnings and "not a valid hfops ledger" in ledger.warnings[0]
    assert (root / LEDGER_NAME).read_text() == "{not json", "reading changes nothing"
    [warning] = ledger.record("file:x.json", "ns/x", "ci")
    [aside] = root.glob(LEDGER_NAME + ".corrupt-*")
    assert aside.name in warning and aside.read_text() == "{not json"
    assert Ledger(root).get("file:x.json") is not None


def test_fingerprints_are_slow_salted_and_the_salt_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    ledger = Ledger(root)
    passing = ledger.salt()
    assert not root.exists(), "asking for the salt creates nothing"
    ledger.record('command:["x"]', "ns/x", "ci", fingerprint_of=b"abc")
    salt = Ledger(root).salt()
    assert salt == passing and len(salt) >= 16
    assert Ledger(root).get('command:["x"]').digest == content_fingerprint(b"abc", salt)  # type: ignore[union-attr]
    ledger.record('command:["y"]', "ns/y", "ci", fingerprint_of=b"abc")
    assert Ledger(root).salt() == salt, "made once, reused"
    assert content_fingerprint(b"abc", salt) != content_fingerprint(b"abc", os.urandom(16))
    started = time.perf_counter()
    content_fingerprint(b"hf_short", salt)
    assert time.perf_counter() - started >= 0.05, "one guess must cost at least ~50 ms"


# -- Git ---------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_credentials_directory_git_would_track_is_warned_about(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    tracked = tmp_path / "creds"
    tracked.mkdir(mode=0o700)
    [warning] = prepare_root(str(tracked), ["team/llama.json"])
    assert str(tracked / "team/llama.json") in warning and "Git" in warning
    assert prepare_root(str(tmp_path / "fresh")) == [], "hfops' own .gitignore makes Git ignore them"
    (tmp_path / ".gitignore").write_text("creds/\n")
    assert prepare_root(str(tracked)) == []


def test_remove_never_deletes_through_a_symlink_and_leaves_it_alone(tmp_path: Path) -> None:
    root, precious = tmp_path / "creds", tmp_path / "precious"
    precious.mkdir()
    (precious / "a.json").write_bytes(CREDENTIAL)  # credential-shaped, so it would pass for ours
    flat, nested = sink(root, "a.json"), sink(root, "team/a.json")
    flat.write(CREDENTIAL, TARGET)
    nested.write(CREDENTIAL, TARGET)
    (root / "a.json").unlink()
    (root / "a.json").symlink_to(precious / "a.json")
    shutil.rmtree(root / "team")
    (root / "team").symlink_to(precious)

    flat.remove(TARGET)  # no error: what is there now is not hfops' and is left alone
    nested.remove(TARGET)
    assert (root / "a.json").is_symlink() and (root / "team").is_symlink()
    assert (precious / "a.json").read_bytes() == CREDENTIAL
    assert Ledger(root).entries() == {}


def test_an_existing_directory_others_can_read_is_warned_about_not_changed(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o750)
    [warning] = prepare_root(str(root))
    assert "can be read by others" in warning and "750" in warning
    assert mode(root) == 0o750


@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "named temporary"])
def test_both_ways_of_writing_create_update_and_keep_a_file_that_appeared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    """O_TMPFILE where the filesystem has it (no name exists until the final one); a named one elsewhere."""
    from hfops.adapters.sinks import files

    if not unnamed:
        monkeypatch.setattr(files, "open_unnamed", lambda *_a, **_k: None)
    root = tmp_path / "creds"
    output = sink(root, "team/x.json")
    output.write(CREDENTIAL, TARGET)
    output.write(CREDENTIAL.replace(b"4096", b"1024"), TARGET)
    assert b"1024" in (root / "team/x.json").read_bytes() and mode(root / "team/x.json") == 0o600

    late = sink(root, "late.json")
    seen = late._inspect()
    (root / "late.json").write_text("the user's, written meanwhile")
    with pytest.raises(CredentialsError, match="appeared while hfops was writing it"):
        dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if not late._write_unnamed(CREDENTIAL, "late.json", dir_fd, seen):
                late._write_named(CREDENTIAL, "late.json", dir_fd, seen)
        finally:
            os.close(dir_fd)
    assert (root / "late.json").read_text() == "the user's, written meanwhile"
    assert not [p for p in root.rglob("*") if atomic.is_temporary_name(p.name)]
