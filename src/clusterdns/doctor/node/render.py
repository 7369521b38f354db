"""``doctor node``'s report as a rich table (the pod doctor's layout)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from clusterdns.doctor.node.diagnose import NodeReport

_STYLE = {0: "green", 1: "cyan", 2: "yellow", 3: "bold red"}


def render_node(report: NodeReport, console: Console) -> None:
    console.print(f";; node: kernel {report.kernel}", markup=False)
    table = Table(show_lines=True)
    for column in ("severity", "check", "finding", "evidence / fix"):
        table.add_column(column, overflow="fold")
    for f in sorted(report.findings, key=lambda f: -f.severity):
        detail = f.evidence + (f"\nfix: {f.fix}" if f.fix else "")
        style = _STYLE[int(f.severity)]
        table.add_row(f"[{style}]{f.severity.label}[/{style}]", f.check, f.title, detail)
    console.print(table)
    console.print(f";; worst: {report.worst.label}", markup=False)
