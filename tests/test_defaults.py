"""`kind: Defaults`: shared settings for a fleet, merged per field, with errors located where written."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfops.core.errors import ManifestError
from hfops.core.manifest import load_manifests

DEFAULTS = """apiVersion: hfops/v1
kind: Defaults
metadata:
  name: fleet
  tags: [fleet]
spec:
  compute: {vendor: aws, region: us-east-1, accelerator: gpu, instanceType: nvidia-a10g, instanceSize: x1}
  scaling: {maxReplica: 2, scaleToZeroTimeout: 30}
  env: {LOG_LEVEL: info, SHARED: "1"}
---
apiVersion: hfops/v1
kind: Defaults
metadata:
  name: research
  namespace: research
spec:
  compute: {instanceType: nvidia-t4}
  env: {LOG_LEVEL: debug}
"""

ENDPOINTS = """apiVersion: hfops/v1
kind: Endpoint
metadata: {name: prod-chat, namespace: acme, tags: [team-a]}
spec:
  model: {repository: gpt2}
  env: {OWN: "x"}
---
apiVersion: hfops/v1
kind: Endpoint
metadata: {name: lab-chat, namespace: research}
spec:
  model: {repository: gpt2}
  scaling: {maxReplica: 1}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_merge_per_field_and_by_namespace(tmp_path: Path) -> None:
    write(tmp_path, "00-defaults.yaml", DEFAULTS)
    write(tmp_path, "endpoints.yaml", ENDPOINTS)
    specs = {s.name: s for s in load_manifests([str(tmp_path)]).specs}
    prod, lab = specs["prod-chat"], specs["lab-chat"]
    assert (prod.instance_type, prod.max_replica, prod.scale_to_zero_timeout) == ("nvidia-a10g", 2, 30)
    assert dict(prod.env) == {"LOG_LEVEL": "info", "SHARED": "1", "OWN": "x"}
    assert prod.tags == ("fleet", "team-a")
    # Namespace defaults override global ones; the endpoint overrides both, field by field.
    assert (lab.instance_type, lab.accelerator, lab.max_replica) == ("nvidia-t4", "gpu", 1)
    assert dict(lab.env) == {"LOG_LEVEL": "debug", "SHARED": "1"}
    assert lab.scale_to_zero_timeout == 30


def test_an_error_in_a_merged_value_points_at_the_defaults_file(tmp_path: Path) -> None:
    defaults = write(tmp_path, "00-defaults.yaml", DEFAULTS.replace("maxReplica: 2", "maxReplica: 0"))
    write(tmp_path, "endpoints.yaml", ENDPOINTS.split("---")[0])
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(tmp_path)])
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.location.file == str(defaults)
    assert diagnostic.location.line == 8
    assert diagnostic.location.field == "spec.scaling.maxReplica"


def test_defaults_are_checked_on_their_own(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yaml", DEFAULTS.replace("scaling:", "scalng:"))
    write(tmp_path, "e.yaml", ENDPOINTS)
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(tmp_path)])
    messages = [str(d) for d in caught.value.diagnostics]
    assert any(
        m.startswith(f"{path}:8: spec.scalng: unknown field 'scalng'") and "did you mean 'scaling'" in m
        for m in messages
    ), messages


def test_missing_required_field_is_reported_where_the_endpoint_is(tmp_path: Path) -> None:
    path = write(tmp_path, "e.yaml", ENDPOINTS.split("---")[0])
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.location.file == str(path)
    assert "missing required field 'compute'" in diagnostic.message
