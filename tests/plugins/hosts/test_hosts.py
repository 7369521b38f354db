"""hosts: CoreDNS's plugin/hosts behaviour, through the server and at parse time."""

from __future__ import annotations

from pathlib import Path

import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.fall import Fall
from clusterdns.plugins.hosts.options import parse
from tests.support.serverutil import answers, running


def block(path: Path, args: str, *lines: str) -> str:
    body = "".join(f"        {line}\n" for line in lines)
    return (
        f".:0 {{\n    bind 127.0.0.1\n    hosts {args} {{\n{body}    }}\n    whoami\n}}\n"
        if lines
        else f".:0 {{\n    bind 127.0.0.1\n    hosts {args}\n    whoami\n}}\n"
    )


def test_file_and_inline_entries_are_both_served(tmp_path: Path) -> None:
    """CoreDNS plugin/hosts/setup.go: the file (default /etc/hosts) is read whatever the
    inline entries; inline ones are merged with it (hostsParse keeps h.path)."""
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 file.example\n")
    text = block(tmp_path, str(hosts), "10.0.0.2 inline.example")
    with running(text, str(tmp_path / "Corefile")) as srv:
        assert answers(srv.udp("file.example.")) == ["file.example. 3600 IN A 10.0.0.1"]
        assert answers(srv.udp("inline.example.")) == ["inline.example. 3600 IN A 10.0.0.2"]
        ptr = srv.udp("1.0.0.10.in-addr.arpa.", "PTR")
        assert answers(ptr) == ["1.0.0.10.in-addr.arpa. 3600 IN PTR file.example."]


def test_inline_only_still_reads_etc_hosts() -> None:
    config = parse(
        Directive(
            "hosts", (), (Directive("10.0.0.2", ("a.example",), (), "Corefile", 3),), "Corefile", 2
        ),
        (".",),
    )
    assert config.path == "/etc/hosts"
    assert [e.names for e in config.inline] == [("a.example.",)]


@pytest.mark.parametrize("fallthrough", ["fallthrough", "fallthrough ."])
def test_fallthrough_dot_falls_through_like_a_bare_fallthrough(
    tmp_path: Path, fallthrough: str
) -> None:
    """CoreDNS pkg/fall: SetZonesFromArgs with no zones sets ".", and "." matches every
    name, so `fallthrough .` and `fallthrough` are the same."""
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 known.example\n")
    with running(block(tmp_path, str(hosts), fallthrough)) as srv:
        reply = srv.udp("unknown.example.")
        # whoami after hosts answered: the query fell through.
        assert reply.rcode() == dns.rcode.NOERROR
        assert any(rr.rdtype == dns.rdatatype.A for rr in reply.additional)


def test_without_fallthrough_a_miss_is_servfail(tmp_path: Path) -> None:
    """CoreDNS hosts.go: no SOA for an NXDOMAIN, so a name it does not have is SERVFAIL."""
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 known.example\n")
    with running(block(tmp_path, str(hosts))) as srv:
        assert srv.udp("unknown.example.").rcode() == dns.rcode.SERVFAIL


def test_fallthrough_only_for_its_zones(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 known.example\n")
    with running(block(tmp_path, str(hosts), "fallthrough other.test")) as srv:
        assert srv.udp("unknown.example.").rcode() == dns.rcode.SERVFAIL
        assert srv.udp("x.other.test.").rcode() == dns.rcode.NOERROR


def option(name: str, *args: str) -> Directive:
    return Directive(name, args, (), "Corefile", 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ((option("ttl", "0"),), "plugin/hosts: Corefile:3: ttl must be between 1 and 65535"),
        ((option("ttl", "65536"),), "ttl must be between 1 and 65535"),
        ((option("ttl", "x"),), "ttl must be a number"),
        ((option("reload", "-1s"),), "must not be negative"),
        (
            (option("fallthrough"), option("10.0.0.1", "late.example")),
            "unknown property '10.0.0.1'",
        ),
        ((option("fallthrough_unsupported"),), "fallthrough_unsupported requires fallthrough"),
    ],
)
def test_parse_errors(options: tuple[Directive, ...], message: str) -> None:
    """CoreDNS hostsParse: ttl in 1..65535, reload not negative, inline lines before fallthrough."""
    with pytest.raises(ConfigError, match=message):
        parse(Directive("hosts", (), options, "Corefile", 2), (".",))


def test_ttl_bounds_accepted() -> None:
    for ttl in ("1", "65535"):
        config = parse(Directive("hosts", (), (option("ttl", ttl),), "Corefile", 2), (".",))
        assert config.ttl == int(ttl)
    assert parse(
        Directive("hosts", (), (option("fallthrough", "."),), "Corefile", 2), (".",)
    ).fall == Fall((".",))


def test_fallthrough_unsupported_types_go_on(tmp_path: Path) -> None:
    """CoreDNS hosts.go: with fallthrough_unsupported, types other than A/AAAA/PTR fall through."""
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 known.example\n")
    text = block(tmp_path, str(hosts), "fallthrough", "fallthrough_unsupported")
    with running(text) as srv:
        mx = srv.udp("known.example.", "MX")
        assert any(rr.rdtype == dns.rdatatype.A for rr in mx.additional)  # whoami answered
        assert answers(srv.udp("known.example.")) == ["known.example. 3600 IN A 10.0.0.1"]
