"""deploy/doctor-node/job.yaml is a valid Job that runs `clusterdns doctor node` privileged."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

JOB = Path(__file__).resolve().parents[3] / "deploy" / "doctor-node" / "job.yaml"


def test_job_validates_and_runs_doctor_node() -> None:
    doc = yaml.safe_load(JOB.read_text())
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    spec = doc["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"][:3] == ["clusterdns", "doctor", "node"]
    assert container["securityContext"]["privileged"] is True
    assert spec["hostNetwork"] is True
