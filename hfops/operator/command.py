"""`hfops operator`: parse flags, build the settings and kopf's registry, run kopf. Thin."""

from __future__ import annotations

import click


def _float(value: float, name: str) -> float:
    if not value > 0 or value != value or value == float("inf"):
        raise click.BadParameter(f"must be a positive, finite number of seconds, not {value}", param_hint=name)
    return value


@click.command("operator", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--interval",
    type=float,
    default=60.0,
    show_default=True,
    envvar="HFOPS_OPERATOR_INTERVAL",
    help="Drift timer, seconds: every interval each Inference Endpoints namespace is listed once "
    "(one call for all its resources) and every resource re-planned against it; drift is corrected. "
    "Env HFOPS_OPERATOR_INTERVAL.",
)
@click.option(
    "--retry-delay",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds before a resource that is not ready yet (provisioning, API faults, rate limits) is "
    "reconciled again; doubles on each retry up to 8x.",
)
@click.option(
    "--hf-namespace",
    envvar="HFOPS_NAMESPACE",
    default=None,
    help="Inference Endpoints namespace (user or organisation) for resources without spec.hfNamespace. "
    "Env HFOPS_NAMESPACE.",
)
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Kubernetes namespace to watch (repeatable). Default: all namespaces (cluster-wide).",
)
@click.option(
    "--owner",
    envvar="HFOPS_OWNER",
    default="kubernetes",
    show_default=True,
    help="Owner identity recorded on the endpoints this operator creates (contract §4); an endpoint of "
    "another owner, or not created by hfops, is never adopted. Env HFOPS_OWNER.",
)
@click.option(
    "--peering",
    default=None,
    help="kopf peering object name: replicas sharing it run with one active (the highest priority), "
    "the others on standby. Needs the KopfPeering/ClusterKopfPeering CRDs (deploy/peering.yaml). "
    "Default: standalone.",
)
@click.option(
    "--priority",
    type=int,
    default=0,
    show_default=True,
    help="This replica's peering priority (the highest active one wins; equal: first come).",
)
@click.option(
    "--liveness", default=None, metavar="URL", help="Serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz."
)
@click.option(
    "--timeout",
    type=float,
    default=1800.0,
    show_default=True,
    help="HTTP-level wait limit handed to the workflows (the operator itself never blocks on provisioning).",
)
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
def operator(
    interval: float,
    retry_delay: float,
    hf_namespace: str | None,
    namespaces: tuple[str, ...],
    owner: str,
    peering: str | None,
    priority: int,
    liveness: str | None,
    timeout: float,
    verbose: bool,
) -> None:
    """Run the Kubernetes operator for hfops.dev/v1 Endpoint resources (contract §6).

    Each resource's spec is a manifest's spec plus hfNamespace and deletionPolicy (Delete | Orphan);
    its name is the endpoint's name. Reconciled on create, update, resume and every --interval;
    the credential goes to a Secret (default: named after the resource, key credential.json).
    The deploy token comes from HF_TOKEN; HF_ENDPOINT and HFOPS_API_URL as for the CLI. The cluster
    is found as kubectl finds it (KUBECONFIG, ~/.kube/config) or in-cluster.
    """
    import logging

    import kopf

    from hfops.adapters.settings import settings_from_env
    from hfops.core.errors import HfopsError
    from hfops.operator.handlers import OperatorConfig, build_registry, operator_settings

    _float(interval, "--interval")
    _float(retry_delay, "--retry-delay")
    try:
        settings = settings_from_env(namespace=hf_namespace, owner=owner, timeout=timeout)
        if not settings.token:
            raise HfopsError("no Hugging Face token: set HF_TOKEN (the Deployment fills it from a Secret)")
    except HfopsError as error:
        raise click.ClickException(error.message) from error
    config = OperatorConfig(
        settings=settings,
        interval=interval,
        retry_delay=retry_delay,
        namespaces=tuple(namespaces),
        peering=peering,
        priority=priority,
    )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx2", "httpx", "huggingface_hub", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    kopf.run(
        registry=build_registry(config),
        settings=operator_settings(config),
        standalone=peering is None,
        peering_name=peering,
        priority=priority,
        namespaces=list(namespaces),
        clusterwide=not namespaces,
        liveness_endpoint=liveness,
    )
