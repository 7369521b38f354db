"""The ``kubernetes`` directive -> a frozen ``KubernetesOptions``.

Syntax and checks follow CoreDNS's ``plugin/kubernetes/setup.go`` (option names,
``ttl`` in [0, 3600], the three pod modes, ``ignore empty_service``, ``fallthrough
[ZONES...]``, ``namespaces`` and ``namespace_labels`` exclusive).  The source of
cluster state is the live API (``kubeconfig FILE [CONTEXT]``, ``endpoint URL`` with
``tls CERT KEY CACERT``, or in-cluster when neither is given, as CoreDNS), or ours:
``manifests PATH [INTERVAL]`` reads Kubernetes manifests (a file or a directory)
and polls them for changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from clusterdns.cluster.labels import LabelSelector, SelectorError, parse_selector
from clusterdns.dns.names import ROOT, is_reverse_zone, normalize_zone, reverse_zones
from clusterdns.errors import ConfigError
from clusterdns.plugins.args import go_duration
from clusterdns.plugins.fall import Fall

PLUGIN = "kubernetes"

PODS_DISABLED = "disabled"
PODS_INSECURE = "insecure"
PODS_VERIFIED = "verified"
POD_MODES = (PODS_DISABLED, PODS_INSECURE, PODS_VERIFIED)

DEFAULT_TTL = 5
MAX_TTL = 3600
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_STARTUP_TIMEOUT = 5.0

#: client-go rate limits: the source makes a handful of requests per resync, so unneeded
NOT_YET_OPTIONS = (
    "zonal",
    "apiserver_qps",
    "apiserver_burst",
    "apiserver_max_inflight",
)


class DirectiveLike(Protocol):
    """What ``parse_options`` reads of a ``clusterdns.corefile.model.Directive``."""

    @property
    def name(self) -> str: ...
    @property
    def args(self) -> tuple[str, ...]: ...
    @property
    def block(self) -> Sequence[DirectiveLike]: ...
    @property
    def file(self) -> str: ...
    @property
    def line(self) -> int: ...


_Parser = Callable[[DirectiveLike, tuple[str, ...]], dict[str, object]]


@dataclass(frozen=True, slots=True)
class KubernetesOptions:
    #: absolute, lower-case zones the plugin is authoritative for (forward and reverse)
    zones: tuple[str, ...]
    ttl: int = DEFAULT_TTL
    #: ``namespaces``: only these are exposed; empty = all
    namespaces: frozenset[str] = frozenset()
    namespace_labels: LabelSelector | None = None
    labels: LabelSelector | None = None
    pods: str = PODS_DISABLED
    endpoint_pod_names: bool = False
    noendpoints: bool = False
    #: None = no fallthrough; () = every zone; else only names in these zones
    fallthrough: tuple[str, ...] | None = None
    ignore_empty_service: bool = False
    manifests: str | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    #: ``endpoint URL``: the API server (ignored when ``kubeconfig`` is set, as in CoreDNS)
    endpoint: str = ""
    #: ``tls CERT KEY CACERT`` for ``endpoint``
    tls: tuple[str, str, str] | None = None
    kubeconfig: str = ""
    kubeconfig_context: str = ""

    #: ``zones`` split in two, once (read per address and per name)
    forward_zones: tuple[str, ...] = field(init=False, compare=False, repr=False)
    reverse_zones: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        forward = tuple(z for z in self.zones if not is_reverse_zone(z))
        object.__setattr__(self, "forward_zones", forward)
        object.__setattr__(self, "reverse_zones", tuple(z for z in self.zones if z not in forward))

    @property
    def primary_zone(self) -> str:
        """The first forward zone: the one PTR targets are written in (CoreDNS ``primaryZone``)."""
        return self.forward_zones[0]

    def falls_through(self, qname: str) -> bool:
        """Whether an NXDOMAIN for ``qname`` goes on to the next plugin instead."""
        if self.fallthrough is None:
            return False
        return Fall(self.fallthrough or (ROOT,)).through(qname.lower())


def parse_options(directive: DirectiveLike, server_zones: Sequence[str] = ()) -> KubernetesOptions:
    """Read a ``kubernetes [ZONES...] { ... }`` directive; raise ConfigError naming file and line.

    Without ZONES the server block's zones are used (CoreDNS
    ``OriginsFromArgsOrServerBlock``); ``server_zones`` are those, already normalized.
    """
    zones = _zones(directive, directive.args) if directive.args else tuple(server_zones)
    zones = tuple(normalize_zone(z) for z in zones)
    if not zones:
        raise _error(directive, "no zones: give ZONES or put kubernetes in a server block")
    if not any(not is_reverse_zone(z) for z in zones):
        raise _error(directive, "non-reverse zone name must be used (e.g. cluster.local)")
    values: dict[str, object] = {"zones": zones}
    for option in directive.block:
        _apply(option, values)
    if values.get("namespaces") and values.get("namespace_labels") is not None:
        raise _error(directive, "namespaces and namespace_labels cannot both be set")
    return KubernetesOptions(**values)  # type: ignore[arg-type]


def _apply(option: DirectiveLike, values: dict[str, object]) -> None:
    name, args = option.name, option.args
    if name in NOT_YET_OPTIONS:
        raise _error(option, f"{name} is not supported yet")
    parser = _OPTION_PARSERS.get(name)
    if parser is None:
        raise _error(option, f"unknown property '{name}'")
    values.update(parser(option, args))


def _flag(field: str) -> _Parser:
    def parse(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
        if args:
            raise _arg_error(option)
        return {field: True}

    return parse


def _parse_ttl(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if len(args) != 1:
        raise _arg_error(option)
    try:
        ttl = int(args[0])
    except ValueError:
        raise _error(option, f"ttl {args[0]!r} is not a number") from None
    if not 0 <= ttl <= MAX_TTL:
        raise _error(option, f"ttl must be in range [0, {MAX_TTL}]: {ttl}")
    return {"ttl": ttl}


def _parse_pods(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if len(args) != 1:
        raise _arg_error(option)
    if args[0] not in POD_MODES:
        raise _error(
            option, f"wrong value for pods: {args[0]}, must be one of: disabled, verified, insecure"
        )
    return {"pods": args[0]}


def _parse_namespaces(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if not args:
        raise _arg_error(option)
    return {"namespaces": frozenset(a.lower() for a in args)}


def _selector(field: str, what: str) -> _Parser:
    def parse(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
        if not args:
            raise _arg_error(option)
        text = " ".join(args)
        try:
            return {field: parse_selector(text)}
        except SelectorError as err:
            raise _error(
                option, f"unable to parse {what} selector value: '{text}': {err}"
            ) from None

    return parse


def _parse_fallthrough(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    zones = tuple(normalize_zone(z) for z in _zones(option, args))
    # "fallthrough ." is CoreDNS's way of writing "every zone" too
    return {"fallthrough": () if not zones or "." in zones else zones}


def _parse_ignore(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    # setup.go reads the first word only, and a bare "ignore" sets nothing
    if not args:
        return {}
    if args[0] != "empty_service":
        raise _error(option, f"unable to parse ignore value: '{args[0]}'")
    return {"ignore_empty_service": True}


def _parse_multicluster(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    # setup.go: without ZONES no zone is multicluster, which is what we serve
    if args:
        raise _error(option, "multicluster is not supported yet")
    return {}


def _parse_manifests(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if len(args) not in (1, 2):
        raise _arg_error(option)
    values: dict[str, object] = {"manifests": args[0]}
    if len(args) == 2:
        interval = _duration(option, args[1])
        if interval <= 0:
            raise _error(option, f"manifests poll interval must be above 0: {args[1]}")
        values["poll_interval"] = interval
    return values


def _parse_startup_timeout(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if len(args) != 1:
        raise _arg_error(option)
    return {"startup_timeout": _duration(option, args[0])}


def _parse_endpoint(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if not args:
        raise _arg_error(option)
    # CoreDNS takes a list but uses only the first ("we will deprecate multiple endpoints")
    url = args[0]
    if not url.startswith(("http://", "https://")):
        raise _error(option, f"endpoint {url!r} must be an http:// or https:// URL")
    return {"endpoint": url}


def _parse_tls(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if len(args) != 3:
        raise _arg_error(option)
    return {"tls": (args[0], args[1], args[2])}


def _parse_kubeconfig(option: DirectiveLike, args: tuple[str, ...]) -> dict[str, object]:
    if len(args) not in (1, 2):
        raise _arg_error(option)
    return {"kubeconfig": args[0], "kubeconfig_context": args[1] if len(args) == 2 else ""}


_OPTION_PARSERS = {
    "endpoint": _parse_endpoint,
    "tls": _parse_tls,
    "kubeconfig": _parse_kubeconfig,
    "ttl": _parse_ttl,
    "pods": _parse_pods,
    "namespaces": _parse_namespaces,
    "labels": _selector("labels", "label"),
    "namespace_labels": _selector("namespace_labels", "namespace_label"),
    "endpoint_pod_names": _flag("endpoint_pod_names"),
    "noendpoints": _flag("noendpoints"),
    "fallthrough": _parse_fallthrough,
    "ignore": _parse_ignore,
    "multicluster": _parse_multicluster,
    "manifests": _parse_manifests,
    "startup_timeout": _parse_startup_timeout,
}


def _duration(option: DirectiveLike, text: str) -> float:
    """A Go duration (``500ms``, ``1m30s``) in seconds."""
    try:
        seconds = go_duration(text)
    except ValueError as exc:
        raise _error(option, str(exc)) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise _error(option, f"invalid duration {text!r}; write e.g. 2s, 500ms or 1m30s")
    return seconds


def _zones(option: DirectiveLike, args: Sequence[str]) -> tuple[str, ...]:
    zones: list[str] = []
    for arg in args:
        if "/" in arg:
            try:
                zones.extend(reverse_zones(arg))
            except ValueError:
                raise _error(option, f"invalid CIDR {arg!r}; write e.g. 10.0.0.0/8") from None
        else:
            zones.append(arg)
    return tuple(zones)


def _arg_error(option: DirectiveLike) -> ConfigError:
    return _error(option, f"wrong argument count or unexpected line ending after '{option.name}'")


def _error(where: DirectiveLike, message: str) -> ConfigError:
    return ConfigError(message, file=where.file, line=where.line, plugin=PLUGIN)
