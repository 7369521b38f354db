"""file against CoreDNS's own cases, on a real server over loopback.

Each table cites the CoreDNS file and test it takes its facts from (coredns/coredns,
plugin/file/).  Zones and expected sections are written from those facts; every query goes
over UDP to a server booted from a Corefile.  Sections are compared sorted, as CoreDNS's
``test.SortAndCheck`` does.  DNSSEC cases (``Do: true``) are left out: we serve no signatures.
"""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from clusterdns.errors import ConfigError
from clusterdns.server.server import Server
from tests.support.serverutil import running

Case = tuple[str, str, str, list[str], list[str], list[str]]  # qname qtype rcode answer ns extra


def lines(rrsets: list) -> list[str]:  # type: ignore[type-arg]
    """Zone-file lines, lower-cased: names compare without case (the question keeps its own)."""
    return sorted(
        " ".join(line.lower().split()) for rrset in rrsets for line in rrset.to_text().splitlines()
    )


def norm(records: list[str]) -> list[str]:
    return sorted(" ".join(r.lower().split()) for r in records)


def check(tmp_path: Path, origin: str, zone: str, cases: list[Case], block: str = "") -> None:
    (tmp_path / "db").write_text(zone)
    corefile = (
        f"{origin}:0 {{\n    bind 127.0.0.1\n    file {tmp_path / 'db'} {{\n{block}    }}\n}}\n"
    )
    with running(corefile) as srv:
        for qname, qtype, rcode, answer, ns, extra in cases:
            query = dns.message.make_query(qname, qtype)
            reply = dns.query.udp(query, "127.0.0.1", port=srv.port, timeout=3)
            got = (dns.rcode.to_text(reply.rcode()), lines(reply.answer), lines(reply.authority))
            assert got == (rcode, norm(answer), norm(ns)), (qname, qtype)
            assert lines(reply.additional) == norm(extra), (qname, qtype)


# -- plugin/file/lookup_test.go: dbMiekNL and dnsTestCases

DB_MIEK_NL = """
$TTL    30M
$ORIGIN miek.nl.
@       IN      SOA     linode.atoom.net. miek.miek.nl. (
                             1282630057 ; Serial
                             4H         ; Refresh
                             1H         ; Retry
                             7D         ; Expire
                             4H )       ; Negative Cache TTL
                IN      NS      linode.atoom.net.
                IN      NS      ns-ext.nlnetlabs.nl.
                IN      NS      omval.tednet.nl.
                IN      NS      ext.ns.whyscream.net.

                IN      MX      1  aspmx.l.google.com.
                IN      MX      5  alt1.aspmx.l.google.com.
                IN      MX      5  alt2.aspmx.l.google.com.
                IN      MX      10 aspmx2.googlemail.com.
                IN      MX      10 aspmx3.googlemail.com.

                IN      A       139.162.196.78
                IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735

a               IN      A       139.162.196.78
                IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735
www             IN      CNAME   a
archive         IN      CNAME   a
*.x             IN      CNAME   www
b.x             IN      CNAME   a
*.y             IN      A       139.162.196.78
dname           IN      DNAME   x

srv             IN      SRV     10 10 8080 a.miek.nl.
mx              IN      MX      10 a.miek.nl.

txt     IN      TXT     "v=spf1 a mx ~all"
caa     IN      CAA     0 issue "letsencrypt.org"
*.nodata    IN   A      139.162.196.79
ext-cname   IN   CNAME  example.com.
"""

MIEK_SOA = "miek.nl. 1800 IN SOA linode.atoom.net. miek.miek.nl. 1282630057 14400 3600 604800 14400"
MIEK_AUTH = [
    "miek.nl. 1800 IN NS linode.atoom.net.",
    "miek.nl. 1800 IN NS ns-ext.nlnetlabs.nl.",
    "miek.nl. 1800 IN NS omval.tednet.nl.",
    "miek.nl. 1800 IN NS ext.ns.whyscream.net.",
]
A_MIEK = "a.miek.nl. 1800 IN A 139.162.196.78"
AAAA_MIEK = "a.miek.nl. 1800 IN AAAA 2a01:7e00::f03c:91ff:fef1:6735"

