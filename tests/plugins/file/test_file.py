"""file: CoreDNS's README examples, RFC 4592's wildcard examples, CNAMEs, delegations, reload.

Zone files are written to a temporary directory; every query goes over real sockets to an
in-process server.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.errors import ConfigError
from clusterdns.server.server import Server
from tests.support.serverutil import RunningServer, answers, running
from tests.support.upstream import wait_for

# The zone of CoreDNS's plugin/file/README.md.
EXAMPLE_ORG = """\
$ORIGIN example.org.
@	3600 IN	SOA sns.dns.icann.org. noc.dns.icann.org. 2017042745 7200 3600 1209600 3600
	3600 IN NS a.iana-servers.net.
	3600 IN NS b.iana-servers.net.

www     IN A     127.0.0.1
        IN AAAA  ::1
"""
SOA = "example.org. 3600 IN SOA sns.dns.icann.org. noc.dns.icann.org. 2017042745 7200 3600 1209600 3600"
APEX_NS = ["a.iana-servers.net.", "b.iana-servers.net."]


def section(rrsets: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(line for rrset in rrsets for line in rrset.to_text().splitlines())


def serve(tmp_path: Path, zone_text: str, corefile_body: str, name: str = "db.example.org"):  # type: ignore[no-untyped-def]
    (tmp_path / name).write_text(zone_text)
    corefile = tmp_path / "Corefile"
    corefile.write_text(corefile_body)
    return running(corefile_body, str(corefile))


def test_readme_example_org(tmp_path: Path) -> None:
    with serve(
        tmp_path, EXAMPLE_ORG, "example.org:0 {\n bind 127.0.0.1\n file db.example.org\n}\n"
    ) as srv:
        www = srv.udp("www.example.org.", "A")
        assert www.flags & dns.flags.AA and www.rcode() == dns.rcode.NOERROR
        assert answers(www) == ["www.example.org. 3600 IN A 127.0.0.1"]
        assert sorted(str(rr) for rrset in www.authority for rr in rrset) == APEX_NS
        assert answers(srv.udp("www.example.org.", "AAAA")) == ["www.example.org. 3600 IN AAAA ::1"]
        assert answers(srv.udp("example.org.", "SOA")) == [SOA]
        assert (
            sorted(str(rr) for rrset in srv.udp("example.org.", "NS").answer for rr in rrset)
            == APEX_NS
        )
        # RFC 2308: NXDOMAIN and NODATA carry the SOA
        nx = srv.udp("nope.example.org.", "A")
        assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AA
        assert section(nx.authority) == [SOA] and not nx.answer
        nodata = srv.tcp("www.example.org.", "MX")
        assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
        assert section(nodata.authority) == [SOA]
        # 0x20: the question comes back as sent
        mixed = srv.udp("WwW.ExAmple.ORG.", "A")
        assert mixed.question[0].name.to_text() == "WwW.ExAmple.ORG."
        assert [str(rr) for rrset in mixed.answer for rr in rrset] == ["127.0.0.1"]
        # no transfer plugin: AXFR is refused
        axfr = dns.query.tcp(
            dns.message.make_query("example.org.", "AXFR"), srv.host, port=srv.port, timeout=3
        )
        assert axfr.rcode() == dns.rcode.REFUSED


def test_readme_one_file_for_several_zones(tmp_path: Path) -> None:
    zone = "@ 3600 IN SOA ns hostmaster 1 7200 3600 1209600 3600\n@ IN NS ns\nns IN A 10.0.0.53\nwww IN A 10.0.0.1\n"
    with serve(
        tmp_path,
        zone,
        ".:0 {\n bind 127.0.0.1\n file db.multi example.org example.net\n}\n",
        "db.multi",
    ) as srv:
        assert answers(srv.udp("www.example.org.", "A")) == ["www.example.org. 3600 IN A 10.0.0.1"]
        assert answers(srv.udp("www.example.net.", "A")) == ["www.example.net. 3600 IN A 10.0.0.1"]
        ns = srv.udp("example.net.", "NS")
        assert answers(ns) == ["example.net. 3600 IN NS ns.example.net."]
        assert section(ns.additional) == ["ns.example.net. 3600 IN A 10.0.0.53"]  # glue
        # outside both zones: no next plugin, so the server's SERVFAIL
        assert srv.udp("www.example.com.", "A").rcode() == dns.rcode.SERVFAIL


# RFC 4592 section 2.2.1, the example zone (SRV and SOA rdata filled in).
RFC4592 = """\
$ORIGIN example.
example.                 3600 IN  SOA   ns.example.com. hostmaster.example.com. 1 3600 900 604800 300
example.                 3600     NS    ns.example.com.
example.                 3600     NS    ns.example.net.
*.example.               3600     TXT   "this is a wildcard"
*.example.               3600     MX    10 host1.example.
sub.*.example.           3600     TXT   "this is not a wildcard"
host1.example.           3600     A     192.0.2.1
_ssh._tcp.host1.example. 3600     SRV   0 0 22 host1.example.
_ssh._tcp.host2.example. 3600     SRV   0 0 22 host2.example.
subdel.example.          3600     NS    ns.example.com.
subdel.example.          3600     NS    ns.example.net.
"""


@pytest.mark.parametrize(
    ("qname", "qtype", "rcode", "answer", "aa"),
    [
        # 2.2.1: "the following queries would be synthesized from one of the wildcards"
        ("host3.example.", "MX", "NOERROR", ["host3.example. 3600 IN MX 10 host1.example."], True),
        ("host3.example.", "A", "NOERROR", [], True),  # synthesized, but no A: NODATA
        (
            "foo.bar.example.",
            "TXT",
            "NOERROR",
            ['foo.bar.example. 3600 IN TXT "this is a wildcard"'],
            True,
        ),
        # "the following queries would not be synthesized"
        ("host1.example.", "MX", "NOERROR", [], True),  # host1 exists
        ("sub.*.example.", "MX", "NOERROR", [], True),  # the name exists
        (
            "_telnet._tcp.host1.example.",
            "SRV",
            "NXDOMAIN",
            [],
            True,
        ),  # closest encloser _tcp.host1 (an ENT)
        ("host.subdel.example.", "A", "NOERROR", [], False),  # below a zone cut: referral
        (
            "ghost.*.example.",
            "MX",
            "NXDOMAIN",
            [],
            True,
        ),  # closest encloser *.example has no wildcard child
        # and the data itself
        ("*.example.", "TXT", "NOERROR", ['*.example. 3600 IN TXT "this is a wildcard"'], True),
        (
            "_ssh._tcp.host2.example.",
            "SRV",
            "NOERROR",
            ["_ssh._tcp.host2.example. 3600 IN SRV 0 0 22 host2.example."],
            True,
        ),
        (
            "_tcp.host2.example.",
            "A",
            "NOERROR",
            [],
            True,
        ),  # an empty non-terminal is NODATA (RFC 8020)
    ],
)
def test_rfc4592_wildcard_examples(
    tmp_path: Path, qname: str, qtype: str, rcode: str, answer: list[str], aa: bool
) -> None:
    with serve(
        tmp_path, RFC4592, "example:0 {\n bind 127.0.0.1\n file db.example\n}\n", "db.example"
    ) as srv:
        reply = srv.udp(qname, qtype)
        assert dns.rcode.to_text(reply.rcode()) == rcode
        assert answers(reply) == answer
        assert bool(reply.flags & dns.flags.AA) is aa
        if not answer and aa:
            assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


def test_referral_has_the_cut_ns_and_glue_without_aa(tmp_path: Path) -> None:
    zone = EXAMPLE_ORG + "sub IN NS ns1.sub\nsub IN NS ns.elsewhere.net.\nns1.sub IN A 10.0.0.53\n"
    with serve(
        tmp_path, zone, "example.org:0 {\n bind 127.0.0.1\n file db.example.org\n}\n"
    ) as srv:
        reply = srv.udp("host.sub.example.org.", "A")
        assert reply.rcode() == dns.rcode.NOERROR and not reply.flags & dns.flags.AA
        assert not reply.answer
        assert section(reply.authority) == [
            "sub.example.org. 3600 IN NS ns.elsewhere.net.",
            "sub.example.org. 3600 IN NS ns1.sub.example.org.",
        ]
        assert section(reply.additional) == ["ns1.sub.example.org. 3600 IN A 10.0.0.53"]
        # the cut itself is delegated too (CoreDNS answers DS there from the parent)
        assert not srv.udp("sub.example.org.", "NS").flags & dns.flags.AA
        assert srv.udp("sub.example.org.", "DS").flags & dns.flags.AA


def test_cname_chains_inside_the_zone(tmp_path: Path) -> None:
    zone = EXAMPLE_ORG + (
        "alias IN CNAME www\n"
        "alias2 IN CNAME alias\n"
        "ext IN CNAME www.example.net.\n"
        "dangling IN CNAME nothere\n"
        "loop1 IN CNAME loop2\nloop2 IN CNAME loop1\n"
        "*.wild IN CNAME www\n"
        "mail IN MX 10 www\n"
    )
    with serve(
        tmp_path, zone, "example.org:0 {\n bind 127.0.0.1\n file db.example.org\n}\n"
    ) as srv:
        assert answers(srv.udp("alias2.example.org.", "A")) == [
            "alias.example.org. 3600 IN CNAME www.example.org.",
            "alias2.example.org. 3600 IN CNAME alias.example.org.",
            "www.example.org. 3600 IN A 127.0.0.1",
        ]
        assert answers(srv.udp("alias.example.org.", "CNAME")) == [
            "alias.example.org. 3600 IN CNAME www.example.org."
        ]
        # a target outside the zone: the CNAME alone, the client follows it
        ext = srv.udp("ext.example.org.", "A")
        assert ext.rcode() == dns.rcode.NOERROR
        assert answers(ext) == ["ext.example.org. 3600 IN CNAME www.example.net."]
        # RFC 6604: the rcode is the last link's
        dangling = srv.udp("dangling.example.org.", "A")
        assert dangling.rcode() == dns.rcode.NXDOMAIN
        assert answers(dangling) == ["dangling.example.org. 3600 IN CNAME nothere.example.org."]
        assert section(dangling.authority) == [SOA]
        loop = srv.udp("loop1.example.org.", "A")
        assert loop.rcode() == dns.rcode.NOERROR and len(answers(loop)) == 2
        # a wildcard CNAME is synthesized for the query name and followed
        assert answers(srv.udp("a.b.wild.example.org.", "AAAA")) == [
            "a.b.wild.example.org. 3600 IN CNAME www.example.org.",
            "www.example.org. 3600 IN AAAA ::1",
        ]
        mail = srv.udp("mail.example.org.", "MX")
        assert section(mail.additional) == [
            "www.example.org. 3600 IN A 127.0.0.1",
            "www.example.org. 3600 IN AAAA ::1",
        ]


def test_fallthrough_sends_missing_names_on(tmp_path: Path) -> None:
    body = (
        "example.org:0 {\n bind 127.0.0.1\n file db.example.org {\n  fallthrough\n }\n whoami\n}\n"
    )
    with serve(tmp_path, EXAMPLE_ORG, body) as srv:
        assert answers(srv.udp("www.example.org.", "A")) == ["www.example.org. 3600 IN A 127.0.0.1"]
        other = srv.udp("nope.example.org.", "A")
        assert other.rcode() == dns.rcode.NOERROR and other.additional  # whoami's
        assert not srv.udp("www.example.org.", "MX").additional  # NODATA stays with file


def _wait_answer(srv: RunningServer, name: str, expected: list[str]) -> bool:
    return wait_for(lambda: answers(srv.udp(name, "A")) == expected, timeout=5)


def test_reload_on_serial_change_and_broken_file_keeps_last_good_zone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = "example.org:0 {\n bind 127.0.0.1\n file db.example.org {\n  reload 50ms\n }\n}\n"
    db = tmp_path / "db.example.org"
    with serve(tmp_path, EXAMPLE_ORG, body) as srv:
        assert answers(srv.udp("www.example.org.", "A")) == ["www.example.org. 3600 IN A 127.0.0.1"]
        # new content, same serial: CoreDNS keeps the zone it has (checked after 6 reload periods)
        db.write_text(EXAMPLE_ORG + "new IN A 10.0.0.2\n")
        plugin = next(p for b in srv.server.blocks for p in b.plugins if p.name == "file")
        stat = db.stat()
        # the reload loop has read the new file once its stamp is the file's
        assert wait_for(lambda: plugin._stamp == (stat.st_mtime, stat.st_size), timeout=5)
        assert srv.udp("new.example.org.", "A").rcode() == dns.rcode.NXDOMAIN
        # serial raised: the new zone is served (memoized replies dropped)
        db.write_text(EXAMPLE_ORG.replace("2017042745", "2017042746") + "new IN A 10.0.0.2\n")
        assert _wait_answer(srv, "new.example.org.", ["new.example.org. 3600 IN A 10.0.0.2"])
        # a broken file: the last good zone goes on, the log names the file and line
        with caplog.at_level(logging.ERROR, logger="clusterdns.plugins.file"):
            db.write_text(EXAMPLE_ORG.replace("2017042745", "2017042747") + "bad IN AX 1\n")
            assert wait_for(
                lambda: "db.example.org:8: unknown rdatatype 'AX'" in caplog.text, timeout=5
            )
        assert answers(srv.udp("new.example.org.", "A")) == ["new.example.org. 3600 IN A 10.0.0.2"]


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        (
            EXAMPLE_ORG + "bad IN AX 1\n",
            r"plugin/file: .*Corefile:3: .*db.example.org:8: unknown rdatatype 'AX'",
        ),
        (
            "www 60 IN A 10.0.0.1\n",
            r"plugin/file: .*Corefile:3: .*db.example.org: no SOA record at the origin example.org.",
        ),
        (EXAMPLE_ORG + "www IN A 300.1.1.1\n", r"plugin/file: .*Corefile:3: .*db.example.org:8:"),
    ],
)
def test_bad_zone_file_is_refused_at_start(tmp_path: Path, zone: str, message: str) -> None:
    (tmp_path / "db.example.org").write_text(zone)
    corefile = tmp_path / "Corefile"
    text = "example.org:0 {\n bind 127.0.0.1\n file db.example.org\n}\n"
    with pytest.raises(ConfigError, match=message):
        Server(text, str(corefile), default_port=0).plan(text)


def test_missing_file_is_fatal_only_without_reload(tmp_path: Path) -> None:
    corefile = str(tmp_path / "Corefile")
    text = "example.org:0 {\n bind 127.0.0.1\n file db.example.org {\n  reload 0\n }\n}\n"
    with pytest.raises(
        ConfigError, match=r"plugin/file: .*Corefile:3: cannot read .*db.example.org"
    ):
        Server(text, corefile, default_port=0).plan(text)
    text = "example.org:0 {\n bind 127.0.0.1\n file db.example.org {\n  reload 50ms\n }\n}\n"
    with running(text, corefile) as srv:
        assert srv.udp("www.example.org.", "A").rcode() == dns.rcode.SERVFAIL
        (tmp_path / "db.example.org").write_text(EXAMPLE_ORG)
        assert _wait_answer(srv, "www.example.org.", ["www.example.org. 3600 IN A 127.0.0.1"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("file", r"plugin/file: Corefile:2: file needs a zone file"),
        ("file db {\n  reload soon\n }", r"plugin/file: Corefile:3: invalid duration"),
        ("file db {\n  transfer\n }", r"plugin/file: Corefile:3: unknown property 'transfer'"),
    ],
)
def test_bad_directive_is_refused(body: str, message: str) -> None:
    text = ".:0 {\n " + body + "\n}\n"
    with pytest.raises(ConfigError, match=message):
        Server(text, "Corefile", default_port=0).plan(text)
