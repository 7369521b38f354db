"""The Grafana dashboard: generated from code (grafana-foundation-sdk), parsed back, and every
query names only metric families clusterdns exports (or Prometheus and prometheus_client add)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.monitoring import MONITORING, ROOT, RULES, load_generator

DASHBOARD = MONITORING / "dashboard.json"
# families Prometheus (up) and prometheus_client's process collector add to every target
OUTSIDE = {"up", "process_resident_memory_bytes", "process_cpu_seconds_total"}
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")
FAMILY = re.compile(r"\b((?:coredns|clusterdns)_[a-z0-9_]+)")


def exported_families() -> set[str]:
    """Every family name written as a literal in src, with the suffixes a scrape shows."""
    stems: set[str] = set()
    for path in (ROOT / "src" / "clusterdns").rglob("*.py"):
        stems.update(re.findall(r"[\"']((?:coredns|clusterdns)_[a-z0-9_]+)[\"']", path.read_text()))
    return {stem + suffix for stem in stems for suffix in SUFFIXES} | OUTSIDE


def targets(board: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def metric_names(expr: str) -> set[str]:
    names = set(FAMILY.findall(expr))
    names.update(n for n in re.findall(r"\b([a-z_]+)\{", expr) if n in OUTSIDE)
    return names


@pytest.fixture(scope="module")
def board() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_dashboard_json_is_what_the_code_generates(tmp_path: Path) -> None:
    generated = load_generator().generate(tmp_path)[1]
    assert DASHBOARD.read_text() == generated.read_text(), (
        "dashboard.json is stale: run python deploy/monitoring/generate.py"
    )


def test_variables_are_datasource_job_and_instance(board: dict) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["type"] == variables["instance"]["type"] == "query"
    assert "$job" in variables["instance"]["query"]["query"]


def test_every_panel_queries_the_chosen_datasource_job_and_instance(board: dict) -> None:
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "$job" in target["expr"] or "$nodecache_job" in target["expr"], panel["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("where", ["dashboard", "rules"], ids=["dashboard", "rules"])
def test_queries_name_only_exported_families(board: dict, where: str) -> None:
    if where == "dashboard":
        exprs = [expr for _, expr in targets(board)]
    else:
        groups = yaml.safe_load(RULES.read_text())["groups"]
        exprs = [r["expr"] for g in groups for r in g["rules"]]
    used = set().union(*(metric_names(e) for e in exprs))
    assert used - exported_families() == set()


@pytest.mark.parametrize(
    "row, needles",
    [
        ("Requests", ["coredns_dns_requests_total", "coredns_dns_responses_total",
                      "coredns_dns_request_duration_seconds_bucket"]),
        ("Cache", ["coredns_cache_hits_total", "coredns_cache_misses_total"]),
        ("Forward", ["coredns_proxy_request_duration_seconds", "coredns_proxy_healthcheck_failures"]),
        ("Kubernetes source", ["clusterdns_kubernetes_watch_up",
                               "coredns_kubernetes_dns_programming_duration_seconds_bucket"]),
        ("Search-list walks", ["clusterdns_search_expansion_wasted_total"]),
        ("Node cache vs cluster server", ["$nodecache_job"]),
    ],
)  # fmt: skip
def test_rows_cover_what_the_issue_asks(board: dict, row: str, needles: list[str]) -> None:
    rows: dict[str, list[str]] = {}
    current = ""
    for panel in board["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
            continue
        rows.setdefault(current, []).extend(t["expr"] for t in panel["targets"])
    text = "\n".join(rows[row])
    for needle in needles:
        assert needle in text
