"""Building many small objects at once without the cyclic garbage collector scanning them all.

Loading 5,000 manifests or reading 5,000 endpoints allocates millions of dicts, lists and tuples
that live on; every few thousand allocations the collector walks them, and the older generations
are walked again and again as they grow, which made loading grow faster than the fleet. Inside
`paused_gc()` the collector does not run (reference counting frees everything as usual); it runs
again on leaving, so reference cycles made meanwhile (PyYAML's nodes hold some) are collected then.
Not `gc.freeze()`: frozen cycles would never be collected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_process_ends_with_command = False  # set by the console entry point only (`main()` without argv)


def command_ends_process() -> None:
    """Called by the console entry point: this process runs one command and exits.

    Not by `main(argv)` called in a process that goes on (tests, an embedding program), whose
    collector must not be left off.
    """
    global _process_ends_with_command
    _process_ends_with_command = True


def process_ends_with_command() -> bool:
    return _process_ends_with_command


def pause_until_exit() -> None:
    """For a command after which the process exits (`plan`): the collector stays off to the end.

    Re-enabled after the plan, it walked every object the plan had made just before the process
    exited and freed them all anyway; paused from the start, the imports run without it too
    (30 ms of a 400 ms plan of 500). What is alive at exit is frozen, so that the interpreter's
    last collection skips it. Not for `apply`, whose waits make garbage for minutes, nor for the
    operator, which never exits. A no-op unless `command_ends_process()` was called.
    """
    if not _process_ends_with_command:
        return
    import atexit

    global _teardown_skippable
    gc.disable()
    atexit.register(gc.freeze)
    _teardown_skippable = True


_teardown_skippable = False


def writes_done_on_return() -> None:
    """For a command whose every write is done, synced and closed when it returns (`apply`: its
    credential files, ledger, Secrets and commands are finished inside the workflow): the entry
    point may leave by `os._exit` once its output is flushed, as after `plan`. The interpreter's
    teardown would only free, one by one, what the imports and the run made (~80 ms after an apply
    of 100) and close sockets the kernel closes anyway. A no-op unless `command_ends_process()`.
    """
    global _teardown_skippable
    if _process_ends_with_command:
        _teardown_skippable = True


def teardown_skippable() -> bool:
    """Whether the console entry point may leave by `os._exit` once its output is flushed.

    For a command that paused the collector to the end (`pause_until_exit`: `plan`, which writes
    nothing but its output and an atomically saved plan file): the interpreter's teardown then
    only frees the objects the plan made, one by one (~10 ms of a plan of 500).
    """
    return _teardown_skippable
