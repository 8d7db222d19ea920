"""The facade the CLI calls: manifests + settings -> a plan, an apply, credentials, status, verify.

Wires the pure core (manifest, diff, plan) to the adapters (live, hub, tgi, credentials). Reads
secret values from the environment at the last moment, keeps them out of every returned value
except the mapping handed to the writer, and registers them with the redactor so that no output
can ever show them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hfops.adapters.settings import Settings
from hfops.core.credentials import CredentialAction
from hfops.core.diff import Desired, derived_secret_key, legacy_secrets_fingerprint, secrets_fingerprint
from hfops.core.errors import (
    Diagnostic,
    HfopsError,
    Interrupted,
    ManifestError,
    PlanError,
    RemoteError,
    TokenRefused,
    UsageError,
)
from hfops.core.gc_pause import paused_gc
from hfops.core.hardware import EndpointCost
from hfops.core.manifest import ManifestSet, load_manifests
from hfops.core.model import EndpointSpec, LiveEndpoint, ResolvedModel
from hfops.core.plan import Plan, build_plan
from hfops.core.redact import REDACTOR
from hfops.core.secret_env import check_secret_env
from hfops.workflows.run_adapters import refusal, run_adapters

if TYPE_CHECKING:
    from concurrent.futures import Future

    from hfops.adapters.manifest_workers import StartedLoad
    from hfops.core.credentials import Held
    from hfops.core.hardware import Hardware
    from hfops.workflows.early_reads import EarlyReads
    from hfops.workflows.outputs import OutputSinks

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Context:
    """Everything a plan was made from, for apply and credentials."""

    manifests: ManifestSet
    specs: tuple[EndpointSpec, ...]
    models: Mapping[tuple[str, str], ResolvedModel]
    live: Mapping[str, LiveEndpoint]
    desired: tuple[Desired, ...]


def read_env_secret(name: str, env: Mapping[str, str]) -> str | None:
    value = env.get(name)
    if value:
        REDACTOR.add(value)
    return value or None


def secret_values(spec: EndpointSpec, env: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    for key, ref in spec.secrets:
        value = read_env_secret(ref.env_var, env)
        if value is not None:
            values[key] = value
    return values


def with_namespace(specs: Sequence[EndpointSpec], namespace: str) -> tuple[EndpointSpec, ...]:
    return tuple(s if s.namespace else replace(s, namespace=namespace) for s in specs)


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        *,
        warn: Warn,
        env: Mapping[str, str] | None = None,
        early: EarlyReads | None = None,
    ) -> None:
        """`early`: reads sent once the manifests were valid (`workflows/early_reads.py`), whose
        adapters and retry policy this reconciler then uses; its reads serve `read_live` and
        `resolve_models` for what the manifests name."""
        if settings.token:
            REDACTOR.add(settings.token)
        problem = refusal(settings)
        if problem is not None:
            raise problem
        self.settings = settings
        self.env = os.environ if env is None else env
        self.warn = warn
        self._early = early if early is not None and early.settings == settings else None
        adapters = self._early.adapters if self._early is not None else run_adapters(settings)
        self.retry, self.endpoints, self.models = adapters.retry, adapters.endpoints, adapters.models
        # Namespaces read even when no manifest names them (pruning an emptied namespace).
        self.extra_namespaces: tuple[str, ...] = ()
        self._sinks: OutputSinks | None = None
        self._held_files: Future[dict[str, Held]] | None = None  # read by `context` for `plan_credentials`
        self._user: str | None = None  # the token's user, once asked
        # The list reads and the model resolution run together and may both ask whoami after a
        # failure: one asks, the other gets the same answer (or the same refusal).
        self._whoami_lock = threading.Lock()
        self._whoami_error: BaseException | None = None
        self._deferred: list[Diagnostic] | None = None  # while `plan` collects problems
        self._warned_token_key = False  # the HF_TOKEN-as-api_key warning, said once per run
        self._started_load: StartedLoad | None = None

    # -- reading -----------------------------------------------------------------------------

    def use_started_load(self, started: StartedLoad) -> None:
        """Take the manifests from a load begun before this reconciler was built (in parallel
        with its imports: `adapters/manifest_workers.py`), when it is of the same PATHs."""
        self._started_load = started

    def load(self, paths: Sequence[str], *, allow_empty: bool = False) -> tuple[ManifestSet, tuple[EndpointSpec, ...]]:
        started, self._started_load = self._started_load, None
        if (
            started is not None
            and started.paths == tuple(paths)
            and started.allow_empty == allow_empty
            and started.default_namespace == self.settings.namespace
        ):
            manifests = started.result()
        else:
            manifests = load_manifests(paths, default_namespace=self.settings.namespace, allow_empty=allow_empty)
        if self.retry.stop.is_set():
            # SIGINT/SIGTERM while a large set was parsed: its reads may all be out already (read
            # early), so no retry would notice; stop here, before anything is planned.
            raise Interrupted("interrupted while the manifests were loaded; nothing was planned")
        specs = manifests.specs
        if any(s.namespace is None for s in specs):
            user = self.whoami()
            self.warn(f"no namespace given; using the token's user namespace {user!r}")
            specs = with_namespace(specs, user)
        return manifests, specs

    def whoami(self) -> str:
        """The token's user (once per run); a token the Hub refuses is one error, said as such."""
        with self._whoami_lock:
            if self._whoami_error is not None:
                raise self._whoami_error
            if self._user is None:
                try:
                    self._user = self.endpoints.whoami()
                except RemoteError as error:
                    self._whoami_error = self._token_refused() if error.status == 401 else error
                    raise self._whoami_error from None
            return self._user

    def _token_refused(self) -> HfopsError:
        return TokenRefused(
            f"the Hugging Face token (HF_TOKEN) was refused: {self.settings.hub_url}/api/whoami-v2 answered HTTP 401; "
            "nothing was planned or changed",
            hint="set HF_TOKEN to a valid, unexpired token for this Hub (`hf auth whoami` shows whom a token "
            "belongs to); the manifests were not the problem",
        )

    def blame_token(self) -> None:
        """After calls failed: if the token itself is refused, raise that one error instead of theirs.

        Costs one whoami, and only when something already failed (never on a plan that works);
        none when this run already asked whoami (a namespace-less manifest).
        """
        if self._user is not None:
            return
        try:
            self.whoami()
        except RemoteError:
            return  # whoami cannot tell: the original errors stand

    def refuse(self, problems: Sequence[Diagnostic]) -> None:
        """Located problems found while planning: raised now, or kept for the end of `plan`, which
        reports every independent one in one run (models, limits and hardware together)."""
        if self._deferred is None:
            raise ManifestError(list(problems))
        self._deferred.extend(problems)

    def read_live(self, namespaces: Sequence[str]) -> dict[str, LiveEndpoint]:
        """One list call per namespace, the namespaces read concurrently."""
        from concurrent.futures import ThreadPoolExecutor

        unique = sorted(set(namespaces))
        if not unique:
            return {}
        early = self._early
        read_early = {ns: future for ns in unique if early is not None and (future := early.take_list(ns)) is not None}
        fresh = [ns for ns in unique if ns not in read_early]
        with ThreadPoolExecutor(max_workers=max(1, min(len(fresh), self.settings.parallelism))) as pool:
            reads = {**read_early, **{ns: pool.submit(self.endpoints.list, ns) for ns in fresh}}
            try:
                listed = [reads[ns].result() for ns in unique]  # the first error in namespace order
            except RemoteError as error:
                if error.status in (401, 403):
                    self.blame_token()
                raise
            finally:
                for future in reads.values():
                    future.cancel()
        return {endpoint.address: endpoint for endpoints in listed for endpoint in endpoints}

    def resolve_models(self, specs: Sequence[EndpointSpec]) -> dict[tuple[str, str], ResolvedModel]:
        wanted = {s.model_key for s in specs}
        results = self._early.take_models(wanted) if self._early is not None else {}
        results.update(self.models.resolve_all(wanted - results.keys(), parallelism=self.settings.parallelism))
        problems = [
            Diagnostic(spec.location_of("spec.model.repository"), result.message, result.hint)
            for spec in specs
            if isinstance(result := results[spec.model_key], PlanError)
        ]
        if problems:
            self.blame_token()  # a wrong token fails every model: one error, not one per endpoint
            self.refuse(problems)
        return {k: v for k, v in results.items() if isinstance(v, ResolvedModel)}

    def context(
        self,
        paths: Sequence[str],
        *,
        check_env: bool = True,
        allow_empty: bool = False,
        api_keys: bool = True,
        read_credential_files: bool = False,
    ) -> Context:
        """The manifests, the models and the live state; with `read_credential_files`, what the
        credential files hold is read meanwhile (for `plan_credentials`)."""
        manifests, specs = self.load(paths, allow_empty=allow_empty)
        if check_env:
            # Plan refuses what apply would refuse (the GenStudio key too): a plan that passes is
            # one apply can carry out, as with Terraform.
            problems = check_secret_env(specs, self.env, api_keys=api_keys)
            if problems:
                raise ManifestError(problems)
        namespaces = sorted({s.namespace for s in specs if s.namespace} | set(self.extra_namespaces))
        # The list reads and the model resolution need nothing of each other: both start now.
        from concurrent.futures import ThreadPoolExecutor

        from hfops.adapters.http import REQUESTS
        from hfops.workflows.outputs import read_held_files

        sent_before = REQUESTS.started
        # The requests this wave sends: none for what was read early (before `read_live` takes it).
        early_namespaces, early_models = (
            (self._early.namespaces, self._early.model_keys) if self._early else (frozenset(), frozenset())
        )
        new_requests = len(set(namespaces) - early_namespaces) + 2 * len({s.model_key for s in specs} - early_models)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="hfops-read") as pool:
            reading = pool.submit(self.read_live, namespaces)
            # Local files, read while the requests are out (a plan then waits on the network, not on
            # them), once they are out: started at once, the reads shared the GIL with their sending.
            self._held_files = None
            if read_credential_files:
                wave = sent_before + new_requests
                sinks = self.output_sinks(specs)

                def read_files() -> dict[str, Held]:
                    REQUESTS.wait_for(wave, timeout=0.05)  # fewer requests (a failure): read anyway
                    return read_held_files(sinks, specs)

                self._held_files = pool.submit(read_files)
            try:
                # While the answers are out, what needs none of them: the secrets' derived keys, and
                # the desired state of each endpoint that pins no revision, with its fields.
                values = {spec.address: secret_values(spec, self.env) for spec in specs}
                self.derive_secret_keys(specs, values)
                unpinned = {spec.address: self._desired(spec, None, values) for spec in specs if not spec.revision}
                for item in unpinned.values():
                    _ = item.owned_fields  # computed once, kept for the diff and the digests
                models = self.resolve_models(specs)
                self.check_model_limits(specs, models)
            except BaseException:
                reading.cancel()
                with contextlib.suppress(Exception):
                    reading.result()  # the model's error is the one to tell
                self._held_files = None
                raise
            live = reading.result()
        desired = tuple(
            unpinned.get(spec.address) or self._desired(spec, models[spec.model_key].sha, values)
            for spec in specs
            if spec.model_key in models  # the others are refused at the end of plan
        )
        return Context(manifests=manifests, specs=specs, models=models, live=live, desired=desired)

    def _desired(
        self, spec: EndpointSpec, revision_sha: str | None, values: Mapping[str, Mapping[str, str]]
    ) -> Desired:
        """`spec` with the commit its revision resolved to (None: it pins none) and its secrets."""
        namespace = spec.namespace or ""
        return Desired(
            spec=spec,
            revision_sha=revision_sha,
            secrets_fingerprint=secrets_fingerprint(namespace, spec.name, values[spec.address]),
            owner=self.settings.owner,
            legacy_secrets_fingerprint=legacy_secrets_fingerprint(namespace, spec.name, values[spec.address]),
        )

    def derive_secret_keys(self, specs: Sequence[EndpointSpec], values: Mapping[str, Mapping[str, str]]) -> None:
        """The memory-hard step of every secrets fingerprint, once per distinct value and namespace,
        on every core (hashlib.scrypt releases the GIL); fingerprints are then cheap cache hits.

        Only endpoints that declare secrets pay anything. At most two derivations run at once
        (128 MiB each) or one per core, whichever is fewer.
        """
        from concurrent.futures import ThreadPoolExecutor

        wanted = sorted({(s.namespace or "", v) for s in specs for v in values[s.address].values()})
        if not wanted:
            return
        workers = max(1, min(len(wanted), os.cpu_count() or 1, 2))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfops-kdf") as pool:
            list(pool.map(lambda item: derived_secret_key(*item), wanted))

    def plan(
        self,
        paths: Sequence[str],
        *,
        adopt: Sequence[str] = (),
        prune: bool = False,
        allow_empty_prune: bool = False,
        for_apply: bool = False,
        credentials: bool = True,
        replace_addresses: Sequence[str] = (),
    ) -> tuple[Context, Plan]:
        if prune and allow_empty_prune and self.settings.namespace:
            self.extra_namespaces = (self.settings.namespace,)
        # `for_apply` no longer changes the checks: plan and apply refuse the same things.
        # Model and limit problems wait for the hardware checks: all of them in one run.
        self._deferred = []
        try:
            # A plan builds a fleet's worth of objects that all live to its end: the collector would
            # walk them again and again for nothing (0.15 s of a 2 s plan of 5,000). It runs after.
            with paused_gc():
                return self._plan(paths, adopt, prune, allow_empty_prune, credentials, replace_addresses)
        finally:
            self._deferred = None

    def _plan(
        self,
        paths: Sequence[str],
        adopt: Sequence[str],
        prune: bool,
        allow_empty_prune: bool,
        credentials: bool,
        replace_addresses: Sequence[str],
    ) -> tuple[Context, Plan]:
        context = self.context(paths, allow_empty=prune, read_credential_files=credentials)
        if prune and not context.specs and not allow_empty_prune:
            raise UsageError(
                "refusing to prune: the manifests name no endpoints, so every endpoint hfops manages "
                "in the namespace would be deleted (a broken checkout must not delete a fleet)",
                hint="if that is really meant, pass --allow-empty-prune with --namespace NS",
            )
        if prune and not context.specs and not self.settings.namespace:
            raise UsageError("--allow-empty-prune needs --namespace (or HFOPS_NAMESPACE) to know what to prune")
        declared = {s.address for s in context.specs}
        unknown = [a for a in adopt if a not in declared]
        if unknown:
            raise UsageError(f"--adopt names endpoints no manifest declares: {', '.join(unknown)}")
        undeclared = [a for a in replace_addresses if a not in declared]
        if undeclared:
            raise UsageError(f"--replace names endpoints no manifest declares: {', '.join(undeclared)}")
        missing = [a for a in replace_addresses if a not in context.live]
        if missing:
            raise UsageError(f"--replace names endpoints that do not exist yet: {', '.join(missing)}")
        namespaces = sorted({s.namespace for s in context.specs if s.namespace} | set(self.extra_namespaces))
        named = declared
        # Only this owner's endpoints: another manifest set sharing the namespace keeps its own.
        doomed = [
            e
            for e in context.live.values()
            if prune and e.owned_by(self.settings.owner) and e.address not in named and e.namespace in namespaces
        ]
        plan = build_plan(
            context.desired,
            context.live,
            adopt=frozenset(adopt),
            prune=sorted(doomed, key=lambda e: e.address),
            namespaces=namespaces,
            owner=self.settings.owner,
            replace=frozenset(replace_addresses),
        )
        costs = self.check_hardware(context, plan)
        plan = replace(plan, costs=tuple(costs))
        if credentials:
            actions, conflicts = self.plan_credentials(context, plan, prune=prune)
            plan = replace(plan, credentials=actions, credential_conflicts=conflicts)
        return context, plan

    def output_sinks(self, specs: Sequence[EndpointSpec]) -> OutputSinks:
        from hfops.workflows.outputs import OutputSinks, secret_env_names

        if self._sinks is None:
            self._sinks = OutputSinks(self.settings, self.env, secret_env_names(specs))
        return self._sinks

    def known_api_key(self, spec: EndpointSpec) -> str | None:
        """The GenStudio key if it can be had without a warning or an error (for planning)."""
        ref = spec.genstudio.api_key
        if ref is None:
            return self.settings.token
        return read_env_secret(ref.env_var, self.env)

    def plan_credentials(
        self, context: Context, plan: Plan, *, prune: bool
    ) -> tuple[tuple[CredentialAction, ...], tuple[str, ...]]:
        from hfops.workflows.outputs import plan_outputs

        held_files, self._held_files = self._held_files, None
        return plan_outputs(
            plan,
            context.specs,
            context.live,
            context.models,
            self.output_sinks(context.specs),
            api_key_for=self.known_api_key,
            prune=prune,
            owner=self.settings.owner,
            held_files=held_files.result() if held_files is not None else None,
        )

    def check_hardware(self, context: Context, plan: Plan) -> list[EndpointCost]:
        """Hardware checks and costs for the endpoints this plan creates or changes.

        One catalogue read per namespace that has such an endpoint, none for a plan without
        changes (a scheduled no-op plan over a fleet stays at one list call per namespace).
        Unknown, unavailable and over-quota hardware is refused with located errors.
        """
        from hfops.core.hardware import check_hardware
        from hfops.core.plan import Create, Pause, Replace, Resume, Update

        touched = {a.address for a in plan.actions if isinstance(a, (Create, Replace, Update, Resume, Pause))}
        wanted = [d for d in context.desired if d.spec.address in touched]
        namespaces = sorted({d.spec.namespace for d in wanted if d.spec.namespace})
        catalogues = self._catalogues(namespaces)
        costs, problems = check_hardware(wanted, context.live, catalogues)
        problems = [*(self._deferred or ()), *problems]
        if problems:
            raise ManifestError(sorted(problems, key=lambda d: (d.location.file, d.location.line)))
        return costs

    def _catalogues(self, namespaces: Sequence[str]) -> dict[str, list[Hardware]]:
        """Each namespace's hardware catalogue, read concurrently (a plan over five namespaces
        waited five round trips one after another); the first error in namespace order."""
        if len(namespaces) <= 1:
            return {ns: self.endpoints.hardware(ns) for ns in namespaces}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(namespaces), self.settings.parallelism)) as pool:
            reads = {ns: pool.submit(self.endpoints.hardware, ns) for ns in namespaces}
            try:
                return {ns: reads[ns].result() for ns in namespaces}
            finally:
                for future in reads.values():
                    future.cancel()

    def check_model_limits(
        self, specs: Sequence[EndpointSpec], models: Mapping[tuple[str, str], ResolvedModel]
    ) -> None:
        """Token limits the model cannot serve are refused at plan time, not at deploy time."""
        from hfops.core.tgi_launcher import spec_refusal

        problems: list[Diagnostic] = []
        for spec in specs:
            model = models.get(spec.model_key)
            if model is None:
                continue
            if model.context_length is None:
                # TGI's launcher rules with its defaults (image limits and env together).
                refusal = spec_refusal(spec, model_known=True, model_context=None)
                problems.extend([refusal] if refusal is not None else [])
                continue
            limit = model.context_length
            before = len(problems)
            if spec.image.max_total_tokens is not None and spec.image.max_total_tokens > limit:
                problems.append(
                    Diagnostic(
                        spec.location_of("spec.image.maxTotalTokens"),
                        f"maxTotalTokens {spec.image.max_total_tokens} is larger than the context length of "
                        f"{spec.repository} ({limit}); TGI would refuse to start",
                    )
                )
            window = spec.genstudio.context_window
            if window is not None and window > limit:
                problems.append(
                    Diagnostic(
                        spec.location_of("spec.genstudio.contextWindow"),
                        f"contextWindow {window} is larger than the context length of {spec.repository} ({limit})",
                    )
                )
            if len(problems) == before:
                # TGI's launcher rules with the model's context (image limits and env together).
                refusal = spec_refusal(spec, model_known=True, model_context=limit)
                problems.extend([refusal] if refusal is not None else [])
        if problems:
            self.refuse(problems)

    # -- credentials -------------------------------------------------------------------------

    def api_key_for(self, spec: EndpointSpec) -> str:
        ref = spec.genstudio.api_key
        if ref is not None:
            value = read_env_secret(ref.env_var, self.env)
            if value is None:
                raise HfopsError(f"{spec.address}: environment variable {ref.env_var} is not set")
            return value
        with self._whoami_lock:
            # Once per run: credentials are written concurrently, so one line per endpoint was
            # hundreds of lines in no fixed order for a fleet that never sets an apiKey.
            first = not self._warned_token_key
            self._warned_token_key = True
        if first:
            self.warn(
                f"{spec.address}: no genstudio.apiKey; the credential uses HF_TOKEN (a dedicated token "
                "that can only call endpoints is safer); so do the credentials of any other endpoint without one"
            )
        assert self.settings.token is not None
        return self.settings.token
