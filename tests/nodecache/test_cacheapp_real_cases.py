"""k8s-dns-node-cache's own cases (kubernetes/dns cmd/node-cache), as tables against our node cache.

Each table names the file and test (or function) its facts come from.  The
tables are written from the facts; the templates and values are ours.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterdns.cli import build_parser
from clusterdns.cli.nodecache import params_from
from clusterdns.nodecache.app import load_corefile, pillars_for, write_corefile
from clusterdns.nodecache.netsetup import NetworkSetup
from clusterdns.nodecache.params import (
    NodeCacheError,
    NodeCacheParams,
    cluster_dns_address,
    parse_local_ips,
    svc_env_name,
)
from clusterdns.nodecache.rules import node_cache_rules
from tests.support.netns import CLUSTERDNS, Namespaces, in_ns

# -- cache_app_test.go TestUpdateCoreFile / TestUpdateIPv6CoreFile ---------------------------
# The base is filled by text replacement and written to -conf byte for byte: the local IPs
# space-separated, __PILLAR__DNS__SERVER__ dropped (its space stays), the upstream Service's
# ClusterIP from <SVC>_SERVICE_HOST, /etc/resolv.conf (force_tcp kept) without upstream
# nameservers; with them the exact force_tcp block becomes plain forward and each stub domain
# is a block of its own after the base.

BASE = """\
cluster.local:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    }
in-addr.arpa:53 {
    cache 30
    bind __PILLAR__LOCAL__DNS__
    forward . __PILLAR__CLUSTER__DNS__
    }
.:53 {
    errors
    cache 30
    log
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__UPSTREAM__SERVERS__ {
            force_tcp
    }
    prometheus :9253
    }
