"""template: CoreDNS's README examples served end to end, the Go-template subset, metrics, errors.

The examples follow plugin/template/README.md of CoreDNS (forward to a public resolver is
replaced by a fake upstream on loopback).
"""

from __future__ import annotations

from typing import Any

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.errors import ConfigError
from clusterdns.plugins.template.gotemplate import (
    LEAF,
    MAP,
    Template,
    TemplateExecError,
    TemplateSyntaxError,
)
from clusterdns.server.server import Server
from tests.support.serverutil import answers, running
from tests.support.upstream import metric, records, started

FIELDS = {"Name": LEAF, "Group": MAP, "Match": LEAF, "Question": {"Name": LEAF}}
DATA: dict[str, Any] = {
    "Name": "ip0a7b0c01.example.",
    "Group": {"0": "ip0a7b0c01.example.", "b": "7b", "c": "0c", "bad": "zz"},
    "Match": ["ip0a7b0c01.example.", "7b"],
}


# -- the Go-template subset ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ .Name }} 60 IN A 10.0.0.1", "ip0a7b0c01.example. 60 IN A 10.0.0.1"),
        ("{{.Name}}", "ip0a7b0c01.example."),
        ("{{ .Group.b }}.{{ .Group.c }}", "7b.0c"),
        ("{{ .Group.nope }}", "<no value>"),  # Go prints a missing map key so
        ('{{ index .Group "nope" }}|', "|"),  # ... but index gives the zero value
        ("{{ index .Match 1 }}", "7b"),
        ('{{ index .Group "b" }}', "7b"),
        ("{{ parseInt .Group.b 16 8 }}", "123"),
        ("{{ parseInt .Group.c 16 8 }}", "12"),
        ("{{ parseInt (index .Match 1) 16 8 }}", "123"),
        ('{{ "b" | index .Group }}', "7b"),  # a pipe passes the value as the last argument
        ('{{ parseInt "0x1f" 0 8 }}', "31"),
        ("{{ .Match }}", "[ip0a7b0c01.example. 7b]"),
        ("a {{- .Group.b -}} b", "a7bb"),
        ("x{{/* a comment */}}y", "xy"),
        ('{{ "quoted \\"}}\\"" }}', 'quoted "}}"'),
        ("{{ `raw` }}", "raw"),
        ("{{ 42 }}", "42"),
        ("no action", "no action"),
    ],
)
def test_template_subset_renders_like_go(source: str, expected: str) -> None:
    assert Template(source, FIELDS).execute(DATA) == expected


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ printf .Name }}", 'function "printf" not defined'),
        ("{{ if .Name }}x{{ end }}", "not supported"),
        ("{{ $x := .Name }}", "not supported"),
        ("{{ .Name ", "unclosed action"),
        ("{{ .Name .Name }}", "can't give argument to non-function"),
        ("{{ (index .Match 0 }}", "unclosed left paren"),
        ("{{ }}", "missing value"),
    ],
)
def test_template_subset_refuses_what_it_does_not_know(source: str, reason: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=reason.replace("(", r"\(").replace("$", r"\$")):
        Template(source, FIELDS)


@pytest.mark.parametrize(
    "source",
    [
        "{{ parseInt .Group.bad 16 8 }}",
        "{{ parseInt .Group.b 10 8 }}",
        '{{ parseInt "300" 10 8 }}',  # out of range for 8 bits
        "{{ index .Match 5 }}",
        "{{ .Group.b | parseInt 16 8 }}",  # Go passes the piped value last: parseInt 16 8 "7b"
        # Go checks fields when the template runs (CoreDNS's setup_test accepts `.Grup.d`)
        "{{ .Nmae }}",
        "{{ parseInt .Name 16 }}",  # Go counts a function's arguments when it runs it
        "{{ .Name.Foo }}",
        "{{ .Question.Type }}",
    ],
)
def test_template_runtime_errors(source: str) -> None:
    with pytest.raises(TemplateExecError):
        Template(source, FIELDS).execute(DATA)


# -- CoreDNS README examples, end to end -----------------------------------------------------


def test_resolve_everything_to_nxdomain() -> None:
    corefile = """
.:0 {
    bind 127.0.0.1
    template ANY ANY {
      rcode NXDOMAIN
    }
}
"""
    with running(corefile) as srv:
        for name, rdtype in (("example.org.", "A"), ("a.b.c.", "MX"), (".", "NS")):
            reply = srv.udp(name, rdtype)
            assert reply.rcode() == dns.rcode.NXDOMAIN
            assert reply.flags & dns.flags.AA
            assert not reply.answer and not reply.authority


