"""The proxy from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, by the rules of Go's
``http.ProxyFromEnvironment`` (golang.org/x/net/http/httpproxy), which client-go and so
CoreDNS use when a kubeconfig names no ``proxy-url``."""

from __future__ import annotations

import pytest

from clusterdns.cluster.kubeconfig import Connection, KubeconfigError
from clusterdns.cluster.proxyenv import proxy_for, with_environment_proxy

PROXY = "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        # the variable by the server's scheme; upper case first
        ("https://api.corp:6443", {"HTTPS_PROXY": PROXY}, PROXY),
        ("https://api.corp:6443", {"https_proxy": PROXY}, PROXY),
        ("https://api.corp:6443", {"HTTPS_PROXY": PROXY, "https_proxy": "http://x:1"}, PROXY),
        ("https://api.corp:6443", {"HTTP_PROXY": PROXY}, ""),
        ("http://api.corp:8080", {"HTTP_PROXY": PROXY}, PROXY),
        ("http://api.corp:8080", {"HTTPS_PROXY": PROXY}, ""),
        # HTTP_PROXY is not trusted in a CGI environment (httpoxy)
        ("http://api.corp:8080", {"HTTP_PROXY": PROXY, "REQUEST_METHOD": "GET"}, ""),
        # a value without a scheme is an http:// proxy
        ("https://api.corp", {"HTTPS_PROXY": "proxy.corp:3128"}, PROXY),
        ("https://api.corp", {"HTTPS_PROXY": "https://proxy.corp:443"}, "https://proxy.corp:443"),
        # localhost and loopback never go through a proxy
        ("https://localhost:6443", {"HTTPS_PROXY": PROXY}, ""),
        ("https://127.0.0.1:6443", {"HTTPS_PROXY": PROXY}, ""),
        ("https://127.9.9.9:6443", {"HTTPS_PROXY": PROXY}, ""),
        ("https://[::1]:6443", {"HTTPS_PROXY": PROXY}, ""),
        # NO_PROXY: everything, IPs, CIDRs, domains and their subdomains, ports
        ("https://api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, ""),
        ("https://10.96.0.1", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.96.0.1"}, ""),
        ("https://10.96.0.1", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.96.0.2"}, PROXY),
        ("https://10.96.0.1", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.96.0.0/12"}, ""),
        ("https://10.128.0.1", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.96.0.0/12"}, PROXY),
        ("https://[fd00::1]:6443", {"HTTPS_PROXY": PROXY, "NO_PROXY": "fd00::/8"}, ""),
        ("https://[fd00::1]:6443", {"HTTPS_PROXY": PROXY, "NO_PROXY": "[fd00::1]:6443"}, ""),
        ("https://api.corp", {"HTTPS_PROXY": PROXY, "no_proxy": "corp"}, ""),
        ("https://api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.corp"}, ""),
        ("https://API.Corp.", {"HTTPS_PROXY": PROXY, "NO_PROXY": " api.corp "}, ""),
        ("https://api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": "x.api.corp"}, PROXY),
        ("https://myapi.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.corp"}, PROXY),
        ("https://api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": ".api.corp"}, PROXY),
        ("https://eu.api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": ".api.corp"}, ""),
        ("https://eu.api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": "*.api.corp"}, ""),
        ("https://api.corp:6443", {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.corp:6443"}, ""),
        ("https://api.corp:6443", {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.corp:443"}, PROXY),
        ("https://api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.corp:443"}, ""),
        ("https://api.corp", {"HTTPS_PROXY": PROXY, "NO_PROXY": "a.b,,corp"}, ""),
        # nothing set
        ("https://api.corp", {}, ""),
    ],
)
def test_proxy_from_environment(url: str, env: dict[str, str], expected: str) -> None:
    assert proxy_for(url, env) == expected


def test_a_kubeconfig_proxy_url_wins_over_the_environment() -> None:
    conn = Connection(server="https://api.corp:6443", proxy_url="http://mine:3128")
    assert with_environment_proxy(conn, {"HTTPS_PROXY": PROXY}).proxy_url == "http://mine:3128"
    plain = Connection(server="https://api.corp:6443")
    assert with_environment_proxy(plain, {"HTTPS_PROXY": PROXY}).proxy_url == PROXY
    assert with_environment_proxy(plain, {}) is plain


def test_a_socks_proxy_in_the_environment_is_refused_by_name() -> None:
    with pytest.raises(KubeconfigError, match=r"HTTPS_PROXY='socks5://p:1080'.*NO_PROXY"):
        proxy_for("https://api.corp", {"HTTPS_PROXY": "socks5://p:1080"})
