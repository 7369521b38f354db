"""Frame Streams (fstrm), the transport of dnstap: framing and handshake, without I/O.

The protocol (farsightsec/fstrm, "Frame Streams Control Frames"): a stream is a
sequence of frames, each a 32-bit big-endian length and that many bytes.  A
length of 0 is an escape: a control frame follows, as its own 32-bit length
and a body made of a 32-bit control type and fields (32-bit field type, 32-bit
length, bytes; only CONTENT_TYPE exists).

* A file, or a unidirectional stream: START (content type), data frames, STOP.
* A bidirectional stream (a dnstap sender and a collector on a socket): the
  sender writes READY (the content types it can send), the collector answers
  ACCEPT (the ones it takes), the sender writes START, data frames, STOP, and
  the collector answers FINISH.

``Decoder`` is fed bytes as they come (a file's chunks or a socket's reads)
and yields frames with the offset each started at, so an error can name it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

CONTENT_TYPE = b"protobuf:dnstap.Dnstap"

ACCEPT = 0x01
START = 0x02
STOP = 0x03
READY = 0x04
FINISH = 0x05
CONTROL_NAMES = {ACCEPT: "ACCEPT", START: "START", STOP: "STOP", READY: "READY", FINISH: "FINISH"}

FIELD_CONTENT_TYPE = 0x01
#: fstrm's limit on a control frame (FSTRM_CONTROL_FRAME_LENGTH_MAX)
MAX_CONTROL_LENGTH = 512
#: the largest data frame we accept (fstrm_capture's default is 1 MiB; DNS messages are < 64 KiB)
MAX_DATA_LENGTH = 1 << 20

_U32 = struct.Struct(">I")


class FrameError(Exception):
    """The stream is not Frame Streams at ``offset``: what was expected and what came."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Control:
    """A control frame: its type and the content types it carries."""

    offset: int
    type: int
    content_types: tuple[bytes, ...] = ()

    @property
    def name(self) -> str:
        return CONTROL_NAMES.get(self.type, f"CONTROL{self.type}")


@dataclass(frozen=True, slots=True)
class Data:
    """A data frame: one payload (for dnstap, one serialized ``Dnstap`` message)."""

    offset: int
    payload: bytes


Frame = Control | Data


def control(kind: int, content_types: Iterable[bytes] = ()) -> bytes:
    """The bytes of a control frame, escape included."""
    body = _U32.pack(kind) + b"".join(
        _U32.pack(FIELD_CONTENT_TYPE) + _U32.pack(len(ct)) + ct for ct in content_types
    )
    return b"\x00\x00\x00\x00" + _U32.pack(len(body)) + body


def data(payload: bytes) -> bytes:
    """The bytes of a data frame."""
    return _U32.pack(len(payload)) + payload


length = _U32.pack
"""A data frame's 4-byte length field."""


def data_frames(payloads: Iterable[bytes]) -> bytes:
    """Several data frames in one buffer (one write for a batch)."""
    pack = _U32.pack
    parts: list[bytes] = []
    for payload in payloads:
        parts.append(pack(len(payload)))
        parts.append(payload)
    return b"".join(parts)


def parse_control(body: bytes, offset: int) -> Control:
    """A control frame body (after the escape and its length)."""
    if len(body) < 4:
        raise FrameError(offset, f"control frame of {len(body)} bytes, needs at least 4")
    kind = _U32.unpack_from(body)[0]
    if kind not in CONTROL_NAMES:
        raise FrameError(offset, f"unknown control frame type {kind:#x}")
    types: list[bytes] = []
    pos = 4
    while pos < len(body):
        if len(body) - pos < 8:
            raise FrameError(offset, "control field header cut short")
        field, length = struct.unpack_from(">II", body, pos)
        pos += 8
        if pos + length > len(body):
            raise FrameError(offset, f"control field of {length} bytes overruns its frame")
        if field == FIELD_CONTENT_TYPE:
            types.append(body[pos : pos + length])
        pos += length
    return Control(offset, kind, tuple(types))


class Decoder:
    """Bytes in, frames out; keeps the partial frame between feeds."""

    __slots__ = ("buffer", "offset", "max_data")

    def __init__(self, max_data: int = MAX_DATA_LENGTH) -> None:
        self.buffer = bytearray()
        self.offset = 0  # stream offset of buffer[0]
        self.max_data = max_data

    def feed(self, chunk: bytes) -> Iterator[Frame]:
        """Add ``chunk`` and yield every frame now complete; FrameError on garbage framing."""
        buffer = self.buffer
        buffer += chunk
        pos = 0
        try:
            while len(buffer) - pos >= 4:
                length = _U32.unpack_from(buffer, pos)[0]
                if length:
                    if length > self.max_data:
                        raise FrameError(
                            self.offset + pos,
                            f"data frame of {length} bytes is over the {self.max_data} limit",
                        )
                    if len(buffer) - pos < 4 + length:
                        break
                    yield Data(self.offset + pos, bytes(buffer[pos + 4 : pos + 4 + length]))
                    pos += 4 + length
                    continue
                if len(buffer) - pos < 8:
                    break
                clen = _U32.unpack_from(buffer, pos + 4)[0]
                if clen > MAX_CONTROL_LENGTH:
                    raise FrameError(
                        self.offset + pos,
                        f"control frame of {clen} bytes is over the {MAX_CONTROL_LENGTH} limit",
                    )
                if len(buffer) - pos < 8 + clen:
                    break
                yield parse_control(bytes(buffer[pos + 8 : pos + 8 + clen]), self.offset + pos)
                pos += 8 + clen
        finally:
            del buffer[:pos]
            self.offset += pos

    @property
    def pending(self) -> int:
        """Bytes of a frame begun but not complete."""
        return len(self.buffer)