def test_invalid_tld_nxdomain_with_soa_and_extended_error() -> None:
    with started(records({"example.org. A": ["192.0.2.1"]})) as upstream:
        corefile = f"""
.:0 {{
    bind 127.0.0.1
    forward . {upstream.address}
    template ANY ANY invalid {{
      rcode NXDOMAIN
      authority "invalid. 60 {{{{ .Class }}}} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"
      ederror 21 "Blocked according to RFC2606"
    }}
}}
"""
        with running(corefile) as srv:
            reply = srv.udp("something.invalid.", "A", use_edns=0)
            assert reply.rcode() == dns.rcode.NXDOMAIN
            assert [rrset.to_text() for rrset in reply.authority] == [
                "invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"
            ]
            ede = [o for o in reply.options if o.otype == dns.edns.EDE]
            assert len(ede) == 1
            assert ede[0].code == 21 and ede[0].text == "Blocked according to RFC2606"
            # "Querying .invalid in the CH class will also cause a NXDOMAIN/SOA response"
            chaos = srv.udp("x.invalid.", "TXT", rdclass="CH")
            assert chaos.rcode() == dns.rcode.NXDOMAIN
            assert chaos.authority[0].to_text().split()[2] == "CH"
            # other names go on to forward
            assert answers(srv.udp("example.org.", "A")) == ["example.org. 300 IN A 192.0.2.1"]
            assert upstream.count() == 1


def test_block_search_domain_completions_zone_and_regex_forms() -> None:
    """The README's dc1.example.com case, and seed 002's cluster.local search walk."""
    with started(records({"something.example.com. A": ["192.0.2.7"]})) as upstream:
        corefile = f"""
.:0 {{
    bind 127.0.0.1
    forward . {upstream.address}
    template IN ANY example.com.dc1.example.com {{
      rcode NXDOMAIN
      authority "{{{{ .Zone }}}} 60 IN SOA ns.example.com hostmaster.example.com (1 60 60 60 60)"
    }}
    template IN ANY svc.cluster.local {{
      match "svc\\.cluster\\.local\\.(svc\\.cluster\\.local\\.)$"
      rcode NXDOMAIN
      authority "{{{{ index .Match 1 }}}} 60 IN SOA ns.dns.{{{{ index .Match 1 }}}} hostmaster.{{{{ index .Match 1 }}}} (1 60 60 60 60)"
      fallthrough
    }}
}}
"""
        with running(corefile) as srv:
            reply = srv.udp("something.example.com.dc1.example.com.", "A")
            assert reply.rcode() == dns.rcode.NXDOMAIN
            assert reply.authority[0].name.to_text() == "example.com.dc1.example.com."
            walk = srv.udp("web.default.svc.cluster.local.svc.cluster.local.", "AAAA")
            assert walk.rcode() == dns.rcode.NXDOMAIN
            assert walk.authority[0].to_text() == (
                "svc.cluster.local. 60 IN SOA ns.dns.svc.cluster.local. "
                "hostmaster.svc.cluster.local. 1 60 60 60 60"
            )
            # not matched by the regex: falls through to forward
            assert srv.udp("web.default.svc.cluster.local.", "A").rcode() == dns.rcode.NXDOMAIN
            assert upstream.count() == 1
            assert answers(srv.udp("something.example.com.", "A")) == [
                "something.example.com. 300 IN A 192.0.2.7"
            ]


A_AND_PTR = """
.:0 {
    bind 127.0.0.1
    template IN A example {
      match (^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }
    template IN PTR in-addr.arpa {
      match ^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.](?P<a>[0-9]*)[.]in-addr[.]arpa[.]$
      answer "{{ .Name }} 60 IN PTR ip-{{ .Group.a }}-{{ .Group.b }}-{{ .Group.c }}-{{ .Group.d }}.example."
    }
    whoami
}
"""


def test_resolve_a_and_ptr_for_example() -> None:
    with running(A_AND_PTR) as srv:
        assert answers(srv.udp("ip-10-1-2-3.example.", "A")) == [
            "ip-10-1-2-3.example. 60 IN A 10.1.2.3"
        ]
        # "the A record is actually a wildcard: any subdomain ... will resolve to the IP"
        assert answers(srv.udp("www.ip-10-1-2-3.example.", "A")) == [
            "www.ip-10-1-2-3.example. 60 IN A 10.1.2.3"
        ]
        assert answers(srv.udp("3.2.1.10.in-addr.arpa.", "PTR")) == [
            "3.2.1.10.in-addr.arpa. 60 IN PTR ip-10-1-2-3.example."
        ]
        # AAAA is not the template's type: next plugin (whoami) answers
        other = srv.udp("ip-10-1-2-3.example.", "AAAA")
        assert not other.answer and other.additional
        # A name in the zone no regex matches: fallthrough to whoami
        assert srv.udp("nope.example.", "A").additional
        # The PTR template has no fallthrough: SERVFAIL
        assert srv.udp("not-an-ip.in-addr.arpa.", "PTR").rcode() == dns.rcode.SERVFAIL


