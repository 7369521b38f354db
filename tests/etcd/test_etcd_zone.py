"""The SkyDNS data model without etcd: values, names, records and answers, as CoreDNS's etcd.

Cases follow plugin/etcd/lookup_test.go and msg/*_test.go in coredns/coredns
(the same keys, names and expected rdata), checked on our compiled answers.
"""

from __future__ import annotations

import dns.message
import dns.rdatatype
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.dns.zone import FOUND, MISSING, NODATA
from clusterdns.errors import ConfigError
from clusterdns.plugins.etcd.msg import BadValue, Service, group, name_of, parse, path_of, split255
from clusterdns.plugins.etcd.options import parse as parse_options
from clusterdns.plugins.etcd.records import srv_weight, srv_weights
from clusterdns.plugins.etcd.setup import setup
from clusterdns.plugins.etcd.zone import SkyDNSZone
from clusterdns.plugins.plugin import SetupContext

# plugin/etcd/lookup_test.go services (name -> value)
SERVICES = {
    "a.server1.dev.region1.skydns.test.": '{"host":"dev.server1","port":8080}',
    "a.server1.prod.region1.skydns.test.": '{"host":"10.0.0.1","port":8080}',
    "b.server1.prod.region1.skydns.test.": '{"host":"10.0.0.2","port":8080}',
    "b.server6.prod.region1.skydns.test.": '{"host":"::1","port":8080}',
    "a.txt.server1.prod.region1.skydns.test.": '{"text":"sometext"}',
    "b.txt.server1.prod.region1.skydns.test.": '{"text":"moretext"}',
    "cname.prod.region1.skydns.test.": '{"host":"unresolvable.skydns.test"}',
    "priority.skydns.test.": '{"host":"priority.server1","priority":333,"port":8080}',
    "a.sub.region1.skydns.test.": '{"host":"sub.server1","port":0}',
    "b.sub.region1.skydns.test.": '{"host":"sub.server2","port":80}',
    "c.sub.region1.skydns.test.": '{"host":"10.0.0.1","port":8080}',
    "a.ns.dns.skydns.test.": '{"host":"10.0.0.2"}',
    "b.ns.dns.skydns.test.": '{"host":"10.0.0.3"}',
    "x.skydns-zonea.test.": '{"host":"10.0.0.2"}',
    "y.skydns-zonea.test.": '{"host":"10.0.0.3"}',
    "x.skydns-zoneb.test.": '{"host":"10.0.0.2"}',
    "apex.dns.skydns-zoneb.test.": '{"host":"10.0.0.4"}',
    "a1.apex.dns.skydns-zonec.test.": '{"host":"10.0.0.4"}',
    "a2.apex.dns.skydns-zonec.test.": '{"host":"2003::8:1"}',
    "1.0.0.10.in-addr.arpa.": '{"host":"reverse.example.com"}',
}
ZONES = (
    "skydns.test.",
    "skydns-zonea.test.",
    "skydns-zoneb.test.",
    "skydns-zonec.test.",
    "0.0.10.in-addr.arpa.",
)


def make_zone() -> SkyDNSZone:
    zone = SkyDNSZone(ZONES, "/skydns", serial=1407441600)
    for name, value in SERVICES.items():
        key = path_of(name, "/skydns")
        zone.put(key, parse(key, value.encode()))
    return zone


def ask(zone: SkyDNSZone, name: str, rdtype: str) -> tuple[str, dns.message.Message]:
    """The lookup status and the reply as a client would parse it."""
    qtype = dns.rdatatype.from_text(rdtype)
    result = zone.lookup(name, qtype)
    assert result is not None
    query = dns.message.make_query(name, qtype)
    header = query.to_wire()[:12]
    question = query.to_wire()[12:]
    body = result.answer.body
    counts = (1, result.answer.ancount, result.answer.nscount, result.answer.arcount)
    flags = 0x8400 | result.answer.rcode
    wire = header[:2] + flags.to_bytes(2, "big") + b"".join(c.to_bytes(2, "big") for c in counts)
    return result.status, dns.message.from_wire(wire + question + body)


def rdata(message: dns.message.Message, section: str = "answer") -> list[str]:
    return sorted(
        f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rr.to_text()}"
        for rrset in getattr(message, section)
        for rr in rrset
    )


