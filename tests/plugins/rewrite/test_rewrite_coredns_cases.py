"""rewrite against CoreDNS's own cases (coredns/coredns plugin/rewrite/*_test.go).

Each table names the CoreDNS test it comes from.  Parse tables go through the Corefile plan
(accepted, or refused with ``plugin/rewrite: Corefile:LINE``); behaviour tables run a real
server on loopback in front of a fake upstream that plays CoreDNS's ``msgPrinter``: it echoes
the question and the EDNS0 options it received, with an A record for an IN A question.
CoreDNS's unit tests can switch reverting off (``NoRevertPolicy``); a server cannot, so the
cases here read what the upstream received and what the client got back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from clusterdns.errors import ConfigError
from clusterdns.server.server import Server
from tests.support.serverutil import RunningServer, running
from tests.support.upstream import FakeUpstream, started

Seen = list[dns.message.Message]


def printer(seen: Seen) -> Callable[[dns.message.Message, str], dns.message.Message]:
    """CoreDNS's msgPrinter: the query back as the reply, its OPT options included, and
    ``NAME 5 IN A 10.0.0.1`` for an IN A question."""

    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        seen.append(query)
        reply = dns.message.make_response(query)
        if query.edns >= 0:
            reply.use_edns(0, 0, 4096, options=list(query.options))
        question = query.question[0]
        if question.rdclass == dns.rdataclass.IN and question.rdtype == dns.rdatatype.A:
            reply.answer.append(dns.rrset.from_text(question.name, 5, "IN", "A", "10.0.0.1"))
        return reply

    return answer


def from_table(
    table: dict[tuple[str, str], tuple[list[str], list[str]]], seen: Seen
) -> Callable[[dns.message.Message, str], dns.message.Message]:
    """Answer (name, type) with fixed answer and additional records in zone-file text."""

    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        seen.append(query)
        reply = dns.message.make_response(query)
        question = query.question[0]
        key = (question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        answers, extra = table.get(key, ([], []))
        reply.answer.extend(dns.rrset.from_text(*line.split(None, 4)) for line in answers)
        reply.additional.extend(dns.rrset.from_text(*line.split(None, 4)) for line in extra)
        if key[0].startswith("music.truncated."):
            reply.flags |= dns.flags.TC
        return reply

    return answer


@contextmanager
def serving(
    rules: str, answer: Callable[[dns.message.Message, str], dns.message.Message]
) -> Iterator[tuple[RunningServer, FakeUpstream]]:
    with started(answer) as upstream:
        corefile = f".:0 {{\n    bind 127.0.0.1\n{rules}\n    forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            yield srv, upstream


def rules_text(rules: list[str]) -> str:
    return "\n".join(f"    rewrite {rule}" for rule in rules)


def plan(body: str) -> None:
    corefile = ".:0 {\n" + body + "\n}\n"
    Server(corefile, "Corefile", default_port=0).plan(corefile)


def accepted(args: str) -> bool:
    try:
        plan(f"rewrite {args}")
    except ConfigError as exc:
        assert str(exc).startswith("plugin/rewrite: Corefile:2: "), str(exc)
        return False
    return True


def ask(
    srv: RunningServer, name: str, rdtype: str | int = "A", rdclass: int = 1, **kw: object
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, rdclass, **kw)  # type: ignore[arg-type]
    return dns.query.udp(query, srv.host, port=srv.port, timeout=3)


def question(message: dns.message.Message) -> tuple[str, str, str]:
    q = message.question[0]
    return (
        q.name.to_text(),
        dns.rdatatype.to_text(q.rdtype),
        dns.rdataclass.to_text(q.rdclass),
    )


def options(message: dns.message.Message) -> list[tuple[int, bytes]]:
    return [(int(o.otype), o.to_wire()) for o in message.options]


# -- parse tables -----------------------------------------------------------------------------

# rewrite_test.go TestNewRule: (arguments of `rewrite`, accepted)
NEW_RULE = [
    ("foo", False),
    ("name", False),
    ("name a.com", False),
    ("name a.com b.com c.com", False),
    ("name a.com b.com", True),
    ("name exact a.com b.com", True),
    ("name prefix a.com b.com", True),
    ("name suffix a.com b.com", True),
    ("name substring a.com b.com", True),
    (r"name regex ([a])\.com new-{1}.com", True),
    (r"name regex ([a]\.com new-{1}.com", False),
    (
        r"name regex (dns)\.(core)\.(rocks) {2}.{1}.{3} answer name (core)\.(dns)\.(rocks) {2}.{1}.{3}",
        True,
    ),
    (
        r"name regex (adns)\.(core)\.(rocks) {2}.{1}.{3} answer name (core)\.(adns)\.(rocks) {2}.{1}.{3} too.long way.too.long",
        False,
    ),
    (
        r"name regex (bdns)\.(core)\.(rocks) {2}.{1}.{3} NoAnswer name (core)\.(bdns)\.(rocks) {2}.{1}.{3}",
        False,
    ),
    (
        r"name regex (cdns)\.(core)\.(rocks) {2}.{1}.{3} answer ttl (core)\.(cdns)\.(rocks) {2}.{1}.{3}",
        False,
    ),
    (
        r"name substring fcore.dns.rocks dns.fcore.rocks answer name (fcore)\.(dns)\.(rocks) {2}.{1}.{3}",
        True,
    ),
    ("name substring a.com b.com c.com", False),
    ("type", False),
    ("type a", False),
    ("type any a a", False),
    ("type any a", True),
    ("type XY WV", False),
    ("type ANY WV", False),
    ("class", False),
    ("class IN", False),
    ("class ch in in", False),
    ("class ch in", True),
    ("class XY WV", False),
    ("class IN WV", False),
    ("edns0", False),
    ("edns0 unknown-rule-type set", False),
    ("edns0 unknown-rule-type unset", False),
    ("edns0 local", False),
    ("edns0 local set", False),
    ("edns0 local set 0xffee", False),
    ("edns0 local set invalid-uint abcdefg", False),
    ("edns0 local set 65518 abcdefg", True),
    ("edns0 local set 0xffee abcdefg", True),
    ("edns0 local set 0xffee abcdefg revert", True),
    ("edns0 local append 0xffee abcdefg", True),
    ("edns0 local append 0xffee abcdefg revert", True),
    ("edns0 local replace 0xffee abcdefg", True),
    ("edns0 local replace 0xffee abcdefg revert", True),
    ("edns0 local unset 0xffee", True),
    ("edns0 local unset 0xffee abcdefg", False),
    ("edns0 local unset 0xffee revert", False),
    ("edns0 local foo 0xffee abcdefg", False),
    ("edns0 local set 0xffee 0xabcdefg", False),
    ("edns0 nsid set junk", False),
    ("edns0 nsid set", True),
    ("edns0 nsid set revert", True),
    ("edns0 nsid append", True),
    ("edns0 nsid append revert", True),
    ("edns0 nsid replace", True),
    ("edns0 nsid replace revert", True),
    ("edns0 nsid unset", True),
    ("edns0 nsid unset revert", False),
    ("edns0 nsid foo", False),
    ("edns0 local set invalid-uint {qname}", False),
    ("edns0 local set 0xffee {dummy}", False),
    *[
        (f"{mode}edns0 local {action} 0xffee {var}{revert}", True)
        for mode in ("", "stop ", "continue ")
        for action in ("set", "append", "replace")
        for var in (
            "{qname}",
            "{qtype}",
            "{client_ip}",
            "{client_port}",
            "{protocol}",
            "{server_ip}",
            "{server_port}",
        )
        for revert in ("", " revert")
    ],
    ("edns0 local append 0xffee {dummy}", False),
    ("edns0 local replace 0xffee {dummy}", False),
    ("edns0 subnet set -1 56", False),
    ("edns0 subnet set 24 -56", False),
    ("edns0 subnet set 33 56", False),
    ("edns0 subnet set 24 129", False),
    ("edns0 subnet set 24 56", True),
    ("edns0 subnet set 24 56 revert", True),
    ("edns0 subnet append 24 56", True),
    ("edns0 subnet append 24 56 72", False),
    ("edns0 subnet append 24 56 revert", True),
    ("edns0 subnet replace 24 56", True),
    ("edns0 subnet replace 24 56 revert", True),
    ("edns0 subnet unset", True),
    ("edns0 subnet unset 24 56", False),
    ("edns0 subnet unset revert", False),
    ("unknown-action name a.com b.com", False),
    ("stop name a.com b.com", True),
    ("continue name a.com b.com", True),
    ("unknown-action type any a", False),
    ("stop type any a", True),
    ("continue type any a", True),
    ("unknown-action class ch in", False),
    ("stop class ch in", True),
    ("continue class ch in", True),
    ("unknown-action edns0 local set 0xffee abcedef", False),
    ("stop edns0 local set 0xffee abcdefg", True),
    ("continue edns0 local set 0xffee abcdefg", True),
    ("unknown-action edns0 nsid set", False),
    ("stop edns0 nsid set", True),
    ("continue edns0 nsid set", True),
    ("unknown-action edns0 local set 0xffee {qname}", False),
    ("unknown-action edns0 subnet set 24 64", False),
    *[
        (f"{mode} edns0 subnet {action}", True)
        for mode in ("stop", "continue")
        for action in ("set 24 56", "append 24 56", "replace 24 56", "unset")
    ],
]

# name_test.go TestNewNameRule: (arguments after `rewrite MODE name`, accepted); CoreDNS runs
# the table with "stop" only, both as newNameRule and as newRule.
NEW_NAME_RULE = [
    ("exact srv3.coredns.rocks srv4.coredns.rocks", True),
    ("srv1.coredns.rocks srv2.coredns.rocks", True),
    ("suffix coredns.rocks coredns.rocks.", True),
    ("suffix coredns.rocks. coredns.rocks", True),
    ("suffix coredns.rocks. coredns.rocks.", True),
    ("regex srv1.coredns.rocks 10", True),
    ("regex (.*).coredns.rocks 10", True),
    ("regex (.*).coredns.rocks {1}.coredns.rocks", True),
    ("regex (.*).coredns.rocks {1}.{2}.coredns.rocks", False),
    ("regex staging.mydomain.com aws-loadbalancer-id.us-east-1.elb.amazonaws.com", True),
    ("suffix staging.mydomain.com coredns.rock answer", False),
    ("suffix staging.mydomain.com coredns.rock answer name", False),
    ("suffix staging.mydomain.com coredns.rock answer other", False),
    ("suffix staging.mydomain.com coredns.rock answer auto", True),
    ("regex staging.mydomain.com coredns.rock answer auto", True),
    ("regex staging.mydomain.com coredns.rock answer name", False),
    ("regex staging.mydomain.com coredns.rock answer name coredns.rock staging.mydomain.com", True),
    (
        "regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.{2}.staging.mydomain.com",
        False,
    ),
    (
        "regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com name (.*).coredns.rock {1}.staging.mydomain.com",
        True,
    ),
    (
        "regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com answer name (.*).coredns.rock {1}.staging.mydomain.com",
        True,
    ),
    (
        "regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com name (.*).coredns.rock",
        False,
    ),
    (
        "regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock {1}.staging.mydomain.com",
        True,
    ),
    (
        "regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com answer value (.*).coredns.rock {1}.staging.mydomain.com",
        True,
    ),
    (
        "regex staging.mydomain.com coredns.rock answer name (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock",
        False,
    ),
    (
        "suffix staging.mydomain.com. coredns.rock. answer value (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock {1}.staging.mydomain.com",
        True,
    ),
    (
        "suffix staging.mydomain.com. coredns.rock. answer value (.*).coredns.rock {1}.staging.mydomain.com answer value (.*).coredns.rock {1}.staging.mydomain.com",
        True,
    ),
    (
        "suffix staging.mydomain.com. coredns.rock. answer value (.*).coredns.rock {1}.staging.mydomain.com name (.*).coredns.rock {1}.staging.mydomain.com",
        True,
    ),
    (
        "suffix staging.mydomain.com. coredns.rock. answer value (.*).coredns.rock {1}.staging.mydomain.com value (.*).coredns.rock",
        False,
    ),
    # name.go newNameRule: an exact TO is checked as a pattern against FROM's {N} count
    ("exact a.com b(.com", False),
    ("regex " + "a" * 10001 + " replacement", False),  # TestNewNameRuleLargeRegex
]

# ttl_test.go TestNewTTLRule: (arguments after `rewrite MODE ttl`, accepted), stop and continue
NEW_TTL_RULE = [
    ("srv1.coredns.rocks 10", True),
    ("exact srv1.coredns.rocks 15", True),
    ("prefix coredns.rocks 20", True),
    ("suffix srv1 25", True),
    ("substring coredns 30", True),
    (r"regex (srv1)\.(coredns)\.(rocks) 35", True),
    ("srv1.coredns.rocks 12345678901234567890", False),
    ("srv1.coredns.rocks coredns.rocks", False),
    ("srv1.coredns.rocks #1", False),
    ("range.coredns.rocks 1-2", True),
    ("ceil.coredns.rocks -2", True),
    ("floor.coredns.rocks 1-", True),
    ("range.coredns.rocks 2-2", True),
    ("invalid.coredns.rocks -", False),
    ("invalid.coredns.rocks 2-1", False),
    ("invalid.coredns.rocks 5-10-20", False),
    ("regex " + "a" * 10001 + " 300", False),  # TestNewTTLRuleLargeRegex
]

# rcode_test.go TestNewRCodeRule: (arguments after `rewrite MODE rcode`, accepted)
NEW_RCODE_RULE = [
    ("numeric.rcode.coredns.rocks 2 0", True),
    ("too.few.rcode.coredns.rocks 2", False),
    ("exact too.many.rcode.coredns.rocks 2 1 0", False),
    ("exact match.string.rcode.coredns.rocks SERVFAIL NOERROR", True),
    (r"regex (regex)\.rcode\.(coredns)\.(rocks) FORMERR NOERROR", True),
    ("invalid.rcode.coredns.rocks random nothing", False),
    ("regex " + "a" * 10001 + " SERVFAIL NXDOMAIN", False),  # TestNewRCodeRuleLargeRegex
    # rcode.go isValidRCode: a number is an rcode only up to 23
    ("numeric.rcode.coredns.rocks 23 0", True),
    ("numeric.rcode.coredns.rocks 24 0", False),
    ("numeric.rcode.coredns.rocks 2 4095", False),
]

# cname_target_test.go TestCNameTargetRewrite's rules, TestNewCNAMERuleLargeRegex, and
# cname_target.go newCNAMERule's errors
NEW_CNAME_RULE = [
    ("continue cname exact def.example.com xyz.example.com", True),
    ("continue cname prefix chat.openai.com bard.google.com", True),
    ("continue cname suffix uvw. xyz.", True),
    ("continue cname substring efgh zzzz.www", True),
    (r"continue cname regex (.*)\.web\.(.*)\.site\. {1}.webapp.{2}.org.", True),
    ("cname a.example. b.example.", True),
    ("cname a.example.", False),
    ("cname exact a b c", False),
    ("cname unknown a b", False),
    ("cname regex (.*.example. b.example.", False),
    ("cname regex " + "a" * 10001 + " replacement", False),
]


@pytest.mark.parametrize(("args", "ok"), NEW_RULE)
def test_new_rule(args: str, ok: bool) -> None:
    assert accepted(args) is ok


@pytest.mark.parametrize(("args", "ok"), NEW_NAME_RULE)
def test_new_name_rule(args: str, ok: bool) -> None:
    assert accepted(f"name {args}") is ok
    assert accepted(f"stop name {args}") is ok


@pytest.mark.parametrize("mode", ["stop", "continue"])
@pytest.mark.parametrize(("args", "ok"), NEW_TTL_RULE)
def test_new_ttl_rule(mode: str, args: str, ok: bool) -> None:
    assert accepted(f"{mode} ttl {args}") is ok


@pytest.mark.parametrize(("args", "ok"), NEW_RCODE_RULE)
def test_new_rcode_rule(args: str, ok: bool) -> None:
    assert accepted(f"stop rcode {args}") is ok
    assert accepted(f"continue rcode {args}") is ok


@pytest.mark.parametrize(("args", "ok"), NEW_CNAME_RULE)
def test_new_cname_rule(args: str, ok: bool) -> None:
    assert accepted(args) is ok


# setup_test.go TestParse: (directive text, error fragment or None when accepted)
PARSE = [
    ("rewrite", ""),
    ("rewrite name", ""),
    ("rewrite name a.com b.com", None),
    ("rewrite stop {\n    name regex foo bar\n    answer name bar foo\n}", None),
    ("rewrite stop name regex foo bar answer name bar foo", None),
    (
        "rewrite stop {\n    name regex foo bar\n    answer name bar foo\n    name baz\n}",
        "2 arguments required",
    ),
    (
        "rewrite stop {\n    answer name bar foo\n    name regex foo bar\n}",
        "must begin with a name rule",
    ),
    ("rewrite stop", ""),
    ("rewrite continue", ""),
    ("rewrite stop name regex [bad[ bar answer name bar foo", ""),
]


@pytest.mark.parametrize(("text", "error"), PARSE)
def test_parse(text: str, error: str | None) -> None:
    if error is None:
        plan(text)
        return
    with pytest.raises(ConfigError, match=r"^plugin/rewrite: Corefile:2: .*" + error):
        plan(text)


# -- name, class and type rules -----------------------------------------------------------------

# rewrite_test.go TestRewrite: one rule set; (query name, type, class) -> what the next plugin
# (here the upstream) is asked.  The client always gets its own question back.
TEST_REWRITE_RULES = [
    "stop name from.nl. to.nl.",
    r"stop name regex (core)\.(dns)\.(rocks)\.(nl) {2}.{1}.{3}.{4} answer name (dns)\.(core)\.(rocks)\.(nl) {2}.{1}.{3}.{4}",
    "stop name exact from.exact.nl. to.nl.",
    "stop name prefix prefix to",
    "stop name suffix .suffix. .nl.",
    "stop name substring from.substring to",
    r"stop name regex (f.*m)\.regex\.(nl) to.{2}",
    r"continue name regex consul\.(rocks) core.dns.{1}",
    "stop name core.dns.rocks to.nl.",
    "continue class HS CH",
    "stop class CH IN",
    "stop type ANY HINFO",
]
# (query name, type, class) -> (what the upstream is asked, owner of the A answer the client
# gets: exact rules map it back, prefix/suffix/substring/regex rules without answer options
# leave the rewritten name)
TEST_REWRITE = [
    (("from.nl.", "A", "IN"), ("to.nl.", "A", "IN"), "from.nl."),
    (("a.nl.", "A", "IN"), ("a.nl.", "A", "IN"), "a.nl."),
    (("a.nl.", "A", "CH"), ("a.nl.", "A", "IN"), "a.nl."),
    (("a.nl.", "ANY", "IN"), ("a.nl.", "HINFO", "IN"), None),
    (("from.nl.", "ANY", "IN"), ("to.nl.", "ANY", "IN"), None),  # the name rule stops
    (("from.exact.nl.", "A", "IN"), ("to.nl.", "A", "IN"), "from.exact.nl."),
    (("prefix.nl.", "A", "IN"), ("to.nl.", "A", "IN"), "to.nl."),
    (("to.suffix.", "A", "IN"), ("to.nl.", "A", "IN"), "to.nl."),
    (("from.substring.nl.", "A", "IN"), ("to.nl.", "A", "IN"), "to.nl."),
    (("from.regex.nl.", "A", "IN"), ("to.nl.", "A", "IN"), "to.nl."),
    # regex (continue) to core.dns.rocks., then exact to to.nl., mapped back to core.dns.rocks.
    (("consul.rocks.", "A", "IN"), ("to.nl.", "A", "IN"), "core.dns.rocks."),
    (("a.nl.", "ANY", "CH"), ("a.nl.", "ANY", "IN"), None),  # the class rule stops before type
    (("a.nl.", "ANY", "HS"), ("a.nl.", "ANY", "IN"), None),  # HS -> CH (continue), CH -> IN
    (("core.dns.rocks.nl.", "A", "IN"), ("dns.core.rocks.nl.", "A", "IN"), "core.dns.rocks.nl."),
]


def test_rewrite() -> None:
    seen: Seen = []
    with serving(rules_text(TEST_REWRITE_RULES), printer(seen)) as (srv, _):
        for (name, rdtype, rdclass), expected, owner in TEST_REWRITE:
            seen.clear()
            reply = ask(srv, name, rdtype, dns.rdataclass.from_text(rdclass))
            assert [question(q) for q in seen] == [expected], name
            assert question(reply) == (name, rdtype, rdclass)
            assert [rrset.name.to_text() for rrset in reply.answer] == ([owner] if owner else [])


# rewrite_test.go TestRewriteDefaultRevertPolicy: the question is restored, the answer of a
# prefix/suffix/substring/regex rule without answer options keeps the rewritten name.
DEFAULT_REVERT_RULES = [
    "stop name prefix prefix to",
    "stop name suffix .suffix. .nl.",
    "stop name substring from.substring to",
    r"stop name regex (f.*m)\.regex\.(nl) to.{2}",
]
DEFAULT_REVERT = [
    ("prefix.nl.", "to.nl."),
    ("to.suffix.", "to.nl."),
    ("from.substring.nl.", "to.nl."),
    ("from.regex.nl.", "to.nl."),
]


def test_rewrite_default_revert_policy() -> None:
    with serving(rules_text(DEFAULT_REVERT_RULES), printer([])) as (srv, _):
        for name, owner in DEFAULT_REVERT:
            reply = ask(srv, name)
            assert question(reply)[0] == name
            assert reply.answer[0].name.to_text() == owner


# name_test.go: (rule after `rewrite stop name`, question, what the upstream is asked, owner
# name of the answer the client gets)
NAME_CASES = [
    # TestRewriteNamePrefixSuffix / TestRewriteNamePrefixSuffixNoAutoAnswer
    ("prefix foo bar", "foo.example.com.", "bar.example.com.", "bar.example.com."),
    ("prefix foo. bar.", "foo.example.com.", "bar.example.com.", "bar.example.com."),
    ("suffix com org", "foo.example.com.", "foo.example.org.", "foo.example.org."),
    ("suffix .com .org", "foo.example.com.", "foo.example.org.", "foo.example.org."),
    (
        "suffix .ingress.coredns.rocks nginx.coredns.rocks",
        "coredns.ingress.coredns.rocks.",
        "corednsnginx.coredns.rocks.",
        "corednsnginx.coredns.rocks.",
    ),
    # TestRewriteNameNoRewrite
    ("prefix foo bar", "coredns.foo.", "coredns.foo.", "coredns.foo."),
    ("prefix foo bar.", "coredns.foo.", "coredns.foo.", "coredns.foo."),
    ("suffix com org", "com.coredns.", "com.coredns.", "com.coredns."),
    ("suffix com org.", "com.coredns.", "com.coredns.", "com.coredns."),
    ("substring service svc", "com.coredns.", "com.coredns.", "com.coredns."),
    # TestRewriteNamePrefixSuffixAutoAnswer
    ("prefix foo bar answer auto", "foo.example.com.", "bar.example.com.", "foo.example.com."),
    ("prefix foo. bar. answer auto", "foo.example.com.", "bar.example.com.", "foo.example.com."),
    ("suffix com org answer auto", "foo.example.com.", "foo.example.org.", "foo.example.com."),
    ("suffix .com .org answer auto", "foo.example.com.", "foo.example.org.", "foo.example.com."),
    (
        "suffix .ingress.coredns.rocks nginx.coredns.rocks answer auto",
        "coredns.ingress.coredns.rocks.",
        "corednsnginx.coredns.rocks.",
        "coredns.ingress.coredns.rocks.",
    ),
    # TestRewriteNameExactAnswer: exact answers are always mapped back
    (
        "exact coredns.rocks service.consul answer auto",
        "coredns.rocks.",
        "service.consul.",
        "coredns.rocks.",
    ),
    (
        "exact coredns.rocks. service.consul. answer auto",
        "coredns.rocks.",
        "service.consul.",
        "coredns.rocks.",
    ),
    ("exact coredns.rocks service.consul", "coredns.rocks.", "service.consul.", "coredns.rocks."),
    ("exact coredns.rocks. service.consul.", "coredns.rocks.", "service.consul.", "coredns.rocks."),
    ("exact coredns.org. service.consul.", "coredns.rocks.", "coredns.rocks.", "coredns.rocks."),
    # TestRewriteNameRegexAnswer
    (
        "regex (.*).coredns.rocks {1}.coredns.maps answer auto",
        "foo.coredns.rocks.",
        "foo.coredns.maps.",
        "foo.coredns.rocks.",
    ),
    (
        "regex (.*).coredns.rocks {1}.coredns.maps answer name (.*).coredns.maps {1}.coredns.works",
        "foo.coredns.rocks.",
        "foo.coredns.maps.",
        "foo.coredns.works.",
    ),
    (
        "regex (.*).coredns.rocks {1}.coredns.maps",
        "foo.coredns.rocks.",
        "foo.coredns.maps.",
        "foo.coredns.maps.",
    ),
]


@pytest.mark.parametrize(("rule", "name", "upstream_name", "owner"), NAME_CASES)
def test_name_rules(rule: str, name: str, upstream_name: str, owner: str) -> None:
    seen: Seen = []
    with serving(f"    rewrite stop name {rule}", printer(seen)) as (srv, _):
        reply = ask(srv, name)
        assert [question(q)[0] for q in seen] == [upstream_name]
        assert question(reply)[0] == name
        assert reply.answer[0].name.to_text() == owner


def test_rewrite_illegal_name_is_servfail() -> None:
    # name_test.go TestRewriteIllegalName: "invalid name after rewrite"
    seen: Seen = []
    with serving("    rewrite name example.org. example..org.", printer(seen)) as (srv, _):
        assert ask(srv, "example.org.").rcode() == dns.rcode.SERVFAIL
        assert seen == []


# -- reverter_test.go ---------------------------------------------------------------------------

REVERTER_RULE = (
    r"name regex (core)\.(dns)\.(rocks) {2}.{1}.{3} answer name (dns)\.(core)\.(rocks) {2}.{1}.{3}"
)
# TestResponseReverter: (type, upstream answer for dns.core.rocks., owner the client sees)
REVERTER = [
    ("A", ["dns.core.rocks. 5 IN A 10.0.0.1"], "core.dns.rocks."),
    ("SRV", ["dns.core.rocks. 5 IN SRV 0 100 100 srv1.dns.core.rocks."], "core.dns.rocks."),
    ("HINFO", ['dns.core.rocks. 5 IN HINFO INTEL-64 "RHEL 7.4"'], "core.dns.rocks."),
]


@pytest.mark.parametrize("mode", ["stop", "continue"])
def test_response_reverter(mode: str) -> None:
    table = {("dns.core.rocks.", rdtype): (rrs, []) for rdtype, rrs, _ in REVERTER}
    table[("dns.core.rocks.", "A")] = (
        ["dns.core.rocks. 5 IN A 10.0.0.1", "dns.core.rocks. 5 IN A 10.0.0.2"],
        [],
    )
    with serving(f"    rewrite {mode} {REVERTER_RULE}", from_table(table, [])) as (srv, _):
        for rdtype, _, owner in REVERTER:
            reply = ask(srv, "core.dns.rocks.", rdtype)
            assert question(reply)[:2] == ("core.dns.rocks.", rdtype)
            assert [rrset.name.to_text() for rrset in reply.answer] == [owner]


# TestValueResponseReverter: the rule sets, and (type, answer, additional) of my.cluster.local.
# -> (value in the answer, owner of the additional record) the client sees for my.domain.uk.
VALUE_RULE_SETS = {
    "stop": [
        r"stop name regex (.*)\.domain\.uk {1}.cluster.local answer name (.*)\.cluster\.local {1}.domain.uk answer value (.*)\.cluster\.local {1}.domain.uk"
    ],
    "continue": [
        r"continue name regex (.*)\.domain\.uk {1}.cluster.local answer name (.*)\.cluster\.local {1}.domain.uk answer value (.*)\.cluster\.local {1}.domain.uk"
    ],
    "suffix": [
        r"stop name suffix .domain.uk .cluster.local answer auto answer value (.*)\.cluster\.local {1}.domain.uk"
    ],
    "suffix_multiple": [
        "continue name suffix .domain.uk .domain.us answer auto",
        "stop name suffix .domain.us .cluster.local answer auto",
    ],
}
VALUE_CASES = [
    (
        "SRV",
        "my.cluster.local. 5 IN SRV 0 100 100 srv1.my.cluster.local.",
        "srv1.my.cluster.local. 5 IN A 10.0.0.1",
        "srv1.my.domain.uk.",
        "srv1.my.domain.uk.",
    ),
    (
        "ANY",
        "my.cluster.local. 3600 IN CNAME cname.cluster.local.",
        "cname.cluster.local. 5 IN A 10.0.0.1",
        "cname.domain.uk.",
        "cname.domain.uk.",
    ),
    (
        "MX",
        "my.cluster.local. 3600 IN MX 1 mx1.cluster.local.",
        "mx1.cluster.local. 5 IN A 10.0.0.1",
        "mx1.domain.uk.",
        "mx1.domain.uk.",
    ),
    (
        "SOA",
        "my.cluster.local. 1800 IN SOA ns1.cluster.local. admin.cluster.local. 1502165581 14400 3600 604800 14400",
        "ns1.cluster.local. 5 IN A 10.0.0.1",
        "ns1.domain.uk.",
        "ns1.domain.uk.",
    ),
    (
        "NAPTR",
        'my.cluster.local. 100 IN NAPTR 100 10 "S" "SIP+D2U" "!^.*$!sip:customer-service@example.com!" _sip._udp.cluster.local.',
        "ns1.cluster.local. 5 IN A 10.0.0.1",
        "_sip._udp.domain.uk.",
        "ns1.domain.uk.",
    ),
]
VALUE_FIELD = {
    "SRV": "target",
    "CNAME": "target",
    "DNAME": "target",
    "MX": "exchange",
    "NS": "target",
    "SOA": "mname",
    "NAPTR": "replacement",
}


@pytest.mark.parametrize("rule_set", sorted(VALUE_RULE_SETS))
def test_value_response_reverter(rule_set: str) -> None:
    table = {
        ("my.cluster.local.", rdtype): ([answer], [extra])
        for rdtype, answer, extra, _, _ in VALUE_CASES
    }
    # CoreDNS's ANY cases also return a DNAME and an NS record
    table[("my.cluster.local.", "DNAME")] = (
        ["my.cluster.local. 3600 IN DNAME dname.cluster.local."],
        ["dname.cluster.local. 5 IN A 10.0.0.1"],
    )
    table[("my.cluster.local.", "NS")] = (
        ["my.cluster.local. 3600 IN NS ns1.cluster.local."],
        ["ns1.cluster.local. 5 IN A 10.0.0.1"],
    )
    cases = [
        *VALUE_CASES,
        ("DNAME", "", "", "dname.domain.uk.", "dname.domain.uk."),
        ("NS", "", "", "ns1.domain.uk.", "ns1.domain.uk."),
    ]
    with serving(rules_text(VALUE_RULE_SETS[rule_set]), from_table(table, [])) as (srv, _):
        for rdtype, _, _, value, extra_owner in cases:
            reply = ask(srv, "my.domain.uk.", rdtype)
            assert question(reply)[:2] == ("my.domain.uk.", rdtype)
            rrset = reply.answer[0]
            field = VALUE_FIELD[dns.rdatatype.to_text(rrset.rdtype)]
            assert getattr(rrset[0], field).to_text() == value, (rule_set, rdtype)
            assert reply.additional[0].name.to_text() == extra_owner, (rule_set, rdtype)


def test_response_reverter_restores_the_question_and_auto_names() -> None:
    # reverter_test.go TestResponseReverterRestoresMissingQuestion, over the wire: the answer
    # for the rewritten name comes back under the name asked
    table = {("service.example.net.", "A"): (["service.example.net. 60 IN A 127.0.0.1"], [])}
    with serving(
        "    rewrite stop name suffix .example.org .example.net answer auto", from_table(table, [])
    ) as (srv, _):
        reply = ask(srv, "service.example.org.")
        assert question(reply) == ("service.example.org.", "A", "IN")
        assert [rrset.to_text() for rrset in reply.answer] == [
            "service.example.org. 60 IN A 127.0.0.1"
        ]


# -- ttl_test.go TestTtlRewrite / doTTLTests ------------------------------------------------------

TTL_RULES = [
    "stop ttl srv1.coredns.rocks 1",
    "stop ttl exact srv15.coredns.rocks 15",
    "stop ttl prefix srv30 30",
    "stop ttl suffix 45.coredns.rocks 45",
    "stop ttl substring rv50 50",
    r"stop ttl regex (srv10)\.(coredns)\.(rocks) 10",
    r"stop ttl regex (srv20)\.(coredns)\.(rocks) 20",
    "stop ttl range.example.com. 30-300",
    "stop ttl ceil.example.com. -11",
    "stop ttl floor.example.com. 5-",
]
# (name, type, upstream TTL, TTL the client sees)
TTL_CASES = [
    ("srv1.coredns.rocks.", "A", 5, 1),
    ("srv15.coredns.rocks.", "A", 5, 15),
    ("srv30.coredns.rocks.", "A", 5, 30),
    ("srv45.coredns.rocks.", "A", 5, 45),
    ("srv50.coredns.rocks.", "A", 5, 50),
    ("srv10.coredns.rocks.", "A", 5, 10),
    ("xmpp.coredns.rocks.", "SRV", 5, 5),  # no rule matches
    ("srv15.coredns.rocks.", "HINFO", 5, 15),
    ("srv20.coredns.rocks.", "A", 5, 20),
    ("range.example.com.", "A", 5, 30),
    ("range.example.com.", "A", 55, 55),
    ("range.example.com.", "A", 500, 300),
    ("ceil.example.com.", "A", 5, 5),
    ("ceil.example.com.", "A", 15, 11),
    ("floor.example.com.", "A", 0, 5),
    ("floor.example.com.", "A", 30, 30),
]
TTL_RDATA = {
    "A": "10.0.0.1",
    "SRV": "0 100 100 srvxmpp.coredns.rocks.",
    "HINFO": 'INTEL-64 "RHEL 7.5"',
}


@pytest.mark.parametrize(("name", "rdtype", "ttl", "expected"), TTL_CASES)
def test_ttl_rewrite(name: str, rdtype: str, ttl: int, expected: int) -> None:
    rrs = [f"{name} {ttl} IN {rdtype} {TTL_RDATA[rdtype]}"]
    if name.startswith("srv20."):
        rrs.append(f"{name} {ttl} IN A 10.0.0.23")
    table = {(name, rdtype): (rrs, [])}
    with serving(rules_text(TTL_RULES), from_table(table, [])) as (srv, _):
        reply = ask(srv, name, rdtype)
        assert reply.answer and {rrset.ttl for rrset in reply.answer} == {expected}


# -- rcode_test.go TestRCodeRewriteEmptyResponse ------------------------------------------------


@pytest.mark.parametrize("mode", ["stop", "continue"])
@pytest.mark.parametrize("old", ["FORMERR", "SERVFAIL", "REFUSED", "NOTIMP"])
def test_rcode_rewrite_of_an_empty_reply(mode: str, old: str) -> None:
    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.set_rcode(dns.rcode.from_text(old))
        return reply

    rule = f"    rewrite {mode} rcode exact srv1.coredns.rocks {old} NOERROR"
    with serving(rule, answer) as (srv, _):
        assert ask(srv, "srv1.coredns.rocks.").rcode() == dns.rcode.NOERROR
        assert ask(srv, "srv2.coredns.rocks.").rcode() == dns.rcode.from_text(old)


# -- EDNS0 (rewrite_test.go, reverter_test.go) ----------------------------------------------------


def local(code: int, data: bytes) -> dns.edns.GenericOption:
    return dns.edns.GenericOption(dns.edns.OptionType.make(code), data)


NSID = local(3, b"")
ECS_ZERO = dns.edns.ECSOption("0.0.0.0", 0, 0)


def sent(srv: RunningServer, opts: list[dns.edns.Option] | None) -> dns.message.Message:
    if opts is None:
        return ask(srv, "example.com.")
    return ask(srv, "example.com.", use_edns=0, payload=4096, options=opts)


# TestRewriteEDNS0Local: (rule args after `edns0`, options the upstream gets) for a query with
# an empty OPT
EDNS0_LOCAL = [
    ("local set 0xffee 0xabcdef", [local(0xFFEE, b"\xab\xcd\xef")]),
    ("local append 0xffee abcdefghijklmnop", [local(0xFFEE, b"abcdefghijklmnop")]),
    ("local replace 0xffee abcdefghijklmnop", []),
    ("nsid set", [NSID]),
    ("nsid append", [NSID]),
    ("nsid replace", []),
]


@pytest.mark.parametrize(("args", "expected"), EDNS0_LOCAL)
def test_rewrite_edns0_local(args: str, expected: list[dns.edns.Option]) -> None:
    seen: Seen = []
    with serving(f"    rewrite edns0 {args}", printer(seen)) as (srv, _):
        sent(srv, [])
        assert options(seen[0]) == [(int(o.otype), o.to_wire()) for o in expected]


# TestEdns0MultiRule: (two rules, options the client sends (None: no EDNS), options the
# upstream gets); the `revert` variants: options in the reply the client gets
FOOBAR = local(0xFFEE, b"foobar")
MULTI_RULE = [
    (["local replace 0xffee abcdef", "local set 0xffee fedcba"], None, [local(0xFFEE, b"fedcba")]),
    (
        ["local replace 0xffee abcdef", "local set 0xffee fedcba"],
        [FOOBAR],
        [local(0xFFEE, b"abcdef")],
    ),
    (
        ["local replace 0xffee {qname}", "local set 0xffee {qtype}"],
        None,
        [local(0xFFEE, b"\x00\x01")],
    ),
    (
        ["local replace 0xffee {qname}", "local set 0xffee {qtype}"],
        [FOOBAR],
        [local(0xFFEE, b"example.com.")],
    ),
    (["nsid replace", "nsid set"], None, [NSID]),
    (["nsid replace", "nsid set"], [FOOBAR], [FOOBAR, NSID]),
    (["nsid replace", "nsid set"], [NSID], [NSID]),
    (["subnet replace 32 56", "subnet set 0 56"], None, [ECS_ZERO]),
    (
        ["subnet replace 32 56", "subnet set 0 56"],
        [ECS_ZERO],
        [dns.edns.ECSOption("127.0.0.1", 32, 0)],
    ),
]
MULTI_RULE_REVERT = [
    (["local replace 0xffee abcdef revert", "local set 0xffee fedcba revert"], None, []),
    (["local replace 0xffee abcdef revert", "local set 0xffee fedcba revert"], [FOOBAR], [FOOBAR]),
    (
        ["local replace 0xffee {qname} revert", "local set 0xffee {qtype} revert"],
        [FOOBAR],
        [FOOBAR],
    ),
    (["nsid replace revert", "nsid set revert"], [FOOBAR], [FOOBAR]),
    (["nsid replace revert", "nsid set revert"], [NSID], [NSID]),
    (["subnet replace 32 56 revert", "subnet set 0 56 revert"], [ECS_ZERO], [ECS_ZERO]),
]


def wire_options(opts: list[dns.edns.Option]) -> list[tuple[int, bytes]]:
    return [(int(o.otype), o.to_wire()) for o in opts]


@pytest.mark.parametrize(("rules", "client", "expected"), MULTI_RULE)
def test_edns0_multi_rule(
    rules: list[str], client: list[dns.edns.Option] | None, expected: list[dns.edns.Option]
) -> None:
    seen: Seen = []
    with serving(rules_text([f"stop edns0 {r}" for r in rules]), printer(seen)) as (srv, _):
        sent(srv, client)
        assert options(seen[0]) == wire_options(expected)


@pytest.mark.parametrize(("rules", "client", "expected"), MULTI_RULE_REVERT)
def test_edns0_multi_rule_revert(
    rules: list[str], client: list[dns.edns.Option] | None, expected: list[dns.edns.Option]
) -> None:
    with serving(rules_text([f"stop edns0 {r}" for r in rules]), printer([])) as (srv, _):
        reply = sent(srv, client)
        assert options(reply) == wire_options(expected)


# TestRewriteEDNS0LocalVariable (the client is 127.0.0.1 here, over UDP): data per variable
def test_rewrite_edns0_local_variables() -> None:
    seen: Seen = []
    with serving("    rewrite edns0 local set 0xffee {qname}", printer(seen)) as (srv, _):
        sent(srv, None)
        assert options(seen[-1]) == [(0xFFEE, b"example.com.")]
    for variable, expected in [
        ("{qtype}", lambda srv: b"\x00\x01"),
        ("{client_ip}", lambda srv: b"\x7f\x00\x00\x01"),
        ("{protocol}", lambda srv: b"udp"),
        ("{server_port}", lambda srv: srv.port.to_bytes(2, "big")),
        ("{server_ip}", lambda srv: b"\x7f\x00\x00\x01"),
    ]:
        seen = []
        with serving(f"    rewrite edns0 local set 0xffee {variable}", printer(seen)) as (srv, _):
            sent(srv, None)
            assert options(seen[-1]) == [(0xFFEE, expected(srv))], variable


# TestRewriteEDNS0Subnet (IPv4 client 127.0.0.1): (v4 bits, option the upstream gets)
@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (24, dns.edns.ECSOption("127.0.0.0", 24, 0)),
        (32, dns.edns.ECSOption("127.0.0.1", 32, 0)),
        (0, dns.edns.ECSOption("0.0.0.0", 0, 0)),
    ],
)
def test_rewrite_edns0_subnet(bits: int, expected: dns.edns.ECSOption) -> None:
    seen: Seen = []
    with serving(f"    rewrite edns0 subnet set {bits} 56", printer(seen)) as (srv, _):
        sent(srv, None)
        assert options(seen[0]) == wire_options([expected])


# TestRewriteEDNS0Revert: (rule, options the client sends, options in the reply)
EDNS0_REVERT = [
    ("local set 0xffee 0xabcdef revert", [], []),
    ("local append 0xffee abcdefghijklmnop revert", [], []),
    ("local replace 0xffee abcdefghijklmnop revert", [], []),
    ("nsid set revert", [], []),
    ("nsid append revert", [], []),
    ("nsid replace", [], []),
    (
        "local set 0xffee 0xabcd revert",
        [local(0xFFED, b"\xab\xcd\xef")],
        [local(0xFFED, b"\xab\xcd\xef")],
    ),
    (
        "local replace 0xffee abcdefghijklmnop",
        [local(0xFFEF, b"\xab\xcd\xef")],
        [local(0xFFEF, b"\xab\xcd\xef")],
    ),
]


@pytest.mark.parametrize(("rule", "client", "expected"), EDNS0_REVERT)
def test_rewrite_edns0_revert(
    rule: str, client: list[dns.edns.Option], expected: list[dns.edns.Option]
) -> None:
    with serving(f"    rewrite edns0 {rule}", printer([])) as (srv, _):
        assert options(sent(srv, client)) == wire_options(expected)


# TestRewriteEDNS0Unset: (rule, options the client sends, options the upstream gets)
EDNS0_UNSET = [
    ("local unset 0xffee", [], []),
    ("local unset 0xffee", [local(0xFFEE, b"\xab\xcd\xef")], []),
    ("local unset 0xffed", [local(0xFFEE, b"\xab\xcd\xef")], [local(0xFFEE, b"\xab\xcd\xef")]),
    ("nsid unset", [NSID], []),
    ("nsid unset", [], []),
    ("subnet unset", [ECS_ZERO], []),
    ("subnet unset", [], []),
    ("nsid unset", [FOOBAR, NSID], [FOOBAR]),
    ("local unset 0xffee", [FOOBAR, NSID], [NSID]),
    ("subnet unset", [FOOBAR, NSID], [FOOBAR, NSID]),
]


@pytest.mark.parametrize(("rule", "client", "expected"), EDNS0_UNSET)
def test_rewrite_edns0_unset(
    rule: str, client: list[dns.edns.Option], expected: list[dns.edns.Option]
) -> None:
    seen: Seen = []
    with serving(f"    rewrite edns0 {rule}", printer(seen)) as (srv, _):
        sent(srv, client)
        assert seen[0].edns >= 0
        assert options(seen[0]) == wire_options(expected)


def test_edns0_unset_gives_a_query_without_edns_an_opt() -> None:
    # edns0.go: every local/nsid/subnet rule that applies calls setupEdns0Opt first
    seen: Seen = []
    with serving("    rewrite edns0 nsid unset", printer(seen)) as (srv, _):
        reply = sent(srv, None)
        assert seen[0].edns == 0 and seen[0].payload == 4096 and not seen[0].options
        assert reply.edns < 0  # the client sent no OPT (RFC 6891 section 7)


@pytest.mark.parametrize(
    ("rule", "client"),
    [
        ("local set 0xffee 0xabcdef revert", None),  # edns0NoOPTRevertTests local_set_revert
        ("local replace 0xffee 0x222222 revert", [local(0xFFEE, b"\x11\x11\x11")]),
    ],
)
def test_edns0_revert_with_a_reply_without_opt(
    rule: str, client: list[dns.edns.Option] | None
) -> None:
    # reverter_test.go TestEDNS0ResponseReverterNoOPT: the upstream sends no OPT back
    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.use_edns(False)
        reply.answer.append(dns.rrset.from_text("example.org.", 60, "IN", "A", "127.0.0.1"))
        return reply

    with serving(f"    rewrite edns0 {rule}", answer) as (srv, _):
        reply = sent(srv, client)
        assert reply.rcode() == dns.rcode.NOERROR and len(reply.answer) == 1
        assert reply.edns < 0 or not reply.options


def test_edns0_revert_keeps_the_other_options() -> None:
    # rewrite_test.go TestRewriteEDNS0RevertDoesNotLeakThroughScrubWriter
    cookie = dns.edns.CookieOption(bytes.fromhex("abcdef0123456789"), b"")
    with serving("    rewrite edns0 local set 0xffee 0xabcdef revert", printer([])) as (srv, _):
        reply = sent(srv, [cookie])
        codes = [int(o.otype) for o in reply.options]
        assert 0xFFEE not in codes and int(dns.edns.OptionType.COOKIE) in codes


# -- cname_target_test.go TestCNameTargetRewrite ---------------------------------------------------

CNAME_RULES = [
    "continue cname exact def.example.com xyz.example.com",
    "continue cname prefix chat.openai.com bard.google.com",
    "continue cname suffix uvw. xyz.",
    "continue cname substring efgh zzzz.www",
    r"continue cname regex (.*)\.web\.(.*)\.site\. {1}.webapp.{2}.org.",
    "continue cname exact music.truncated.spotify.com. music.truncated.spotify.com.",
    "continue cname suffix prod. staging.",
]
# What the upstream answers: the original replies, and the lookups of the rewritten targets
# (CoreDNS's MockedUpstream).
CNAME_TABLE: dict[tuple[str, str], tuple[list[str], list[str]]] = {
    ("abc.example.com.", "A"): (
        ["abc.example.com. 5 IN CNAME def.example.com.", "def.example.com. 5 IN A 1.2.3.4"],
        [],
    ),
    ("abc.example.com.", "AAAA"): (
        [
            "abc.example.com. 5 IN CNAME def.example.com.",
            "def.example.com. 5 IN AAAA 2a01:7e00::f03c:91ff:fe79:234c",
        ],
        [],
    ),
    ("chat.openai.com.", "A"): (
        [
            "chat.openai.com. 20 IN CNAME chat.openai.com.cdn.cloudflare.net.",
            "chat.openai.com.cdn.cloudflare.net. 30 IN A 23.2.1.2",
            "chat.openai.com.cdn.cloudflare.net. 30 IN A 24.6.0.8",
        ],
        [],
    ),
    ("coredns.io.", "A"): (
        ["coredns.io. 100 IN CNAME www.hosting.uvw.", "www.hosting.uvw. 200 IN A 7.2.3.4"],
        [],
    ),
    ("core.dns.rocks.", "A"): (
        ["core.dns.rocks. 200 IN CNAME abcd.efgh.pqrst.", "abcd.efgh.pqrst. 100 IN A 200.30.45.67"],
        [],
    ),
    ("order.service.eu.", "A"): (
        [
            "order.service.eu. 200 IN CNAME orders.web.eu.site.",
            "orders.web.eu.site. 50 IN A 10.10.15.1",
        ],
        [],
    ),
    ("music.spotify.com.", "A"): (
        ["music.spotify.com. 200 IN CNAME music.truncated.spotify.com."],
        [],
    ),
    ("cname-chain.org.", "A"): (
        [
            "cname-chain.org. 200 IN CNAME intermediate-1.com.",
            "intermediate-1.com. 200 IN CNAME intermediate-2.prod.",
            "intermediate-2.prod. 200 IN CNAME final.prod.net.",
            "final.prod.net. 120 IN A 1.2.3.4",
        ],
        [],
    ),
    ("xyz.example.com.", "A"): (["xyz.example.com. 3600 IN A 3.4.5.6"], []),
    ("xyz.example.com.", "AAAA"): (
        ["xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c"],
        [],
    ),
    ("bard.google.com.cdn.cloudflare.net.", "A"): (
        ["bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1"],
        [],
    ),
    ("www.hosting.xyz.", "A"): (["www.hosting.xyz. 500 IN A 20.30.40.50"], []),
    ("abcd.zzzz.www.pqrst.", "A"): (
        ["abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1", "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2"],
        [],
    ),
    ("orders.webapp.eu.org.", "A"): (["orders.webapp.eu.org. 120 IN A 20.0.0.9"], []),
    ("music.truncated.spotify.com.", "A"): (["music.truncated.spotify.com. 120 IN A 10.1.0.9"], []),
    ("intermediate-2.staging.", "A"): (
        [
            "intermediate-2.staging. 200 IN CNAME final.staging.net.",
            "final.staging.net. 120 IN A 5.6.7.8",
        ],
        [],
    ),
}
# (name, type) -> (answer the client gets, TC)
CNAME_CASES = [
    (
        "abc.example.com.",
        "A",
        ["abc.example.com. 5 IN CNAME xyz.example.com.", "xyz.example.com. 3600 IN A 3.4.5.6"],
        False,
    ),
    (
        "abc.example.com.",
        "AAAA",
        [
            "abc.example.com. 5 IN CNAME xyz.example.com.",
            "xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c",
        ],
        False,
    ),
    (
        "chat.openai.com.",
        "A",
        [
            "chat.openai.com. 20 IN CNAME bard.google.com.cdn.cloudflare.net.",
            "bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1",
        ],
        False,
    ),
    (
        "coredns.io.",
        "A",
        ["coredns.io. 100 IN CNAME www.hosting.xyz.", "www.hosting.xyz. 500 IN A 20.30.40.50"],
        False,
    ),
    (
        "core.dns.rocks.",
        "A",
        [
            "core.dns.rocks. 200 IN CNAME abcd.zzzz.www.pqrst.",
            "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1",
            "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2",
        ],
        False,
    ),
    (
        "order.service.eu.",
        "A",
        [
            "order.service.eu. 200 IN CNAME orders.webapp.eu.org.",
            "orders.webapp.eu.org. 120 IN A 20.0.0.9",
        ],
        False,
    ),
    (
        "music.spotify.com.",
        "A",
        [
            "music.spotify.com. 200 IN CNAME music.truncated.spotify.com.",
            "music.truncated.spotify.com. 120 IN A 10.1.0.9",
        ],
        True,
    ),
    (
        "cname-chain.org.",
        "A",
        [
            "cname-chain.org. 200 IN CNAME intermediate-1.com.",
            "intermediate-1.com. 200 IN CNAME intermediate-2.staging.",
            "intermediate-2.staging. 200 IN CNAME final.staging.net.",
            "final.staging.net. 120 IN A 5.6.7.8",
        ],
        False,
    ),
]


def test_cname_target_rewrite() -> None:
    with serving(rules_text(CNAME_RULES), from_table(CNAME_TABLE, [])) as (srv, _):
        for name, rdtype, expected, truncated in CNAME_CASES:
            reply = ask(srv, name, rdtype)
            got = [rr for rrset in reply.answer for rr in rrset.to_text().splitlines()]
            # the CNAMEs in order; the target's records as a set (the server may rotate them)
            assert [rr for rr in got if " CNAME " in rr] == [
                rr for rr in expected if " CNAME " in rr
            ]
            assert sorted(got) == sorted(expected), name
            assert bool(reply.flags & dns.flags.TC) is truncated, name


def test_cname_target_lookup_without_a_reply_keeps_the_target() -> None:
    # cname_target_test.go TestCNAMETargetRewrite_upstreamFailurePaths: when the new target
    # cannot be looked up (here it is not a valid name) the CNAME stays as it was
    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text("bad.test.", 60, "IN", "CNAME", "bad.target."))
        return reply

    with serving("    rewrite cname regex (.*) {1}.good..target.", answer) as (srv, up):
        reply = ask(srv, "bad.test.")
        assert [rrset.to_text() for rrset in reply.answer] == ["bad.test. 60 IN CNAME bad.target."]
        assert [name for _, name, _ in up.seen] == ["bad.test."]
