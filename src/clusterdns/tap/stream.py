"""Frame Streams over files and sockets: the I/O around ``framestream``.

* ``read_file``: a dnstap file (``dnstap -w``, ``fstrm_capture -w``) as payloads;
  a frame that is not readable is reported with its offset and reading goes on
  where the framing allows.
* ``FileWriter``: START, data frames, STOP, as ``fstrm_capture`` writes a file.
* ``Collector``: a socket a dnstap sender connects to (unix or TCP), with the
  bidirectional handshake (READY -> ACCEPT, START, data, STOP -> FINISH); a
  unidirectional sender that begins with START is taken too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

from clusterdns.dnstap.framestream import (
    ACCEPT,
    CONTENT_TYPE,
    FINISH,
    READY,
    START,
    STOP,
    Control,
    Data,
    Decoder,
    FrameError,
    control,
    data_frames,
)

CHUNK = 1 << 16


def read_file(stream: BinaryIO) -> Iterator[Data | FrameError]:
    """Every data frame of a Frame Streams file, and a FrameError for what is not one.

    A START whose content type is not dnstap's is an error, as is data
    before START; broken framing ends the read (nothing after it can be
    trusted), reported as an error with its offset.
    """
    decoder = Decoder()
    started = False
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        try:
            for frame in decoder.feed(chunk):
                if isinstance(frame, Control):
                    if frame.type == START:
                        started = True
                        if frame.content_types and CONTENT_TYPE not in frame.content_types:
                            yield FrameError(
                                frame.offset,
                                f"content type {frame.content_types[0]!r} is not {CONTENT_TYPE!r}",
                            )
                    elif frame.type == STOP:
                        started = False
                    continue
                if not started:
                    yield FrameError(frame.offset, "data frame before START")
                yield frame
        except FrameError as exc:
            yield exc
            return
    if decoder.pending:
        yield FrameError(decoder.offset, f"file ends inside a frame ({decoder.pending} bytes)")


class FileWriter:
    """A Frame Streams file of dnstap payloads: START, data frames, STOP on close."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.stream.write(control(START, [CONTENT_TYPE]))

    def write(self, payloads: list[bytes]) -> None:
        self.stream.write(data_frames(payloads))

    def close(self) -> None:
        self.stream.write(control(STOP))
        self.stream.flush()


Sink = Callable[[Data], None]
Problem = Callable[[str], None]


class Collector:
    """Accepts dnstap senders on a unix socket path or a TCP host:port; hands every payload to ``sink``."""

    def __init__(self, address: str, sink: Sink, problem: Problem | None = None) -> None:
        self.address = address
        self.sink = sink
        self.problem = problem or (lambda _text: None)
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def unix(self) -> bool:
        return not self.address.startswith("tcp://")

    async def start(self) -> None:
        if self.unix:
            path = self.address.removeprefix("unix://")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            self.server = await asyncio.start_unix_server(self._serve, path)
        else:
            hostport = self.address.removeprefix("tcp://")
            host, _, port = hostport.rpartition(":")
            self.server = await asyncio.start_server(self._serve, host.strip("[]"), int(port))
            self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.connections):
                writer.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        decoder = Decoder()
        started = False
        try:
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    return
                for frame in decoder.feed(chunk):
                    if isinstance(frame, Data):
                        if started:
                            self.sink(frame)
                        else:
                            self.problem(f"offset {frame.offset}: data frame before START")
                    elif frame.type == READY:
                        if CONTENT_TYPE not in frame.content_types:
                            self.problem(f"sender offers {frame.content_types}, not dnstap")
                            return
                        writer.write(control(ACCEPT, [CONTENT_TYPE]))
                    elif frame.type == START:
                        started = True
                    elif frame.type == STOP:
                        writer.write(control(FINISH))
                        with contextlib.suppress(ConnectionError):
                            await writer.drain()
                        return
        except FrameError as exc:
            self.problem(str(exc))
        except ConnectionError:
            pass
        finally:
            self.connections.discard(writer)
            writer.close()
