"""The lab's report: per setting the lookups, stalls, histogram and conntrack deltas; and
what this kernel does about the race, read from those counters.  No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clusterdns.kernellab.conntrack import CounterDelta, deltas_by_name
from clusterdns.kernellab.lookups import LookupResult

#: Histogram bounds in ms below the timeout; the last bucket is ">= timeout" (a stall).
BOUNDS_MS = (0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str
    count: int
    stall: bool  # the bucket is at or over the timeout


def histogram(elapsed: Sequence[float], timeout: float) -> tuple[Bucket, ...]:
    """Lookup times into buckets; every lookup that waited a whole timeout is in the last."""
    limit_ms = timeout * 1000
    bounds = [b for b in BOUNDS_MS if b < limit_ms]
    counts = [0] * (len(bounds) + 2)
    for seconds in elapsed:
        ms = seconds * 1000
        if ms >= limit_ms:
            counts[-1] += 1
            continue
        index = next((i for i, bound in enumerate(bounds) if ms < bound), len(bounds))
        counts[index] += 1
    labels = [f"<{b:g}ms" for b in bounds] + [f"<{limit_ms:g}ms", f">={limit_ms:g}ms"]
    return tuple(
        Bucket(label, count, i == len(labels) - 1)
        for i, (label, count) in enumerate(zip(labels, counts, strict=True))
    )


@dataclass(frozen=True, slots=True)
class SettingResult:
    proxy: str
    resolver: str
    lookups: int
    answered: int
    stalls: int  # lookups that waited at least one whole timeout
    resends: int
    histogram: tuple[Bucket, ...]
    counters: tuple[CounterDelta, ...]
    rules: str  # what the read-back of the installed rules showed
    max_ms: float

    def delta(self, name: str) -> int | None:
        return deltas_by_name(self.counters).get(name)

    def to_json(self) -> dict[str, object]:
        return {
            "proxy": self.proxy,
            "resolver": self.resolver,
            "lookups": self.lookups,
            "answered": self.answered,
            "stalls": self.stalls,
            "resends": self.resends,
            "maxMs": round(self.max_ms, 3),
            "histogram": {b.label: b.count for b in self.histogram},
            "conntrack": [c.to_json() for c in self.counters],
            "rules": self.rules,
        }


def summarize(
    proxy: str,
    resolver: str,
    results: Sequence[LookupResult],
    timeout: float,
    counters: tuple[CounterDelta, ...],
    rules: str,
) -> SettingResult:
    elapsed = [r.elapsed for r in results]
    return SettingResult(
        proxy=proxy,
        resolver=resolver,
        lookups=len(results),
        answered=sum(r.answered for r in results),
        stalls=sum(1 for seconds in elapsed if seconds >= timeout),
        resends=sum(r.resends for r in results),
        histogram=histogram(elapsed, timeout),
        counters=counters,
        rules=rules,
        max_ms=max(elapsed, default=0.0) * 1000,
    )


@dataclass(frozen=True, slots=True)
class Missing:
    setting: str
    reason: str


@dataclass(frozen=True, slots=True)
class LabReport:
    kernel: str
    cpus: int
    rounds: int
    timeout: float
    counter_source: str
    settings: tuple[SettingResult, ...]
    missing: tuple[Missing, ...]
    verdict: str

    def to_json(self) -> dict[str, object]:
        return {
            "kernel": self.kernel,
            "cpus": self.cpus,
            "rounds": self.rounds,
            "timeout": self.timeout,
            "counterSource": self.counter_source,
            "verdict": self.verdict,
            "settings": [s.to_json() for s in self.settings],
            "missing": [{"setting": m.setting, "reason": m.reason} for m in self.missing],
        }


def _sum(settings: Sequence[SettingResult], name: str) -> int | None:
    values = [s.delta(name) for s in settings]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def kernel_verdict(kernel: str, cpus: int, settings: Sequence[SettingResult]) -> str:
    """What this kernel did about the race, from the counters measured (not from a table)."""
    racy = [s for s in settings if s.resolver in ("parallel", "musl", "single-request-reopen")]
    lookups = sum(s.lookups for s in racy)
    stalls = sum(s.stalls for s in racy)
    clashes = _sum(racy, "clashres")
    failed = _sum(racy, "insert_failed") or 0
    drops = _sum(racy, "drop") or 0
    head = f"kernel {kernel}, {cpus} CPUs, {lookups} lookups with A and AAAA on one socket: "
    if clashes is None:
        clash_text = "this kernel has no clashres counter (before clash resolution was counted)"
    else:
        clash_text = f"clash_resolve rose by {clashes}"
    if failed and stalls:
        return head + (
            f"insert_failed rose by {failed} (drop {drops}) and {stalls} lookups stalled a whole "
            f"timeout; {clash_text}: this kernel drops the losing packet of a conntrack clash"
        )
    if clashes and not failed and not stalls:
        return head + (
            f"{clash_text}, insert_failed did not move and no lookup stalled: this kernel "
            "resolves the clashes of parallel DNS queries (the losing packet is kept, "
            "NAT-ed to the winner's or its own endpoint)"
        )
    if stalls and not failed:
        return head + (
            f"{stalls} lookups stalled but insert_failed did not move ({clash_text}): the "
            "losses were not conntrack insert failures"
        )
    if failed and not stalls:
        return head + f"insert_failed rose by {failed} but no lookup stalled ({clash_text})"
    note = "" if cpus > 1 else " (one CPU: the two packets of a flow never meet in conntrack)"
    return head + f"no clash seen: {clash_text}, insert_failed 0, no stalls{note}"
