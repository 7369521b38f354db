"""The forward handler: pick upstreams by policy, exchange, hand the reply back as the client asked."""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time

from clusterdns.dns.hexdump import hexdump
from clusterdns.dns.names import in_zones, is_subdomain
from clusterdns.dns.reply import mirror_opt, patch_reply, shrink_to_fit
from clusterdns.dns.wire import FORMERR, REFUSED, SERVFAIL, TC, Query
from clusterdns.plugins.forward import metrics, policy
from clusterdns.plugins.forward.options import ForwardConfig
from clusterdns.plugins.forward.upstream import (
    Upstream,
    UpstreamError,
    UpstreamOptions,
    same_question,
)
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request, no_plugins

log = logging.getLogger("clusterdns.plugins.forward")

DEFAULT_TIMEOUT = 5.0  # CoreDNS: a query is given up after 5 s whatever the retries
CONNECT_ATTEMPTS_PER_UPSTREAM = 2  # CoreDNS's defaultConnectAttemptsPerUpstream


def tls_context(args: tuple[str, ...] | None) -> ssl.SSLContext | None:
    """CoreDNS's ``tls [CERT KEY] [CA]``: no args -> system roots; CA; CERT KEY; CERT KEY CA."""
    if args is None:
        return None
    cafile = args[0] if len(args) == 1 else (args[2] if len(args) == 3 else None)
    context = ssl.create_default_context(cafile=cafile)
    if len(args) >= 2:
        context.load_cert_chain(args[0], args[1])
    return context


