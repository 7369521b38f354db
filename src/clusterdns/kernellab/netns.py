"""Network namespaces, veth pairs and processes inside them: made, and always taken down.

Every name carries a per-run prefix (``cdk<pid>``), so two runs never collide and a
teardown deletes only what this run made.  Nothing is created in the machine's own
namespace: veth pairs are created inside a lab namespace with the peer moved straight
into another one, and every iptables/nft command runs under ``ip netns exec``.
Deleting a namespace drops its interfaces, routes, conntrack table and rules with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class LabError(RuntimeError):
    """A lab step failed: the message names the command and what it printed."""


def run(argv: Sequence[str], stdin: str | None = None, check: bool = True) -> str:
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: not installed (Debian: iproute2, iptables, nftables)") from exc
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


class Namespaces:
    """The namespaces of one lab run; ``close`` deletes them all (idempotent)."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"cdk{os.getpid()}"
        self.names: list[str] = []

    def add(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        run(["ip", "netns", "add", name])
        self.names.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def veth(self, a: str, a_if: str, b: str, b_if: str) -> None:
        """A veth pair made inside ``a`` with its peer moved into ``b`` (never in the root ns)."""
        run(["ip", "-n", a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b])
        run(["ip", "-n", a, "link", "set", a_if, "up"])
        run(["ip", "-n", b, "link", "set", b_if, "up"])

    def exec(self, ns: str, *argv: str, stdin: str | None = None, check: bool = True) -> str:
        return run(["ip", "netns", "exec", ns, *argv], stdin=stdin, check=check)

    def close(self) -> None:
        for name in reversed(self.names):
            run(["ip", "netns", "del", name], check=False)
        self.names.clear()


def in_namespace(ns: str, work: Callable[[], T]) -> T:
    """Run ``work`` on a thread that has entered ``ns``: its sockets and /proc/net are ns's.

    A socket stays in the namespace it was made in, so sockets made by ``work`` can be
    used by any thread afterwards.  The thread ends with ``work``; this one never moves.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def enter_and_work() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({ns}) failed")
            finally:
                os.close(fd)
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=enter_and_work, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class Process:
    """A server under ``ip netns exec`` (which execs it: the PID is the server's); stopped by PID."""

    def __init__(
        self, ns: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.log = log
        self._handle = log.open("ab")
        self.popen = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, SIGKILL if it will not go; returns the exit code."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        self._handle.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")
