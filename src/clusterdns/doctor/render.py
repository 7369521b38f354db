"""The doctor's report as JSON and as a rich table."""

from __future__ import annotations

from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from clusterdns.doctor.diagnose import Report
from clusterdns.doctor.findings import Severity

_STYLE = {
    Severity.OK: "green",
    Severity.INFO: "cyan",
    Severity.WARN: "yellow",
    Severity.ERROR: "bold red",
}


def to_json(report: Report) -> dict[str, object]:
    return {
        "resolvConf": report.resolv_conf,
        "libc": report.libc,
        "domain": report.domain,
        "worst": report.worst.label,
        "findings": [f.to_json() for f in report.findings],
        "probes": [asdict(p) for p in report.probes],
        "bench": [asdict(r) for r in report.bench],
    }


def render(report: Report, console: Console) -> None:
    console.print(
        f";; {report.resolv_conf}: libc {report.libc}, cluster domain {report.domain}",
        markup=False,
    )
    table = Table(show_lines=True)
    table.add_column("severity")
    table.add_column("check")
    table.add_column("finding", overflow="fold")
    table.add_column("evidence / fix", overflow="fold")
    for f in sorted(report.findings, key=lambda f: -f.severity):
        detail = f.evidence
        if f.fix:
            detail += ("\n" if detail else "") + f"fix: {f.fix}"
        style = _STYLE[f.severity]
        table.add_row(f"[{style}]{f.severity.label}[/{style}]", f.check, f.title, detail)
    console.print(table)
    console.print(f";; worst: {report.worst.label}", markup=False)
