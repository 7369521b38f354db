"""What a doctor check returns: one Finding, with its severity, the evidence and the fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    OK = 0
    INFO = 1
    WARN = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict.  ``check`` is a stable id (``search-amplification``...)."""

    check: str
    severity: Severity
    title: str
    evidence: str = ""
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "check": self.check,
            "severity": self.severity.label,
            "title": self.title,
            "evidence": self.evidence,
            "fix": self.fix,
        }


def worst(findings: tuple[Finding, ...] | list[Finding]) -> Severity:
    return max((f.severity for f in findings), default=Severity.OK)
