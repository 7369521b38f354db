"""A load run as a value (``LoadPlan``), and how command-line choices become one, checked with
messages that say what to do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from clusterdns.bench.queries import (
    BenchInputError,
    QuerySpec,
    QueryTemplate,
    build_template,
    parse_server,
    parse_type,
    read_query_file,
    read_resolv_conf,
    validate_name,
)

ProgressFn = Callable[[int, int], None]
"""Called about every interval with (queries sent, queries answered or timed out) so far."""


@dataclass(frozen=True, slots=True)
class StubPlan:
    """How ``--resolver`` mode looks names up, as an application's libc would."""

    names: tuple[str, ...]
    search: tuple[str, ...] = ()
    ndots: int = 1
    attempts: int = 2
    reopen: bool = False  # single-request-reopen: AAAA from a new socket (new source port)
    single_request: bool = False  # single-request: A, wait for it, then AAAA


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """One load run: where, what, how hard, for how long."""

    server: tuple[str, int]
    templates: tuple[QueryTemplate, ...] = ()
    concurrency: int = 100
    duration: float = 10.0  # seconds of sending; 0 means until ``count``
    count: int = 0  # queries (lookups in resolver mode) at most; 0 means no limit
    qps: float = 0.0  # 0 means as fast as the concurrency allows
    timeout: float = 5.0
    limit_ms: float = 0.0  # latencies >= this are counted as over the limit; 0 disables
    tcp: bool = False
    sockets: int = 0  # 0 means min(concurrency, 4)
    interval: float = 0.1  # timeline resolution in seconds
    stub: StubPlan | None = None
    start_ns: int = field(default=0, compare=False)  # common start (perf_counter_ns) for workers

    def share(self, index: int, workers: int) -> LoadPlan:
        """This worker's part of the plan: concurrency, count and rate split as evenly as possible."""

        def split(total: int) -> int:
            return total // workers + (1 if index < total % workers else 0)

        return LoadPlan(
            server=self.server,
            templates=self.templates,
            concurrency=max(1, split(self.concurrency)),
            duration=self.duration,
            count=split(self.count) if self.count else 0,
            qps=self.qps / workers,
            timeout=self.timeout,
            limit_ms=self.limit_ms,
            tcp=self.tcp,
            sockets=self.sockets,
            interval=self.interval,
            stub=self.stub,
            start_ns=self.start_ns,
        )

    @property
    def socket_count(self) -> int:
        return max(1, min(self.sockets or 4, self.concurrency))


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What the user asked for, before any file is read."""

    host: str | None = None
    queries_file: str | None = None
    rdtype: str = "A"
    server: str | None = None
    resolv_conf: str | None = None
    port: int = 53
    concurrency: int = 100
    duration: float | None = None
    count: int = 0
    qps: float = 0.0
    timeout: float = 5.0
    limit_ms: float = 0.0
    tcp: bool = False
    sockets: int = 0
    resolver: bool = False
    search: tuple[str, ...] | None = None
    ndots: int | None = None
    attempts: int = 2
    reopen: bool = False
    single_request: bool = False


def make_plan(options: BenchOptions) -> LoadPlan:
    """Resolve the server and the queries; refuse choices that cannot work."""
    _check_numbers(options)
    server, search, ndots = _server_and_search(options)
    duration = (
        options.duration if options.duration is not None else (0.0 if options.count else 10.0)
    )
    if duration <= 0 and not options.count:
        raise BenchInputError("give -d SECONDS or -n COUNT so the run ends")
    stub = None
    templates: tuple[QueryTemplate, ...] = ()
    if options.resolver:
        if options.reopen and options.single_request:
            raise BenchInputError("--reopen and --single-request exclude each other: pick one")
        stub = StubPlan(
            names=_names(options),
            search=options.search if options.search is not None else search,
            ndots=options.ndots if options.ndots is not None else ndots,
            attempts=options.attempts,
            reopen=options.reopen,
            single_request=options.single_request,
        )
    else:
        templates = tuple(build_template(spec) for spec in _specs(options))
    return LoadPlan(
        server=server,
        templates=templates,
        concurrency=options.concurrency,
        duration=duration,
        count=options.count,
        qps=options.qps,
        timeout=options.timeout,
        limit_ms=options.limit_ms,
        tcp=options.tcp,
        sockets=options.sockets,
        stub=stub,
    )


def _check_numbers(options: BenchOptions) -> None:
    if not 1 <= options.concurrency <= 65535:
        raise BenchInputError(
            f"-c {options.concurrency}: concurrency must be 1-65535 (one DNS ID space)"
        )
    if options.timeout <= 0:
        raise BenchInputError(f"--timeout {options.timeout}: must be more than 0 seconds")
    if options.count < 0 or options.qps < 0 or options.limit_ms < 0:
        raise BenchInputError("-n, --qps and -l must not be negative")
    if options.attempts < 1:
        raise BenchInputError(f"--attempts {options.attempts}: must be at least 1")


def _server_and_search(options: BenchOptions) -> tuple[tuple[str, int], tuple[str, ...], int]:
    # Deliberately no fallback to the machine's resolver: load goes only where the user points it.
    search: tuple[str, ...] = ()
    ndots = 1
    server = None
    if options.resolv_conf:
        conf = read_resolv_conf(options.resolv_conf)
        server = parse_server(conf.nameserver, options.port)
        search, ndots = conf.search, conf.ndots
    if options.server:
        server = parse_server(options.server)
    if server is None:
        raise BenchInputError(
            "no server: give --server HOST:PORT (or --resolv-conf FILE to use its first nameserver, "
            "as a pod's resolver would)"
        )
    return server, search, ndots


def _specs(options: BenchOptions) -> list[QuerySpec]:
    if options.queries_file and options.host:
        raise BenchInputError("give -host NAME or --queries FILE, not both")
    if options.queries_file:
        return read_query_file(options.queries_file)
    if options.host:
        validate_name(options.host)
        return [QuerySpec(options.host, parse_type(options.rdtype))]
    raise BenchInputError("nothing to ask: give -host NAME or --queries FILE")


def _names(options: BenchOptions) -> tuple[str, ...]:
    if options.queries_file:
        # Resolver mode looks names up (A and AAAA); the file's types do not apply.
        return tuple(dict.fromkeys(spec.name for spec in read_query_file(options.queries_file)))
    if options.host:
        validate_name(options.host)
        return (options.host,)
    raise BenchInputError("nothing to look up: give -host NAME or --queries FILE")
