"""Client affinity for SO_REUSEPORT sockets: each client address always reaches one worker.

Without a program the kernel picks a socket of a reuseport group by a hash of
the 4-tuple, so the queries of one lookup (glibc opens a socket, hence a source
port, per query) land on any worker, and state kept per client (*searchwalk*'s
walks, a client's hot names in one worker's cache) is split.  A classic BPF
program attached to the group (``SO_ATTACH_REUSEPORT_CBPF``, Linux 4.5,
socket(7)) returns the index of the socket instead: here the last 32 bits of
the source address modulo the group's size.  An index past the group's end (a
worker being forked again) falls back to the kernel's hash.
"""

from __future__ import annotations

import ctypes
import socket

SO_ATTACH_REUSEPORT_CBPF = 51  # include/uapi/asm-generic/socket.h
#: linux/filter.h: loads relative to the network header, whatever the socket's data points at
SKF_NET_OFF = -0x100000
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20
BPF_ALU_MOD_K = 0x04 | 0x90 | 0x00
BPF_RET_A = 0x06 | 0x10
#: where the last 32 bits of the source address are in the IP header (RFC 791, RFC 8200)
SOURCE_TAIL = {socket.AF_INET: 12, socket.AF_INET6: 8 + 12}


class _Filter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Filter))]


def program(family: socket.AddressFamily, size: int) -> list[tuple[int, int, int, int]]:
    """The instructions (code, jt, jf, k): source address tail modulo ``size``."""
    offset = (SKF_NET_OFF + SOURCE_TAIL[family]) & 0xFFFFFFFF
    return [(BPF_LD_W_ABS, 0, 0, offset), (BPF_ALU_MOD_K, 0, 0, size), (BPF_RET_A, 0, 0, 0)]


def attach_client_affinity(sock: socket.socket, size: int) -> None:
    """Attach the program to ``sock``'s reuseport group (one socket of the group is enough)."""
    steps = program(sock.family, max(1, size))
    filters = (_Filter * len(steps))(*(_Filter(*step) for step in steps))
    fprog = _Program(len(steps), ctypes.cast(filters, ctypes.POINTER(_Filter)))
    # the kernel copies the program during the call; ``filters`` outlives it
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))
