"""What the load tester sends and where: query files, query wire templates, server addresses.

The query file is dnsperf's format: one ``name TYPE`` per line (TYPE defaults to
A), blank lines and lines starting with ``;`` or ``#`` ignored; the file is sent
in order and cycled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.rdatatype

from clusterdns.dns.names import split_ip_port
from clusterdns.errors import ClusterDNSError
from clusterdns.resolver.resolvconf import Effective, Libc, effective
from clusterdns.resolver.resolvconf import parse as parse_resolv_conf
from clusterdns.resolver.search import candidates


class BenchInputError(ClusterDNSError):
    """A query file, a resolv.conf or a server address given to the load tester is wrong."""


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """One line of a query file: the name as written and its record type."""

    name: str
    rdtype: int


@dataclass(frozen=True, slots=True)
class QueryTemplate:
    """Wire bytes of a query (ID 0, RD set, no EDNS, like dnsperf's default) and its question."""

    wire: bytes
    question: bytes


def parse_query_lines(lines: Iterable[str], *, source: str = "<queries>") -> list[QuerySpec]:
    specs = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        fields = line.split()
        if len(fields) > 2:
            raise BenchInputError(
                f"{source}:{number}: expected 'name TYPE', got {len(fields)} fields: {line!r}"
            )
        specs.append(
            QuerySpec(fields[0], parse_type(fields[1] if len(fields) == 2 else "A", source, number))
        )
    if not specs:
        raise BenchInputError(f"{source}: no queries (expected lines of 'name TYPE')")
    return specs


def parse_type(text: str, source: str = "--type", line: int = 0) -> int:
    place = f"{source}:{line}" if line else source
    try:
        return int(dns.rdatatype.from_text(text.upper()))
    except (dns.rdatatype.UnknownRdatatype, ValueError):
        raise BenchInputError(
            f"{place}: unknown record type {text!r} (use A, AAAA, SRV, ...)"
        ) from None


def read_query_file(path: str | Path) -> list[QuerySpec]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchInputError(f"{path}: cannot read query file: {exc.strerror}") from None
    return parse_query_lines(text.splitlines(), source=str(path))


def build_template(spec: QuerySpec) -> QueryTemplate:
    try:
        query = dns.message.make_query(spec.name, dns.rdatatype.RdataType.make(spec.rdtype))
    except dns.exception.DNSException as exc:
        raise BenchInputError(f"query name {spec.name!r} is not a valid DNS name: {exc}") from None
    query.id = 0
    wire = query.to_wire()
    return QueryTemplate(wire=wire, question=wire[12:])


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST`` or ``[V6]:PORT`` -> (address, port); the host must be an IP address."""
    try:
        return split_ip_port(text, default_port)
    except ValueError as exc:
        raise BenchInputError(f"--server {exc}") from None


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """The parts of a resolv.conf the load tester uses (first nameserver, search, ndots)."""

    nameserver: str
    search: tuple[str, ...] = ()
    ndots: int = 1


def read_resolv_conf(path: str | Path) -> ResolvConf:
    """First ``nameserver`` (what a pod's stub resolver tries first), ``search`` and ``ndots``.

    Read with ``clusterdns.resolver``'s parser and glibc's rules (last ``search``
    or ``domain`` line wins, ``ndots`` capped at 15).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchInputError(f"{path}: cannot read resolv.conf: {exc.strerror}") from None
    conf = effective(parse_resolv_conf(text), Libc.GLIBC)
    if not conf.nameservers:
        raise BenchInputError(f"{path}: no 'nameserver' line; give --server HOST:PORT instead")
    return ResolvConf(nameserver=conf.nameservers[0], search=conf.search, ndots=conf.ndots)


def search_candidates(name: str, search: tuple[str, ...], ndots: int) -> list[str]:
    """The names glibc's stub tries for ``name``, in order (``clusterdns.resolver.search``)."""
    conf = Effective(Libc.GLIBC, (), search, ndots, timeout=5, attempts=2)
    return [candidate.name for candidate in candidates(name, conf)]


def validate_name(name: str) -> None:
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise BenchInputError(f"-host {name!r} is not a valid DNS name: {exc}") from None