MIEK_CASES: list[Case] = [
    (
        "www.miek.nl.",
        "A",
        "NOERROR",
        [A_MIEK, "www.miek.nl. 1800 IN CNAME a.miek.nl."],
        MIEK_AUTH,
        [],
    ),
    (
        "www.miek.nl.",
        "AAAA",
        "NOERROR",
        [AAAA_MIEK, "www.miek.nl. 1800 IN CNAME a.miek.nl."],
        MIEK_AUTH,
        [],
    ),
    ("miek.nl.", "SOA", "NOERROR", [MIEK_SOA], MIEK_AUTH, []),
    (
        "miek.nl.",
        "AAAA",
        "NOERROR",
        ["miek.nl. 1800 IN AAAA 2a01:7e00::f03c:91ff:fef1:6735"],
        MIEK_AUTH,
        [],
    ),
    (
        "mIeK.NL.",
        "AAAA",
        "NOERROR",
        ["mIeK.NL. 1800 IN AAAA 2a01:7e00::f03c:91ff:fef1:6735"],
        MIEK_AUTH,
        [],
    ),
    (
        "miek.nl.",
        "MX",
        "NOERROR",
        [
            "miek.nl. 1800 IN MX 1 aspmx.l.google.com.",
            "miek.nl. 1800 IN MX 10 aspmx2.googlemail.com.",
            "miek.nl. 1800 IN MX 10 aspmx3.googlemail.com.",
            "miek.nl. 1800 IN MX 5 alt1.aspmx.l.google.com.",
            "miek.nl. 1800 IN MX 5 alt2.aspmx.l.google.com.",
        ],
        MIEK_AUTH,
        [],
    ),
    ("a.miek.nl.", "SRV", "NOERROR", [], [MIEK_SOA], []),
    ("b.miek.nl.", "A", "NXDOMAIN", [], [MIEK_SOA], []),
    (
        "srv.miek.nl.",
        "SRV",
        "NOERROR",
        ["srv.miek.nl. 1800 IN SRV 10 10 8080 a.miek.nl."],
        MIEK_AUTH,
        [A_MIEK, AAAA_MIEK],
    ),
    (
        "mx.miek.nl.",
        "MX",
        "NOERROR",
        ["mx.miek.nl. 1800 IN MX 10 a.miek.nl."],
        MIEK_AUTH,
        [A_MIEK, AAAA_MIEK],
    ),
    (
        "asterisk.x.miek.nl.",
        "CNAME",
        "NOERROR",
        ["asterisk.x.miek.nl. 1800 IN CNAME www.miek.nl."],
        MIEK_AUTH,
        [],
    ),
    ("a.b.x.miek.nl.", "CNAME", "NXDOMAIN", [], [MIEK_SOA], []),
    (
        "asterisk.y.miek.nl.",
        "A",
        "NOERROR",
        ["asterisk.y.miek.nl. 1800 IN A 139.162.196.78"],
        MIEK_AUTH,
        [],
    ),
    (
        "foo.dname.miek.nl.",
        "CNAME",
        "NOERROR",
        [
            "dname.miek.nl. 1800 IN DNAME x.miek.nl.",
            "foo.dname.miek.nl. 1800 IN CNAME foo.x.miek.nl.",
        ],
        MIEK_AUTH,
        [],
    ),
    # CoreDNS resolves an out-of-zone CNAME target through its own server (upstream); the
    # unit test has no server and gets SERVFAIL, a real server without that zone REFUSED
    # -> the CNAME alone, NOERROR, with the apex NS
    (
        "ext-cname.miek.nl.",
        "A",
        "NOERROR",
        ["ext-cname.miek.nl. 1800 IN CNAME example.com."],
        MIEK_AUTH,
        [],
    ),
    (
        "txt.miek.nl.",
        "TXT",
        "NOERROR",
        ['txt.miek.nl. 1800 IN TXT "v=spf1 a mx ~all"'],
        MIEK_AUTH,
        [],
    ),
    (
        "caa.miek.nl.",
        "CAA",
        "NOERROR",
        ['caa.miek.nl. 1800 IN CAA 0 issue "letsencrypt.org"'],
        MIEK_AUTH,
        [],
    ),
    # lookup.go externalLookup: the CNAME target is a name of the zone without the type ->
    # the CNAME, NOERROR, apex NS (not NODATA's SOA)
    ("www.miek.nl.", "MX", "NOERROR", ["www.miek.nl. 1800 IN CNAME a.miek.nl."], MIEK_AUTH, []),
    # lookup.go: the tree has no ANY set (Elem.Type(ANY) is empty) -> NODATA
    ("a.miek.nl.", "ANY", "NOERROR", [], [MIEK_SOA], []),
    # TestLookUpNoDataResult
    ("a.miek.nl.", "MX", "NOERROR", [], [MIEK_SOA], []),
    ("wildcard.nodata.miek.nl.", "MX", "NOERROR", [], [MIEK_SOA], []),
]


