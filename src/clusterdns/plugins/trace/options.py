"""``trace [ENDPOINT-TYPE] [ENDPOINT] { every; service; client_server; zipkin_max_* }`` -> ``TraceConfig``.

CoreDNS's plugin/trace/setup.go, with OpenTelemetry's OTLP in place of its
Zipkin and Datadog reporters: ENDPOINT-TYPE is ``otlp`` (OTLP/HTTP with
protobuf bodies, the default, port 4318, path ``/v1/traces``) or ``otlp-grpc``
(port 4317).  One argument is the ENDPOINT of the default type, as in CoreDNS;
a lone ENDPOINT-TYPE word means that type at its default endpoint.  ``zipkin``
and ``datadog`` are refused with what to write instead.  The zipkin reporter's
batching options mean the same for the OTLP batch processor and are kept;
``datadog_analytics_rate`` has no OTLP meaning and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import split_host_port
from clusterdns.plugins.args import fail, parse_bool, parse_duration, parse_int

OTLP = "otlp"  # OTLP/HTTP, protobuf bodies
OTLP_GRPC = "otlp-grpc"
DEFAULT_PORT = {OTLP: 4318, OTLP_GRPC: 4317}
TRACES_PATH = "/v1/traces"  # the OTLP/HTTP path of spans
DEFAULT_HOST = "localhost"  # CoreDNS's endpoints default to localhost too
DEFAULT_SERVICE = "coredns"  # CoreDNS's defServiceName
# The zipkin-go HTTP reporter's defaults, which CoreDNS leaves in place: a backlog of
# 1000 spans, batches of 100, sent at least every second.
DEFAULT_BACKLOG = 1000
DEFAULT_BATCH = 100
DEFAULT_INTERVAL = 1.0
MAX_EVERY = 2**64 - 1  # CoreDNS parses AMOUNT as a uint64

REFUSED_TYPES = {
    "zipkin": "an OpenTelemetry Collector takes OTLP and exports to Zipkin",
    "datadog": "the Datadog Agent takes OTLP when its OTLP receiver is on",
}


@dataclass(frozen=True, slots=True)
class TraceConfig:
    protocol: str  # OTLP or OTLP_GRPC
    endpoint: str  # a URL: http(s)://HOST:PORT/v1/traces (OTLP), http(s)://HOST:PORT (gRPC)
    every: int = 1  # trace one query of every AMOUNT; 0 traces none (CoreDNS: every > 0)
    service: str = DEFAULT_SERVICE
    client_server: bool = False
    backlog: int = DEFAULT_BACKLOG  # zipkin_max_backlog_size: spans queued for export at most
    batch: int = DEFAULT_BATCH  # zipkin_max_batch_size: spans per export at most
    interval: float = DEFAULT_INTERVAL  # zipkin_max_batch_interval: seconds between exports


def parse_endpoint(protocol: str, text: str, directive: Directive) -> str:
    """ENDPOINT as a URL: ``HOST[:PORT]`` becomes ``http://HOST:PORT`` (+ ``/v1/traces`` for OTLP/HTTP).

    As CoreDNS turns a zipkin ENDPOINT without ``http`` into
    ``http://ENDPOINT/api/v2/spans``.  A URL is kept; one with no path gets
    ``/v1/traces`` for OTLP/HTTP, as OpenTelemetry's ``OTEL_EXPORTER_OTLP_ENDPOINT``.
    """
    if "://" not in text:
        if "/" in text:
            fail(directive, f"invalid endpoint {text!r}: use HOST[:PORT] or a URL", "trace")
        try:
            host, port = _split(text, DEFAULT_PORT[protocol])
        except ValueError as exc:
            fail(directive, f"invalid endpoint {exc}", "trace")
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}" + (TRACES_PATH if protocol == OTLP else "")
    url = urlsplit(text)
    if url.scheme not in ("http", "https"):
        fail(directive, f"invalid endpoint {text!r}: a URL must be http:// or https://", "trace")
    try:
        url_port = url.port
    except ValueError:
        url_port = -1
    if not url.hostname or url_port in (-1, 0) or url.query or url.fragment:
        fail(directive, f"invalid endpoint {text!r}: expected SCHEME://HOST[:PORT][/PATH]", "trace")
    path = url.path.rstrip("/")
    if protocol == OTLP_GRPC:
        if path:
            fail(
                directive, f"invalid endpoint {text!r}: an OTLP/gRPC endpoint has no path", "trace"
            )
        netloc = url.netloc if url_port else f"{url.netloc}:{DEFAULT_PORT[OTLP_GRPC]}"
        return f"{url.scheme}://{netloc}"
    return f"{url.scheme}://{url.netloc}{url.path if path else TRACES_PATH}"


def _split(text: str, default_port: int) -> tuple[str, int]:
    host, port = split_host_port(text, default_port)
    if not host:
        raise ValueError(f"{text!r}: a host is needed")
    if port == 0:
        raise ValueError(f"{text!r}: port must be 1-65535")
    return host, port


def parse_protocol(word: str, directive: Directive) -> str:
    kind = word.lower()  # CoreDNS lower-cases ENDPOINT-TYPE
    if kind in REFUSED_TYPES:
        fail(
            directive,
            f"endpoint type '{kind}' is not built into clusterdns, which exports spans with "
            f"OpenTelemetry's OTLP: use 'trace otlp HOST:4318' ({REFUSED_TYPES[kind]})",
            "trace",
        )
    if kind not in DEFAULT_PORT:
        fail(
            directive,
            f"tracing endpoint type '{word}' is not supported: use otlp (OTLP/HTTP, port 4318) "
            "or otlp-grpc (OTLP/gRPC, port 4317)",
            "trace",
        )
    return kind


def parse(directive: Directive) -> TraceConfig:
    args = directive.args
    if len(args) > 2:
        fail(directive, f"unexpected argument {args[2]!r}: trace [ENDPOINT-TYPE] [ENDPOINT]")
    if len(args) == 2:
        protocol = parse_protocol(args[0], directive)
        endpoint = parse_endpoint(protocol, args[1], directive)
    elif len(args) == 1 and (args[0].lower() in DEFAULT_PORT or args[0].lower() in REFUSED_TYPES):
        protocol = parse_protocol(args[0], directive)
        endpoint = parse_endpoint(protocol, DEFAULT_HOST, directive)
    else:
        protocol = OTLP
        endpoint = parse_endpoint(protocol, args[0] if args else DEFAULT_HOST, directive)
    every, service, client_server = 1, DEFAULT_SERVICE, False
    backlog, batch, interval = DEFAULT_BACKLOG, DEFAULT_BATCH, DEFAULT_INTERVAL
    for option in directive.block:
        name, values = option.name, option.args
        if name == "client_server":
            if len(values) > 1:
                fail(option, "client_server takes at most one argument (true or false)", "trace")
            client_server = parse_bool(values[0], option, name, "trace") if values else True
            continue
        if name == "datadog_analytics_rate":
            fail(
                option,
                "datadog_analytics_rate is a Datadog option and clusterdns exports OTLP: "
                "remove it (sample with 'every')",
                "trace",
            )
        if name not in ("every", "service", *_BATCHING):
            fail(option, f"unknown property '{name}'", "trace")
        if len(values) != 1:
            fail(option, f"{name} needs one argument", "trace")
        value = values[0]
        if name == "every":
            every = parse_int(value, option, 0, MAX_EVERY, "every", "trace")
        elif name == "service":
            service = value
        elif name == "zipkin_max_batch_interval":
            # CoreDNS (setup.go, trace.go): 0 leaves the reporter's default in place.
            interval = parse_duration(value, option, "trace") or DEFAULT_INTERVAL
        elif name == "zipkin_max_backlog_size":
            backlog = parse_int(value, option, 0, 2**31 - 1, name, "trace") or DEFAULT_BACKLOG
        else:
            batch = parse_int(value, option, 0, 2**31 - 1, name, "trace") or DEFAULT_BATCH
    if batch > backlog:
        fail(
            directive,
            f"zipkin_max_batch_size {batch} is larger than zipkin_max_backlog_size {backlog}",
            "trace",
        )
    return TraceConfig(protocol, endpoint, every, service, client_server, backlog, batch, interval)


_BATCHING = ("zipkin_max_backlog_size", "zipkin_max_batch_size", "zipkin_max_batch_interval")
