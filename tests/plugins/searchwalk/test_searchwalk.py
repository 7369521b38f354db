"""Search-path analytics: the server recognises clients' search walks and counts the waste."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clusterdns.resolver.walks import NXDOMAIN, Walk, WalkTracker
from tests.plugins.autopath.test_autopath import MANIFEST, ask
from tests.support.serverutil import running
from tests.support.upstream import records, started

NOERROR = 0


def test_tracker_recognises_the_kubelet_walk() -> None:
    tracker = WalkTracker(("cluster.local",))
    steps = [
        ("google.com.shop.svc.cluster.local.", NXDOMAIN),
        ("google.com.svc.cluster.local.", NXDOMAIN),
        ("google.com.cluster.local.", NXDOMAIN),
        ("google.com.ec2.internal.", NXDOMAIN),  # a node search domain: part of the walk
    ]
    for name, rcode in steps:
        assert tracker.observe("10.1.0.5", name, rcode, 0.0) == []
    assert tracker.observe("10.1.0.5", "google.com.", NOERROR, 0.1) == [
        Walk("10.1.0.5", "shop", "google.com", 5, 4)
    ]
    # the AAAA answer of the same walk: one more query, nothing more wasted
    assert tracker.observe("10.1.0.5", "google.com.", NOERROR, 0.1) == [
        Walk("10.1.0.5", "shop", "google.com", 1, 0)
    ]


def test_tracker_walk_that_stops_at_a_service() -> None:
    tracker = WalkTracker(("cluster.local",))
    tracker.observe("c", "db.default.shop.svc.cluster.local.", NXDOMAIN, 0.0)
    assert tracker.observe("c", "db.default.svc.cluster.local.", NOERROR, 0.0) == [
        Walk("c", "shop", "db.default", 2, 1)  # the client is in shop: its first search domain
    ]


def test_tracker_ignores_plain_answers_and_other_clients() -> None:
    tracker = WalkTracker(("cluster.local",))
    assert tracker.observe("a", "web.shop.svc.cluster.local.", NOERROR, 0.0) == []
    tracker.observe("a", "x.shop.svc.cluster.local.", NXDOMAIN, 0.0)
    assert tracker.observe("b", "x.", NOERROR, 0.0) == []  # another client's lookup
    assert tracker.observe("a", "x.", NOERROR, 20.0) == []  # past the window: forgotten


def test_tracker_memory_is_bounded_whatever_clients_send() -> None:
    tracker = WalkTracker(("cluster.local",), max_clients=100, max_pending=4)
    for i in range(5000):
        tracker.observe(f"10.0.{i // 250}.{i % 250}", f"n{i}.a.svc.cluster.local.", NXDOMAIN, 0.0)
        for j in range(10):
            tracker.observe("10.9.9.9", f"m{i}-{j}.b.svc.cluster.local.", NXDOMAIN, 0.0)
    assert len(tracker.clients) <= 100
    assert all(len(walks) <= 4 for walks in tracker.clients.values())


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("clusterdns_search_expansion")
    }


@pytest.fixture
def analysed(tmp_path: Path):  # type: ignore[no-untyped-def]
    manifests = tmp_path / "cluster.yaml"
    manifests.write_text(MANIFEST)
    answer = records(
        {
            "google.com. A": ["192.0.2.1"],
            "google.com. AAAA": ["2001:db8::1"],
            "example.org. A": ["192.0.2.2"],
            "example.org. AAAA": ["2001:db8::2"],
        }
    )
    with started(answer) as upstream:
        text = f"""
.:0 {{
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    searchwalk
    kubernetes cluster.local {{
        manifests {manifests} 1s
        pods verified
    }}
    forward . {upstream.address}
}}
"""
        with running(text) as srv:
            yield srv


def walk(port: int, source: str, namespace: str, name: str = "google.com") -> None:
    for rdtype in ("A", "AAAA"):
        for domain in (f"{namespace}.svc.cluster.local.", "svc.cluster.local.", "cluster.local."):
            assert ask(port, f"{name}.{domain}", rdtype, source).rcode() == NXDOMAIN
        assert ask(port, f"{name}.", rdtype, source).rcode() == NOERROR


def test_server_counts_search_walks_per_namespace(analysed) -> None:  # type: ignore[no-untyped-def]
    srv = analysed
    port = srv.http_port("/metrics")
    before = scrape(port)
    walk(srv.port, "127.0.0.5", "shop")  # a pod of shop (pods verified)
    walk(srv.port, "127.0.0.1", "shop")  # not a pod: the namespace from the name, a known one
    walk(srv.port, "127.0.0.1", "zzz", name="example.org")  # an unknown namespace
    walk(srv.port, "127.0.0.5", "shop")  # the same again: answered from the memo, still seen
    after = scrape(port)

    def delta(name: str, namespace: str) -> float:
        key = (name, (("namespace", namespace),))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("clusterdns_search_expansion_queries_total", "shop") == 3 * 8
    assert delta("clusterdns_search_expansion_wasted_total", "shop") == 3 * 6
    assert delta("clusterdns_search_expansion_wasted_total", "unknown") == 6
    top = {k: v for k, v in after.items() if k[0] == "clusterdns_search_expansion_top_wasted"}
    assert (
        top[
            (
                "clusterdns_search_expansion_top_wasted",
                (("name", "google.com"), ("namespace", "shop")),
            )
        ]
        >= 18
    )


def test_doctor_names_the_wasteful_namespace_and_what_to_change(analysed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import contextlib
    import io
    import json

    from clusterdns.cli import main

    srv = analysed
    walk(srv.port, "127.0.0.5", "shop")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "nameserver 127.0.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "options ndots:5\n"
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(
            [
                "doctor", "--resolv-conf", str(resolv), "--server", f"127.0.0.1:{srv.port}",
                "--bench-seconds", "0", "--metrics",
                f"http://127.0.0.1:{srv.http_port('/metrics')}/metrics", "--json",
            ]
        )  # fmt: skip
    findings = [f for f in json.loads(out.getvalue())["findings"] if f["check"] == "search-waste"]
    shop = next(f for f in findings if f["title"].startswith("namespace shop"))
    assert shop["severity"] == "warn"  # 6 of 8 walk queries wasted
    assert "google.com" in shop["evidence"]
    assert 'value: "2"' in shop["fix"] and "google.com." in shop["fix"]
    assert "autopath @kubernetes" in shop["fix"]


def test_doctor_without_walk_metrics_says_how_to_get_them() -> None:
    from clusterdns.doctor.searchwaste import check_search_waste

    (finding,) = check_search_waste("# nothing\n")
    assert "searchwalk" in finding.fix
