"""The trace handler: a ``servedns`` span per traced query, a child span per plugin it went through.

As CoreDNS's plugin/trace/trace.go: the plugin counts queries and traces one
of every ``every``; the root span ``servedns`` carries the query's name, type,
protocol, client address and the rcode; as CoreDNS's ``plugin.NextOrFailure``,
each plugin the query reaches gets a span named after it, a child of the span
of the plugin that passed it on; as CoreDNS's plugin/forward/forward.go, each
exchange with an upstream is a ``connect`` span with the upstream's
``peer.address``.

A query that is not traced costs a counter and one call: the plugin hands it to
the block's ordinary chain.  A traced one goes down a second chain built at
start from the same plugins, each wrapped to open and close its span, so the
ordinary chain and the server carry no tracing code.  Replies the server
answers from its memo (no plugin runs) reach ``tap_hit``; they count towards
``every`` too, and a traced one is a ``servedns`` span marked
``clusterdns.io/memo`` with no children.

Spans go to an OpenTelemetry SDK ``TracerProvider`` of the plugin's own (never
the global one) with a ``BatchSpanProcessor``: ending a span appends it to a
bounded queue, and the processor's thread encodes and exports batches over
OTLP.  ``stop`` flushes what is queued, for at most ``STOP_FLUSH`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar

# OpenTelemetry is the [trace] extra: imported here, at the top, so that importing setup
# (which imports this module) fails with ImportError when it is missing.
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

from clusterdns import __version__
from clusterdns.dns.codes import rcode_label, type_text
from clusterdns.dns.wire import SERVFAIL, WireError, parse_query
from clusterdns.plugins.plugin import Handler, Hit, Plugin, Reply, Request
from clusterdns.plugins.trace.options import OTLP_GRPC, TraceConfig

log = logging.getLogger("clusterdns.plugins.trace")

ROOT = "servedns"  # CoreDNS's defaultTopLevelSpanName
CONNECT = "connect"  # CoreDNS forward's span per upstream exchange
# CoreDNS's tag names (trace.go tagByProvider["default"]) and OpenTracing's peer.address
NAME = "coredns.io/name"
TYPE = "coredns.io/type"
RCODE = "coredns.io/rcode"
PROTO = "coredns.io/proto"
REMOTE = "coredns.io/remote"
PEER = "peer.address"
MEMO = "clusterdns.io/memo"  # ours: the server answered from its memo, no plugin ran
STOP_FLUSH = 5.0  # seconds stop() waits for queued spans to be exported

#: the span of the plugin now serving a traced query (None: the query is not traced)
CURRENT: ContextVar[Span | None] = ContextVar("clusterdns_trace_span", default=None)
_EMPTY = Context()  # a span's parent comes from CURRENT, never from OpenTelemetry's own context


class Trace(Plugin):
    name = "trace"
    replies_outlive_reload = True
    taps_queries = True  # for the replies the server answers from its memo

    def __init__(self, config: TraceConfig, block_plugins: Callable[[], tuple[Plugin, ...]]):
        self.config = config
        self.every = config.every
        self.count = 0
        self.block_plugins = block_plugins
        self.provider: TracerProvider | None = None
        self.exporter: SpanExporter | None = None
        self.tracer: Tracer | None = None
        self.traced: Handler = no_next

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        self.exporter = exporter = make_exporter(config)
        provider = TracerProvider(
            sampler=ALWAYS_ON,  # sampling is `every`, decided before a span exists
            resource=Resource.create({SERVICE_NAME: config.service}),
        )
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=config.backlog,
                schedule_delay_millis=config.interval * 1000,
                max_export_batch_size=config.batch,
            )
        )
        self.provider = provider
        self.tracer = tracer = provider.get_tracer("clusterdns.plugins.trace", __version__)
        plugins = self.block_plugins()
        after = plugins[plugins.index(self) + 1 :] if self in plugins else ()
        self.traced = traced_chain([p for p in after if p.handles_queries], tracer)

    async def stop(self) -> None:
        provider, exporter = self.provider, self.exporter
        self.provider = self.exporter = self.tracer = None
        if provider is None or exporter is None:
            return
        flush = asyncio.ensure_future(asyncio.to_thread(provider.shutdown))
        done, _ = await asyncio.wait({flush}, timeout=STOP_FLUSH)
        if not done:
            # The collector is away and the exporter is waiting to retry: stop it waiting.
            log.warning(
                "[WARNING] plugin/trace: spans not exported within %.0fs of stopping: dropped",
                STOP_FLUSH,
            )
            with contextlib.suppress(Exception):
                exporter.shutdown()
        with contextlib.suppress(Exception):
            await flush

    # -- queries -----------------------------------------------------------

    async def serve(self, request: Request, next: Handler) -> Reply:
        self.count += 1
        if self.every and not self.count % self.every and self.tracer is not None:
            return await self.serve_traced(request, self.tracer)
        return await next(request)

    async def serve_traced(self, request: Request, tracer: Tracer) -> Reply:
        span = tracer.start_span(
            ROOT, _EMPTY, SpanKind.SERVER, start_time=epoch_ns(request.received)
        )
        token = CURRENT.set(span)
        try:
            reply = await self.traced(request)
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            CURRENT.reset(token)
        query = request.query
        span.set_attributes(
            {
                NAME: query.name,
                TYPE: type_text(query.qtype),
                PROTO: request.transport,
                REMOTE: request.client[0],
                RCODE: rcode_label(reply.rcode),
            }
        )
        if reply.error:
            span.set_status(Status(StatusCode.ERROR, reply.error))
        span.end()
        return reply

    def tap_hit(self, hit: Hit, server: str, zone: str) -> None:
        """A reply from the server's memo: counted, and traced as a ``servedns`` span alone."""
        self.count += 1
        tracer = self.tracer
        if not self.every or self.count % self.every or tracer is None:
            return
        data, wire, client, transport, _local, received, _sent = hit
        try:
            query = parse_query(data)
        except WireError:
            return
        span = tracer.start_span(ROOT, _EMPTY, SpanKind.SERVER, start_time=epoch_ns(received))
        span.set_attributes(
            {
                NAME: query.name,
                TYPE: type_text(query.qtype),
                PROTO: transport,
                REMOTE: client[0],
                RCODE: rcode_label(wire[3] & 0xF),
                MEMO: True,
            }
        )
        span.end()

    def tap_forwarder(
        self,
        query: bytes,
        reply: bytes | None,
        upstream: tuple[str, int],
        proto: str,
        started: float,
    ) -> None:
        """forward's exchange in a traced query: a ``connect`` span under forward's."""
        parent = CURRENT.get()
        tracer = self.tracer
        if parent is None or tracer is None:
            return
        host, port = upstream
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        span = tracer.start_span(
            CONNECT,
            set_span_in_context(parent, _EMPTY),
            SpanKind.CLIENT,
            start_time=epoch_ns(started),
        )
        span.set_attribute(PEER, address)
        span.set_attribute(PROTO, proto)
        if reply is None:
            span.set_status(Status(StatusCode.ERROR, "no reply"))
        elif len(reply) >= 4:
            span.set_attribute(RCODE, rcode_label(reply[3] & 0xF))
        span.end()
        parent.set_attribute(PEER, address)  # the upstream forward asked last


