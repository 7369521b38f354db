"""Per-CPU conntrack statistics: parsed from /proc/net/stat/nf_conntrack or ``conntrack -S``.

The counters live per network namespace (``net->ct.stat``, per CPU).  The columns of the
/proc file change with the kernel: ``clashres`` (kernel 5.x+, counted by
``nf_ct_resolve_clash`` in net/netfilter/nf_conntrack_core.c) and ``chaintoolong`` (5.15+)
were added, ``insert``, ``delete`` and ``new`` stopped counting; so every column the
kernel shows is kept, and a missing one stays missing (None), never a zero.

No I/O: text in, values out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: ``conntrack -S`` names -> the /proc header's names (conntrack-tools prints its own).
_CONNTRACK_S_NAMES = {"clash_resolve": "clashres", "chaintoolong": "chaintoolong"}

#: The counters that tell the DNS race story, in report order.
RACE_COUNTERS = ("insert_failed", "drop", "clashres", "early_drop", "invalid", "search_restart")


@dataclass(frozen=True, slots=True)
class CpuStat:
    cpu: int
    values: tuple[tuple[str, int], ...]

    def get(self, name: str) -> int | None:
        return dict(self.values).get(name)


@dataclass(frozen=True, slots=True)
class ConntrackStat:
    """One sample of every CPU's counters (``entries`` is global, repeated per row)."""

    cpus: tuple[CpuStat, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.cpus[0].values) if self.cpus else ()

    def total(self, name: str) -> int | None:
        if name not in self.columns:
            return None
        return sum(cpu.get(name) or 0 for cpu in self.cpus)

    def totals(self) -> dict[str, int]:
        return {name: self.total(name) or 0 for name in self.columns}


def parse_proc_stat(text: str) -> ConntrackStat:
    """/proc/net/stat/nf_conntrack: a header line, then one row of hex numbers per CPU."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if not rows:
        return ConntrackStat(())
    header = rows[0]
    cpus = []
    for index, row in enumerate(rows[1:]):
        values = tuple((name, int(value, 16)) for name, value in zip(header, row, strict=False))
        cpus.append(CpuStat(index, values))
    return ConntrackStat(tuple(cpus))


def parse_conntrack_s(text: str) -> ConntrackStat:
    """``conntrack -S``: ``cpu=0 found=0 invalid=0 ... clash_resolve=3 chaintoolong=0``."""
    cpus = []
    for line in text.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "cpu" not in fields:
            continue
        values = tuple(
            (_CONNTRACK_S_NAMES.get(name, name), int(value))
            for name, value in fields.items()
            if name != "cpu" and value.isdigit()
        )
        cpus.append(CpuStat(int(fields["cpu"]), values))
    return ConntrackStat(tuple(cpus))


@dataclass(frozen=True, slots=True)
class CounterDelta:
    name: str
    before: int
    after: int
    per_cpu: tuple[int, ...]  # after - before, per CPU

    @property
    def delta(self) -> int:
        return self.after - self.before

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
            "perCpu": list(self.per_cpu),
        }


def diff(
    before: ConntrackStat, after: ConntrackStat, names: Iterable[str] = ()
) -> tuple[CounterDelta, ...]:
    """Every counter both samples have (``entries`` is a gauge: left out), ``names`` first."""
    wanted = [n for n in names if n in after.columns] + [
        n for n in after.columns if n not in names and n != "entries"
    ]
    out = []
    for name in wanted:
        if name not in before.columns:
            continue
        per_cpu = tuple(
            (a.get(name) or 0) - (b.get(name) or 0)
            for b, a in zip(before.cpus, after.cpus, strict=False)
        )
        out.append(CounterDelta(name, before.total(name) or 0, after.total(name) or 0, per_cpu))
    return tuple(out)


def deltas_by_name(deltas: Iterable[CounterDelta]) -> Mapping[str, int]:
    return {d.name: d.delta for d in deltas}
