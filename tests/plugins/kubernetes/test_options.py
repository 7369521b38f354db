"""parse_options: valid and invalid ``kubernetes`` directives (CoreDNS setup.go rules)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from clusterdns.errors import ConfigError
from clusterdns.plugins.kubernetes.options import KubernetesOptions, parse_options


@dataclass(frozen=True)
class D:
    name: str
    args: tuple[str, ...] = ()
    block: tuple[D, ...] = ()
    file: str = "Corefile"
    line: int = 1


def k8s(*args: str, options: tuple[tuple[str, ...], ...] = ()) -> D:
    block = tuple(D(o[0], tuple(o[1:]), line=2 + i) for i, o in enumerate(options))
    return D("kubernetes", args, block)


VALID = [
    (
        "defaults",
        k8s("cluster.local"),
        {"zones": ("cluster.local.",), "ttl": 5, "pods": "disabled", "fallthrough": None},
    ),
    (
        "zones and reverse zones",
        k8s("cluster.local", "in-addr.arpa", "ip6.arpa"),
        {"zones": ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")},
    ),
    (
        "CIDR zone split on octets",
        k8s("cluster.local", "10.0.0.0/23"),
        {"zones": ("cluster.local.", "0.0.10.in-addr.arpa.", "1.0.10.in-addr.arpa.")},
    ),
    ("ttl", k8s("cluster.local", options=(("ttl", "30"),)), {"ttl": 30}),
    ("ttl 0", k8s("cluster.local", options=(("ttl", "0"),)), {"ttl": 0}),
    ("pods verified", k8s("cluster.local", options=(("pods", "verified"),)), {"pods": "verified"}),
    ("fallthrough all", k8s("cluster.local", options=(("fallthrough",),)), {"fallthrough": ()}),
    (
        "fallthrough zones",
        k8s("cluster.local", options=(("fallthrough", "in-addr.arpa", "ip6.arpa"),)),
        {"fallthrough": ("in-addr.arpa.", "ip6.arpa.")},
    ),
    (
        "kubeconfig with a context (CoreDNS README: kubeconfig KUBECONFIG [CONTEXT])",
        k8s("cluster.local", options=(("kubeconfig", "/etc/kube.conf", "prod"),)),
        {"kubeconfig": "/etc/kube.conf", "kubeconfig_context": "prod"},
    ),
    (
        "endpoint and tls",
        k8s(
            "cluster.local",
            options=(("endpoint", "https://10.0.0.1:6443"), ("tls", "c.crt", "c.key", "ca.crt")),
        ),
        {"endpoint": "https://10.0.0.1:6443", "tls": ("c.crt", "c.key", "ca.crt")},
    ),
    (
        "startup_timeout",
        k8s("cluster.local", options=(("startup_timeout", "30s"),)),
        {"startup_timeout": 30.0},
    ),
    (
        "flags",
        k8s(
            "cluster.local",
            options=(("endpoint_pod_names",), ("noendpoints",), ("ignore", "empty_service")),
        ),
        {"endpoint_pod_names": True, "noendpoints": True, "ignore_empty_service": True},
    ),
    (
        "namespaces",
        k8s("cluster.local", options=(("namespaces", "a", "b"),)),
        {"namespaces": frozenset({"a", "b"})},
    ),
    (
        "manifests with interval",
        k8s("cluster.local", options=(("manifests", "/etc/k8s", "500ms"),)),
        {"manifests": "/etc/k8s", "poll_interval": 0.5},
    ),
    (
        "startup_timeout",
        k8s("cluster.local", options=(("startup_timeout", "1m30s"),)),
        {"startup_timeout": 90.0},
    ),
]


@pytest.mark.parametrize(
    ("directive", "expected"), [v[1:] for v in VALID], ids=[v[0] for v in VALID]
)
def test_valid(directive: D, expected: dict[str, object]) -> None:
    opts = parse_options(directive)
    for field, value in expected.items():
        assert getattr(opts, field) == value


def test_zones_from_server_block() -> None:
    assert parse_options(k8s(), ["cluster.local.", "in-addr.arpa."]).zones == (
        "cluster.local.",
        "in-addr.arpa.",
    )


def test_labels_selector() -> None:
    opts = parse_options(
        k8s(
            "cluster.local",
            options=(("labels", "environment", "in", "(staging,", "qa),app=nginx"),),
        )
    )
    assert opts.labels is not None
    assert opts.labels.matches({"environment": "qa", "app": "nginx"})
    assert not opts.labels.matches({"environment": "prod", "app": "nginx"})


INVALID = [
    (
        "ttl above 3600",
        k8s("cluster.local", options=(("ttl", "3601"),)),
        "ttl must be in range [0, 3600]: 3601",
    ),
    ("ttl negative", k8s("cluster.local", options=(("ttl", "-1"),)), "ttl must be in range"),
    ("ttl not a number", k8s("cluster.local", options=(("ttl", "ten"),)), "not a number"),
    (
        "bad pods mode",
        k8s("cluster.local", options=(("pods", "maybe"),)),
        "wrong value for pods: maybe",
    ),
    (
        "unknown option",
        k8s("cluster.local", options=(("frobnicate",),)),
        "unknown property 'frobnicate'",
    ),
    ("only reverse zones", k8s("in-addr.arpa"), "non-reverse zone name must be used"),
    ("no zones", k8s(), "no zones"),
    (
        "endpoint not a URL",
        k8s("cluster.local", options=(("endpoint", "k:6443"),)),
        "must be an http:// or https:// URL",
    ),
    (
        "tls needs three files",
        k8s("cluster.local", options=(("tls", "cert", "key"),)),
        "wrong argument count",
    ),
    (
        "kubeconfig takes a file and a context at most",
        k8s("cluster.local", options=(("kubeconfig", "a", "b", "c"),)),
        "wrong argument count",
    ),
    (
        "client-go rate limits refused, not ignored",
        k8s("cluster.local", options=(("apiserver_qps", "50"),)),
        "not supported",
    ),
    (
        "ignore bad value",
        k8s("cluster.local", options=(("ignore", "everything"),)),
        "unable to parse ignore value",
    ),
    (
        "flag with argument",
        k8s("cluster.local", options=(("noendpoints", "yes"),)),
        "wrong argument count",
    ),
    (
        "namespaces and namespace_labels",
        k8s("cluster.local", options=(("namespaces", "a"), ("namespace_labels", "x=y"))),
        "cannot both be set",
    ),
    (
        "bad selector",
        k8s("cluster.local", options=(("labels", "a in"),)),
        "unable to parse label selector value",
    ),
    (
        "bad duration",
        k8s("cluster.local", options=(("manifests", "/x", "soon"),)),
        "invalid duration",
    ),
]


@pytest.mark.parametrize(
    ("directive", "message"), [v[1:] for v in INVALID], ids=[v[0] for v in INVALID]
)
def test_invalid(directive: D, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_options(directive)
    assert message in str(err.value)
    assert str(err.value).startswith("plugin/kubernetes: Corefile:")


def test_error_names_the_option_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_options(k8s("cluster.local", options=(("ttl", "1"), ("pods", "nope"))))
    assert err.value.line == 3


def test_falls_through() -> None:
    opts = KubernetesOptions(zones=("cluster.local.",), fallthrough=("in-addr.arpa.",))
    assert opts.falls_through("1.0.0.10.in-addr.arpa.")
    assert not opts.falls_through("x.cluster.local.")
    assert KubernetesOptions(zones=("cluster.local.",), fallthrough=()).falls_through(
        "x.cluster.local."
    )
    assert not KubernetesOptions(zones=("cluster.local.",)).falls_through("x.cluster.local.")
