"""The pod-side doctor sends the reader to `doctor node` when its symptoms match the race."""

from __future__ import annotations

import pytest

from clusterdns.doctor.checks import point_to_doctor_node
from clusterdns.doctor.findings import Finding, Severity


@pytest.mark.parametrize(
    ("findings", "points"),
    [
        ([Finding("timeouts", Severity.ERROR, "conntrack insert race: ... stall 5 s")], True),
        ([Finding("conntrack-insert", Severity.WARN, "insert failures")], True),
        ([Finding("timeouts", Severity.OK, "no timeouts in the bench")], False),
        ([Finding("search-amplification", Severity.ERROR, "ndots:5")], False),
    ],
)
def test_points_to_doctor_node(findings: list[Finding], points: bool) -> None:
    pointer = point_to_doctor_node(findings)
    assert bool(pointer) is points
    if points:
        assert "clusterdns doctor node" in pointer[0].fix
