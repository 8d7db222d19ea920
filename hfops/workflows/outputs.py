"""Credential outputs in a run: the sink for each output, what they hold, and carrying out credential actions.

`OutputSinks` builds one sink per output (sharing one ledger and one Kubernetes client, made only
when a Kubernetes output is used). `plan_outputs` turns the plan's endpoints into credential
actions; `CredentialDelivery` writes and removes them during apply, `hfops credentials` and destroy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from hfops.core.credentials import (
    ContextWindow,
    CredentialAction,
    Held,
    Target,
    WantedCredential,
    choose_context_window,
    credential_bytes,
    plan_credentials,
)
from hfops.core.errors import CredentialsError, HfopsError
from hfops.core.model import (
    CommandOutput,
    Credential,
    CredentialOutput,
    EndpointSpec,
    FileOutput,
    LiveEndpoint,
    ResolvedModel,
    SecretOutput,
)
from hfops.core.plan import Conflict, Create, Delete, Plan, Replace

T = TypeVar("T")
# Credential actions carried out at once: each mostly waits on its endpoint's /info (each endpoint
# is its own server) or on a file's fsync.
CREDENTIAL_WORKERS = 64

if TYPE_CHECKING:
    from hfops.adapters.settings import Settings
    from hfops.adapters.sinks.base import CredentialSink
    from hfops.adapters.sinks.ledger import Ledger


class OutputSinks:
    def __init__(self, settings: Settings, env: Mapping[str, str], secret_env_names: Iterable[str]) -> None:
        self.settings = settings
        self.env = env
        self.secret_env_names = frozenset(secret_env_names)
        self._ledger: Ledger | None = None
        self._kube: Any = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            from pathlib import Path

            from hfops.adapters.sinks.ledger import Ledger

            self._ledger = Ledger(Path(self.settings.credentials_dir))
        return self._ledger

    def kube(self) -> Any:
        if self._kube is None:
            from hfops.adapters.kubernetes.client import KubernetesClient

            self._kube = KubernetesClient.from_environment()
        return self._kube

    def sink(self, output: CredentialOutput) -> CredentialSink:
        if isinstance(output, FileOutput):
            from hfops.adapters.sinks.files import FileSink

            return FileSink(self.settings.credentials_dir, output.path, self.ledger)
        if isinstance(output, SecretOutput):
            from hfops.adapters.kubernetes.secret_sink import KubernetesSecretSink

            return KubernetesSecretSink(self.kube(), output.name, output.namespace, output.key)
        from hfops.adapters.sinks.command import CommandSink

        return CommandSink(output.argv, self.ledger, env=self.env, secret_env_names=self.secret_env_names)

    def digest_of(self, content: bytes) -> str | None:
        from hfops.adapters.sinks.ledger import content_fingerprint

        return content_fingerprint(content, self.ledger.salt())

    def recorded(self, owner: str, kube_namespaces: Iterable[str]) -> list[tuple[str, CredentialOutput]]:
        """(address, output) of every output hfops recorded writing for `owner`."""
        found: list[tuple[str, CredentialOutput]] = []
        from pathlib import Path

        if Path(self.settings.credentials_dir).is_dir():
            for output_id, entry in self.ledger.entries().items():
                if entry.owner != owner:
                    continue
                output = output_from_id(output_id)
                if output is not None:
                    found.append((entry.address, output))
        namespaces = sorted(set(kube_namespaces))
        if namespaces:
            from hfops.adapters.kubernetes.secret_sink import list_managed

            for namespace in namespaces:
                for name, key, address in list_managed(self.kube(), namespace, owner):
                    found.append((address, SecretOutput(name, namespace, key)))
        return found


def output_from_id(output_id: str) -> CredentialOutput | None:
    kind, _, rest = output_id.partition(":")
    if kind == "file":
        return FileOutput(rest)
    if kind == "command":
        try:
            argv = json.loads(rest)
        except (ValueError, RecursionError):
            return None
        return CommandOutput(tuple(str(a) for a in argv)) if isinstance(argv, list) and argv else None
    return None


def secret_env_names(specs: Iterable[EndpointSpec]) -> set[str]:
    """Every environment variable that holds a key or secret hfops knows (never passed to commands)."""
    names = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "HF_API_TOKEN"}
    for spec in specs:
        names.update(ref.env_var for _, ref in spec.secrets)
        if spec.genstudio.api_key is not None:
            names.add(spec.genstudio.api_key.env_var)
    return names


def _namespaced(output: CredentialOutput, default_namespace: str | None) -> CredentialOutput:
    if isinstance(output, SecretOutput) and output.namespace is None and default_namespace:
        return SecretOutput(output.name, default_namespace, output.key)
    return output


def remembered_window(held: Iterable[Held], url: str | None) -> int | None:
    """The window an output hfops wrote holds for this endpoint URL: what it served when last read.

    Kept on the outputs rather than on the endpoint: recording it on the endpoint would need a
    tags-only update after every deploy, and the service may redeploy on one (uncertain point U7).
    """
    for item in held:
        if item.state != "ours" or url is None:
            continue
        data = item.document()
        window = data.get("context_window") if data is not None else None
        if data is not None and data.get("endpoint") == url and isinstance(window, int):
            return window
    return None


def window_for(
    spec: EndpointSpec,
    model: ResolvedModel | None,
    *,
    served: int | None = None,
    remembered: int | None = None,
) -> ContextWindow:
    return choose_context_window(
        spec, served=served, recorded=remembered, model_context=model.context_length if model else None
    )


def resolve_outputs(spec: EndpointSpec, sinks: OutputSinks, *, files: bool = True) -> list[CredentialOutput]:
    """The endpoint's outputs, a Secret without a namespace given the kubeconfig context's."""
    default = None
    if any(isinstance(o, SecretOutput) and o.namespace is None for o in spec.genstudio.outputs):
        default = sinks.kube().namespace
    return [_namespaced(o, default) for o in spec.genstudio.outputs if files or not isinstance(o, FileOutput)]


def read_held(
    sinks: OutputSinks, outputs: Iterable[CredentialOutput], already: Mapping[str, Held] | None = None
) -> dict[str, Held]:
    """What each output holds now; `already` gives what `read_held_files` read of them meanwhile."""
    held: dict[str, Held] = {}
    files: dict[str, str] = {}  # output_id -> path, read together (`FileSink.read_files`)
    for output in outputs:
        if already is not None and output.output_id in already:
            held[output.output_id] = already[output.output_id]
        elif isinstance(output, FileOutput):
            held[output.output_id] = Held("absent")  # keeps the outputs' order; read below
            files[output.output_id] = output.path
        else:
            try:
                held[output.output_id] = sinks.sink(output).read()
            except HfopsError as error:
                held[output.output_id] = Held("unreadable", detail=error.message)
    if files:
        from hfops.adapters.sinks.files import FileSink

        # Keyed alike: a FileSink's output_id is its FileOutput's.
        held.update(FileSink.read_files(sinks.settings.credentials_dir, files.values(), sinks.ledger))
    return held


def read_held_files(sinks: OutputSinks, specs: Sequence[EndpointSpec]) -> dict[str, Held]:
    """What the credential files of `specs` hold, read while a plan waits for the API (the files
    are local; no Secret or command is read before the plan says which outputs are ours)."""
    from pathlib import Path

    if not Path(sinks.settings.credentials_dir).is_dir():
        return {}
    files = (o for spec in specs for o in spec.genstudio.outputs if isinstance(o, FileOutput))
    return read_held(sinks, files)


def plan_outputs(
    plan: Plan,
    specs: Sequence[EndpointSpec],
    live: Mapping[str, LiveEndpoint],
    models: Mapping[tuple[str, str], ResolvedModel],
    sinks: OutputSinks,
    *,
    api_key_for: Any,
    prune: bool,
    owner: str,
    held_files: Mapping[str, Held] | None = None,
) -> tuple[tuple[CredentialAction, ...], tuple[str, ...]]:
    """The credential actions of a plan: what each declared output should hold vs what it holds.

    `held_files`: what `read_held_files` read of the file outputs while the plan was being made.
    """
    remade = {a.address for a in plan.actions if isinstance(a, (Create, Replace))}
    conflicted = {a.address for a in plan.actions if isinstance(a, Conflict)}
    specs = [s for s in specs if s.address not in conflicted]  # not ours: no credential either
    pruned = {a.address for a in plan.actions if isinstance(a, Delete)}
    # A credentials directory that does not exist here (a fresh CI runner) tracks nothing: file
    # outputs are then not planned, and apply writes them all, as it always has.
    from pathlib import Path

    files_tracked = Path(sinks.settings.credentials_dir).is_dir()
    resolved = {s.address: resolve_outputs(s, sinks, files=files_tracked) for s in specs}
    held = read_held(sinks, (o for outputs in resolved.values() for o in outputs), held_files)
    wanted: list[WantedCredential] = []
    declared: set[str] = set()
    kept: set[tuple[str, str]] = set()  # outputs of paused endpoints: left as they are
    for spec in specs:
        declared.add(spec.address)
        current = live.get(spec.address)
        outputs = resolved[spec.address]
        if spec.paused:
            kept.update((spec.address, o.output_id) for o in outputs)
            continue
        model = models.get(spec.model_key)
        known = current is not None and spec.address not in remade and current.url is not None
        try:
            remembered = remembered_window((held[o.output_id] for o in outputs), current.url if current else None)
            window: ContextWindow | None = window_for(spec, model, remembered=remembered if known else None)
        except CredentialsError:
            window = None  # told at apply, when the endpoint serves
        key = api_key_for(spec)
        credential = None
        if known and window is not None and current is not None and current.url is not None:
            credential = Credential(
                api_key=key or "", endpoint=current.url, model_name=spec.repository, context_window=window.value
            )
        reason = "endpoint replaced" if spec.address in remade and current is not None else ""
        for output in outputs:
            wanted.append(
                WantedCredential(
                    spec.address, output, spec.repository, window, credential, reason, key_known=key is not None
                )
            )
    wanted_ids = {(w.address, w.output.output_id) for w in wanted} | kept
    stale: list[tuple[str, CredentialOutput, str]] = []
    kube_namespaces = {o.namespace for w in wanted for o in [w.output] if isinstance(o, SecretOutput) and o.namespace}
    for address, output in sinks.recorded(owner, kube_namespaces):
        if (address, output.output_id) in wanted_ids:
            continue
        namespace = address.partition("/")[0]
        if address in pruned:
            stale.append((address, output, "endpoint pruned"))
        elif address in declared:
            stale.append((address, output, "output no longer declared"))
        elif prune and namespace in plan.namespaces:
            stale.append((address, output, "endpoint no longer declared"))
    return plan_credentials(wanted, held, stale=stale, digest_of=sinks.digest_of)


def check_outputs(specs: Sequence[EndpointSpec], sinks: OutputSinks) -> list[str]:
    """Problems with any output, found before anything is created."""
    problems: list[str] = []
    for spec in specs:
        for output in spec.genstudio.outputs:
            try:
                problems.extend(f"{spec.address}: {p}" for p in sinks.sink(output).check())
            except HfopsError as error:
                problems.append(f"{spec.address}: {output.describe()}: {error.message}")
    return problems


def deliver(
    sinks: OutputSinks, outputs: Iterable[CredentialOutput], credential: Credential, target: Target
) -> list[str]:
    """Write the credential to every output; returns their descriptions. Raises on the first failure."""
    content = credential_bytes(credential)
    written = []
    for output in outputs:
        sink = sinks.sink(output)
        sink.write(content, target)
        written.append(sink.describe())
    return written


class CredentialDelivery:
    """Builds an endpoint's credential from what it serves now and writes it to each of its outputs."""

    def __init__(
        self,
        sinks: OutputSinks,
        *,
        token: str | None,
        owner: str,
        api_key_for: Any,
        models: Mapping[tuple[str, str], ResolvedModel],
    ) -> None:
        self.sinks = sinks
        self.token = token
        self.owner = owner
        self.api_key_for = api_key_for
        self.models = models

    def outputs(self, spec: EndpointSpec) -> list[CredentialOutput]:
        return resolve_outputs(spec, self.sinks)

    def credential(self, spec: EndpointSpec, live: LiveEndpoint) -> Credential:
        from hfops.adapters import tgi

        if not live.url:
            raise CredentialsError(f"{spec.address}: the endpoint has no URL yet (state {live.state})")
        served = None
        if live.state == "running":
            # Asked with the deploy token: /info tells what TGI really serves. A scaled-to-zero
            # endpoint is not woken up for this (that would cost a cold start).
            answer = tgi.info(live.url, token=self.token)
            served = tgi.served_context(answer.body) if answer.ok else None
        remembered = remembered_window(read_held(self.sinks, self.outputs(spec)).values(), live.url)
        window = window_for(spec, self.models.get(spec.model_key), served=served, remembered=remembered)
        return Credential(
            api_key=self.api_key_for(spec),
            endpoint=live.url,
            model_name=spec.repository,
            context_window=window.value,
        )

    def write(self, spec: EndpointSpec, live: LiveEndpoint, only: Iterable[CredentialOutput] | None = None) -> str:
        """Write to every output (or `only` those); returns where it went, for the summary."""
        credential = self.credential(spec, live)
        outputs = self.outputs(spec) if only is None else list(only)
        target = Target(spec.namespace or "", spec.name, self.owner)
        written = deliver(self.sinks, outputs, credential, target)
        # A file output is named by its path (what `credential_file` in JSON output has always held).
        return ", ".join(w.removeprefix("file ") for w in written)

    def remove(self, action: CredentialAction) -> str:
        namespace, _, name = action.address.partition("/")
        sink = self.sinks.sink(action.output)
        sink.remove(Target(namespace, name, self.owner))
        return sink.describe()