@pytest.mark.parametrize(
    ("name", "rdtype", "status", "expected"),
    [
        ("a.server1.dev.region1.skydns.test.", "SRV", FOUND, ["a.server1.dev.region1.skydns.test. SRV 10 100 8080 dev.server1."]),
        ("a.server1.prod.region1.skydns.test.", "A", FOUND, ["a.server1.prod.region1.skydns.test. A 10.0.0.1"]),
        ("a.server1.prod.region1.skydns.test.", "SRV", FOUND, ["a.server1.prod.region1.skydns.test. SRV 10 100 8080 a.server1.prod.region1.skydns.test."]),
        ("b.server6.prod.region1.skydns.test.", "AAAA", FOUND, ["b.server6.prod.region1.skydns.test. AAAA ::1"]),
        # a name above keys answers from the whole subtree
        ("server1.prod.region1.skydns.test.", "A", FOUND, ["server1.prod.region1.skydns.test. A 10.0.0.1", "server1.prod.region1.skydns.test. A 10.0.0.2"]),
        ("priority.skydns.test.", "SRV", FOUND, ["priority.skydns.test. SRV 333 100 8080 priority.server1."]),
        # weights shared per priority: 100/300*100 = 33 each
        ("sub.region1.skydns.test.", "SRV", FOUND, ["sub.region1.skydns.test. SRV 10 33 0 sub.server1.", "sub.region1.skydns.test. SRV 10 33 80 sub.server2.", "sub.region1.skydns.test. SRV 10 33 8080 c.sub.region1.skydns.test."]),
        ("cname.prod.region1.skydns.test.", "A", FOUND, ["cname.prod.region1.skydns.test. CNAME unresolvable.skydns.test."]),
        ("txt.server1.prod.region1.skydns.test.", "TXT", FOUND, ['txt.server1.prod.region1.skydns.test. TXT "moretext"', 'txt.server1.prod.region1.skydns.test. TXT "sometext"']),
        ("doesnotexist.skydns.test.", "A", MISSING, []),
        ("a.server1.nonexistent.region1.skydns.test.", "HINFO", MISSING, []),
        ("a.server1.prod.region1.skydns.test.", "TXT", NODATA, []),
        ("b.server6.prod.region1.skydns.test.", "A", NODATA, []),
        ("skydns.test.", "SOA", FOUND, ["skydns.test. SOA ns.dns.skydns.test. hostmaster.skydns.test. 1407441600 7200 1800 86400 30"]),
        ("skydns.test.", "NS", FOUND, ["skydns.test. NS a.ns.dns.skydns.test.", "skydns.test. NS b.ns.dns.skydns.test."]),
        ("a.skydns.test.", "NS", MISSING, []),
        # zone name: the whole zone unless apex.dns holds entries
        ("skydns-zonea.test.", "A", FOUND, ["skydns-zonea.test. A 10.0.0.2", "skydns-zonea.test. A 10.0.0.3"]),
        ("skydns-zoneb.test.", "A", FOUND, ["skydns-zoneb.test. A 10.0.0.4"]),
        ("skydns-zonec.test.", "A", FOUND, ["skydns-zonec.test. A 10.0.0.4"]),
        ("skydns-zonec.test.", "AAAA", FOUND, ["skydns-zonec.test. AAAA 2003::8:1"]),
        ("1.0.0.10.in-addr.arpa.", "PTR", FOUND, ["1.0.0.10.in-addr.arpa. PTR reverse.example.com."]),
        ("2.0.0.10.in-addr.arpa.", "PTR", MISSING, []),
        # wildcards (lookup_test.go "Wildcard Test"): 8 services at priority 10 -> 100/800*100 = 12
        ("prod.*.skydns.test.", "SRV", FOUND, ["prod.*.skydns.test. SRV 10 25 0 unresolvable.skydns.test.", "prod.*.skydns.test. SRV 10 25 8080 a.server1.prod.region1.skydns.test.", "prod.*.skydns.test. SRV 10 25 8080 b.server1.prod.region1.skydns.test.", "prod.*.skydns.test. SRV 10 25 8080 b.server6.prod.region1.skydns.test."]),
        ("prod.any.skydns.test.", "A", FOUND, ["prod.any.skydns.test. A 10.0.0.1", "prod.any.skydns.test. A 10.0.0.2"]),
    ],
)  # fmt: skip
def test_lookup(name: str, rdtype: str, status: str, expected: list[str]) -> None:
    got_status, reply = ask(make_zone(), name, rdtype)
    assert got_status == status
    assert rdata(reply) == expected
    if status != FOUND:
        assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]
        assert reply.rcode() == (3 if status == MISSING else 0)