class Forward(Plugin):
    name = "forward"
    replies_outlive_reload = True

    def __init__(self, config: ForwardConfig) -> None:
        self.config = config
        context = tls_context(config.tls)
        self.upstreams = [
            Upstream(
                address,
                UpstreamOptions(
                    expire=config.expire,
                    read_timeout=config.read_timeout,
                    health_check=config.health_check,
                    hc_recursion_desired=config.hc_recursion_desired,
                    hc_domain=config.hc_domain,
                    hc_tcp=config.force_tcp,
                    tls=(context or ssl.create_default_context())
                    if address.transport == "tls"
                    else None,
                    tls_servername=address.server_name or config.tls_servername,
                    source_address=config.source_address,
                    max_age=config.max_age,
                    max_idle_conns=config.max_idle_conns,
                ),
            )
            for address in config.to
        ]
        self.policy = policy.make(config.policy)
        self.concurrent = 0
        self.next_is_forward = False
        #: the block's plugins (set by setup); those with a ``tap_forwarder`` (dnstap,
        #: trace) get our exchanges
        self.block_plugins = no_plugins
        self.taps: tuple[Plugin, ...] = ()

    def matches(self, name: str) -> bool:
        """Under FROM and not under an ``except`` zone (FROM itself always matches)."""
        zone = self.config.from_zone
        if not is_subdomain(name, zone):
            return False
        return name == zone or not in_zones(name, self.config.ignored)

    async def serve(self, request: Request, next: Handler) -> Reply:
        if not self.matches(request.query.name):
            return await next(request)
        limit = self.config.max_concurrent
        if limit and self.concurrent >= limit:
            metrics.MAX_CONCURRENT_REJECTS.inc()
            return Reply.unanswered(
                REFUSED, self.name, f"concurrent queries exceeded maximum {limit}"
            )
        self.concurrent += 1
        try:
            return await self._forward(request, next)
        finally:
            self.concurrent -= 1

    async def _forward(self, request: Request, next: Handler) -> Reply:
        query = request.query
        config = self.config
        upstreams = self.policy.order(self.upstreams)
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        max_attempts = config.max_connect_attempts
        if max_attempts is None:
            max_attempts = CONNECT_ATTEMPTS_PER_UPSTREAM * len(upstreams)
        attempts = index = fails = failovers = 0
        error: str = "no healthy proxies"
        last: Reply | None = None
        while time.monotonic() < deadline and (max_attempts == 0 or attempts < max_attempts):
            if index >= len(upstreams):
                index = fails = 0
            upstream = upstreams[index]
            index += 1
            if upstream.down(config.max_fails):
                fails += 1
                if fails < len(self.upstreams):
                    continue
                metrics.HEALTHCHECK_BROKEN.inc()
                if config.failfast_all_unhealthy_upstreams:
                    break  # CoreDNS: SERVFAIL at once when every upstream is down
                # Every upstream is down: assume the health checks are broken and pick one.
                upstream = policy.Random().order(self.upstreams)[0]
            try:
                wire = await self._exchange(upstream, query, self._proto(request))
            except UpstreamError as exc:
                error = str(exc)
                if config.max_fails:
                    upstream.healthcheck()
                attempts += 1
                if max_attempts and attempts >= max_attempts:
                    break
                if fails < len(self.upstreams):
                    continue
                break
            if not same_question(wire, query.question) or not wire[2] & 0x80:
                if log.isEnabledFor(logging.DEBUG):  # the *debug* plugin
                    log.debug(
                        "[DEBUG] plugin/forward: malformed reply from %s:\n%s",
                        upstream.address.label,
                        "\n".join(hexdump(wire)),
                    )
                return Reply.unanswered(FORMERR, self.name, "wrong reply from upstream")
            rcode = wire[3] & 0xF
            last = Reply(to_client(wire, query, request.udp), rcode, self.name, 0.0)
            if rcode in config.failover_rcodes:
                # CoreDNS: try the next upstream; once all were tried, the last reply stands.
                failovers += 1
                if failovers < len(self.upstreams):
                    continue
            if rcode in config.next_rcodes and self.next_is_forward:
                return await next(request)
            nodata = rcode == 0 and wire[6:8] == b"\x00\x00"  # NOERROR, no answer records
            if nodata and config.next_on_nodata and self.next_is_forward:
                return await next(request)
            return last
        if last is not None:
            return last
        return Reply.unanswered(SERVFAIL, self.name, error)

    def _proto(self, request: Request) -> str:
        if self.config.force_tcp:
            return "tcp"
        if self.config.prefer_udp:
            return "udp"
        return request.transport

    async def _exchange(self, upstream: Upstream, query: Query, proto: str) -> bytes:
        # A fresh random ID per upstream query: the client's ID is put back afterwards.
        wire = secrets.token_bytes(2) + query.data[2:]
        if self.taps:
            return await self._tapped_exchange(upstream, wire, query, proto)
        reply = await upstream.exchange(wire, query.question, proto)
        if reply[2] & (TC >> 8) and proto == "udp" and self.config.prefer_udp:
            # CoreDNS retries a truncated reply over TCP when prefer_udp sent it over UDP.
            reply = await upstream.exchange(wire, query.question, "tcp")
        return reply

    async def _tapped_exchange(
        self, upstream: Upstream, wire: bytes, query: Query, proto: str
    ) -> bytes:
        """``_exchange`` shown to the taps per try (dnstap: FORWARDER_QUERY and RESPONSE; trace: a span)."""
        address = upstream.address
        via = "tls" if address.transport == "tls" else proto
        started = time.perf_counter()
        reply: bytes | None = None
        try:
            reply = await upstream.exchange(wire, query.question, proto)
        finally:
            for tap in self.taps:
                tap.tap_forwarder(wire, reply, (address.host, address.port), via, started)
        if reply[2] & (TC >> 8) and proto == "udp" and self.config.prefer_udp:
            return await self._tapped_exchange(upstream, wire, query, "tcp")
        return reply

    async def start(self) -> None:
        self.taps = tuple(
            p for p in self.block_plugins() if type(p).tap_forwarder is not Plugin.tap_forwarder
        )

    async def stop(self) -> None:
        await asyncio.gather(*(upstream.close() for upstream in self.upstreams))


def to_client(wire: bytes, query: Query, udp: bool) -> bytes:
    """The upstream's reply with the client's ID, question case and OPT, cut to fit UDP."""
    reply = mirror_opt(query, patch_reply(wire, query))
    if udp and len(reply) > query.max_udp_payload():
        return shrink_to_fit(query, reply)
    return reply
