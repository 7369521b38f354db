"""The IP addresses of the host's network interfaces, by interface name (libc ``getifaddrs``).

CoreDNS's *bind* accepts an interface name and listens on every address of
that interface at start-up or reload; link-local IPv6 addresses carry the
interface as their zone (``fe80::1%eth0``).  This is the thin I/O adapter
the parse step gets passed in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import socket


class _SockAddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 14)]


class _SockAddrIn6(ctypes.Structure):
    _fields_ = [
        ("family", ctypes.c_ushort),
        ("port", ctypes.c_ushort),
        ("flowinfo", ctypes.c_uint32),
        ("addr", ctypes.c_ubyte * 16),
        ("scope_id", ctypes.c_uint32),
    ]


class _IfAddrs(ctypes.Structure):
    pass


_IfAddrs._fields_ = [
    ("next", ctypes.POINTER(_IfAddrs)),
    ("name", ctypes.c_char_p),
    ("flags", ctypes.c_uint),
    ("addr", ctypes.POINTER(_SockAddr)),
    ("netmask", ctypes.POINTER(_SockAddr)),
    ("ifu", ctypes.c_void_p),
    ("data", ctypes.c_void_p),
]


def interface_addresses() -> dict[str, list[str]]:
    """Interface name -> its IPv4 and IPv6 addresses, in the order the kernel lists them."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    head = ctypes.POINTER(_IfAddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        raise OSError(ctypes.get_errno(), "getifaddrs failed")
    found: dict[str, list[str]] = {name: [] for _, name in socket.if_nameindex()}
    try:
        node = head
        while node:
            entry = node.contents
            name = (entry.name or b"").decode(errors="replace")
            address = _address(entry, name)
            if address is not None:
                found.setdefault(name, []).append(address)
            node = entry.next
    finally:
        libc.freeifaddrs(head)
    return found


def _address(entry: _IfAddrs, name: str) -> str | None:
    if not entry.addr:
        return None
    family = entry.addr.contents.family
    if family == socket.AF_INET:
        return str(ipaddress.IPv4Address(bytes(entry.addr.contents.data[2:6])))
    if family == socket.AF_INET6:
        six = ctypes.cast(entry.addr, ctypes.POINTER(_SockAddrIn6)).contents
        ip = ipaddress.IPv6Address(bytes(six.addr))
        return f"{ip}%{name}" if ip.is_link_local else str(ip)
    return None
