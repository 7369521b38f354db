"""How the kubernetes plugin reaches a (test) API server over HTTPS on loopback.

Matched against client-go: ``tls-server-name`` is the name the certificate is
verified against and sent as SNI while the connection goes to the server URL's
host (transport ServerName); a CA given replaces the system roots
(transport/tls.go rootCertPool); ``insecure-skip-tls-verify`` skips the check;
an exec plugin's token is used until it expires and the plugin runs again after
a 401 (plugin/pkg/client/auth/exec); ``proxy-url`` sends the connection
through an HTTP CONNECT tunnel.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.rcode
import pytest
import trustme
import yaml

from clusterdns.cluster import sample_cluster_path
from tests.support.apiserver import ApiServer, server_ssl_context
from tests.support.connectproxy import connect_proxy
from tests.support.kubeconfigs import exec_user, plugin_runs, write_exec_plugin, write_kubeconfig
from tests.support.serverutil import RunningServer, answers, running

WEB = "web.shop.svc.cluster.local."
WEB_IP = "10.96.10.10"
TOKEN = "s3cret-token"
WATCHED = 3  # services, namespaces, endpointslices


def corefile(config: Path) -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    kubernetes cluster.local {{
        kubeconfig {config}
        startup_timeout 2s
    }}
}}
"""


def web(server: RunningServer) -> list[str]:
    reply = server.udp(WEB)
    if reply.rcode() != dns.rcode.NOERROR:
        return []
    return [line.split()[-1] for line in answers(reply)]


def wait_for(predicate: Callable[[], object], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def cas() -> dict[str, trustme.CA]:
    return {"cluster": trustme.CA(), "system": trustme.CA()}


def https_api(tmp_path: Path, ca: trustme.CA, *names: str, **kwargs: Any) -> ApiServer:
    pem = tmp_path / "server.pem"
    ca.issue_cert(*names).private_key_and_cert_chain_pem.write_to_path(str(pem))
    api = ApiServer(ssl_context=server_ssl_context(str(pem)), **kwargs)
    api.load(yaml.safe_load(sample_cluster_path().read_text())["items"])
    return api.start()


@pytest.fixture
def system_ca(cas: dict[str, trustme.CA], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "system" trust store is a CA of the test's own (OpenSSL reads SSL_CERT_FILE)."""
    bundle = tmp_path / "system-roots.pem"
    cas["system"].cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


def ca_data(ca: trustme.CA) -> str:
    return base64.b64encode(ca.cert_pem.bytes()).decode()


#: (case, who signs the server's certificate, the names it is for, kubeconfig cluster fields,
#: whether the plugin syncs)
TLS_CASES: list[tuple[str, str, tuple[str, ...], dict[str, Any], bool]] = [
    (
        "tls-server-name verifies another name",
        "cluster",
        ("kubernetes.internal",),
        {"tls-server-name": "kubernetes.internal", "ca": "cluster"},
        True,
    ),
    (
        "without tls-server-name that name does not match",
        "cluster",
        ("kubernetes.internal",),
        {"ca": "cluster"},
        False,
    ),
    ("the CA given verifies", "cluster", ("127.0.0.1",), {"ca": "cluster"}, True),
    (
        "a CA given replaces the system roots",
        "system",
        ("127.0.0.1",),
        {"ca": "cluster"},
        False,
    ),
    ("no CA given: the system roots", "system", ("127.0.0.1",), {}, True),
    ("no CA given, not a system CA", "cluster", ("127.0.0.1",), {}, False),
    (
        "insecure-skip-tls-verify",
        "cluster",
        ("kubernetes.internal",),
        {"insecure-skip-tls-verify": True},
        True,
    ),
]


@pytest.mark.parametrize(
    ("signer", "names", "fields", "syncs"),
    [case[1:] for case in TLS_CASES],
    ids=[case[0] for case in TLS_CASES],
)
@pytest.mark.usefixtures("system_ca")
def test_server_certificate_checks(
    tmp_path: Path,
    cas: dict[str, trustme.CA],
    caplog: pytest.LogCaptureFixture,
    signer: str,
    names: tuple[str, ...],
    fields: dict[str, Any],
    syncs: bool,
) -> None:
    api = https_api(tmp_path, cas[signer], *names, tokens={TOKEN: "clusterdns"})
    cluster = {"server": api.url, **{k: v for k, v in fields.items() if k != "ca"}}
    if "ca" in fields:
        cluster["certificate-authority-data"] = ca_data(cas[fields["ca"]])
    config = write_kubeconfig(tmp_path / "kubeconfig", cluster, {"token": TOKEN})
    try:
        with caplog.at_level(logging.WARNING), running(corefile(config)) as srv:
            if syncs:
                assert web(srv) == [WEB_IP]
            else:
                assert srv.udp(WEB).rcode() == dns.rcode.SERVFAIL  # never synced
                assert any("certificate" in r.getMessage().lower() for r in caplog.records)
                assert api.requests() == []  # no request got through the handshake
    finally:
        api.close()


# ---------------------------------------------------------------- exec plugins


@pytest.fixture
def exec_api(tmp_path: Path, cas: dict[str, trustme.CA]) -> Iterator[ApiServer]:
    api = https_api(tmp_path, cas["cluster"], "127.0.0.1", tokens={"token-1": "clusterdns"})
    try:
        yield api
    finally:
        api.close()


def test_exec_token_is_used_cached_and_refreshed_after_a_401(
    tmp_path: Path, cas: dict[str, trustme.CA], exec_api: ApiServer
) -> None:
    api = exec_api
    plugin, log = write_exec_plugin(tmp_path), tmp_path / "runs.jsonl"
    cluster = {"server": api.url, "certificate-authority-data": ca_data(cas["cluster"])}
    config = write_kubeconfig(tmp_path / "kubeconfig", cluster, exec_user(plugin, log))
    with running(corefile(config)) as srv:
        assert web(srv) == [WEB_IP]
        assert {r.user for r in api.requests()} == {"clusterdns"}
        # every list and watch of every resource carried the one token: one run
        assert plugin_runs(log) == 1
        assert api.wait_for_watches(WATCHED)
        api.cut_watches()
        assert api.wait_for_watches(WATCHED)  # resumed, with the cached token
        assert plugin_runs(log) == 1
        # the API server stops accepting token-1: the 401 runs the plugin again
        api.set_tokens({"token-2": "clusterdns"})
        api.cut_watches()
        api.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "after", "namespace": "shop"},
                "spec": {"clusterIP": "10.96.10.88", "ports": [{"port": 80}]},
            }
        )
        wait_for(
            lambda: (
                [line.split()[-1] for line in answers(srv.udp("after.shop.svc.cluster.local."))]
                == ["10.96.10.88"]
            ),
            "an answer after the token was refreshed",
        )
        assert plugin_runs(log) == 2


# ---------------------------------------------------------------- proxy-url


def test_proxy_url_tunnels_every_request_through_connect(
    tmp_path: Path, cas: dict[str, trustme.CA]
) -> None:
    api = https_api(tmp_path, cas["cluster"], "127.0.0.1", tokens={TOKEN: "clusterdns"})
    try:
        with connect_proxy() as proxy:
            cluster = {
                "server": api.url,
                "certificate-authority-data": ca_data(cas["cluster"]),
                "proxy-url": proxy.url,
            }
            config = write_kubeconfig(tmp_path / "kubeconfig", cluster, {"token": TOKEN})
            with running(corefile(config)) as srv:
                assert web(srv) == [WEB_IP]
                assert len(proxy.connects) >= 1
                assert set(proxy.connects) == {f"127.0.0.1:{api.port}"}
    finally:
        api.close()
