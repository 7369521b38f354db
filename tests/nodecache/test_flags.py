"""`clusterdns nodecache` flags: node-cache's names and defaults, Go's boolean form, bad values."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clusterdns.cli import build_parser
from clusterdns.cli.nodecache import params_from
from clusterdns.nodecache.params import (
    NodeCacheError,
    NodeCacheParams,
    cluster_dns_address,
    parse_local_ips,
    parse_sync_interval,
    svc_env_name,
)


def params(*argv: str) -> NodeCacheParams:
    return params_from(build_parser().parse_args(["nodecache", *argv]))


def test_defaults_are_node_caches() -> None:
    p = params("-localip", "169.254.20.10,10.96.0.10")
    assert p.local_ips == ("169.254.20.10", "10.96.0.10")
    assert (p.setup_interface, p.setup_iptables, p.skip_teardown) == (True, True, False)
    assert p.interface_name == "nodelocaldns"
    assert p.sync_interval == 60.0
    assert p.health_port == 8080
    assert p.metrics_listen_address == "0.0.0.0:9353"
    assert p.base_corefile == "/etc/coredns/Corefile.base"
    assert p.upstream_svc == "kube-dns"
    assert p.port == 53
    assert (p.cluster_dns, p.upstream_servers, p.corefile) == (None, (), None)


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-setupinterface=false"], "setup_interface", False),
        (["--setupiptables=false"], "setup_iptables", False),
        (["-setupiptables=0"], "setup_iptables", False),
        (["-skipteardown"], "skip_teardown", True),
        (["-skipteardown=true"], "skip_teardown", True),
        (["-syncinterval", "5"], "sync_interval", 5.0),
        (["-syncinterval", "1m30s"], "sync_interval", 90.0),
        (["-syncinterval=250ms"], "sync_interval", 0.25),
        (["-health-port", "9090"], "health_port", 9090),
        (["-metrics-listen-address", "127.0.0.1:0"], "metrics_listen_address", "127.0.0.1:0"),
        (["-conf", "/tmp/Corefile"], "corefile", "/tmp/Corefile"),
        (["-corefile", "/tmp/Corefile"], "corefile", "/tmp/Corefile"),
        (["-basecorefile", "/tmp/base"], "base_corefile", "/tmp/base"),
        (["-upstreamsvc", "kube-dns-upstream"], "upstream_svc", "kube-dns-upstream"),
        (["-clusterdns", "10.96.0.11"], "cluster_dns", "10.96.0.11"),
        (
            ["-upstream-servers", "10.1.0.1,10.1.0.2:5353"],
            "upstream_servers",
            ("10.1.0.1", "10.1.0.2:5353"),
        ),
        (
            ["-upstream-servers", "10.1.0.1", "-upstream-servers", "10.1.0.2"],
            "upstream_servers",
            ("10.1.0.1", "10.1.0.2"),
        ),
        (["-dns.port", "1053"], "port", 1053),
        (["-interfacename", "nlcache"], "interface_name", "nlcache"),
        (["-domain", "corp.example"], "domain", "corp.example"),
    ],
)
def test_flag(argv: list[str], field: str, value: object) -> None:
    assert getattr(params("-localip", "169.254.20.10", *argv), field) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("169.254.20.10,nope", "invalid localip specified - 'nope'"),
        ("169.254.20.10,fd00::10", "one IP family"),
        ("", "invalid localip"),
    ],
)
def test_bad_localip(text: str, message: str) -> None:
    with pytest.raises(NodeCacheError, match=message):
        parse_local_ips(text)


@pytest.mark.parametrize("text", ["0", "-5", "5x", "s", ""])
def test_bad_syncinterval(text: str) -> None:
    with pytest.raises(NodeCacheError, match="syncinterval"):
        parse_sync_interval(text)


def test_bad_upstream_server_names_the_flag() -> None:
    with pytest.raises(
        NodeCacheError, match="-upstream-servers: 'dns.example' is not IP or IP:PORT"
    ):
        params("-localip", "169.254.20.10", "-upstream-servers", "dns.example")


@pytest.mark.parametrize(
    ("service", "env"),
    [
        ("kube-dns", "KUBE_DNS_SERVICE_HOST"),
        ("kube-dns-upstream", "KUBE_DNS_UPSTREAM_SERVICE_HOST"),
    ],
)
def test_service_env_name(service: str, env: str) -> None:
    assert svc_env_name(service) == env


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        (None, {"KUBE_DNS_UPSTREAM_SERVICE_HOST": "10.96.0.11"}, "10.96.0.11"),
        ("10.96.0.12", {"KUBE_DNS_UPSTREAM_SERVICE_HOST": "10.96.0.11"}, "10.96.0.12"),
        ("127.0.0.1:5300", {}, "127.0.0.1:5300"),
    ],
)
def test_cluster_dns_address(explicit: str | None, environ: dict[str, str], expected: str) -> None:
    assert cluster_dns_address(explicit, "kube-dns-upstream", environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "env KUBE_DNS_UPSTREAM_SERVICE_HOST .* is not set; pass -clusterdns IP"),
        ({"KUBE_DNS_UPSTREAM_SERVICE_HOST": "kube-dns"}, "is not an IP address"),
    ],
)
def test_cluster_dns_address_missing(environ: dict[str, str], message: str) -> None:
    with pytest.raises(NodeCacheError, match=message):
        cluster_dns_address(None, "kube-dns-upstream", environ)


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterdns", "nodecache", *argv],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip


def test_print_config_json_reads_the_cluster_ip_from_the_env() -> None:
    env = {"KUBE_DNS_UPSTREAM_SERVICE_HOST": "10.96.0.11", "PATH": "/usr/bin:/bin"}
    done = run_cli("-localip", "169.254.20.10", "-upstreamsvc", "kube-dns-upstream",
                   "-upstream-servers", "10.1.0.1", "--print-config", "--json", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert "forward . 10.96.0.11 {" in config["corefile"]
    assert "forward . 10.1.0.1\n" in config["corefile"]
    assert len(config["iptables"]) == 12
    assert config["interface"] == "nodelocaldns"


def test_missing_cluster_ip_is_an_error_that_says_what_to_do(tmp_path: object) -> None:
    done = run_cli("-localip", "169.254.20.10", "-upstream-servers", "10.1.0.1",
                   "-setupinterface=false", "-setupiptables=false", env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 1
    assert "env KUBE_DNS_SERVICE_HOST" in done.stderr and "-clusterdns" in done.stderr