def traced_chain(plugins: Sequence[Plugin], tracer: Tracer) -> Handler:
    """The plugins linked as the server links them, each one's serve inside a span of its name."""
    handler: Handler = no_next
    for plugin in reversed(plugins):
        handler = traced_link(plugin, handler, tracer)
    return handler


def traced_link(plugin: Plugin, next_handler: Handler, tracer: Tracer) -> Handler:
    serve = plugin.serve
    name = plugin.name

    async def handle(request: Request) -> Reply:
        parent = CURRENT.get()
        span = tracer.start_span(
            name, set_span_in_context(parent, _EMPTY) if parent is not None else _EMPTY
        )
        token = CURRENT.set(span)
        try:
            reply = await serve(request, next_handler)
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            CURRENT.reset(token)
        span.set_attribute(RCODE, rcode_label(reply.rcode))
        if reply.error and reply.plugin == name:
            span.set_status(Status(StatusCode.ERROR, reply.error))
        span.end()
        return reply

    return handle


async def no_next(request: Request) -> Reply:
    # As the server's end of the chain: CoreDNS's "no next plugin found", a SERVFAIL.
    return Reply.unanswered(SERVFAIL, "", f"no next plugin found for {request.name}")


def failed(span: Span, exc: BaseException) -> None:
    """End ``span`` for a plugin that raised (a bug: the server answers SERVFAIL)."""
    if isinstance(exc, Exception):
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, repr(exc)))
    span.end()


def epoch_ns(perf: float) -> int:
    """A ``time.perf_counter()`` reading as nanoseconds since the epoch, as spans carry time."""
    return time.time_ns() - int((time.perf_counter() - perf) * 1e9)


def make_exporter(config: TraceConfig) -> SpanExporter:
    """The OTLP exporter of ``config``; headers, timeout and TLS files come from OTEL_EXPORTER_OTLP_*."""
    # The exporters are imported when chosen: the gRPC one loads grpcio (tens of MB), which an
    # OTLP/HTTP set-up never needs.
    if config.protocol == OTLP_GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        # A plain HOST:PORT would mean TLS to the gRPC exporter: say which, from the scheme.
        secure = config.endpoint.startswith("https://")
        return OTLPSpanExporter(endpoint=config.endpoint, insecure=not secure)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter(endpoint=config.endpoint)
