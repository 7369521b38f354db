"""`clusterdns nodecache` flags: node-cache's names and defaults, Go's boolean form, bad values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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

SEED_COREFILE = Path(__file__).with_name("seed003.Corefile")


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
    assert p.corefile == "/etc/Corefile"  # node-cache's -corefile; nodelocaldns.yaml passes -conf
    assert (p.cluster_dns, p.upstream_servers, p.embedded_base) == (None, (), False)


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
        (["--embedded-base"], "embedded_base", True),
        (["--embedded-base"], "corefile", None),
        (["--embedded-base", "-conf", "/tmp/Corefile"], "corefile", "/tmp/Corefile"),
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


def test_embedded_base_and_basecorefile_exclude_each_other() -> None:
    with pytest.raises(NodeCacheError, match="-basecorefile or --embedded-base, not both"):
        params("-localip", "169.254.20.10", "--embedded-base", "-basecorefile", "/tmp/base")


def test_bad_clusterdns_is_refused_with_the_flags() -> None:
    with pytest.raises(NodeCacheError, match="-clusterdns: 'kube-dns' is not IP or IP:PORT"):
        params("-localip", "169.254.20.10", "-clusterdns", "kube-dns")


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


def test_print_config_json_fills_the_embedded_template_only_when_asked() -> None:
    env = {"KUBE_DNS_UPSTREAM_SERVICE_HOST": "10.96.0.11", "PATH": "/usr/bin:/bin"}
    done = run_cli("-localip", "169.254.20.10", "-upstreamsvc", "kube-dns-upstream", "--embedded-base",
                   "-upstream-servers", "10.1.0.1", "--print-config", "--json", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert "forward . 10.96.0.11 {" in config["corefile"]
    assert "forward . 10.1.0.1\n" in config["corefile"]
    assert (config["source"], config["filled"]) == ("<embedded nodelocaldns Corefile.base>", True)
    assert len(config["iptables"]) == 12
    assert config["interface"] == "nodelocaldns"


def test_the_issues_command_prints_the_corefile_given_without_the_service_env(
    tmp_path: Path,
) -> None:
    # the seed's rendered Corefile with -conf, no base file, no KUBE_DNS_SERVICE_HOST: warnings only
    conf = tmp_path / "Corefile.node"
    conf.write_bytes(SEED_COREFILE.read_bytes())
    done = run_cli("-localip", "169.254.20.10,10.96.0.10", "-conf", str(conf),
                   "-basecorefile", str(tmp_path / "Corefile.base"), "-setupinterface=false",
                   "-setupiptables=false", "-skipteardown", "--print-config", "--json",
                   env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert (config["corefile"], config["source"], config["filled"]) == (
        SEED_COREFILE.read_text(),
        str(conf),
        False,
    )
    assert "Unable to lookup IP address of Upstream service kube-dns" in done.stderr
    assert "Failed to read node-cache coreFile" in done.stderr


def test_a_base_that_needs_the_missing_cluster_ip_is_an_error_that_says_what_to_do(
    tmp_path: Path,
) -> None:
    (tmp_path / "Corefile.base").write_text(".:53 {\n    forward . __PILLAR__CLUSTER__DNS__\n}\n")
    done = run_cli("-localip", "169.254.20.10", "-basecorefile", str(tmp_path / "Corefile.base"),
                   "-conf", str(tmp_path / "Corefile"), "-setupinterface=false",
                   "-setupiptables=false", env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 1
    assert f"{tmp_path / 'Corefile.base'}:2: __PILLAR__CLUSTER__DNS__ needs" in done.stderr
    assert "env KUBE_DNS_SERVICE_HOST" in done.stderr and "-clusterdns" in done.stderr
    assert not (tmp_path / "Corefile").exists()


def test_help_names_the_embedded_template_flag_as_ours() -> None:
    done = run_cli("--help", env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert done.returncode == 0
    assert "--embedded-base" in done.stdout and "not a node-cache flag" in done.stdout
