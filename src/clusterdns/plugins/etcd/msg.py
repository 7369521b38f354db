"""The SkyDNS message: one JSON object per etcd key, and how keys map to names.

A key ``/skydns/local/skydns/staging/web`` holds a record of
``web.staging.skydns.local.`` (the path is the name's labels reversed, below
the plugin's ``path``).  Its value is a JSON object with the fields of
CoreDNS's ``plugin/etcd/msg.Service``: ``host`` (an address, or a name), ``port``,
``priority``, ``weight``, ``text``, ``mail``, ``ttl``, ``targetstrip``,
``group``.  Unknown fields are ignored, as Go's ``encoding/json`` does.

No I/O: ``parse`` takes the key and the value bytes and returns a ``Service``
or the reason it is refused, which the caller logs with the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

import dns.exception
import dns.name

#: CoreDNS etcd.go: ``defaultTTL`` and ``defaultPriority``
DEFAULT_TTL = 300
DEFAULT_PRIORITY = 10
#: labels of a query name that match any label (msg/path.go ``PathWithWildcard``)
WILDCARDS = frozenset({"*", "any"})

_UINT16 = (0, 65535)
_LOOKS_LIKE_IPV4 = re.compile(r"^[0-9.]+$")


@dataclass(frozen=True, slots=True)
class Service:
    """One SkyDNS record (msg/service.go ``Service``), defaults already applied."""

    key: str
    host: str = ""
    port: int = 0
    priority: int = DEFAULT_PRIORITY
    weight: int = 0
    text: str = ""
    mail: bool = False
    ttl: int = DEFAULT_TTL
    targetstrip: int = 0
    group: str = ""

    @property
    def address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The host as an address, when it is one (msg/type.go ``HostType``)."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def kind(self) -> str:
        """``A``, ``AAAA``, ``TXT`` or ``CNAME``: what the host field makes (msg/type.go)."""
        address = self.address
        if address is not None:
            return "A" if address.version == 4 else "AAAA"
        return "TXT" if self.text else "CNAME"


class BadValue(ValueError):
    """The value under a key is not a SkyDNS message; ``str()`` says why."""


def parse(key: str, value: bytes) -> Service:
    """The service stored at ``key``; raise ``BadValue`` when the value is not one."""
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadValue(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadValue("not a JSON object")
    host = _string(data, "host")
    if host:
        _check_host(host)
    port = _integer(data, "port", -1, 65535)
    priority = _integer(data, "priority", *_UINT16) or DEFAULT_PRIORITY
    ttl = _integer(data, "ttl", 0, 2**32 - 1) or DEFAULT_TTL
    mail = data.get("mail", False)
    if not isinstance(mail, bool):
        raise BadValue(f"mail must be true or false, not {mail!r}")
    return Service(
        key=key,
        host=host,
        port=port,
        priority=priority,
        weight=_integer(data, "weight", *_UINT16),
        text=_string(data, "text"),
        mail=mail,
        ttl=ttl,
        targetstrip=_integer(data, "targetstrip", 0, 127),
        group=_string(data, "group"),
    )


def _string(data: dict[str, object], field: str) -> str:
    value = data.get(field, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadValue(f"{field} must be a string, not {value!r}")
    return value


def _integer(data: dict[str, object], field: str, low: int, high: int) -> int:
    value = data.get(field, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(f"{field} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise BadValue(f"{field} must be between {low} and {high}, not {value}")
    return value


def _check_host(host: str) -> None:
    """An address, or a name that fits in DNS; a broken address is refused, not made a name."""
    if ":" in host or _LOOKS_LIKE_IPV4.match(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise BadValue(f"host {host!r} is not a valid IP address") from None
        return
    try:
        dns.name.from_text(host)
    except dns.exception.DNSException as exc:
        raise BadValue(f"host {host!r} is not a valid name: {exc}") from None


def name_of(key: str, prefix: str) -> str | None:
    """The owner name of ``key`` (msg/path.go ``Domain``), or None when it is not below ``prefix``.

    ``/skydns/local/skydns/x`` under ``/skydns`` is ``x.skydns.local.``.
    Names are lower-cased: queries are compared without case.
    """
    root = "/" + prefix.strip("/") + "/"
    if not key.startswith(root):
        return None
    labels = [label for label in key[len(root) :].split("/") if label]
    if not labels:
        return None
    name = ".".join(reversed(labels)).lower() + "."
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException:
        return None
    return name


def path_of(name: str, prefix: str) -> str:
    """The key of ``name`` (msg/path.go ``Path``): ``x.skydns.local.`` -> ``/skydns/local/skydns/x``."""
    labels = [label for label in name.rstrip(".").split(".") if label]
    return "/" + "/".join([prefix.strip("/"), *reversed(labels)])


def split255(text: str) -> list[str]:
    """A TXT string in 255-byte pieces (msg/service.go ``split255``)."""
    if len(text) < 255:
        return [text]
    return [text[i : i + 255] for i in range(0, len(text), 255)]


def target_strip(name: str, labels: int) -> str:
    """``name`` without its ``labels`` leftmost labels, or whole when that overshoots."""
    parts = name.rstrip(".").split(".")
    if labels <= 0 or labels >= len(parts):
        return name
    return ".".join(parts[labels:]) + "."


def group(services: list[Service]) -> list[Service]:
    """msg/service.go ``Group``: keep one group, chosen by the shortest keys that name one.

    The first service's group stands unless a service with a shorter key names
    a group; a service with a shorter key and no group ends the search.  When
    services at that shortest depth disagree, every service is kept.
    """
    if not services:
        return services
    chosen = services[0].group
    depth = services[0].key.count("/")
    for service in services:
        here = service.key.count("/")
        if here < depth:
            if not service.group:
                break
            depth, chosen = here, service.group
    if not chosen:
        return services
    kept = []
    for service in services:
        if not service.group:
            kept.append(service)
        elif service.key.count("/") == depth and service.group != chosen:
            return services
        elif service.group == chosen:
            kept.append(service)
    return kept