def test_wildcard_srv_weights_and_additional() -> None:
    _, reply = ask(make_zone(), "*.region1.skydns.test.", "SRV")
    srv = rdata(reply)
    assert len(srv) == 8 and all(" SRV 10 12 " in line for line in srv)
    assert rdata(reply, "additional") == [
        "a.server1.prod.region1.skydns.test. A 10.0.0.1",
        "b.server1.prod.region1.skydns.test. A 10.0.0.2",
        "b.server6.prod.region1.skydns.test. AAAA ::1",
        "c.sub.region1.skydns.test. A 10.0.0.1",
    ]


def test_ns_glue() -> None:
    _, reply = ask(make_zone(), "skydns.test.", "NS")
    assert rdata(reply, "additional") == [
        "a.ns.dns.skydns.test. A 10.0.0.2",
        "b.ns.dns.skydns.test. A 10.0.0.3",
    ]


def test_cname_inside_zone_is_followed_and_retired_with_its_target() -> None:
    zone = make_zone()
    key = path_of("alias.skydns.test.", "/skydns")
    zone.put(key, parse(key, b'{"host":"a.server1.prod.region1.skydns.test"}'))
    _, reply = ask(zone, "alias.skydns.test.", "A")
    assert rdata(reply) == [
        "a.server1.prod.region1.skydns.test. A 10.0.0.1",
        "alias.skydns.test. CNAME a.server1.prod.region1.skydns.test.",
    ]
    before = zone.lookup("alias.skydns.test.", 1)
    assert before is not None and before.cell[0] == before.version
    target = path_of("a.server1.prod.region1.skydns.test.", "/skydns")
    zone.put(target, parse(target, b'{"host":"10.9.9.9"}'))
    assert before.cell[0] != before.version  # the memo's guard moved
    _, reply = ask(zone, "alias.skydns.test.", "A")
    assert "a.server1.prod.region1.skydns.test. A 10.9.9.9" in rdata(reply)


def test_changes_retire_the_name_and_the_names_above_only() -> None:
    zone = make_zone()
    above = zone.lookup("prod.region1.skydns.test.", 1)
    beside = zone.lookup("sub.region1.skydns.test.", 33)
    assert above is not None and beside is not None
    key = path_of("c.server1.prod.region1.skydns.test.", "/skydns")
    assert zone.put(key, parse(key, b'{"host":"10.0.0.3"}'))
    assert above.cell[0] != above.version
    assert beside.cell[0] == beside.version
    assert not zone.put(key, parse(key, b'{"host":"10.0.0.3"}'))  # same value: nothing to do
    assert zone.put(key, None)
    assert zone.lookup("c.server1.prod.region1.skydns.test.", 1).status == MISSING  # type: ignore[union-attr]


def test_keys_outside_the_zones_are_ignored() -> None:
    zone = SkyDNSZone(("skydns.test.",), "/skydns", 1)
    key = "/skydns/org/example/www"
    assert not zone.put(key, parse(key, b'{"host":"10.0.0.1"}'))
    assert len(zone) == 0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"{not json", "not JSON"),
        (b'"just a string"', "not a JSON object"),
        (b'{"host":"10.0.0.300"}', "not a valid IP address"),
        (b'{"host":"fd00::zz"}', "not a valid IP address"),
        (b'{"host":"' + b"a" * 64 + b'.example"}', "not a valid name"),
        (b'{"host":"10.0.0.1","port":"80"}', "port must be a whole number"),
        (b'{"host":"10.0.0.1","port":70000}', "port must be between"),
        (b'{"host":"10.0.0.1","ttl":-1}', "ttl must be between"),
        (b'{"text":5}', "text must be a string"),
    ],
)
def test_bad_values(value: bytes, error: str) -> None:
    with pytest.raises(BadValue, match=error):
        parse("/skydns/test/x", value)


def test_value_defaults() -> None:
    # etcd.go: TTL 300 and priority 10 when unset; unknown fields ignored as encoding/json does
    service = parse("/skydns/test/x", b'{"host":"10.0.0.1","extra":true}')
    assert (service.ttl, service.priority, service.port, service.kind) == (300, 10, 0, "A")
    assert parse("/k", b'{"host":"x.example","text":"t"}').kind == "TXT"
    assert parse("/k", b'{"host":"x.example"}').kind == "CNAME"