def test_answer_keeps_the_client_question_case() -> None:
    with running(A_AND_PTR) as srv:
        reply = srv.udp("Ip-10-1-2-3.ExAmple.", "A")
        assert reply.question[0].name.to_text() == "Ip-10-1-2-3.ExAmple."
        assert [str(rr) for rrset in reply.answer for rr in rrset] == ["10.1.2.3"]


def test_hex_ip_with_parse_int_and_multiple_patterns() -> None:
    corefile = """
.:0 {
    bind 127.0.0.1
    template IN A example {
      match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$"
      answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"
      fallthrough
    }
    template IN A example {
      match "^ip-(?P<a>10)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]dc[.]example[.]$"
      match "^(?P<a>[0-9]*)[.](?P<b>[0-9]*)[.](?P<c>[0-9]*)[.](?P<d>[0-9]*)[.]ext[.]example[.]$"
      answer "{{ .Name }} 60 IN A {{ .Group.a}}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }
}
"""
    with running(corefile) as srv:
        assert answers(srv.udp("ip0a7b7b7b.example.", "A")) == [
            "ip0a7b7b7b.example. 60 IN A 10.123.123.123"
        ]
        assert answers(srv.udp("ip-10-0-0-9.dc.example.", "A")) == [
            "ip-10-0-0-9.dc.example. 60 IN A 10.0.0.9"
        ]
        assert answers(srv.udp("1.2.3.4.ext.example.", "A")) == [
            "1.2.3.4.ext.example. 60 IN A 1.2.3.4"
        ]
        # Falls through both templates, and there is no next plugin: SERVFAIL
        assert srv.udp("other.example.", "A").rcode() == dns.rcode.SERVFAIL


def test_a_and_mx_with_additional_and_authority() -> None:
    corefile = """
.:0 {
    bind 127.0.0.1
    template IN A example {
      match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      authority  "example. 60 IN NS ns0.example."
      authority  "example. 60 IN NS ns1.example."
      additional "ns0.example. 60 IN A 203.0.113.8"
      additional "ns1.example. 60 IN A 198.51.100.8"
      fallthrough
    }
    template IN MX example {
      match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
      additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
      fallthrough
    }
}
"""
    with running(corefile) as srv:
        a = srv.udp("ip-10-0-1-2.example.", "A")
        assert answers(a) == ["ip-10-0-1-2.example. 60 IN A 10.0.1.2"]
        assert sorted(str(rr) for rrset in a.authority for rr in rrset) == [
            "ns0.example.",
            "ns1.example.",
        ]
        assert sorted(rrset.to_text() for rrset in a.additional) == [
            "ns0.example. 60 IN A 203.0.113.8",
            "ns1.example. 60 IN A 198.51.100.8",
        ]
        mx = srv.udp("ip-10-0-1-2.example.", "MX")
        assert answers(mx) == ["ip-10-0-1-2.example. 60 IN MX 10 ip-10-0-1-2.example."]
        assert [rrset.to_text() for rrset in mx.additional] == [
            "ip-10-0-1-2.example. 60 IN A 10.0.1.2"
        ]


def test_fabricated_cname_is_followed_through_the_chain() -> None:
    with started(records({"google.com. A": ["192.0.2.80"]})) as upstream:
        corefile = f"""
.:0 {{
  bind 127.0.0.1
  template IN ANY foogle.com {{
    match "^foogle\\.com\\.$"
    answer "foogle.com 60 IN CNAME google.com"
  }}
  forward . {upstream.address}
}}
"""
        with running(corefile) as srv:
            reply = srv.udp("foogle.com.", "A")
            assert answers(reply) == [
                "foogle.com. 60 IN CNAME google.com.",
                "google.com. 300 IN A 192.0.2.80",
            ]
            # a TXT query gets the CNAME alone (CoreDNS follows only A and AAAA)
            assert answers(srv.udp("foogle.com.", "TXT")) == ["foogle.com. 60 IN CNAME google.com."]
            # www.foogle.com is in the zone but not matched: SERVFAIL (no fallthrough)
            assert srv.udp("www.foogle.com.", "A").rcode() == dns.rcode.SERVFAIL


