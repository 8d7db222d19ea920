"""Typed errors for hfops, and the exit codes the CLI maps them to.

Every error hfops raises on purpose is an `HfopsError`; the CLI turns it into one `Error:` line
(plus an optional hint) on stderr and exit code 1. Errors carry where they came from: a manifest
location, an endpoint and the step that failed, or the remote status and request id. No error
message ever contains a token or secret value: messages are built from names, never from values.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2  # only `plan --detailed-exitcode` when the plan has changes


@dataclass(frozen=True)
class Location:
    """Where in a manifest something was written: file, 1-based line and dotted field path."""

    file: str
    line: int
    field: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}" if self.field else where


@dataclass(frozen=True)
class Diagnostic:
    """One located problem in the manifests; many are collected and reported in one run."""

    location: Location
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class HfopsError(Exception):
    """Base of every error hfops reports to the user."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(HfopsError):
    """The command line or environment is wrong (missing token, bad option combination)."""


class ManifestError(HfopsError):
    """One or more manifest problems, each located by file, line and field."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        count = len(diagnostics)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{count} manifest {noun}:\n" + "\n".join(f"  {d}" for d in diagnostics))
        self.diagnostics = tuple(diagnostics)


class PlanError(HfopsError):
    """The desired state cannot be planned: unknown model, wrong task, unowned endpoint, ..."""

    def __init__(self, message: str, *, endpoint: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{endpoint}: {message}" if endpoint else message, hint=hint)
        self.endpoint = endpoint


class StalePlanError(PlanError):
    """A saved plan no longer matches the manifests or the live state it was made from."""


class RemoteError(HfopsError):
    """The Inference Endpoints API or the Hub answered with an error we cannot recover from."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        detail = message
        if status is not None:
            detail += f" (HTTP {status}"
            detail += f", request id {request_id})" if request_id else ")"
        super().__init__(detail, hint=hint)
        self.status = status
        self.request_id = request_id


class TokenRefused(HfopsError):
    """The Hub refuses the token itself (whoami answers 401): one error for the run, not one per endpoint."""


class ApplyError(HfopsError):
    """An endpoint could not be brought to its desired state; names the endpoint and the step."""

    def __init__(self, message: str, *, endpoint: str, step: str, hint: str | None = None) -> None:
        super().__init__(f"{endpoint}: {step} failed: {message}", hint=hint)
        self.endpoint = endpoint
        self.step = step


class CredentialsError(HfopsError):
    """A credential file cannot be produced or written safely."""


class ConfirmationError(UsageError):
    """apply needs a confirmation and there is no terminal to ask on (use --yes)."""


class Interrupted(HfopsError):
    """The run was stopped by SIGINT/SIGTERM."""


class NotStarted(Interrupted):
    """A call the interrupt came before: nothing was sent, so nothing was done.

    Apart from `Interrupted` so that an endpoint whose first write never went out is reported as
    not attempted, not as failed, whichever layer (the apply's slots or the retry loop) saw the
    signal first.
    """
