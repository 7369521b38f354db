"""The proxy from the environment, as client-go picks it when a kubeconfig names none.

client-go's transport asks Go's ``http.ProxyFromEnvironment`` (golang.org/x/net
``httpproxy``) for every request that has no ``proxy-url``, and so does
CoreDNS.  Its rules, which this module follows:

* ``HTTPS_PROXY`` (or ``https_proxy``) for an https:// server, ``HTTP_PROXY``
  (or ``http_proxy``) for an http:// one; upper case first.  ``HTTP_PROXY`` is
  ignored in a CGI environment (``REQUEST_METHOD`` set).
* A value without a scheme is taken as ``http://`` + value.
* ``localhost`` and loopback addresses are never proxied.
* ``NO_PROXY`` (or ``no_proxy``), comma-separated: ``*`` turns the proxy off;
  an IP or CIDR matches the server's address; a domain matches itself and its
  subdomains (``.domain`` and ``*.domain`` only the subdomains); any entry may
  carry ``:port``, which must then match the server's port (443 or 80 when the
  URL gives none).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit

from clusterdns.cluster.kubeconfig import Connection, KubeconfigError

DEFAULT_PORTS = {"https": "443", "http": "80"}
PROXY_SCHEMES = ("http", "https")


def with_environment_proxy(conn: Connection, env: Mapping[str, str]) -> Connection:
    """``conn`` with the environment's proxy for its server when it names none itself."""
    if conn.proxy_url:
        return conn
    proxy = proxy_for(conn.server, env)
    return dataclasses.replace(conn, proxy_url=proxy) if proxy else conn


def proxy_for(url: str, env: Mapping[str, str]) -> str:
    """The proxy URL to reach ``url`` through, or "" to go direct."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        name, value = _first_set(env, "HTTPS_PROXY", "https_proxy")
    elif scheme == "http" and not env.get("REQUEST_METHOD"):
        name, value = _first_set(env, "HTTP_PROXY", "http_proxy")
    else:
        return ""
    if not value or not _uses_proxy(parts.hostname or "", _port_of(parts), env):
        return ""
    return _proxy_url(name, value)


def _first_set(env: Mapping[str, str], *names: str) -> tuple[str, str]:
    for name in names:
        if env.get(name):
            return name, env[name]
    return names[0], ""


def _port_of(parts: SplitResult) -> str:
    port = parts.port
    return str(port) if port is not None else DEFAULT_PORTS.get(parts.scheme.lower(), "")


def _proxy_url(name: str, value: str) -> str:
    url = value.strip()
    if "://" not in url:
        url = f"http://{url}"  # httpproxy: a bogus URL is tried again with http:// in front
    parts = urlsplit(url)
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise KubeconfigError(
            f"environment variable {name}={value!r}: clusterdns speaks to the API server "
            "through http:// or https:// proxies only (HTTP CONNECT); set an http(s) proxy, "
            "or add the API server to NO_PROXY"
        )
    return url


def _uses_proxy(host: str, port: str, env: Mapping[str, str]) -> bool:
    host = host.lower().rstrip(".")
    address = _ip(host)
    if host == "localhost" or (address is not None and address.is_loopback):
        return False
    _, no_proxy = _first_set(env, "NO_PROXY", "no_proxy")
    return not any(_matches(entry, host, port, address) for entry in _entries(no_proxy))


def _entries(no_proxy: str) -> list[str]:
    return [e for e in (p.strip().lower() for p in no_proxy.split(",")) if e]


def _matches(
    entry: str, host: str, port: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
) -> bool:
    if entry == "*":
        return True
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
        return address is not None and address in network
    pattern, want_port = _split_port(entry)
    if not pattern or (want_port and want_port != port):
        return False
    entry_ip = _ip(pattern)
    if entry_ip is not None:
        return address == entry_ip
    if pattern.startswith("*."):
        pattern = pattern[1:]
    if pattern.startswith("."):
        return host.endswith(pattern)
    return host == pattern or host.endswith(f".{pattern}")


def _split_port(entry: str) -> tuple[str, str]:
    """``host:port``, ``[v6]:port``, or a bare host or IPv6 address (no port)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, ""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
