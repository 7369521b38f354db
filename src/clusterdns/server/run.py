"""Running a server process: event loop, signals, logging in CoreDNS's style."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from importlib import resources
from typing import Protocol

from clusterdns import version_text
from clusterdns.server.server import PlannedBlock

LEVELS = {"CRITICAL": "FATAL"}


class CoreDNSFormatter(logging.Formatter):
    """``[INFO] message``, as CoreDNS prints its log lines."""

    def format(self, record: logging.LogRecord) -> str:
        level = LEVELS.get(record.levelname, record.levelname)
        message = record.getMessage()
        line = message if message.startswith("[") else f"[{level}] {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CoreDNSFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def default_corefile() -> str:
    """The embedded Corefile, pointed at the sample cluster inside the package."""
    text = resources.files("clusterdns.server").joinpath("default.Corefile").read_text()
    sample = resources.files("clusterdns.cluster").joinpath("sample/cluster.yaml")
    return text.replace("{$CLUSTERDNS_SAMPLE_CLUSTER}", str(sample))


def install_event_loop() -> None:
    """uvloop when installed: it roughly halves the cost of each datagram."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class Serving(Protocol):
    """A ``Server``, or the ``WorkerPool`` of ``serve -workers`` that looks like one."""

    text: str
    blocks: list[PlannedBlock]

    def plan(self, text: str) -> list[PlannedBlock]: ...
    async def start(self, planned: list[PlannedBlock] | None = None) -> None: ...
    async def reload(self, text: str | None = None) -> bool: ...
    async def stop(self) -> None: ...
    def addresses(self) -> list[tuple[str, int]]: ...


async def serve_until_signalled(
    server: Serving, conf_path: str | None, quiet: bool, planned: list[PlannedBlock] | None = None
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        text = server.text
        if conf_path:
            try:
                with open(conf_path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                logging.getLogger("clusterdns").error("cannot read %s: %s", conf_path, exc.strerror)
                return
        task = loop.create_task(server.reload(text))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, reload)
    await server.start(planned)
    if not quiet:
        print_banner(server)
    await stop.wait()
    logging.getLogger("clusterdns").info("[INFO] SIGTERM: Shutting down servers then terminating")
    await server.stop()


def print_banner(server: Serving) -> None:
    for block in server.blocks:
        for zone, port in block.addresses:
            print(f"{zone}:{port}")
    print(version_text())
    for host, port in server.addresses():
        print(f"Try: dig @{host} -p {port} kubernetes.default.svc.cluster.local")
        break
    sys.stdout.flush()
