"""``doctor --metrics URL``: which namespaces and names waste queries on the search list.

Reads a clusterdns ``/metrics`` scrape (the *searchwalk* plugin's
``clusterdns_search_expansion_{queries,wasted}_total{namespace}`` and
``clusterdns_search_expansion_top_wasted{namespace,name}``) and says, per
namespace, how many queries only existed because of the search list, and
what removes them: ``ndots`` in the pods' dnsConfig, trailing dots on the
names the application uses, or ``autopath @kubernetes`` on the server.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from clusterdns.doctor.findings import Finding, Severity
from clusterdns.errors import ClusterDNSError
from clusterdns.resolver.explain import ndots_snippet

CHECK = "search-waste"
TOP = 5
WARN_SHARE = 0.5  # wasted / walk queries at or above this is a warning


def fetch(url: str, timeout: float = 5.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read()
    except OSError as exc:
        raise ClusterDNSError(f"cannot read metrics from {url}: {exc}") from None
    return body.decode("utf-8", "replace")


def read(text: str) -> tuple[dict[str, float], dict[str, float], list[tuple[str, str, float]]]:
    """(walk queries by namespace, wasted by namespace, [(namespace, name, wasted)] largest first)."""
    queries: dict[str, float] = {}
    wasted: dict[str, float] = {}
    top: list[tuple[str, str, float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            ns = sample.labels.get("namespace", "")
            if sample.name == "clusterdns_search_expansion_queries_total":
                queries[ns] = queries.get(ns, 0.0) + sample.value
            elif sample.name == "clusterdns_search_expansion_wasted_total":
                wasted[ns] = wasted.get(ns, 0.0) + sample.value
            elif sample.name == "clusterdns_search_expansion_top_wasted":
                top.append((ns, sample.labels.get("name", ""), sample.value))
    top.sort(key=lambda row: -row[2])
    return queries, wasted, top


def check_search_waste(text: str, url: str = "") -> list[Finding]:
    queries, wasted, top = read(text)
    if not queries and not wasted:
        return [
            Finding(
                check=CHECK,
                severity=Severity.INFO,
                title="no search-walk counts in the metrics",
                evidence=f"{url or 'the scrape'} has no clusterdns_search_expansion_* samples",
                fix="add `searchwalk` to the server block (next to `kubernetes ... { pods verified }`)",
            )
        ]
    findings: list[Finding] = []
    ranked = sorted(wasted.items(), key=lambda kv: -kv[1])
    for namespace, lost in ranked[:TOP]:
        if lost <= 0:
            continue
        total = queries.get(namespace, 0.0)
        share = lost / total if total else 1.0
        names = [name for ns, name, _v in top if ns == namespace][:3]
        evidence = (
            f"{lost:.0f} of {total:.0f} queries of search walks were NXDOMAIN steps "
            f"({share:.0%})" + (f"; most: {', '.join(names)}" if names else "")
        )
        where = "its pods" if namespace != "unknown" else "the pods (namespace not known)"
        fix = (
            f"for {where}: lower ndots so external names are asked as they are:\n"
            + ndots_snippet(2)
            + (f"or write the names with a trailing dot ({names[0]}.); " if names else "")
            + "or enable `autopath @kubernetes` (with `pods verified`) so the server walks "
            "the search path in one round trip"
        )
        findings.append(
            Finding(
                check=CHECK,
                severity=Severity.WARN if share >= WARN_SHARE else Severity.INFO,
                title=f"namespace {namespace}: {lost:.0f} queries wasted by the search list",
                evidence=evidence,
                fix=fix,
            )
        )
    if top:
        findings.append(
            Finding(
                check=CHECK,
                severity=Severity.INFO,
                title="names that waste most on the search list",
                evidence="; ".join(f"{name} ({ns}): {value:.0f}" for ns, name, value in top[:TOP]),
                fix="ask these names fully qualified (trailing dot) or lower ndots for their pods",
            )
        )
    return findings or [
        Finding(
            CHECK,
            Severity.OK,
            "search walks waste no queries",
            f"{sum(queries.values()):.0f} walk queries",
        )
    ]
