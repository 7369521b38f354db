"""`clusterdns serve` as a process: flags, refusal of bad files, SIGUSR1 reload, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

CLI = [sys.executable, "-m", "clusterdns"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask(port: int, name: str) -> dns.message.Message | None:
    try:
        return dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=0.5)
    except dns.exception.Timeout:
        return None


def wait_for(predicate, what: str, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def corefile(port: int, address: str) -> str:
    return (
        f".:{port} {{\n    bind 127.0.0.1\n    hosts {{\n        {address} web.test\n    }}\n}}\n"
    )


def test_bad_corefile_is_refused_before_binding(tmp_path: Path):
    port = free_port()
    conf = tmp_path / "Corefile"
    conf.write_text(f".:{port} {{\n    bind 127.0.0.1\n    hosts\n    nosuchplugin\n}}\n")
    result = subprocess.run(
        [*CLI, "serve", "-conf", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert f"{conf}:4: unknown directive 'nosuchplugin'" in result.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))  # nothing was bound there


def test_unclosed_block_names_the_line(tmp_path: Path):
    conf = tmp_path / "Corefile"
    conf.write_text(".:1053 {\n    bind 127.0.0.1\n")
    result = subprocess.run(
        [*CLI, "serve", "--conf", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and f"{conf}:" in result.stderr


class Output:
    """The lines a process prints, read as they come (so a test can wait on one)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def text(self) -> str:
        self.thread.join(15)
        return "".join(self.lines)


@pytest.fixture
def served(tmp_path: Path):
    port = free_port()
    conf = tmp_path / "Corefile"
    conf.write_text(corefile(port, "10.0.0.1"))
    process = subprocess.Popen(
        [*CLI, "serve", "-conf", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = Output(process)
        wait_for(lambda: ask(port, "web.test"), "the server to answer", seconds=60)
        yield process, port, conf, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_sigusr1_reloads_and_a_bad_file_keeps_the_old_config(served):
    """CoreDNS's reload: a Corefile that does not load is logged and the old one keeps
    serving."""
    process, port, conf, output = served
    conf.write_text(corefile(port, "10.0.0.2"))
    os.kill(process.pid, signal.SIGUSR1)
    wait_for(
        lambda: (r := ask(port, "web.test")) and r.answer[0][0].to_text() == "10.0.0.2", "reload"
    )
    conf.write_text(f".:{port} {{\n    bogus\n}}\n")
    os.kill(process.pid, signal.SIGUSR1)
    wait_for(lambda: output.has("unknown directive 'bogus'"), "the refused reload's log line")
    reply = ask(port, "web.test")
    assert reply is not None and reply.answer[0][0].to_text() == "10.0.0.2"
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0


def test_sigterm_stops_cleanly(served):
    process, port, _, output = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    text = output.text()
    assert f".:{port}" in text and "clusterdns-" in text


def test_serve_reads_the_corefile_in_the_working_directory(tmp_path: Path) -> None:
    """CoreDNS's default loader reads ./Corefile when -conf is not given; the first log
    line says which Corefile was loaded."""
    port = free_port()
    (tmp_path / "Corefile").write_text(f".:{port} {{\n    bind 127.0.0.1\n    whoami\n}}\n")
    pidfile = tmp_path / "clusterdns.pid"
    process = subprocess.Popen(
        [*CLI, "serve", "-quiet", "-pidfile", str(pidfile)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.strip() == "[INFO] Loaded Corefile Corefile", first
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pidfile.read_text().strip() == str(process.pid)
        reply = dns.query.udp(
            dns.message.make_query("x.test.", "A"), "127.0.0.1", port=port, timeout=5
        )
        assert any(rr.rdtype == dns.rdatatype.SRV for rr in reply.additional)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert not pidfile.exists()


def test_serve_version_and_plugins_flags() -> None:
    version = subprocess.run(
        [*CLI, "serve", "-version"], capture_output=True, text=True, timeout=30
    )
    assert version.returncode == 0 and version.stdout.startswith("clusterdns-")
    listing = subprocess.run(
        [*CLI, "serve", "-plugins"], capture_output=True, text=True, timeout=30
    )
    assert listing.returncode == 0
    assert "  dns.forward\n" in listing.stdout and "  dns.whoami\n" in listing.stdout