def test_names_and_paths() -> None:
    # msg/path_test.go: service.staging.skydns.local. <-> /skydns/local/skydns/staging/service
    assert (
        path_of("service.staging.skydns.local.", "/skydns")
        == "/skydns/local/skydns/staging/service"
    )
    assert (
        name_of("/skydns/local/skydns/staging/service", "/skydns")
        == "service.staging.skydns.local."
    )
    assert name_of("/skydns/local/Skydns/X", "skydns") == "x.skydns.local."
    assert name_of("/other/local", "/skydns") is None
    assert name_of("/skydns/", "/skydns") is None


def test_split255_and_group() -> None:
    assert split255("a" * 600) == ["a" * 255, "a" * 255, "a" * 90]
    # msg/service_test.go TestGroup: the shortest key's group wins; ungrouped ones stay
    sx = [
        Service("/skydns/test/skydns/a", host="127.0.0.1", group="g1"),
        Service("/skydns/test/skydns/b/c", host="127.0.0.2", group="g2"),
        Service("/skydns/test/skydns/d", host="127.0.0.3"),
    ]
    assert [s.host for s in group(sx)] == ["127.0.0.1", "127.0.0.3"]
    disagree = [
        Service("/skydns/test/skydns/a", host="127.0.0.1", group="g1"),
        Service("/skydns/test/skydns/b", host="127.0.0.2", group="g2"),
    ]
    assert group(disagree) == disagree


def test_srv_weight_floor_and_minimum() -> None:
    services = [Service("/a", host="h", weight=1)] + [
        Service(f"/b{i}", host="h") for i in range(200)
    ]
    totals = srv_weights(services)
    assert srv_weight(services[0], totals) == 1  # floor(100/20001) = 0, raised to 1


def directive(args: str, *options: str) -> Directive:
    block = tuple(
        Directive(o.split()[0], tuple(o.split()[1:]), (), "Corefile", 2 + i)
        for i, o in enumerate(options)
    )
    return Directive("etcd", tuple(args.split()), block, "Corefile", 1)


def test_options_defaults_and_values() -> None:
    opts = parse_options(directive(""), ("skydns.local.",))
    assert opts.zones == ("skydns.local.",)
    assert opts.path == "/skydns"
    assert [str(e) for e in opts.endpoints] == ["http://localhost:2379"]
    assert opts.fallthrough is None
    opts = parse_options(
        directive(
            "skydns.local 10.0.0.0/24",
            "path /dns/",
            "endpoint http://127.0.0.1:2379 https://[::1]:4001",
            "credentials root secret",
            "fallthrough in-addr.arpa",
            "stubzones",
        ),
        ("ignored.",),
    )
    assert opts.zones == ("skydns.local.", "0.0.10.in-addr.arpa.")
    assert opts.path == "/dns" and opts.source.prefix == "/dns/"
    assert [str(e) for e in opts.endpoints] == ["http://127.0.0.1:2379", "https://[::1]:4001"]
    assert (opts.username, opts.password) == ("root", "secret")
    assert opts.falls_through("1.0.0.10.in-addr.arpa.") and not opts.falls_through(
        "a.skydns.local."
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (("bogus",), "unknown property 'bogus'"),
        (("credentials root",), "credentials requires 2 arguments"),
        (("endpoint",), "endpoint needs at least one URL"),
        (("endpoint ftp://x:1",), "is not http"),
        (("path",), "path needs one"),
        (("min-lease-ttl soon",), "invalid duration"),
    ],
)
def test_option_errors_name_the_line(options: tuple[str, ...], error: str) -> None:
    with pytest.raises(ConfigError, match=error) as info:
        parse_options(directive("skydns.local", *options), ())
    assert str(info.value).startswith("plugin/etcd: Corefile:2: ")


def test_unreadable_tls_files_stop_setup_naming_the_tls_line() -> None:
    """CoreDNS's setup loads the tls files (tls.NewTLSConfigFromArgs): an unreadable one is fatal."""
    line = directive("skydns.local", "path /dns", "tls /nonexistent/cert.pem /nonexistent/key.pem")
    ctx = SetupContext(keys=("skydns.local.",), zones=("skydns.local.",), port=53, config_file="")
    with pytest.raises(ConfigError, match="cannot read /nonexistent/cert.pem") as info:
        setup(line, ctx)
    assert str(info.value).startswith("plugin/etcd: Corefile:3: ")
