"""Packets as text for the log, in the layout CoreDNS's *debug* plugin documents.

``debug: 000000 00 0a 01 00 ...``: 16 bytes a line after a six-digit hex
offset, and a last line with the offset of the end (the length), which
``text2pcap`` reads back into a packet (plugin/debug/README.md, pcap.go).
"""

from __future__ import annotations

PREFIX = "debug: "


def hexdump(data: bytes, prefix: str = PREFIX) -> list[str]:
    lines = [
        f"{prefix}{offset:06x} " + " ".join(f"{b:02x}" for b in data[offset : offset + 16])
        for offset in range(0, len(data), 16)
    ]
    lines.append(f"{prefix}{len(data):06x}")
    return lines
