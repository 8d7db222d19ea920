"""`command:` credential outputs: a program that stores the credential where a team keeps secrets.

The credential JSON goes on the command's stdin, never in its arguments or environment. The
command inherits hfops' environment minus every variable holding a key or secret hfops knows,
and is told `HFOPS_CREDENTIAL_ACTION` (write or delete; nothing on stdin for delete),
`HFOPS_ENDPOINT_NAMESPACE` and `HFOPS_ENDPOINT_NAME`. Its stdout is discarded (a command may
echo what it was given); a non-zero exit, a missing program or a timeout fails that credential,
with the end of its stderr stripped of terminal control sequences and redacted.

A command cannot be read back, so the ledger keeps a slow salted fingerprint of what it was
given (`content_fingerprint`): the plan can tell whether it must run again, and no key is stored.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Collection, Mapping

from hfops.adapters.sinks.ledger import Ledger
from hfops.core.credentials import Held, Target
from hfops.core.errors import CredentialsError
from hfops.core.json_object import load_object
from hfops.core.redact import MASK, REDACTOR

STDERR_TAIL = 500
# CSI and OSC/DCS/APC/PM sequences, other two-character escapes, C0/C1 controls except \t and \n.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[@-Z\\-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]",
    re.DOTALL,
)


def clean_stderr(text: str, *, also: Collection[str] = ()) -> str:
    """The last STDERR_TAIL characters of a command's stderr, safe to print.

    Control sequences are stripped first (so one cannot split a key to hide it from the
    redactor), then known secrets (and `also`) are masked, then the tail is taken (never cutting
    through a key before it was masked). `\\r` becomes a line break.
    """
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    for value in sorted((v for v in also if v and len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = REDACTOR.scrub(text).strip()
    return text if len(text) <= STDERR_TAIL else "..." + text[-STDERR_TAIL:]


def _api_key(content: bytes) -> str | None:
    data = load_object(content)
    key = data.get("api_key") if data is not None else None
    return key if isinstance(key, str) else None


class CommandSink:
    def __init__(
        self,
        argv: tuple[str, ...],
        ledger: Ledger,
        *,
        env: Mapping[str, str],
        secret_env_names: Collection[str],
        timeout: float = 60.0,
    ) -> None:
        self.argv = tuple(argv)
        self.ledger = ledger
        self.env = dict(env)
        self.secret_env_names = frozenset(secret_env_names)
        self.timeout = timeout

    @property
    def output_id(self) -> str:
        return "command:" + json.dumps(list(self.argv), separators=(",", ":"))

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""

    def describe(self) -> str:
        text = shlex.join(self.argv)
        return "command " + (text if len(text) <= 80 else text[:77] + "...")

    def check(self) -> list[str]:
        if not self.argv or not self.program:
            return ["command output with no program to run"]
        if self._resolve() is None:
            if os.sep in self.program:
                return [f"{self.describe()}: {self.program} is not an executable file"]
            return [f"{self.describe()}: {self.program} is not found on PATH"]
        return []

    def _resolve(self) -> str | None:
        if os.sep in self.program:
            ok = os.path.isfile(self.program) and os.access(self.program, os.X_OK)
            return self.program if ok else None
        return shutil.which(self.program, path=self.env.get("PATH", os.defpath))

    def read(self) -> Held:
        entry = self.ledger.get(self.output_id)
        if entry is None:
            return Held("absent")
        return Held("ours", address=entry.address, owner=entry.owner, digest=entry.digest)

    def child_environment(self, action: str, target: Target) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if k not in self.secret_env_names}
        env.update(
            HFOPS_CREDENTIAL_ACTION=action,
            HFOPS_ENDPOINT_NAMESPACE=target.namespace,
            HFOPS_ENDPOINT_NAME=target.name,
        )
        return env

    def _run(self, action: str, content: bytes | None, target: Target) -> None:
        where = f"{target.address}: {self.describe()} ({action})"
        if not self.argv:
            raise CredentialsError(f"{where}: no program to run")
        program = self._resolve()
        if program is None:
            raise CredentialsError(f"{where}: {self.program} not found")
        key = _api_key(content) if content else None
        try:
            child = subprocess.Popen(
                [program, *self.argv[1:]],
                stdin=subprocess.PIPE if content is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self.child_environment(action, target),
                start_new_session=True,  # a timeout ends the whole process group, not just the child
                close_fds=True,
            )
        except OSError as error:
            raise CredentialsError(f"{where}: cannot run {self.program}: {os.strerror(error.errno or 0)}") from None
        try:
            _, stderr = child.communicate(content, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._kill(child)
            raise CredentialsError(
                f"{where}: {self.program} did not finish within {self.timeout:g}s and was stopped"
            ) from None
        except BaseException:
            self._kill(child)
            raise
        if child.returncode != 0:
            if child.returncode < 0:
                try:
                    how = f"was killed by {signal.Signals(-child.returncode).name}"
                except ValueError:
                    how = f"was killed by signal {-child.returncode}"
            else:
                how = f"exited with code {child.returncode}"
            tail = clean_stderr(stderr.decode("utf-8", "replace"), also=[key] if key else [])
            tail = " | ".join(line.strip() for line in tail.splitlines() if line.strip())
            raise CredentialsError(f"{where}: {self.program} {how}" + (f": {tail}" if tail else ""))

    @staticmethod
    def _kill(child: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            child.kill()
        try:
            child.communicate(timeout=5)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            pass

    def write(self, content: bytes, target: Target) -> None:
        self._run("write", content, target)
        self.ledger.record(self.output_id, target.address, target.owner, fingerprint_of=content)

    def remove(self, target: Target) -> None:
        entry = self.ledger.get(self.output_id)
        if entry is None or entry.address != target.address:
            return  # not recorded as written by hfops for this endpoint: not touched
        self._run("delete", None, target)
        self.ledger.forget(self.output_id)