def test_https_on_lan_example_is_refused_for_its_expr_language() -> None:
    corefile = """
.:0 {
    template IN A example.com {
      match ^(?P<ip>[0-9]{1,3}(-[0-9]{1,3}){3})[.](?P<id>[a-z2-7]{26})[.]example[.]com[.]$
      var ip replace(group('ip'), '-', '.')
      answer "{{ .Name }} 60 IN A {{ .Var.ip }}"
    }
}
"""
    with pytest.raises(ConfigError, match=r"plugin/template: Corefile:5: 'var' .* not supported"):
        Server(corefile, "Corefile", default_port=0).plan(corefile)


# -- memo, metrics, failures -------------------------------------------------------------------


def test_deterministic_answers_are_memoized_per_client_ones_are_not() -> None:
    corefile = """
.:0 {
    bind 127.0.0.1
    template IN A memo.test {
      answer "{{ .Name }} 60 IN A 10.9.9.9"
    }
    template IN A remote.test {
      answer "{{ .Name }} 60 IN TXT {{ .Remote }}"
    }
}
"""
    with running(corefile) as srv:
        server = f"dns://127.0.0.1:{srv.port}"
        labels = {"server": server, "view": "", "class": "IN", "type": "A"}
        for _ in range(3):
            assert answers(srv.udp("a.memo.test.", "A")) == ["a.memo.test. 60 IN A 10.9.9.9"]
            reply = srv.udp("a.remote.test.", "A")
            assert [str(rr) for rrset in reply.answer for rr in rrset] == ['"127.0.0.1"']
        # three identical queries (new IDs): the memo answered two of them without the chain
        assert metric("coredns_template_matches_total", zone="memo.test.", **labels) == 1
        assert metric("coredns_template_matches_total", zone="remote.test.", **labels) == 3


def test_bad_records_and_failed_templates_are_servfail_and_counted() -> None:
    corefile = """
.:0 {
    bind 127.0.0.1
    template IN A rr.test {
      answer "{{ .Name }} 60 IN A not-an-address"
    }
    template IN A exec.test {
      match ^(?P<x>[a-z]+)[.]
      answer "{{ .Name }} 60 IN A 10.0.0.{{ parseInt .Group.x 10 8 }}"
    }
}
"""
    with running(corefile) as srv:
        server = f"dns://127.0.0.1:{srv.port}"
        assert srv.udp("a.rr.test.", "A").rcode() == dns.rcode.SERVFAIL
        assert srv.udp("a.exec.test.", "A").rcode() == dns.rcode.SERVFAIL
        base = {"server": server, "view": "", "class": "IN", "type": "A", "section": "answer"}
        assert (
            metric(
                "coredns_template_rr_failures_total",
                zone="rr.test.",
                template="{{.Name}} 60 IN A not-an-address",  # Go's Tree.Root.String()
                **base,
            )
            == 1
        )
        assert (
            metric(
                "coredns_template_template_failures_total",
                zone="exec.test.",
                template="{{.Name}} 60 IN A 10.0.0.{{parseInt .Group.x 10 8}}",
                **base,
            )
            == 1
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("template IN A {\n match ([a-z\n}", r"plugin/template: Corefile:3: could not parse regex"),
        (
            'template IN A {\n answer "{{ printf .Name }} 60 IN A 1.2.3.4"\n}',
            r"Corefile:3: could not compile template.*printf",
        ),
        ('template IN A {\n answer "{{ .Name "\n}', r"Corefile:3: .*unclosed action"),
        ("template IN QQQ", r"plugin/template: Corefile:2: invalid RR type QQQ"),
        ("template XX A", r"plugin/template: Corefile:2: invalid query class XX"),
        ("template IN", r"Corefile:2: template needs a CLASS and a TYPE"),
        ("template IN A {\n rcode NOPE\n}", r"Corefile:3: unknown rcode NOPE"),
        ("template IN A {\n frobnicate\n}", r"Corefile:3: unknown property 'frobnicate'"),
        ("template IN A {\n match " + "a" * 10001 + "\n}", r"regex pattern too long"),
    ],
)
def test_bad_config_is_refused_at_start_with_plugin_file_and_line(body: str, message: str) -> None:
    corefile = ".:0 {\n" + body + "\n}\n"
    with pytest.raises(ConfigError, match=message):
        Server(corefile, "Corefile", default_port=0).plan(corefile)


def test_any_query_takes_the_template_type_in_dot_type() -> None:
    corefile = """
.:0 {
    bind 127.0.0.1
    template IN TXT t.test {
      answer "{{ .Name }} 60 IN TXT {{ .Type }} {{ .Class }} {{ .Zone }}"
    }
}
"""
    with running(corefile) as srv:
        reply = srv.tcp("x.t.test.", "ANY")
        assert [str(rr) for rrset in reply.answer for rr in rrset] == ['"TXT" "IN" "t.test."']
        assert dns.rdatatype.to_text(reply.question[0].rdtype) == "ANY"
