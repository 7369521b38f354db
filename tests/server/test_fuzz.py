"""Garbage on the wire: the server answers with an rcode or drops, and keeps serving others."""

from __future__ import annotations

import collections
import contextlib
import socket

import dns.message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.serverutil import running

COREFILE = """
example.test:0 {
    bind 127.0.0.1
    errors
    hosts {
        10.0.0.1 web.example.test
    }
    whoami
}
"""
VALID = dns.message.make_query("web.example.test", "A").to_wire()


def mutated(data: st.DataObject) -> bytes:
    """Either random bytes, or a valid query with bytes flipped, cut or appended."""
    if data.draw(st.booleans()):
        return data.draw(st.binary(max_size=600))
    wire = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 6))):
        index = data.draw(st.integers(0, len(wire) - 1))
        wire[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    return bytes(wire[:cut]) + data.draw(st.binary(max_size=40))


#: probes whose sockets stay open, so a late reply never lands on a later probe's port
KEPT_OPEN = 64


def probe_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    return sock


def test_garbage_never_takes_the_server_down() -> None:
    """Each probe has a socket of its own: a reply that comes after its probe gave up
    (a loaded machine) goes to that socket, never to the next probe's."""
    with running(COREFILE) as srv, contextlib.ExitStack() as cleanup:
        recent: collections.deque[socket.socket] = collections.deque()
        cleanup.callback(lambda: [sock.close() for sock in recent])

        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.data())
        def send_garbage(data: st.DataObject) -> None:
            payload = mutated(data)
            sock = probe_socket()
            recent.append(sock)
            if len(recent) > KEPT_OPEN:
                recent.popleft().close()
            sock.sendto(payload, (srv.host, srv.port))
            try:
                reply = sock.recv(65535)
            except TimeoutError:
                return  # dropped, or too late to tell: allowed
            assert len(reply) >= 12 and reply[:2] == payload[:2] and reply[2] & 0x80

        send_garbage()
        # Still serving well-formed queries over both transports.
        assert srv.udp("web.example.test").answer
        assert srv.tcp("web.example.test").answer
