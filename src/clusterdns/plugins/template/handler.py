"""The template handler: a matching query is answered from its templates (CoreDNS's template).

Per query: the longest of the plugin's zones that holds the name, the class and type filter,
then the first regex that matches.  A name in the zones that no regex matches is SERVFAIL, or
goes to the next plugin with ``fallthrough``.  The answer depends on the question alone unless a
template reads ``.Remote`` or ``.Message``, so it is compiled once per (name, type, class),
kept in a bounded table, and memoized by the server for good; a per-client answer is neither.
A CNAME answer to an A or AAAA query is followed through the rest of the chain, as CoreDNS
follows it through its upstream, and its target's records are appended.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Iterable
from typing import Any

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from clusterdns.dns.reply import compile_answer, render
from clusterdns.dns.wire import (
    SERVFAIL,
    TYPE_A,
    TYPE_AAAA,
    TYPE_CNAME,
    Query,
    WireError,
    parse_query,
)
from clusterdns.dns.zone import zone_of
from clusterdns.plugins.plugin import FOREVER, Handler, Plugin, Reply, Request
from clusterdns.plugins.template import metrics
from clusterdns.plugins.template.gotemplate import Template, TemplateExecError
from clusterdns.plugins.template.options import ANY, TemplateConfig
from clusterdns.plugins.template.records import RecordError, parse_rr

MAX_COMPILED = 10_000
OPTION_EDE = 15  # RFC 8914 extended DNS error


class Failure(Exception):
    """A template could not be run or its output was not a record: the query gets SERVFAIL."""


class Question:
    """``.Question``: printed as miekg/dns prints a question, fields as it names them."""

    __slots__ = ("Name", "Qtype", "Qclass")

    def __init__(self, name: str, qtype: int, qclass: int) -> None:
        self.Name = name
        self.Qtype = qtype
        self.Qclass = qclass

    def __str__(self) -> str:
        return f";{self.Name}\t{_class_text(self.Qclass)}\t {_type_text(self.Qtype)}"


class Message:
    """``.Message``: the query as dnspython prints it, and its header fields."""

    __slots__ = ("Id", "Opcode", "RecursionDesired", "CheckingDisabled", "Question", "_data")

    def __init__(self, query: Query) -> None:
        self.Id = query.id
        self.Opcode = query.opcode
        self.RecursionDesired = bool(query.flags & 0x0100)
        self.CheckingDisabled = bool(query.flags & 0x0010)
        self.Question = [Question(query.name, query.qtype, query.qclass)]
        self._data = query.data

    def __str__(self) -> str:
        try:
            return str(dns.message.from_wire(self._data).to_text())
        except Exception:
            return ""


class TemplatePlugin(Plugin):
    name = "template"
    replies_outlive_reload = True

    def __init__(self, config: TemplateConfig) -> None:
        self.config = config
        self.per_client = config.per_client
        self.compiled: dict[tuple[str, int, int], tuple[Any, tuple[str, ...]]] = {}

    async def serve(self, request: Request, next: Handler) -> Reply:
        config = self.config
        query = request.query
        name = query.name
        zone = zone_of(name, config.zones)
        if zone is None:
            return await next(request)
        if config.qclass != ANY and query.qclass != ANY and query.qclass != config.qclass:
            return await next(request)
        if config.qtype != ANY and query.qtype != ANY and query.qtype != config.qtype:
            return await next(request)
        match = _first_match(config.regexes, name)
        if match is None:
            if self._falls_through(name):
                return await next(request)
            return Reply.unanswered(SERVFAIL, self.name)
        qclass = query.qclass if query.qclass != ANY else config.qclass
        qtype = query.qtype if query.qtype != ANY else config.qtype
        labels = (request.server, zone, "", _class_text(qclass), _type_text(qtype))
        metrics.count(metrics.MATCHES, labels)
        if config.rcode == SERVFAIL:
            return Reply.unanswered(SERVFAIL, self.name)
        key = (name, query.qtype, query.qclass)
        compiled = None if self.per_client else self.compiled.get(key)
        if compiled is None:
            data = _data(request, zone, match, qclass, qtype)
            try:
                compiled = self._compile(name, query.qtype, data, labels)
            except Failure as exc:
                return Reply.unanswered(SERVFAIL, self.name, str(exc))
            if not self.per_client:
                if len(self.compiled) >= MAX_COMPILED:
                    self.compiled.clear()
                self.compiled[key] = compiled
        (answer, sections), cnames = compiled
        memo_until = 0.0 if self.per_client else FOREVER
        if cnames and query.qtype in (TYPE_A, TYPE_AAAA):
            extra, memo_until = await self._chase(request, next, cnames, memo_until)
            if extra:
                answer = compile_answer(
                    name,
                    query.qtype,
                    config.rcode,
                    [*sections[0], *extra],
                    sections[1],
                    sections[2],
                )
        wire = render(query, answer, request.udp)
        if config.ederror is not None and query.edns:
            wire = _with_ede(wire, *config.ederror)
        return Reply(wire, config.rcode, self.name, memo_until)

    def _compile(
        self, name: str, qtype: int, data: dict[str, Any], labels: tuple[str, ...]
    ) -> tuple[Any, tuple[str, ...]]:
        config = self.config
        sections = []
        for section, templates in (
            ("answer", config.answer),
            ("authority", config.authority),
            ("additional", config.additional),
        ):
            sections.append([_record(t, data, section, labels) for t in templates])
        cnames = tuple(
            rrset[0].target.to_text().lower() for rrset in sections[0] if rrset.rdtype == TYPE_CNAME
        )
        answer = compile_answer(name, qtype, config.rcode, sections[0], sections[1], sections[2])
        return (answer, tuple(sections)), cnames

    async def _chase(
        self, request: Request, next: Handler, targets: Iterable[str], memo_until: float
    ) -> tuple[list[dns.rrset.RRset], float]:
        """The records the rest of the chain has for each CNAME target (CoreDNS: upstream lookup)."""
        found: list[dns.rrset.RRset] = []
        for target in targets:
            probe = dns.message.make_query(
                target, dns.rdatatype.RdataType.make(request.query.qtype), use_edns=0, payload=4096
            )
            try:
                query = parse_query(probe.to_wire())
            except WireError:
                continue
            # Asked as over TCP so the rest of the chain does not truncate the target's records.
            sub = request.with_query(query, transport="tcp")
            reply = await next(sub)
            memo_until = min(memo_until, reply.memo_until)
            if reply.wire is None:
                continue
            try:
                found.extend(dns.message.from_wire(reply.wire).answer)
            except Exception:
                continue
        return found, memo_until

    def _falls_through(self, name: str) -> bool:
        zones = self.config.fallthrough
        if zones is None:
            return False
        return not zones or zone_of(name, zones) is not None


def _first_match(regexes: Iterable[re.Pattern[str]], name: str) -> re.Match[str] | None:
    for regex in regexes:
        match = regex.search(name)
        if match is not None:
            return match
    return None


def _data(
    request: Request, zone: str, match: re.Match[str], qclass: int, qtype: int
) -> dict[str, Any]:
    """CoreDNS's templateData for this query."""
    query = request.query
    groups = [match.group(0), *match.groups()]
    matches = ["" if g is None else g for g in groups]
    group = {str(i): m for i, m in enumerate(matches)}
    group.update({k: ("" if v is None else v) for k, v in match.groupdict().items()})
    return {
        "Zone": zone,
        "Name": query.name,
        "Regex": match.re.pattern,
        "Match": matches,
        "Group": group,
        "Class": _class_text(qclass),
        "Type": _type_text(qtype),
        "Question": Question(query.name, query.qtype, query.qclass),
        "Message": Message(query),
        "Remote": _remote(request.client[0]),
    }


def _record(
    template: Template, data: dict[str, Any], section: str, labels: tuple[str, ...]
) -> dns.rrset.RRset:
    try:
        text = template.execute(data)
    except TemplateExecError as exc:
        metrics.count(metrics.TEMPLATE_FAILURES, (*labels, section, template.tree))
        raise Failure(f"template {template.source!r}: {exc}") from exc
    try:
        return parse_rr(text)
    except RecordError as exc:
        metrics.count(metrics.RR_FAILURES, (*labels, section, template.tree))
        raise Failure(f"templated record {text!r} is not a valid RR: {exc}") from exc


def _with_ede(wire: bytes, code: int, reason: str) -> bytes:
    """Append an extended DNS error option (RFC 8914) to the reply's OPT, the last record."""
    text = reason.encode()
    option = struct.pack(">HHH", OPTION_EDE, 2 + len(text), code) + text
    return wire[:-2] + struct.pack(">H", len(option)) + option


def _remote(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return address


def _class_text(qclass: int) -> str:
    return dns.rdataclass.to_text(dns.rdataclass.RdataClass.make(qclass))


def _type_text(qtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(qtype))
