"""clusterdns tap: a dnstap collector and reader, with seed 002's diagnosis."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import BinaryIO, TextIO

from clusterdns.dnstap.framestream import Data, FrameError
from clusterdns.dnstap.message import MessageError, Record, parse
from clusterdns.errors import ClusterDNSError
from clusterdns.tap.diagnose import Diagnosis, render_text
from clusterdns.tap.render import quiet, to_json
from clusterdns.tap.stream import Collector, FileWriter, read_file

DESCRIPTION = """\
Collect dnstap from clusterdns (or CoreDNS, unbound, knot...) on a unix socket (-u PATH) or
TCP (-l HOST:PORT) with the Frame Streams handshake, or read a Frame Streams file (-r FILE,
as `dnstap -r`).  Messages print one per line as `dnstap -q` does, or as JSON lines (--json);
-w FILE saves them to a Frame Streams file.  --diagnose reads for --window seconds (or the
whole file) and reports rcodes by name and client, forwarder queries that got no response
(upstream silent), client queries that got none, the slowest names, the top clients and the
queries that exist only because of the search list.  A frame that is not dnstap is reported
on stderr with its offset; reading goes on.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-u", metavar="PATH", dest="unix", help="listen on this unix socket")
    source.add_argument("-l", metavar="HOST:PORT", dest="tcp", help="listen on TCP")
    source.add_argument("-r", metavar="FILE", dest="read", help="read a Frame Streams file")
    parser.add_argument("-w", metavar="FILE", dest="write", help="write a Frame Streams file")
    parser.add_argument("-q", action="store_true", dest="quiet",
                        help="one line per message, as dnstap -q (the default)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--diagnose", action="store_true", help="report, instead of printing")
    parser.add_argument("--window", type=float, default=10.0, metavar="SECONDS",
                        help="how long to listen before the report, or before exit (default 10; 0: until interrupted)")  # fmt: skip
    parser.add_argument("--count", type=int, default=0, metavar="N",
                        help="stop after N messages (0: no limit)")  # fmt: skip
    parser.add_argument("--zone", action="append", default=[], dest="zones",
                        help="cluster zone for the search-walk analysis (default cluster.local)")  # fmt: skip


class Reader:
    """Turns payloads into records and hands them to the printer, writer or diagnosis."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.json = args.json
        self.out = out
        self.err = err
        self.limit = args.count
        self.seen = 0
        self.errors = 0
        self.diagnosis = (
            Diagnosis(tuple(args.zones) or ("cluster.local",)) if args.diagnose else None
        )
        self.file: BinaryIO | None = open(args.write, "wb") if args.write else None  # noqa: SIM115
        self.writer = FileWriter(self.file) if self.file is not None else None
        self.print = not args.diagnose and not (args.write and not args.quiet and not args.json)

    @property
    def done(self) -> bool:
        return bool(self.limit) and self.seen >= self.limit

    def payload(self, frame: Data) -> None:
        if self.done:
            return
        try:
            record = parse(frame.payload)
        except MessageError as exc:
            self.problem(f"offset {frame.offset}: {exc}")
            return
        self.seen += 1
        if self.writer is not None:
            self.writer.write([frame.payload])
        if self.diagnosis is not None:
            self.diagnosis.add(record)
        elif self.print:
            self.show(record)

    def show(self, record: Record) -> None:
        line = json.dumps(to_json(record)) if self.json else quiet(record)
        self.out.write(line + "\n")
        self.out.flush()

    def problem(self, text: str) -> None:
        self.errors += 1
        self.err.write(f"clusterdns tap: {text}\n")
        self.err.flush()

    def finish(self, now_ns: int | None = None) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.file is not None:
            self.file.close()
        if self.diagnosis is not None:
            report = self.diagnosis.report(now_ns)
            if self.json:
                self.out.write(json.dumps(report, indent=2) + "\n")
            else:
                self.out.write(render_text(report) + "\n")


def run(args: argparse.Namespace) -> int:
    reader = Reader(args, sys.stdout, sys.stderr)
    if args.read:
        try:
            stream = open(args.read, "rb")  # noqa: SIM115
        except OSError as exc:
            raise ClusterDNSError(f"cannot read {args.read}: {exc.strerror}") from None
        with stream:
            for item in read_file(stream):
                if isinstance(item, FrameError):
                    reader.problem(str(item))
                else:
                    reader.payload(item)
                if reader.done:
                    break
        reader.finish()
        return 1 if reader.errors else 0
    address = f"unix://{args.unix}" if args.unix else f"tcp://{args.tcp}"
    asyncio.run(_listen(address, reader, args.window))
    return 0


async def _listen(address: str, reader: Reader, window: float) -> None:
    collector = Collector(address, reader.payload, reader.problem)
    try:
        await collector.start()
    except OSError as exc:
        raise ClusterDNSError(f"cannot listen on {address}: {exc.strerror}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    deadline = time.monotonic() + window if window > 0 else None
    while not stop.is_set() and not reader.done:
        if deadline is not None and time.monotonic() >= deadline:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    await collector.close()
    reader.finish(time.time_ns())
