"""template against CoreDNS's own cases (coredns/coredns plugin/template/*_test.go).

Parse tables go through the Corefile plan (accepted, or refused with
``plugin/template: Corefile:LINE``).  Handler tables run a real server on loopback; CoreDNS's
"fallthrough" next handler is a fake upstream behind *forward*, so a query that falls through
is one the upstream sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from clusterdns.errors import ConfigError
from clusterdns.server.server import Server
from tests.support.serverutil import RunningServer, running
from tests.support.upstream import FakeUpstream, metric, records, started


def plan(body: str, keys: str = "domain.com.:0 dynamic.domain.com.:0") -> None:
    corefile = f"{keys} {{\n{body}\n}}\n"
    Server(corefile, "Corefile", default_port=0).plan(corefile)


# setup_test.go TestSetupParse and TestSetup: (directive text, accepted)
SETUP_PARSE = [
    ("template", False),
    ("template X", False),
    ("template ANY", False),
    ("template ANY X", False),
    ("template ANY ANY .* {\n notavailable\n}", False),
    ("template ANY ANY {\n answer\n}", False),
    ("template ANY ANY {\n additional\n}", False),
    ("template ANY ANY {\n rcode\n}", False),
    ("template ANY ANY {\n rcode UNDEFINED\n}", False),
    ("template ANY ANY {\n rcode NXDOMAIN\n}", True),
    ('template ANY ANY {\n answer "{{"\n}', False),
    ('template ANY ANY {\n additional "{{"\n}', False),
    ('template ANY ANY {\n authority "{{"\n}', False),
    ('template ANY ANY {\n answer "{{ notAFunction }}"\n}', False),
    (
        'template ANY ANY {\n answer "{{ parseInt }}"\n additional "{{ parseInt }}"\n'
        ' authority "{{ parseInt }}"\n}',
        True,
    ),
    ("template ANY ANY (?P<x>", True),
    ("template ANY ANY {\n\n}", True),
    (
        "template ANY A example.com {\n"
        " match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com\n"
        ' answer "{{ .Name }} A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Grup.d }}."\n'
        " fallthrough\n}",
        True,  # .Grup is an error only when the template runs
    ),
    (
        "template ANY AAAA example.com {\n"
        " match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com\n"
        ' authority "example.com 60 IN SOA ns.example.com hostmaster.example.com (1 60 60 60 60)"\n'
        " fallthrough\n}",
        True,
    ),
    (
        "template IN ANY example.com {\n"
        ' match "[.](example[.]com[.]dc1[.]example[.]com[.])$"\n'
        " rcode NXDOMAIN\n"
        ' authority "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.example.com (1 60 60 60 60)"\n'
        " fallthrough example.com\n}",
        True,
    ),
    (
        "template IN A example {\n"
        " match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
        ' answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n'
        "}\n"
        "template IN MX example. {\n"
        " match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
        ' answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"\n'
        ' additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n'
        "}",
        True,
    ),
    (
        "template IN A example {\n"
        " match ^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$\n"
        ' answer "{{ .Name }} 3600 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"\n'
        "}",
        True,
    ),
    (
        "template IN MX example {\n"
        " match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
        ' answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"\n'
        ' additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n'
        ' authority  "example. 60 IN NS ns0.example."\n'
        ' authority  "example. 60 IN NS ns1.example."\n'
        ' additional "ns0.example. 60 IN A 203.0.113.8"\n'
        ' additional "ns1.example. 60 IN A 198.51.100.8"\n'
        "}",
        True,
    ),
    (
        "template ANY ANY invalid {\n rcode NXDOMAIN\n"
        ' authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n'
        ' ederror 21 "Blocked according to RFC2606"\n}',
        True,
    ),
    (
        "template ANY ANY invalid {\n rcode NXDOMAIN\n"
        ' authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n'
        ' ederror invalid "Blocked according to RFC2606"\n}',
        False,
    ),
    (
        "template ANY ANY invalid {\n rcode NXDOMAIN\n"
        ' authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n'
        " ederror too many arguments\n}",
        False,
    ),
    # setup.go looks CLASS, TYPE and rcode up in miekg/dns's tables, which are upper case
    ("template in A", False),
    ("template IN a", False),
    ("template IN TYPE1", False),
    ("template ANY ANY {\n rcode nxdomain\n}", False),
    ("template ANY ANY {\n rcode 3\n}", False),
    ("template CH TXT", True),
    ("template ANY ANY {\n upstream\n}", True),  # accepted and ignored ("remove soon")
    # template.go: .Meta is a method of the template data
    ('template ANY ANY {\n answer "{{ .Meta \\"foo\\" }}{{ .Name }} 60 IN A 10.0.0.1"\n}', True),
    ("template ANY ANY {\n match " + "a" * 10001 + "\n}", False),  # maxRegexpLen
]


@pytest.mark.parametrize(("body", "ok"), SETUP_PARSE)
def test_setup_parse(body: str, ok: bool) -> None:
    if ok:
        plan(body)
        return
    with pytest.raises(ConfigError, match=r"^plugin/template: Corefile:\d+: "):
        plan(body)


# -- template_test.go TestHandler ---------------------------------------------------------------

IP_REGEX = "(^|[.])ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$"
A_TEMPLATE = "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
TEMPLATES = {
    "exampleDomainA": ("ANY ANY", [f"match {IP_REGEX}", f'answer "{A_TEMPLATE}"']),
    "exampleDomainAParseInt": (
        "ANY ANY",
        [
            "match ^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$",
            'answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"',
        ],
    ),
    "exampleDomainIPA": ("IN A", ['answer "{{ .Name }} 60 IN A {{ .Remote }}"']),
    "exampleDomainANS": (
        "ANY ANY",
        [
            f"match {IP_REGEX}",
            f'answer "{A_TEMPLATE}"',
            'additional "ns0.example. IN A 203.0.113.8"',
            'authority "example. IN NS ns0.example.com."',
        ],
    ),
    "exampleDomainMX": (
        "ANY ANY",
        [
            f"match {IP_REGEX}",
            'answer "{{ .Name }} 60 MX 10 {{ .Name }}"',
            f'additional "{A_TEMPLATE}"',
        ],
    ),
    "invalidDomain": (
        "ANY ANY",
        [
            "match [.]invalid[.]$",
            "rcode NXDOMAIN",
            'answer "invalid. 60 {{ .Class }} SOA a.invalid. b.invalid. (1 60 60 60 60)"',
        ],
    ),
    "rcodeServfail": ("ANY ANY", ["match .*", "rcode SERVFAIL"]),
    "broken": (
        "ANY ANY",
        ["match [.]example[.]$", 'answer "{{ .Name }} 60 IN TXT \\"{{ index .Match 2 }}\\""'],
    ),
    "brokenParseInt": (
        "ANY ANY",
        [
            "match [.]example[.]$",
            'answer "{{ .Name }} 60 IN TXT \\"{{ parseInt \\"gg\\" 16 8 }}\\""',
        ],
    ),
    "nonRR": ("ANY ANY", ["match [.]example[.]$", 'answer "{{ .Name }}"']),
    "nonRRAdditional": ("ANY ANY", ["match [.]example[.]$", 'additional "{{ .Name }}"']),
    "nonRRAuthority": ("ANY ANY", ["match [.]example[.]$", 'authority "{{ .Name }}"']),
    "cname": (
        "ANY ANY",
        ["match example[.]net[.]", 'answer "example.net 60 IN CNAME target.example.com"'],
    ),
    "mdMissing": (
        "ANY ANY",
        [f"match {IP_REGEX}", f'answer "{{{{ .Meta \\"foofoo\\" }}}}{A_TEMPLATE}"'],
    ),
    "withEDE": (
        "ANY ANY",
        [
            "match .*",
            "rcode NXDOMAIN",
            'authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"',
            'ederror 21 "Blocked due to RFC2606"',
        ],
    ),
    "unknownField": (
        "ANY ANY",
        ["match [.]example[.]$", 'answer "{{ .Grup.d }} 60 IN A 10.0.0.1"'],
    ),
}


@contextmanager
def handler(name: str) -> Iterator[tuple[RunningServer, FakeUpstream]]:
    """The named template at ``.`` with ``fallthrough`` (CoreDNS's fall.Root), then forward."""
    spec, options = TEMPLATES[name]
    body = "\n".join(f"    {option}" for option in [*options, "fallthrough"])
    with started(records({})) as upstream:
        corefile = (
            f".:0 {{\n  bind 127.0.0.1\n  template {spec} . {{\n{body}\n  }}\n"
            f"  forward . {upstream.address}\n}}\n"
        )
        with running(corefile) as srv:
            yield srv, upstream


def ask(srv: RunningServer, name: str, rdtype: str, **kw: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    return dns.query.udp(query, srv.host, port=srv.port, timeout=3)


def types(section: list[dns.rrset.RRset]) -> list[str]:
    return [dns.rdatatype.to_text(rrset.rdtype) for rrset in section for _ in rrset]


# (template, name, type, rcode, answer types, additional types, authority types, fell through)
HANDLER = [
    ("rcodeServfail", "test.invalid.", "A", "SERVFAIL", [], [], [], False),
    ("exampleDomainA", "test.invalid.", "A", "NXDOMAIN", [], [], ["SOA"], True),
    ("broken", "test.example.", "ANY", "SERVFAIL", [], [], [], False),
    ("nonRR", "test.example.", "ANY", "SERVFAIL", [], [], [], False),
    ("nonRRAdditional", "test.example.", "ANY", "SERVFAIL", [], [], [], False),
    ("nonRRAuthority", "test.example.", "ANY", "SERVFAIL", [], [], [], False),
    ("exampleDomainIPA", "test.example.", "A", "NOERROR", ["A"], [], [], False),
    ("exampleDomainA", "ip-10-95-12-8.example.", "A", "NOERROR", ["A"], [], [], False),
    ("exampleDomainAParseInt", "ip0a5f0c09.example.", "A", "NOERROR", ["A"], [], [], False),
    ("brokenParseInt", "test.example.", "ANY", "SERVFAIL", [], [], [], False),
    ("exampleDomainMX", "ip-10-95-12-8.example.", "MX", "NOERROR", ["MX"], ["A"], [], False),
    ("exampleDomainANS", "ip-10-95-12-8.example.", "A", "NOERROR", ["A"], ["A"], ["NS"], False),
    ("invalidDomain", "test.invalid.", "MX", "NXDOMAIN", ["SOA"], [], [], False),
    # CNAMEWithoutUpstream: the target is not found, the CNAME is the one answer
    ("cname", "example.net.", "A", "NOERROR", ["CNAME"], [], [], False),
    ("mdMissing", "ip-10-95-12-8.example.", "A", "NOERROR", ["A"], [], [], False),
    ("withEDE", "test.invalid.", "A", "NXDOMAIN", [], [], ["SOA"], False),
    ("unknownField", "test.example.", "A", "SERVFAIL", [], [], [], False),
]


@pytest.mark.parametrize(
    ("template", "name", "rdtype", "rcode", "answer", "additional", "authority", "fell"), HANDLER
)
def test_handler(
    template: str,
    name: str,
    rdtype: str,
    rcode: str,
    answer: list[str],
    additional: list[str],
    authority: list[str],
    fell: bool,
) -> None:
    with handler(template) as (srv, upstream):
        reply = ask(srv, name, rdtype, use_edns=0)
        assert dns.rcode.to_text(reply.rcode()) == rcode
        assert types(reply.answer) == answer
        assert types(reply.additional) == additional
        assert types(reply.authority) == authority
        assert any(asked == name for _, asked, _ in upstream.seen) is fell


def test_handler_values() -> None:
    # the values TestHandler's verifyResponse checks
    with handler("exampleDomainIPA") as (srv, _):
        assert str(ask(srv, "test.example.", "A").answer[0][0]) == "127.0.0.1"  # .Remote
    with handler("exampleDomainA") as (srv, _):
        assert str(ask(srv, "ip-10-95-12-8.example.", "A").answer[0][0]) == "10.95.12.8"
    with handler("exampleDomainAParseInt") as (srv, _):
        assert str(ask(srv, "ip0a5f0c09.example.", "A").answer[0][0]) == "10.95.12.9"
    with handler("mdMissing") as (srv, _):
        # .Meta of an unknown name is "" (clusterdns has no metadata plugin)
        owner = ask(srv, "ip-10-95-12-8.example.", "A").answer[0].name.to_text()
        assert owner == "ip-10-95-12-8.example."
    with handler("withEDE") as (srv, _):
        reply = ask(srv, "test.invalid.", "A", use_edns=0)
        eds = [o for o in reply.options if o.otype == dns.edns.OptionType.EDE]
        assert [o.code for o in eds] == [21]  # type: ignore[attr-defined]


def test_failure_metrics_name_the_template_as_go_prints_it() -> None:
    # template.go executeRRTemplate: the `template` label is Tree.Root.String()
    with handler("broken") as (srv, _):
        server = f"dns://127.0.0.1:{srv.port}"
        ask(srv, "test.example.", "ANY")
        labels = {"server": server, "zone": ".", "view": "", "class": "IN", "type": "ANY"}
        assert (
            metric(
                "coredns_template_template_failures_total",
                section="answer",
                template='{{.Name}} 60 IN TXT "{{index .Match 2}}"',
                **labels,
            )
            == 1
        )
        assert metric("coredns_template_matches_total", **labels) == 1
    with handler("nonRRAuthority") as (srv, _):
        server = f"dns://127.0.0.1:{srv.port}"
        ask(srv, "test.example.", "ANY")
        assert (
            metric(
                "coredns_template_rr_failures_total",
                server=server,
                zone=".",
                view="",
                section="authority",
                template="{{.Name}}",
                **{"class": "IN", "type": "ANY"},
            )
            == 1
        )


# -- template_test.go TestMultiSection --------------------------------------------------------

MULTI_SECTION = """
test.:0 coredns.invalid.:0 example.:0 {
  bind 127.0.0.1
  # CoreDNS's block is test. alone: the first two templates take it as their zone
  template IN A test {
    rcode REFUSED
  }
  template IN TXT test {
    match "$^"
    rcode SERVFAIL
    fallthrough
  }
  template CH TXT coredns.invalid {
    answer "{{ .Name }} 60 CH TXT \\"test\\""
  }
  template IN A example {
    match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
    answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    fallthrough
  }
  template IN MX example {
    match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
    answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
    additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
  }
  forward . UPSTREAM
}
"""
# (name, type, class, rcode, answer types, fell through to the next plugin)
MULTI_CASES = [
    ("some.test.", "A", "IN", "REFUSED", [], False),
    ("some.test.", "TXT", "IN", "NXDOMAIN", [], True),
    ("coredns.invalid.", "TXT", "CH", "NOERROR", ["TXT"], False),
    ("ip-10-11-12-13.example.", "A", "IN", "NOERROR", ["A"], False),
    ("ip-10-11-12-13.example.", "MX", "IN", "NOERROR", ["MX"], False),
    ("something.example.", "A", "IN", "NXDOMAIN", [], True),
    ("something.example.", "MX", "IN", "SERVFAIL", [], False),
]


def test_multi_section() -> None:
    with (
        started(records({})) as upstream,
        running(MULTI_SECTION.replace("UPSTREAM", upstream.address)) as srv,
    ):
        for name, rdtype, rdclass, rcode, answer, fell in MULTI_CASES:
            before = upstream.count()
            reply = ask(srv, name, rdtype, rdclass=dns.rdataclass.from_text(rdclass))
            assert dns.rcode.to_text(reply.rcode()) == rcode, (name, rdtype)
            assert types(reply.answer) == answer, (name, rdtype)
            assert (upstream.count() > before) is fell, (name, rdtype)
        txt = ask(srv, "coredns.invalid.", "TXT", rdclass=dns.rdataclass.CH)
        assert [str(rr) for rr in txt.answer[0]] == ['"test"']
        assert txt.flags & dns.flags.AA


# -- cname_test.go TestTruncatedCNAME ---------------------------------------------------------


def test_cname_target_records_follow_the_cname() -> None:
    with started(records({"test.up. A": ["1.2.3.4"]}, ttl=600)) as upstream:
        corefile = (
            ".:0 {\n  bind 127.0.0.1\n  template IN A test {\n"
            '    match ^cname\\.test\\.$\n    answer "cname.test. 600 IN CNAME test.up"\n  }\n'
            f"  forward . {upstream.address}\n}}\n"
        )
        with running(corefile) as srv:
            reply = ask(srv, "cname.test.", "A")
            assert [rrset.to_text() for rrset in reply.answer] == [
                "cname.test. 600 IN CNAME test.up.",
                "test.up. 600 IN A 1.2.3.4",
            ]
