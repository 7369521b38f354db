"""What ``clusterdns top`` shows for one window: a frozen value, the same from either source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99)


@dataclass(frozen=True, slots=True)
class Ranked:
    """One row of a top list."""

    key: str
    count: int


@dataclass(frozen=True, slots=True)
class Report:
    source: str  # "metrics" or "dnstap"
    target: str  # the /metrics URL or the dnstap socket
    seconds: float  # the length of the window the counts are over
    rcodes: dict[str, int]
    types: dict[str, int]
    #: quantile -> seconds; empty when nothing was answered in the window
    latency: dict[float, float]
    cache_hits: int | None = None
    cache_misses: int | None = None
    walk_wasted: int | None = None  # queries that only existed because of the search list
    walk_by_namespace: dict[str, int] = field(default_factory=dict)
    top_wasted: tuple[tuple[str, str, int], ...] = ()  # (namespace, name, wasted)
    top_names: tuple[Ranked, ...] | None = None  # None: this source cannot tell
    top_clients: tuple[Ranked, ...] | None = None
    top_nxdomain: tuple[Ranked, ...] | None = None

    @property
    def queries(self) -> int:
        return sum(self.rcodes.values())

    def rate(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0

    @property
    def unavailable(self) -> list[str]:
        """What this source cannot show, and what would."""
        missing = []
        for name, value in (
            ("top_names", self.top_names),
            ("top_clients", self.top_clients),
            ("top_nxdomain", self.top_nxdomain),
        ):
            if value is None:
                missing.append(f"{name}: needs per-query data: run with --dnstap SOCKET")
        if self.walk_wasted is None:
            missing.append("search_walk: the server has no searchwalk plugin")
        return missing

    def to_json(self) -> dict[str, Any]:
        def counted(table: dict[str, int]) -> dict[str, dict[str, float]]:
            return {
                key: {"count": count, "qps": round(self.rate(count), 3)}
                for key, count in sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))
            }

        def ranked(rows: tuple[Ranked, ...] | None) -> list[dict[str, Any]] | None:
            return None if rows is None else [{"key": r.key, "count": r.count} for r in rows]

        walk: dict[str, Any] | None = None
        if self.walk_wasted is not None:
            walk = {
                "wasted": self.walk_wasted,
                "wasted_qps": round(self.rate(self.walk_wasted), 3),
                "share": round(self.walk_wasted / self.queries, 4) if self.queries else 0.0,
                "by_namespace": counted(self.walk_by_namespace),
                "top_names": [
                    {"namespace": ns, "name": name, "wasted": wasted}
                    for ns, name, wasted in self.top_wasted
                ],
            }
        cache: dict[str, Any] | None = None
        if self.cache_hits is not None and self.cache_misses is not None:
            lookups = self.cache_hits + self.cache_misses
            cache = {
                "hits": self.cache_hits,
                "misses": self.cache_misses,
                "hit_ratio": round(self.cache_hits / lookups, 4) if lookups else None,
            }
        return {
            "source": self.source,
            "target": self.target,
            "seconds": round(self.seconds, 3),
            "queries": self.queries,
            "qps": round(self.rate(self.queries), 3),
            "rcodes": counted(self.rcodes),
            "types": counted(self.types),
            "latency": {f"p{int(q * 100)}": round(s, 6) for q, s in sorted(self.latency.items())},
            "cache": cache,
            "search_walk": walk,
            "top_names": ranked(self.top_names),
            "top_clients": ranked(self.top_clients),
            "top_nxdomain": ranked(self.top_nxdomain),
            "unavailable": self.unavailable,
        }


def quantile_from_buckets(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile over cumulative ``(upper bound, count)`` buckets.

    Linear interpolation inside the bucket the rank falls in, the lowest bucket starting at 0,
    and the highest finite bound when the rank falls in +Inf (promql/quantile.go).
    """
    buckets = sorted(buckets)
    if not buckets or buckets[-1][0] != float("inf"):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower
