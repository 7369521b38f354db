"""A ``Report`` drawn with rich: the live view of ``clusterdns top``."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from clusterdns.top.report import Ranked, Report

ROWS = 10


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _counts(title: str, report: Report, table: dict[str, int]) -> Table:
    out = Table(title=title, title_justify="left", expand=True)
    out.add_column(title.split(" ")[-1])
    out.add_column("qps", justify="right")
    out.add_column("count", justify="right")
    out.add_column("share", justify="right")
    total = sum(table.values())
    for key, count in sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))[:ROWS]:
        out.add_row(key, f"{report.rate(count):.1f}", str(count), f"{count / total:.1%}")
    return out


def _ranked(title: str, report: Report, rows: tuple[Ranked, ...] | None) -> Table:
    out = Table(title=title, title_justify="left", expand=True)
    out.add_column("name" if "client" not in title else "client")
    out.add_column("qps", justify="right")
    if rows is None:
        out.add_row(Text("needs --dnstap SOCKET", style="dim"), "")
        return out
    for row in rows[:ROWS]:
        out.add_row(row.key, f"{report.rate(row.count):.1f}")
    return out


def _summary(report: Report) -> Text:
    latency = "  ".join(f"p{int(q * 100)} {_ms(s)}" for q, s in sorted(report.latency.items()))
    line = (
        f"{report.target} ({report.source}, {report.seconds:.1f} s)   "
        f"{report.rate(report.queries):.1f} qps   {latency or 'no answers'}"
    )
    if report.cache_hits is not None and report.cache_misses is not None:
        lookups = report.cache_hits + report.cache_misses
        if lookups:
            line += f"   cache hits {report.cache_hits / lookups:.0%}"
    return Text(line, style="bold")


def _walks(report: Report) -> RenderableType:
    if report.walk_wasted is None:
        return Text("search-walk waste: the server has no searchwalk plugin", style="dim")
    share = report.walk_wasted / report.queries if report.queries else 0.0
    out = Table(
        title=f"search-walk waste: {report.rate(report.walk_wasted):.1f} qps ({share:.0%} of queries)",
        title_justify="left",
        expand=True,
    )
    out.add_column("namespace")
    out.add_column("name")
    out.add_column("wasted", justify="right")
    for namespace, name, wasted in report.top_wasted[:ROWS]:
        out.add_row(namespace, name, str(wasted))
    return out


def render(report: Report) -> RenderableType:
    counts = Table.grid(expand=True)
    counts.add_row(
        _counts("by rcode", report, report.rcodes), _counts("by type", report, report.types)
    )
    tops = Table.grid(expand=True)
    tops.add_row(
        _ranked("top names", report, report.top_names),
        _ranked("top clients", report, report.top_clients),
        _ranked("top NXDOMAIN names", report, report.top_nxdomain),
    )
    return Group(_summary(report), counts, tops, _walks(report))