def test_lookup(tmp_path: Path) -> None:
    check(tmp_path, "miek.nl", DB_MIEK_NL, MIEK_CASES)


# -- plugin/file/lookup_test.go: TestLookupFallthrough (no next plugin: SERVFAIL)

FALLTHROUGH = [
    ("", [("doesnotexist.miek.nl.", "SERVFAIL"), ("x.miek.nl.", "SERVFAIL")]),
    (
        "a.miek.nl",
        [
            ("a.miek.nl.", "NOERROR"),
            ("doesnotexist.miek.nl.", "NXDOMAIN"),
            ("passthrough.a.miek.nl.", "SERVFAIL"),
        ],
    ),
    ("x.miek.nl", [("x.miek.nl.", "SERVFAIL"), ("wildcard.x.miek.nl.", "NOERROR")]),
]


@pytest.mark.parametrize(("zones", "cases"), FALLTHROUGH)
def test_fallthrough(tmp_path: Path, zones: str, cases: list[tuple[str, str]]) -> None:
    (tmp_path / "db").write_text(DB_MIEK_NL)
    block = f"        fallthrough {zones}\n"
    corefile = (
        f"miek.nl:0 {{\n    bind 127.0.0.1\n    file {tmp_path / 'db'} {{\n{block}    }}\n}}\n"
    )
    with running(corefile) as srv:
        for qname, rcode in cases:
            reply = dns.query.udp(
                dns.message.make_query(qname, "A"), "127.0.0.1", port=srv.port, timeout=3
            )
            assert dns.rcode.to_text(reply.rcode()) == rcode, qname


# -- plugin/file/wildcard_test.go: exampleOrg (TestLookupDoubleWildcard)

EXAMPLE_ORG = """; example.org test file
$TTL 3600
example.org.            IN      SOA     sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
example.org.            IN      NS      b.iana-servers.net.
example.org.            IN      NS      a.iana-servers.net.
example.org.            IN      A       127.0.0.1
example.org.            IN      A       127.0.0.2
*.w.example.org.        IN      TXT     "Wildcard"
a.b.c.w.example.org.    IN      TXT     "Not a wildcard"
*.c.example.org.        IN      TXT     "c Wildcard"
*.d.example.org.        IN      CNAME   alias.example.org.
alias.example.org.      IN      TXT     "Wildcard CNAME expansion"
"""
EXAMPLE_AUTH = [
    "example.org. 3600 IN NS a.iana-servers.net.",
    "example.org. 3600 IN NS b.iana-servers.net.",
]
EXAMPLE_SOA = "example.org. 3600 IN SOA sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600"

DOUBLE_WILDCARD_CASES: list[Case] = [
    (
        "wild.w.example.org.",
        "TXT",
        "NOERROR",
        ['wild.w.example.org. 3600 IN TXT "Wildcard"'],
        EXAMPLE_AUTH,
        [],
    ),
    (
        "wild.c.example.org.",
        "TXT",
        "NOERROR",
        ['wild.c.example.org. 3600 IN TXT "c Wildcard"'],
        EXAMPLE_AUTH,
        [],
    ),
    (
        "wild.d.example.org.",
        "TXT",
        "NOERROR",
        [
            'alias.example.org. 3600 IN TXT "Wildcard CNAME expansion"',
            "wild.d.example.org. 3600 IN CNAME alias.example.org.",
        ],
        EXAMPLE_AUTH,
        [],
    ),
    (
        "alias.example.org.",
        "TXT",
        "NOERROR",
        ['alias.example.org. 3600 IN TXT "Wildcard CNAME expansion"'],
        EXAMPLE_AUTH,
        [],
    ),
    # plugin/file/ent_test.go's rule on this zone: b.c.w is an empty non-terminal, the
    # *.w wildcard does not reach below it
    ("b.c.w.example.org.", "TXT", "NOERROR", [], [EXAMPLE_SOA], []),
    ("x.b.c.w.example.org.", "TXT", "NXDOMAIN", [], [EXAMPLE_SOA], []),
]


def test_double_wildcard(tmp_path: Path) -> None:
    check(tmp_path, "example.org", EXAMPLE_ORG, DOUBLE_WILDCARD_CASES)


# -- plugin/file/wildcard_test.go: apexWildcard, doubleWildcard, closerENTWildcard