def run_concurrently(tasks: Sequence[Callable[[], T]], *, workers: int = CREDENTIAL_WORKERS) -> list[T]:
    """Run `tasks` on up to `workers` threads; their results in the order of `tasks`.

    In worker threads even for one task: the main thread stays free for a signal handler (which
    must never find the temporary-file registry locked by the thread it interrupted). On an
    interrupt nothing more is started; the tasks already running finish (each write is atomic).
    """
    if not tasks:
        return []
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks))), thread_name_prefix="hfops-credentials")
    try:
        futures = [pool.submit(task) for task in tasks]
        return [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def carry_out(
    actions: Sequence[CredentialAction],
    do: Callable[[CredentialAction], list[T]],
    *,
    sinks: OutputSinks,
    removes: Callable[[CredentialAction], bool] = lambda action: action.verb == "remove",
    settled: Callable[[CredentialAction], list[T] | None] = lambda action: None,
    workers: int = CREDENTIAL_WORKERS,
) -> list[T]:
    """`do(action)` for every action, concurrently, in one ledger batch; results in plan order.

    The actions that may remove something (`removes`) run first, all of them, then the others:
    a removal takes away a sub-directory hfops made once it is empty, which must never happen
    while a write into it is under way. Two actions of one output (a move of an output from one
    endpoint to another) never run at once. The ledger records what the actions wrote in one
    commit at the end (or every fraction of a second, see `Ledger.batch`), not one per credential.
    `settled(action)`, when not None, is the action's result already (nothing to do): no thread.
    """
    done: dict[int, list[T]] = {}
    for index, action in enumerate(actions):
        result = settled(action)
        if result is not None:
            done[index] = result

    def run_group(indices: list[int]) -> list[tuple[int, list[T]]]:
        return [(index, do(actions[index])) for index in indices]

    carried: list[int] = []
    try:
        with sinks.ledger.batch():
            for phase in (True, False):
                groups: dict[str, list[int]] = {}
                for index, action in enumerate(actions):
                    if index not in done and removes(action) == phase:
                        groups.setdefault(action.output.output_id, []).append(index)
                tasks = [partial(run_group, indices) for indices in groups.values()]
                if not tasks:
                    continue
                for group in run_concurrently(tasks, workers=workers):
                    done.update(group)
                    carried.extend(index for index, _ in group)
    except CredentialsError as error:
        # The files were written (and synced) but the ledger could not record them: say which,
        # not only that the ledger failed, and how they are taken back.
        names = sorted({actions[i].output.describe() for i in carried if not removes(actions[i])})
        if not names:
            raise
        shown = ", ".join(names[:5]) + (f", +{len(names) - 5} more" if len(names) > 5 else "")
        raise CredentialsError(
            f"{error.message}; not recorded: the outputs this run carried out ({shown}); "
            "those written are complete",
            hint="free the space (or fix the permission) and run `hfops credentials` again: it records "
            "complete credentials at their outputs, and destroy and prune remove them",
        ) from None
    return [result for index in range(len(actions)) for result in done[index]]


def record_adopted(
    sinks: OutputSinks, specs: Iterable[EndpointSpec], live: Mapping[str, LiveEndpoint], owner: str
) -> int:
    """Record the file outputs that hold their endpoint's credential but are not in the ledger.

    Such a file was written by a run killed before the ledger recorded it (or by an hfops from
    before the ledger); it is adopted as hfops' own when read, but only a recorded output is
    removed by prune or destroy. A file counts only if it is credential-shaped and names the URL
    the endpoint has now. Returns how many were recorded (one ledger commit for all).
    """
    from pathlib import Path

    if not Path(sinks.settings.credentials_dir).is_dir():
        return 0
    found: list[tuple[str, str]] = []
    for spec in specs:
        current = live.get(spec.address)
        if spec.paused or current is None or current.url is None:
            continue
        for output in spec.genstudio.outputs:
            if not isinstance(output, FileOutput) or sinks.ledger.get(output.output_id) is not None:
                continue
            try:
                held = sinks.sink(output).read()
            except HfopsError:
                continue
            if held.state != "ours" or held.address is not None:
                continue
            data = held.document()
            if data is not None and data.get("endpoint") == current.url:
                found.append((output.output_id, spec.address))
    if found:
        with sinks.ledger.batch():
            for output_id, address in found:
                sinks.ledger.record(output_id, address, owner)
    return len(found)
