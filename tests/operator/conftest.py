"""The operator tests' fixture `cluster` (see _harness.py). The folder has no __init__.py: a package
named `operator` would shadow the standard library's."""

from tests.operator._harness import cluster, extra_resources, hf_config

__all__ = ["cluster", "extra_resources", "hf_config"]