"""


def filled(local: str, cluster: str, dot_forward: str) -> str:
    return (
        "cluster.local:53 {\n    errors\n    cache {\n            success 9984 30\n"
        f"            denial 9984 5\n    }}\n    bind {local} \n    forward . {cluster} {{\n"
        "            force_tcp\n    }\n    }\n"
        f"in-addr.arpa:53 {{\n    cache 30\n    bind {local}\n    forward . {cluster}\n    }}\n"
        f".:53 {{\n    errors\n    cache 30\n    log\n    bind {local} \n{dot_forward}"
        "    prometheus :9253\n    }\n"
    )


RESOLV_CONF_TCP = "    forward . /etc/resolv.conf {\n            force_tcp\n    }\n"


def stub(domain: str, local: str, servers: str) -> str:
    return (
        f"\n{domain}:53 {{\n    errors\n    cache 30\n    bind {local}\n"
        f"    forward . {servers}\n}}\n"
    )


V4 = "169.254.20.10 10.0.0.10"
V6 = "fe80:169:254::1 fd00:1:2:3::5"

UPDATE_COREFILE_CASES: list[tuple[str, str, dict[str, Any] | None, str, list[str]]] = [
    # (-localip, TEST_SVC_SERVICE_HOST, kube-dns ConfigMap, filled base, stub blocks)
    ("169.254.20.10,10.0.0.10", "9.10.11.12", None, filled(V4, "9.10.11.12", RESOLV_CONF_TCP), []),
    (
        "169.254.20.10,10.0.0.10",
        "9.10.11.12",
        {
            "stubDomains": {
                "acme.local": ["1.1.1.1"],
                "google.local": ["8.8.8.8"],
                "widget.local": ["2.2.2.2:10053", "3.3.3.3"],
            },
            "upstreamNameservers": ["2.2.2.2:10053", "3.3.3.3"],
        },
        filled(V4, "9.10.11.12", "    forward . 2.2.2.2:10053 3.3.3.3\n"),
        [
            stub("acme.local", V4, "1.1.1.1"),
            stub("google.local", V4, "8.8.8.8"),
            stub("widget.local", V4, "2.2.2.2:10053 3.3.3.3"),
        ],
    ),
    (
        "fe80:169:254::1,fd00:1:2:3::5",
        "2001:db8::1",
        None,
        filled(V6, "2001:db8::1", RESOLV_CONF_TCP),
        [],
    ),
    (
        "fe80:169:254::1,fd00:1:2:3::5",
        "2001:db8::1",
        {
            "stubDomains": {
                "acme.local": ["2001:db8:1:1:1::1"],
                "google.local": ["2001:4860:4860::8888"],
                "widget.local": ["[2001:db8:2:2:2::2]:10053", "2001:db8:3:3:3::3"],
            },
            "upstreamNameservers": ["[2001:db8:2:2:2::2]:10053", "2001:db8:3:3:3::3"],
        },
        filled(V6, "2001:db8::1", "    forward . [2001:db8:2:2:2::2]:10053 2001:db8:3:3:3::3\n"),
        [
            stub("acme.local", V6, "2001:db8:1:1:1::1"),
            stub("google.local", V6, "2001:4860:4860::8888"),
            stub("widget.local", V6, "[2001:db8:2:2:2::2]:10053 2001:db8:3:3:3::3"),
        ],
    ),
]


def app_params(tmp_path: Path, localip: str, **changes: Any) -> NodeCacheParams:
    values: dict[str, Any] = {
        "local_ips": parse_local_ips(localip),
        "base_corefile": str(tmp_path / "testCoreFile.base"),
        "corefile": str(tmp_path / "testCoreFile"),
        "kubedns_cm": str(tmp_path / "kube-dns"),
        "upstream_svc": "test-svc",
    }
    values.update(changes)
    return NodeCacheParams(**values)


@pytest.mark.parametrize(
    ("localip", "cluster_ip", "configmap", "base", "stubs"), UPDATE_COREFILE_CASES
)
def test_update_corefile(
    tmp_path: Path,
    localip: str,
    cluster_ip: str,
    configmap: dict[str, Any] | None,
    base: str,
    stubs: list[str],
) -> None:
    p = app_params(tmp_path, localip)
    (tmp_path / "testCoreFile.base").write_text(BASE)
    (tmp_path / "kube-dns").mkdir()
    for key, value in (configmap or {}).items():
        (tmp_path / "kube-dns" / key).write_text(json.dumps(value))
    text = load_corefile(p, pillars_for(p, {"TEST_SVC_SERVICE_HOST": cluster_ip})).text
    write_corefile(p, text)
    written = (tmp_path / "testCoreFile").read_text()
    assert "PILLAR" not in written
    # the filled base comes first, byte for byte; then the stub blocks (node-cache's come in
    # Go map order, so as node-cache's test does they are compared as a set)
    assert written.startswith(base)
    rest = written[len(base) :]
    assert sorted(rest.strip().split("\n\n") if rest else []) == sorted(b.strip() for b in stubs)


# -- main.go parseAndValidateFlags: names and defaults -----------------------------------------

FLAG_DEFAULTS: list[tuple[str, object]] = [
    # (NodeCacheParams field, node-cache's default)
    ("setup_interface", True),  # -setupinterface
    ("interface_name", "nodelocaldns"),  # -interfacename
    ("sync_interval", 60.0),  # -syncinterval 60 (x 1s)
    ("metrics_listen_address", "0.0.0.0:9353"),  # -metrics-listen-address
    ("setup_iptables", True),  # -setupiptables
    ("base_corefile", "/etc/coredns/Corefile.base"),  # -basecorefile
    ("corefile", "/etc/Corefile"),  # -corefile (CoreDNS's -conf overrides it)
    ("kubedns_cm", None),  # -kubednscm "" (then /etc/kube-dns when it exists)
    ("upstream_svc", "kube-dns"),  # -upstreamsvc
    ("health_port", 8080),  # -health-port
    ("skip_teardown", False),  # -skipteardown
    ("reload_with_signal", False),  # -reloadwithsignal
    ("port", 53),  # CoreDNS's -dns.port
    ("pidfile", None),  # CoreDNS's -pidfile
]


def cli_params(*argv: str) -> NodeCacheParams:
    return params_from(build_parser().parse_args(["nodecache", *argv]))


@pytest.mark.parametrize(("field", "default"), FLAG_DEFAULTS)
def test_flag_default(field: str, default: object) -> None:
    assert getattr(cli_params("-localip", "169.254.20.10"), field) == default


FLAG_VALUES: list[tuple[list[str], str, object]] = [
    (["-setupinterface=false"], "setup_interface", False),
    (["-interfacename", "nlcache"], "interface_name", "nlcache"),
    (["-metrics-listen-address", "127.0.0.1:9354"], "metrics_listen_address", "127.0.0.1:9354"),
    (["-setupiptables=false"], "setup_iptables", False),
    (["-basecorefile", "/etc/nodelocal/Corefile.base"], "base_corefile", "/etc/nodelocal/Corefile.base"),
    (["-corefile", "/tmp/Corefile"], "corefile", "/tmp/Corefile"),
    (["-conf", "/etc/Corefile.node"], "corefile", "/etc/Corefile.node"),
    (["-kubednscm", "/etc/kube-dns-cm"], "kubedns_cm", "/etc/kube-dns-cm"),
    (["-upstreamsvc", "kube-dns-upstream"], "upstream_svc", "kube-dns-upstream"),
    (["-health-port", "8081"], "health_port", 8081),
    (["-skipteardown=true"], "skip_teardown", True),
    (["-reloadwithsignal"], "reload_with_signal", True),
    (["-dns.port", "1053"], "port", 1053),
    (["-pidfile", "/tmp/node-cache.pid"], "pidfile", "/tmp/node-cache.pid"),
    (["-quiet"], "port", 53),  # CoreDNS's flag, accepted
]  # fmt: skip


@pytest.mark.parametrize(("argv", "field", "value"), FLAG_VALUES)
def test_flag_value(argv: list[str], field: str, value: object) -> None:
    assert getattr(cli_params("-localip", "169.254.20.10", *argv), field) == value


def test_nodelocaldns_yaml_args_are_accepted() -> None:
    # cluster/addons/dns/nodelocaldns/nodelocaldns.yaml, the DaemonSet's args (after its sed)
    p = cli_params("-localip", "169.254.20.10,10.0.0.10", "-conf", "/etc/Corefile",
                   "-upstreamsvc", "kube-dns-upstream", "-pidfile", "/tmp/node-cache.pid")  # fmt: skip
    assert (p.local_ips, p.corefile, p.upstream_svc, p.pidfile) == (
        ("169.254.20.10", "10.0.0.10"),
        "/etc/Corefile",
        "kube-dns-upstream",
        "/tmp/node-cache.pid",
    )


@pytest.mark.parametrize(("flag", "value"), [("-dns.port", "fiftythree"), ("-health-port", "http")])
def test_non_numeric_ports_are_refused(flag: str, value: str) -> None:
    # main.go: "invalid port specified" / "invalid healthcheck port specified", then exit
    with pytest.raises(SystemExit):
        cli_params("-localip", "169.254.20.10", flag, value)


# -- main.go parseAndValidateFlags: -localip -------------------------------------------------

LOCALIP_OK = [
    ("169.254.20.10", ("169.254.20.10",)),
    ("169.254.20.10,10.0.0.10", ("169.254.20.10", "10.0.0.10")),
    ("fe80:169:254::1,fd00:1:2:3::5", ("fe80:169:254::1", "fd00:1:2:3::5")),
    # the text goes into the Corefile and the rules as written (LocalIPStr), not normalised
    ("FD00:0:0::10", ("FD00:0:0::10",)),
]


@pytest.mark.parametrize(("text", "ips"), LOCALIP_OK)
def test_localip(text: str, ips: tuple[str, ...]) -> None:
    assert parse_local_ips(text) == ips


LOCALIP_BAD = [
    ("", "invalid localip specified - ''"),
    ("169.254.20.10,", "invalid localip specified - ''"),
    ("169.254.20.10, 10.0.0.10", "invalid localip specified - ' 10.0.0.10'"),
    ("169.254.20.10:53", "invalid localip specified"),
    ("[fd00::10]", "invalid localip specified"),
    ("fe80::1%eth0", "invalid localip specified"),
    ("169.254.20.300", "invalid localip specified"),
    ("169.254.20.10,fd00::10", r"unexpected IP Family for localIP - 'fd00::10', want IPv6=false"),
    (
        "fd00::10,169.254.20.10",
        r"unexpected IP Family for localIP - '169.254.20.10', want IPv6=true",
    ),
]


@pytest.mark.parametrize(("text", "message"), LOCALIP_BAD)
def test_bad_localip(text: str, message: str) -> None:
    with pytest.raises(NodeCacheError, match=message):
        parse_local_ips(text)


# -- cache_app.go toSvcEnv and NewCacheApp: the upstream Service's ClusterIP -------------------

SERVICE_ENV = [
    # (-upstreamsvc, env var, its value, __PILLAR__CLUSTER__DNS__ or None: a warning only)
    ("kube-dns", "KUBE_DNS_SERVICE_HOST", "10.96.0.10", "10.96.0.10"),
    ("kube-dns-upstream", "KUBE_DNS_UPSTREAM_SERVICE_HOST", "10.96.0.11", "10.96.0.11"),
    ("test-svc", "TEST_SVC_SERVICE_HOST", "2001:db8::1", "2001:db8::1"),
    ("test-svc", "TEST_SVC_SERVICE_HOST", "2001:0db8:0::1", "2001:db8::1"),  # net.IP.String()
    ("test-svc", "TEST_SVC_SERVICE_HOST", "", None),
    ("test-svc", "TEST_SVC_SERVICE_HOST", "test-svc.kube-system", None),
    ("test-svc", "TEST_SVC_SERVICE_HOST", " 10.96.0.10", None),
]


@pytest.mark.parametrize(("service", "env", "value", "expected"), SERVICE_ENV)
def test_upstream_service_address(service: str, env: str, value: str, expected: str | None) -> None:
    assert svc_env_name(service) == env
    if expected is None:
        with pytest.raises(NodeCacheError, match=env):
            cluster_dns_address(None, service, {env: value})
        p = NodeCacheParams(local_ips=("169.254.20.10",), upstream_svc=service)
        assert pillars_for(p, {env: value}).cluster_dns is None  # NewCacheApp only warns
    else:
        assert cluster_dns_address(None, service, {env: value}) == expected


# -- cache_app.go initIptables -----------------------------------------------------------------

SKIP = ("-j", "NOTRACK", "-m", "comment", "--comment", "NodeLocal DNS Cache: skip conntrack")
ALLOW = ("-j", "ACCEPT", "-m", "comment", "--comment", "NodeLocal DNS Cache: allow DNS traffic")


def expected_rules(ip: str, dns: str, health: str) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        ("raw", "PREROUTING", ("-p", "tcp", "-d", ip, "--dport", dns, *SKIP)),
        ("raw", "PREROUTING", ("-p", "udp", "-d", ip, "--dport", dns, *SKIP)),
        ("filter", "INPUT", ("-p", "tcp", "-d", ip, "--dport", dns, *ALLOW)),
        ("filter", "INPUT", ("-p", "udp", "-d", ip, "--dport", dns, *ALLOW)),
        ("raw", "OUTPUT", ("-p", "tcp", "-s", ip, "--sport", dns, *SKIP)),
        ("raw", "OUTPUT", ("-p", "udp", "-s", ip, "--sport", dns, *SKIP)),
        ("filter", "OUTPUT", ("-p", "tcp", "-s", ip, "--sport", dns, *ALLOW)),
        ("filter", "OUTPUT", ("-p", "udp", "-s", ip, "--sport", dns, *ALLOW)),
        ("raw", "OUTPUT", ("-p", "tcp", "-d", ip, "--dport", dns, *SKIP)),
        ("raw", "OUTPUT", ("-p", "udp", "-d", ip, "--dport", dns, *SKIP)),
        ("raw", "OUTPUT", ("-p", "tcp", "-d", ip, "--dport", health, *SKIP)),
        ("raw", "OUTPUT", ("-p", "tcp", "-s", ip, "--sport", health, *SKIP)),
    ]


IPTABLES_CASES = [
    # (-localip, -dns.port, -health-port, binary)
    ("169.254.20.10", 53, 8080, "iptables"),
    ("169.254.20.10,10.0.0.10", 53, 8080, "iptables"),
    ("169.254.20.10", 1053, 8081, "iptables"),
    ("fe80:169:254::1,fd00:1:2:3::5", 53, 8080, "ip6tables"),
]


@pytest.mark.parametrize(("localip", "port", "health", "binary"), IPTABLES_CASES)
def test_iptables_rules(localip: str, port: int, health: int, binary: str) -> None:
    ips = parse_local_ips(localip)
    rules = node_cache_rules(ips, port, health)
    expected = [rule for ip in ips for rule in expected_rules(ip, str(port), str(health))]
    assert [(r.table, r.chain, r.args) for r in rules] == expected
    setup = NetworkSetup(NodeCacheParams(local_ips=ips, port=port, health_port=health))
    assert setup.iptables == binary
    assert setup.rules == rules


# -- cache_app.go setupNetworking / TeardownNetworking, on a real node (a netns) ---------------
# EnsureRule(Prepend): a rule there is left alone, a missing one is prepended; teardown deletes
# each rule until none is left (a rule added twice goes too), then the dummy device.  The
# comment is part of the rule: an operator's own NOTRACK rule for the same address stays.

STEP = """
import sys
from clusterdns.nodecache.netsetup import NetworkSetup
from clusterdns.nodecache.params import NodeCacheParams
setup = NetworkSetup(NodeCacheParams(local_ips=("169.254.20.10",), interface_name="nodelocaldns"))
if sys.argv[1] == "setup":
    existed = setup.ensure_interface()
    print(setup.ensure_rules(), existed)
