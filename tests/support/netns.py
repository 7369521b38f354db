"""Network namespaces for the node cache tests: created, wired, and always deleted.

Names carry the test process's pid so parallel runs do not collide.  Sockets
"in" a namespace are made by a short-lived thread that ``setns``-es into it:
a socket stays in the namespace it was created in, so the test then talks
through it from its own thread as from a pod.  Servers run as subprocesses
under ``ip netns exec`` and are stopped by their PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import dns.message
import dns.query

from clusterdns.kernellab.netns import in_namespace

REPO = Path(__file__).resolve().parents[2]
CLUSTERDNS = str(REPO / ".venv" / "bin" / "clusterdns")


class NamespaceError(RuntimeError):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def in_ns(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=30, check=False
    )
    if check and done.returncode != 0:
        raise NamespaceError(f"in {ns}: {' '.join(argv)}: {done.stderr.strip()}")
    return done


NETNS_ETC = Path("/etc/netns")


class Namespaces:
    """Namespaces named ``cdns<pid>-<role>``, deleted by ``close`` (with their /etc/netns files)."""

    def __init__(self) -> None:
        self.prefix = f"cdns{os.getpid()}"
        self.names: list[str] = []
        self._made_netns_etc = False

    def add(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        ip("netns", "add", name)
        self.names.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def wire(self, a: str, a_if: str, a_addr: str, b: str, b_if: str, b_addr: str) -> None:
        """A veth pair between namespaces ``a`` and ``b`` (created inside ``a``: no name in the root ns)."""
        ip("-n", a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b)
        for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            ip("-n", ns, "addr", "add", addr, "dev", ifname)
            ip("-n", ns, "link", "set", ifname, "up")

    def resolv_conf(self, ns: str, text: str) -> None:
        """The /etc/resolv.conf that programs under ``ip netns exec ns`` see.

        iproute2 bind-mounts ``/etc/netns/NS/resolv.conf`` over /etc/resolv.conf
        for the command it runs, so the machine's own file is never touched.
        """
        if not NETNS_ETC.exists():
            NETNS_ETC.mkdir()
            self._made_netns_etc = True
        (NETNS_ETC / ns).mkdir(exist_ok=True)
        (NETNS_ETC / ns / "resolv.conf").write_text(text)

    def close(self) -> None:
        for name in reversed(self.names):
            ip("netns", "del", name, check=False)
            shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        self.names.clear()
        if self._made_netns_etc:
            with contextlib.suppress(OSError):
                NETNS_ETC.rmdir()  # only when empty: another run may be using it


def socket_in(ns: str, family: int, kind: int) -> socket.socket:
    """A socket that lives in network namespace ``ns``."""

    def make() -> socket.socket:
        sock = socket.socket(family, kind)
        sock.setblocking(False)  # dnspython waits with its own timeout on a non-blocking socket
        return sock

    return in_namespace(ns, make)


def query(
    ns: str, server: str, name: str, rdtype: str = "A", tcp: bool = False, timeout: float = 2.0
) -> dns.message.Message:
    message = dns.message.make_query(name, rdtype)
    if tcp:
        sock = socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
        with sock:
            sock.settimeout(timeout)
            sock.connect((server, 53))
            sock.setblocking(False)
            return dns.query.tcp(message, server, timeout=timeout, sock=sock)
    sock = socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        return dns.query.udp(message, server, timeout=timeout, sock=sock)


def http_get(ns: str, url: str, timeout: float = 3.0) -> str:
    """GET ``url`` from inside ``ns`` (plain HTTP/1.1, the server closes the connection)."""
    parts = urllib.parse.urlsplit(url)
    sock = socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise NamespaceError(f"GET {url} in {ns}: {head.decode(errors='replace')}")
    return body.decode()


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{key}="{val}"' in head for key, val in labels.items()):
            total += float(value)
    return total


def wait_for(check: object, what: str, timeout: float = 15.0, interval: float = 0.1) -> object:
    """Poll ``check()`` until it returns a truthy value (bounded); fail saying ``what``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()  # type: ignore[operator]
            if last:
                return last
        except (OSError, dns.exception.DNSException, NamespaceError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