APEX_WILDCARD = """$TTL 3600
example.org.            IN      SOA     sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
example.org.            IN      NS      b.iana-servers.net.
*.example.org.          IN      A       127.0.0.53
foo.example.org.        IN      A       127.0.0.54
"""
MULTI_WILDCARD = APEX_WILDCARD + "*.intern.example.org.   IN      A       127.0.1.52\n"
CLOSER_ENT_WILDCARD = """$TTL 3600
example.org.             IN     SOA     sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
example.org.             IN     NS      b.iana-servers.net.
*.example.org.           IN     A       127.0.0.53
real.deeper.example.org. IN     A       127.0.0.54
"""
B_NS = ["example.org. 3600 IN NS b.iana-servers.net."]

WILDCARD_TABLES: list[tuple[str, list[Case]]] = [
    (
        APEX_WILDCARD,
        [
            (
                "foo.example.org.",
                "A",
                "NOERROR",
                ["foo.example.org. 3600 IN A 127.0.0.54"],
                B_NS,
                [],
            ),
            (
                "bar.example.org.",
                "A",
                "NOERROR",
                ["bar.example.org. 3600 IN A 127.0.0.53"],
                B_NS,
                [],
            ),
        ],
    ),
    (
        MULTI_WILDCARD,
        [
            (
                "foo.example.org.",
                "A",
                "NOERROR",
                ["foo.example.org. 3600 IN A 127.0.0.54"],
                B_NS,
                [],
            ),
            (
                "bar.example.org.",
                "A",
                "NOERROR",
                ["bar.example.org. 3600 IN A 127.0.0.53"],
                B_NS,
                [],
            ),
            (
                "bar.intern.example.org.",
                "A",
                "NOERROR",
                ["bar.intern.example.org. 3600 IN A 127.0.1.52"],
                B_NS,
                [],
            ),
        ],
    ),
    (
        CLOSER_ENT_WILDCARD,
        [
            (
                "nonexistent.deeper.example.org.",
                "A",
                "NXDOMAIN",
                [],
                [
                    "example.org. 3600 IN SOA sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600"
                ],
                [],
            ),
            (
                "nonexistent.example.org.",
                "A",
                "NOERROR",
                ["nonexistent.example.org. 3600 IN A 127.0.0.53"],
                B_NS,
                [],
            ),
        ],
    ),
]


@pytest.mark.parametrize(("zone", "cases"), WILDCARD_TABLES)
def test_wildcards(tmp_path: Path, zone: str, cases: list[Case]) -> None:
    check(tmp_path, "example.org", zone, cases)


# -- plugin/file/wildcard_test.go: dbWildcardAdditional; lookup_test.go: dbAdditionalExample

DB_ADDITIONAL = """
$TTL 30M
$ORIGIN example.org.
@       IN SOA  ns.example.org. admin.example.org. 2024010100 14400 3600 604800 14400
        IN NS   ns.example.org.
ns      IN A    192.0.2.1
host    IN A    192.0.2.10
        IN AAAA 2001:db8::10
other   IN A    192.0.2.20
        IN AAAA 2001:db8::20
mx      IN MX   10 host.example.org.
        IN MX   20 host.example.org.
srv     IN SRV  10 50 8080 host.example.org.
        IN SRV  20 50 8080 host.example.org.
mixed   IN SRV  10 50 8080 host.example.org.
        IN SRV  20 50 8080 HOST.EXAMPLE.ORG.
two     IN MX   10 host.example.org.
        IN MX   20 other.example.org.
cname-srv IN CNAME srv.example.org.
*.wild  IN CNAME srv.example.org.
*.wmx   IN MX   10 host.example.org.
dname   IN DNAME dsub.example.org.
srv.dsub IN SRV 10 50 8080 host.example.org.
"""
NS_AUTH = ["example.org. 1800 IN NS ns.example.org."]
HOST = ["host.example.org. 1800 IN A 192.0.2.10", "host.example.org. 1800 IN AAAA 2001:db8::10"]
OTHER = ["other.example.org. 1800 IN A 192.0.2.20", "other.example.org. 1800 IN AAAA 2001:db8::20"]
SRVS = [
    "srv.example.org. 1800 IN SRV 10 50 8080 host.example.org.",
    "srv.example.org. 1800 IN SRV 20 50 8080 host.example.org.",
]

