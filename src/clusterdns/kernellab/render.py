"""The lab report as rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from clusterdns.kernellab.report import LabReport


def render_lab(report: LabReport, console: Console) -> None:
    console.print(
        f";; kernel {report.kernel}, {report.cpus} CPUs, {report.rounds} rounds per setting, "
        f"timeout {report.timeout:g} s, counters from {report.counter_source} (node namespace)",
        markup=False,
    )
    table = Table()
    for column in ("kube-proxy", "resolver", "lookups", "answered", "stalls", "max ms",
                   "insert_failed", "drop", "clashres", "histogram (ms)"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for s in report.settings:
        hist = " ".join(f"{b.label}:{b.count}" for b in s.histogram if b.count)
        deltas = {name: s.delta(name) for name in ("insert_failed", "drop", "clashres")}
        shown = {name: "-" if v is None else f"+{v}" for name, v in deltas.items()}

        table.add_row(
            s.proxy, s.resolver, str(s.lookups), str(s.answered),
            f"[bold red]{s.stalls}[/]" if s.stalls else "0", f"{s.max_ms:.1f}",
            shown["insert_failed"], shown["drop"], shown["clashres"], hist,
        )  # fmt: skip
    console.print(table)
    for proxy in dict.fromkeys(s.proxy for s in report.settings):
        rules = next(s.rules for s in report.settings if s.proxy == proxy)
        console.print(f";; {proxy} rules read back: {rules}", markup=False)
    for missing in report.missing:
        console.print(f";; {missing.setting}: not run: {missing.reason}", markup=False)
    console.print(f";; {report.verdict}", markup=False)
