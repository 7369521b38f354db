"""OTLP trace receivers for tests: OTLP/HTTP (aiohttp) and OTLP/gRPC (grpcio) on 127.0.0.1.

Each decodes ``ExportTraceServiceRequest`` with opentelemetry-proto's generated
classes and keeps the spans as plain ``Received`` records.  Run as a script
(``python tests/otlpcollect.py PORT``) it is the collector of
``benchmarks/trace_overhead.sh``: it decodes and counts, keeping nothing.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True)
class Received:
    name: str
    trace_id: str
    span_id: str
    parent: str  # "" for a root span
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind: 2 SERVER, 3 CLIENT, 1 INTERNAL
    attributes: dict[str, Any]
    status: int  # 0 unset, 1 ok, 2 error
    status_message: str
    service: str
    start: int
    end: int


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


def decode(body: bytes) -> list[Received]:
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Received(
                        span.name,
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                        span.kind,
                        {a.key: _value(a.value) for a in span.attributes},
                        span.status.code,
                        span.status.message,
                        str(resource.get("service.name", "")),
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                    )
                )
    return spans


class Spans:
    """What a receiver got, shared with the test's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.requests = 0

    def add(self, body: bytes) -> None:
        spans = decode(body)
        with self.lock:
            self.received.extend(spans)
            self.requests += 1

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def roots(self) -> list[Received]:
        return sorted((s for s in self.all() if not s.parent), key=lambda s: s.start)

    def trace(self, root: Received) -> list[Received]:
        """The spans of ``root``'s trace, parents before children (by start time)."""
        return sorted((s for s in self.all() if s.trace_id == root.trace_id), key=lambda s: s.start)


class HTTPReceiver(Spans):
    """OTLP/HTTP: POST /v1/traces with an ``application/x-protobuf`` body."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _export(self, request: web.Request) -> web.Response:
        self.add(await request.read())
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=reply, status=self.status, content_type="application/x-protobuf")

    async def _start(self, port: int) -> int:
        app = web.Application()
        app.router.add_post("/v1/traces", self._export)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def start(self, port: int = 0) -> HTTPReceiver:
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(port), self.loop).result(10)
        return self

    def stop(self) -> None:
        try:
            if self.runner is not None:
                asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def __enter__(self) -> HTTPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Servicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, spans: Spans) -> None:
        self.spans = spans

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (the gRPC method name)
        self.spans.add(request.SerializeToString())
        return trace_service_pb2.ExportTraceServiceResponse()


class GRPCReceiver(Spans):
    """OTLP/gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export."""

    def __init__(self) -> None:
        super().__init__()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Servicer(self), self.server)
        self.port = 0

    def start(self) -> GRPCReceiver:
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(None).wait(5)

    def __enter__(self) -> GRPCReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Counter(HTTPReceiver):
    def add(self, body: bytes) -> None:
        count = len(decode(body))
        with self.lock:
            self.requests += 1
            self.received_count = getattr(self, "received_count", 0) + count


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)


if __name__ == "__main__":  # the benchmark's collector: decode, count, keep nothing
    signal.signal(signal.SIGTERM, _exit)
    receiver = _Counter().start(int(sys.argv[1]))
    try:
        threading.Event().wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        print(f"{getattr(receiver, 'received_count', 0)} spans in {receiver.requests} requests")
        receiver.stop()
