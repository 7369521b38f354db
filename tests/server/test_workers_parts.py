"""The parts of `serve -workers` that need no process: the default count, the metrics merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.server.cpus import (
    cgroup_dirs,
    cgroup_quota,
    parse_cfs,
    parse_cpu_max,
    worker_count,
)
from clusterdns.server.metricsmerge import merge


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("max 100000\n", None),  # no limit
        ("200000 100000\n", 2.0),  # limits.cpu: 2
        ("150000 100000\n", 1.5),  # limits.cpu: 1500m
        ("50000 100000\n", 0.5),
        ("400000 200000\n", 2.0),
        ("", None),
        ("garbage", None),
    ],
)
def test_cgroup_v2_cpu_max(text: str, cpus: float | None) -> None:
    """cgroup v2 cpu.max is "$MAX $PERIOD" (Documentation/admin-guide/cgroup-v2.rst)."""
    assert parse_cpu_max(text) == cpus


@pytest.mark.parametrize(
    ("quota", "period", "cpus"),
    [("-1\n", "100000\n", None), ("300000\n", "100000\n", 3.0), ("x", "100000", None)],
)
def test_cgroup_v1_cfs_quota(quota: str, period: str, cpus: float | None) -> None:
    assert parse_cfs(quota, period) == cpus


@pytest.mark.parametrize(
    ("allowed", "quota", "count"),
    [(2, None, 2), (8, 2.0, 2), (8, 1.5, 1), (8, 0.5, 1), (1, 4.0, 1), (4, 3.9, 3)],
)
def test_worker_count_is_the_affinity_capped_by_the_quota_rounded_down(
    allowed: int, quota: float | None, count: int
) -> None:
    assert worker_count(allowed, quota) == count


def test_the_quota_is_read_from_the_cgroup_of_the_process(tmp_path: Path) -> None:
    """A cgroup v2 file in the process's own cgroup directory wins over the root's."""
    own = tmp_path / "kubepods" / "pod1" / "c1"
    own.mkdir(parents=True)
    (own / "cpu.max").write_text("200000 100000\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    dirs = cgroup_dirs("0::/kubepods/pod1/c1\n", str(tmp_path))
    assert cgroup_quota(lambda p: Path(p).read_text(), dirs) == 2.0


def test_a_cgroup_v1_quota_is_found_under_the_cpu_controller(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu,cpuacct" / "pod"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("100000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    dirs = cgroup_dirs("3:cpu,cpuacct:/pod\n1:memory:/pod\n", str(tmp_path))
    assert cgroup_quota(lambda p: Path(p).read_text(), dirs) == 1.0


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    dirs = cgroup_dirs("0::/\n", str(tmp_path))
    assert cgroup_quota(lambda p: Path(p).read_text(), dirs) is None


WORKER = """\
# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.
# TYPE coredns_dns_requests_total counter
coredns_dns_requests_total{proto="udp",zone="."} 3.0
# HELP coredns_cache_entries The number of elements in the cache.
# TYPE coredns_cache_entries gauge
coredns_cache_entries{type="success"} 10.0
# HELP coredns_plugin_enabled A metric that indicates whether a plugin is enabled.
# TYPE coredns_plugin_enabled gauge
coredns_plugin_enabled{name="cache"} 1.0
# HELP coredns_build_info A metric with a constant '1' value.
# TYPE coredns_build_info gauge
coredns_build_info{version="1"} 1.0
# HELP coredns_kubernetes_rest_client_requests_total Number of HTTP requests.
# TYPE coredns_kubernetes_rest_client_requests_total counter
coredns_kubernetes_rest_client_requests_total{code="200"} 4.0
# HELP x_created c
# TYPE x_created gauge
x_created 200.0
"""

SUPERVISOR = """\
# HELP coredns_kubernetes_rest_client_requests_total Number of HTTP requests.
# TYPE coredns_kubernetes_rest_client_requests_total counter
coredns_kubernetes_rest_client_requests_total{code="200"} 4.0
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# HELP x_created c
# TYPE x_created gauge
x_created 100.0
"""


@pytest.mark.parametrize(
    ("series", "value"),
    [
        ('coredns_dns_requests_total{proto="udp",zone="."}', "6.0"),  # counters: summed
        ('coredns_cache_entries{type="success"}', "20.0"),  # each worker's own cache
        ('coredns_plugin_enabled{name="cache"}', "1.0"),  # a fact of the configuration
        ('coredns_build_info{version="1"}', "1.0"),
        ('coredns_kubernetes_rest_client_requests_total{code="200"}', "4.0"),  # supervisor's
        ("process_cpu_seconds_total", "1.5"),
        ("x_created", "100.0"),  # the earliest
    ],
)
def test_merge_of_two_workers_and_the_supervisor(series: str, value: str) -> None:
    merged = merge(SUPERVISOR, [WORKER, WORKER], lambda n: n.startswith("coredns_kubernetes_"))
    assert f"{series} {value}\n" in merged
    assert merged.count("# TYPE coredns_dns_requests_total counter\n") == 1
