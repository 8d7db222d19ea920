"""The Kubernetes operator (contract §6): custom resources `hfops.dev/v1` Endpoint reconciled by kopf.

One reconciler: a resource is turned into the same manifest document a YAML file holds
(`resource`), validated and converted by the core (`spec_builder`), and planned and applied by
`hfops.workflows` (`engine`). `handlers` wires kopf; `crd` generates the CRD from the JSON Schema;
`listing` shares one list call per Inference Endpoints namespace per drift interval.
"""