else:
    setup.teardown()
"""
OWN_RULE = ("-p", "udp", "-d", "169.254.20.10", "--dport", "53", "-j", "NOTRACK")
NODE_CACHE_RULE = (*OWN_RULE, "-m", "comment", "--comment", "NodeLocal DNS Cache: skip conntrack")


@pytest.fixture
def node() -> Iterator[str]:
    namespaces = Namespaces()
    try:
        yield namespaces.add("rc")
    finally:
        namespaces.close()


def step(ns: str, what: str) -> str:
    return in_ns(ns, sys.executable, "-c", STEP, what).stdout.strip()


def rules_in(ns: str) -> str:
    return "".join(
        in_ns(ns, "iptables", "-w", "5", "-t", table, "-S").stdout for table in ("raw", "filter")
    )


def test_setup_is_idempotent_and_teardown_removes_duplicates_only_of_its_own_rules(
    node: str,
) -> None:
    assert step(node, "setup") == "12 False"  # 12 rules added, the device created
    assert step(node, "setup") == "0 True"  # nothing added the second time
    assert rules_in(node).count("NodeLocal DNS Cache") == 12
    in_ns(node, "iptables", "-w", "5", "-t", "raw", "-I", "PREROUTING", *NODE_CACHE_RULE)
    in_ns(node, "iptables", "-w", "5", "-t", "raw", "-A", "PREROUTING", *OWN_RULE)
    assert rules_in(node).count("NodeLocal DNS Cache") == 13
    step(node, "teardown")
    left = rules_in(node)
    assert "NodeLocal DNS Cache" not in left
    assert "-A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -j NOTRACK" in left
    shown = subprocess.run(["ip", "-n", node, "link", "show", "nodelocaldns"],
                           capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert shown.returncode != 0


# -- cache_app.go setupNetworking at Init: a failed interface is logged and counted, and the
# cache goes on (CoreDNS then fails on its own if the addresses are not there) -----------------


def test_an_interface_that_cannot_be_added_is_logged_and_the_bind_error_reported(
    node: str, tmp_path: Path
) -> None:
    (tmp_path / "Corefile.base").write_text(
        ".:53 {\n    bind __PILLAR__LOCAL__DNS__\n    whoami\n}\n"
    )
    done = in_ns(node, CLUSTERDNS, "nodecache", "-localip", "169.254.20.10",
                 "-interfacename", "name-longer-than-ifnamsiz", "-setupiptables=false",
                 "-basecorefile", str(tmp_path / "Corefile.base"), "-conf", str(tmp_path / "Corefile"),
                 "-kubednscm", str(tmp_path / "absent"), "-metrics-listen-address", "127.0.0.1:0",
                 check=False)  # fmt: skip
    assert done.returncode == 1
    assert "[ERROR] cannot add interface name-longer-than-ifnamsiz" in done.stdout  # the log
    assert "clusterdns nodecache: cannot listen on 169.254.20.10:53" in done.stderr
    assert "Traceback" not in done.stderr