ADDITIONAL_CASES: list[Case] = [
    (
        "mx.example.org.",
        "MX",
        "NOERROR",
        [
            "mx.example.org. 1800 IN MX 10 host.example.org.",
            "mx.example.org. 1800 IN MX 20 host.example.org.",
        ],
        NS_AUTH,
        HOST,
    ),
    ("srv.example.org.", "SRV", "NOERROR", SRVS, NS_AUTH, HOST),
    (
        "two.example.org.",
        "MX",
        "NOERROR",
        [
            "two.example.org. 1800 IN MX 10 host.example.org.",
            "two.example.org. 1800 IN MX 20 other.example.org.",
        ],
        NS_AUTH,
        HOST + OTHER,
    ),
    (
        "cname-srv.example.org.",
        "SRV",
        "NOERROR",
        ["cname-srv.example.org. 1800 IN CNAME srv.example.org.", *SRVS],
        NS_AUTH,
        HOST,
    ),
    (
        "foo.wild.example.org.",
        "SRV",
        "NOERROR",
        ["foo.wild.example.org. 1800 IN CNAME srv.example.org.", *SRVS],
        NS_AUTH,
        HOST,
    ),
    (
        "foo.wmx.example.org.",
        "MX",
        "NOERROR",
        ["foo.wmx.example.org. 1800 IN MX 10 host.example.org."],
        NS_AUTH,
        HOST,
    ),
    (
        "srv.dname.example.org.",
        "SRV",
        "NOERROR",
        [
            "dname.example.org. 1800 IN DNAME dsub.example.org.",
            "srv.dname.example.org. 1800 IN CNAME srv.dsub.example.org.",
            "srv.dsub.example.org. 1800 IN SRV 10 50 8080 host.example.org.",
        ],
        NS_AUTH,
        HOST,
    ),
]


def test_additional_section(tmp_path: Path) -> None:
    check(tmp_path, "example.org", DB_ADDITIONAL, ADDITIONAL_CASES)
    # TestAdditionalSectionDeduplicationMixedCase: one target in two spellings, addresses once
    with running(f"example.org:0 {{\n    bind 127.0.0.1\n    file {tmp_path / 'db'}\n}}\n") as srv:
        reply = dns.query.udp(
            dns.message.make_query("mixed.example.org.", "SRV"),
            "127.0.0.1",
            port=srv.port,
            timeout=3,
        )
        assert sum(len(r) for r in reply.answer) == 2 and sum(len(r) for r in reply.additional) == 2


# -- plugin/file/setup_test.go: TestFileParse (accepted zones, refused blocks)


def plan(tmp_path: Path, body: str) -> list:  # type: ignore[type-arg]
    # one file, read for each zone with that zone as origin (CoreDNS reads any SOA as the
    # zone's; we need it at the origin, so the file has no $ORIGIN and an "@" SOA)
    (tmp_path / "db").write_text("@ 3600 IN SOA ns. host. 1 7200 3600 1209600 3600\n")
    (tmp_path / "Corefile").write_text(body)
    return Server(body, str(tmp_path / "Corefile"), default_port=0).plan(body)


def file_plugin(planned: list):  # type: ignore[no-untyped-def,type-arg]
    return next(p for block in planned for p in block.plugins if p.name == "file")


@pytest.mark.parametrize(
    ("args", "zones", "fallthrough"),
    [
        ("miek.nl.", ("miek.nl.",), None),
        ("10.0.0.0/8", ("10.in-addr.arpa.",), None),
        ("example.org. {\n fallthrough\n }", ("example.org.",), ()),
        (
            "example.org. {\n fallthrough www.example.org\n }",
            ("example.org.",),
            ("www.example.org.",),
        ),
    ],
)
def test_setup_accepts(
    tmp_path: Path, args: str, zones: tuple[str, ...], fallthrough: object
) -> None:
    plugin = file_plugin(plan(tmp_path, f". {{\n file db {args}\n}}\n"))
    assert plugin.config.zones == zones
    assert plugin.config.fallthrough == fallthrough


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            ". {\n file db miek.nl {\n transfer from 127.0.0.1\n }\n}\n",
            "Corefile:3: unknown property 'transfer'",
        ),
        (". {\n file\n}\n", "Corefile:2:"),
        (
            ". {\n file db example.net. {\n no_reload\n }\n}\n",
            "Corefile:3: unknown property 'no_reload'",
        ),
        (
            ". {\n file db example.net. {\n no_rebloat\n }\n}\n",
            "Corefile:3: unknown property 'no_rebloat'",
        ),
    ],
)
def test_setup_refuses(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(tmp_path, body)
