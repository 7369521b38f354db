"""bind: addresses and interface names, except, several lines per block; CoreDNS's behaviour."""

from __future__ import annotations

import socket

import dns.message
import dns.query
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.bind.handler import parse as parse_bind
from clusterdns.plugins.bind.interfaces import interface_addresses
from tests.support.serverutil import running


def bind_line(*args: str, except_: tuple[str, ...] = ()) -> Directive:
    block = (Directive("except", except_, (), "Corefile", 3),) if except_ else ()
    return Directive("bind", args, block, "Corefile", 2)


LOOPBACK = {"lo": ["127.0.0.1", "::1"], "eth9": ["192.0.2.9", "fe80::1%eth9"]}


def test_interface_name_stands_for_all_its_addresses() -> None:
    """CoreDNS plugin/bind/README.md: an interface with several addresses binds all of them
    (IPv4 and IPv6); `except` removes addresses or interfaces from its own line."""
    assert parse_bind(bind_line("lo"), lambda: LOOPBACK) == ("127.0.0.1", "::1")
    assert parse_bind(bind_line("lo", except_=("127.0.0.1",)), lambda: LOOPBACK) == ("::1",)
    assert parse_bind(bind_line("lo", "eth9", except_=("eth9",)), lambda: LOOPBACK) == (
        "127.0.0.1",
        "::1",
    )
    assert parse_bind(bind_line("eth9"), lambda: LOOPBACK) == ("192.0.2.9", "fe80::1%eth9")


def test_the_real_loopback_interface_is_found() -> None:
    assert "127.0.0.1" in interface_addresses()["lo"]


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        (bind_line("nosuch0"), "plugin/bind: Corefile:2: not a valid IP address or interface name"),
        (bind_line(), "at least one address or interface name is expected"),
        (bind_line("lo", except_=("lo",)), "every address is excluded"),
        (
            Directive(
                "bind", ("lo",), (Directive("only", ("x",), (), "Corefile", 3),), "Corefile", 2
            ),
            "plugin/bind: Corefile:3: invalid option 'only'",
        ),
    ],
)
def test_bind_errors(directive: Directive, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_bind(directive, lambda: LOOPBACK)


def test_several_bind_lines_are_consolidated() -> None:
    """CoreDNS plugin/bind/README.md: `bind 127.0.0.1` and `bind ::1` on two lines equal
    `bind 127.0.0.1 ::1`: the block listens on both."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    text = ".:0 {\n    bind 127.0.0.1\n    bind ::1\n    whoami\n}\n"
    try:
        srv_cm = running(text)
        srv = srv_cm.__enter__()
    except ConfigError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    try:
        hosts = sorted(host for host, _ in srv.server.addresses())
        assert hosts == ["127.0.0.1", "::1"]
        for host, port in srv.server.addresses():
            reply = dns.query.udp(
                dns.message.make_query("x.test.", "A"), host, port=port, timeout=3
            )
            assert reply.rcode() == 0
    finally:
        srv_cm.__exit__(None, None, None)


def test_bind_by_interface_name_listens_there() -> None:
    with running(".:0 {\n    bind lo {\n        except ::1\n    }\n    whoami\n}\n") as srv:
        assert [host for host, _ in srv.server.addresses()] == ["127.0.0.1"]
        assert srv.udp("x.test.").rcode() == 0
