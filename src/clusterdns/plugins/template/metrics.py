"""template's metrics in CoreDNS's names and labels (plugin/template/metrics.go).

Counted where the template runs, in plain dicts, and turned into Prometheus
families at scrape time.  A reply the server answers again from its memo
(without running the chain) is counted in ``coredns_dns_responses_total
{plugin="template"}`` but not again here: ``matches_total`` counts the times a
template was evaluated, which for a memoized answer is once per memo fill.
Counts live for the process, as CoreDNS's counters do, so a reload continues them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, Metric

MATCHES: dict[tuple[str, str, str, str, str], float] = {}  # server, zone, view, class, type
# server, zone, view, class, type, section, template
TEMPLATE_FAILURES: dict[tuple[str, str, str, str, str, str, str], float] = {}
RR_FAILURES: dict[tuple[str, str, str, str, str, str, str], float] = {}

_BASE = ["server", "zone", "view", "class", "type"]


def count(table: dict, key: tuple) -> None:  # type: ignore[type-arg]
    table[key] = table.get(key, 0) + 1


class Collector:
    def collect(self) -> Iterator[Metric]:
        families = (
            ("coredns_template_matches", "Counter of template regex matches.", MATCHES, _BASE),
            (
                "coredns_template_template_failures",
                "Counter of go template failures.",
                TEMPLATE_FAILURES,
                [*_BASE, "section", "template"],
            ),
            (
                "coredns_template_rr_failures",
                "Counter of mis-templated RRs.",
                RR_FAILURES,
                [*_BASE, "section", "template"],
            ),
        )
        for name, documentation, table, labels in families:
            family = CounterMetricFamily(name, documentation, labels=labels)
            for key, value in list(table.items()):
                family.add_metric(list(key), value)
            yield family


REGISTRY.register(Collector())
