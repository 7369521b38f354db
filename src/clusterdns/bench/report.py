"""Showing a load run: JSON, a dnsperf-like rich summary with a histogram, a PNG plot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from clusterdns.bench.engine import run_workers
from clusterdns.bench.plan import LoadPlan
from clusterdns.bench.stats import RELATIVE_ERROR, RunStats

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


def _ms(ns: float) -> float:
    return round(ns / 1e6, 6)


def to_json(stats: RunStats, *, server: str, concurrency: int, limit_ms: float) -> dict[str, Any]:
    """The --json document (shape pinned by tests/bench)."""
    hist = stats.latency
    latency = {"min": _ms(hist.minimum), "mean": _ms(hist.mean())}
    latency |= {name: _ms(hist.percentile(p)) for name, p in PERCENTILES}
    latency |= {"max": _ms(hist.maximum), "stddev": _ms(hist.stddev())}
    seconds = stats.interval_ns / 1e9
    return {
        "server": server,
        "mode": stats.mode,
        "workers": stats.workers,
        "concurrency": concurrency,
        "run_time_s": round(stats.elapsed_ns / 1e9, 6),
        "sent": stats.sent,
        "packets": stats.packets,
        "completed": stats.completed,
        "timeouts": stats.timeouts,
        "try_timeouts": stats.try_timeouts,
        "mismatched": stats.mismatched,
        "truncated": stats.truncated,
        "socket_errors": stats.socket_errors,
        "rcodes": stats.rcode_counts(),
        "qps": round(stats.qps(), 3),
        "latency_ms": latency,
        "percentile_relative_error": RELATIVE_ERROR,
        "limit_ms": limit_ms,
        "over_limit": stats.over_limit,
        "histogram": [
            {"from_ms": _ms(low), "to_ms": _ms(high), "count": n}
            for low, high, n in hist.power_of_two_rows()
        ],
        "timeline": [
            {
                "t_s": round(i * seconds, 3),
                "completed": part.completed,
                "timeouts": part.timeouts,
                "mean_ms": _ms(part.latency_sum / part.completed) if part.completed else None,
                "max_ms": _ms(part.latency_max) if part.completed else None,
            }
            for i, part in enumerate(stats.timeline)
        ],
    }


def _duration(ns: float) -> str:
    if ns >= 1e9:
        return f"{ns / 1e9:.3g}s"
    if ns >= 1e6:
        return f"{ns / 1e6:.3g}ms"
    return f"{ns / 1e3:.3g}µs"


def render(
    stats: RunStats, console: Console, *, server: str, concurrency: int, limit_ms: float
) -> None:
    """Print the summary in dnsperf's order, then percentiles and the latency histogram."""
    resolver = stats.mode.startswith("resolver")
    unit = "Lookups" if resolver else "Queries"
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    total = max(stats.sent, 1)
    summary.add_row(
        "Server", f"{server} ({stats.mode}, {stats.workers} worker(s), concurrency {concurrency})"
    )
    summary.add_row(f"{unit} sent", str(stats.sent))
    if resolver:
        summary.add_row("Packets sent", str(stats.packets))
    summary.add_row(
        f"{unit} completed", f"{stats.completed} ({100 * stats.completed / total:.2f}%)"
    )
    summary.add_row(f"{unit} lost", f"{stats.timeouts} ({100 * stats.timeouts / total:.2f}%)")
    if resolver:
        summary.add_row("Tries timed out", f"{stats.try_timeouts} (each one waited a full timeout)")
    for label, value in (
        ("Mismatched replies", stats.mismatched),
        ("Truncated (TC)", stats.truncated),
        ("Socket errors", stats.socket_errors),
    ):
        if value:
            summary.add_row(label, str(value))
    codes = ", ".join(
        f"{name} {n} ({100 * n / max(stats.completed, 1):.2f}%)"
        for name, n in stats.rcode_counts().items()
    )
    summary.add_row("Response codes", codes or "-")
    summary.add_row("Run time (s)", f"{stats.elapsed_ns / 1e9:.6f}")
    summary.add_row(f"{unit} per second", f"{stats.qps():.6f}")
    hist = stats.latency
    if hist.total:
        summary.add_row(
            "Average latency",
            f"{_duration(hist.mean())} (min {_duration(hist.minimum)}, max {_duration(hist.maximum)}, "
            f"stddev {_duration(hist.stddev())})",
        )
        summary.add_row(
            "Percentiles",
            "  ".join(f"{name} {_duration(hist.percentile(p))}" for name, p in PERCENTILES)
            + f"  (±{RELATIVE_ERROR:.2%})",
        )
    if limit_ms > 0:
        summary.add_row(f"Over {limit_ms:g} ms", f"{stats.over_limit}")
    console.print(Group(Text("Statistics:", style="bold"), summary))
    if hist.total:
        console.print(histogram_table(stats))


def histogram_table(stats: RunStats, width: int = 40) -> Table:
    rows = stats.latency.power_of_two_rows()
    peak = max(n for _, _, n in rows) or 1
    table = Table(title="Latency histogram", show_edge=False, box=None, padding=(0, 1))
    table.add_column("latency", justify="right")
    table.add_column("count", justify="right")
    table.add_column("", no_wrap=True)
    for low, high, n in rows:
        bar = "█" * round(width * n / peak) if n else ""
        table.add_row(f"{_duration(low)}–{_duration(high)}", str(n), Text(bar, style="cyan"))
    return table


def plot(stats: RunStats, path: str | Path, *, title: str) -> None:
    """Latency (mean and max per interval) and answers per second over time, and the histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = stats.interval_ns / 1e9
    points = [(i * seconds, p) for i, p in enumerate(stats.timeline)]
    answered = [(t, p) for t, p in points if p.completed]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8))
    fig.suptitle(title)
    if answered:
        top.plot(
            [t for t, _ in answered],
            [p.latency_sum / p.completed / 1e6 for _, p in answered],
            label="mean",
        )
        top.plot([t for t, _ in answered], [p.latency_max / 1e6 for _, p in answered], label="max")
        top.set_yscale("log")
    top.set_xlabel("time (s)")
    top.set_ylabel("latency (ms)")
    rate = top.twinx()
    rate.plot(
        [t for t, _ in points],
        [p.completed / seconds for _, p in points],
        color="grey",
        alpha=0.4,
        label="answers/s",
    )
    rate.set_ylabel("answers per second")
    top.legend(loc="upper left")
    rows = stats.latency.power_of_two_rows()
    bottom.bar(range(len(rows)), [n for _, _, n in rows], color="tab:cyan")
    bottom.set_xticks(range(len(rows)), [_duration(low) for low, _, _ in rows], rotation=45)
    bottom.set_xlabel("latency (from)")
    bottom.set_ylabel("count")
    bottom.set_yscale("log")
    fig.tight_layout()
    fig.savefig(str(path))
    plt.close(fig)


def run_with_progress(plan: LoadPlan, workers: int, console: Console) -> RunStats:
    """Run the plan with a live progress bar (by count with -n, else by time)."""
    by_count = plan.count > 0 and plan.duration <= 0
    total = float(plan.count if by_count else plan.duration)
    started = time.monotonic()
    progress = Progress(
        TextColumn("[bold]bench"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    )
    task = progress.add_task("bench", total=total, detail="")
    last_refresh = 0.0

    def update(sent: int, done: int) -> None:
        nonlocal last_refresh
        now = time.monotonic()
        elapsed = now - started
        rate = done / elapsed if elapsed > 0 else 0.0
        position = float(done if by_count else min(elapsed, total))
        progress.update(task, completed=position, detail=f"sent {sent}  done {done}  {rate:,.0f}/s")
        if now - last_refresh >= 0.1:
            progress.refresh()
            last_refresh = now

    with progress:
        return run_workers(plan, workers, update)
