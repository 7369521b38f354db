"""Filling the nodelocaldns base Corefile as node-cache does (configmap.go updateCorefile)."""

from __future__ import annotations

import pytest

from clusterdns.corefile import parse
from clusterdns.nodecache.params import NodeCacheError
from clusterdns.nodecache.template import Pillars, embedded_base_corefile, fill

SEED_VALUES = Pillars(("169.254.20.10", "10.96.0.10"), "10.96.0.10", (), "cluster.local")


def directives(text: str) -> dict[str, dict[str, list[str]]]:
    """zone -> directive -> args, for the filled Corefile."""
    return {
        block.keys[0]: {d.name: list(d.args) for d in block.directives}
        for block in parse(text, "t")
    }


def test_embedded_template_filled_with_the_seed_values_is_the_seed_corefile() -> None:
    blocks = directives(fill(embedded_base_corefile(), SEED_VALUES))
    assert list(blocks) == ["cluster.local:53", "in-addr.arpa:53", "ip6.arpa:53", ".:53"]
    cluster = blocks["cluster.local:53"]
    assert cluster["bind"] == ["169.254.20.10", "10.96.0.10"]
    assert cluster["forward"] == [".", "10.96.0.10"]
    assert cluster["health"] == ["169.254.20.10:8080"]
    assert cluster["prometheus"] == [":9253"]
    assert blocks[".:53"]["forward"] == [".", "/etc/resolv.conf"]
    for zone in ("in-addr.arpa:53", "ip6.arpa:53"):
        assert blocks[zone]["cache"] == ["30"]
        assert blocks[zone]["forward"] == [".", "10.96.0.10"]


def test_cluster_block_keeps_the_seed_cache_and_force_tcp() -> None:
    (cluster, *_) = parse(fill(embedded_base_corefile(), SEED_VALUES), "t")
    by_name = {d.name: d for d in cluster.directives}
    assert [(o.name, list(o.args)) for o in by_name["cache"].block] == [
        ("success", ["9984", "30"]),
        ("denial", ["9984", "5"]),
    ]
    assert [o.name for o in by_name["forward"].block] == ["force_tcp"]


@pytest.mark.parametrize(
    ("template", "pillars", "expected"),
    [
        # __PILLAR__LOCAL__DNS__ takes every -localip; __PILLAR__DNS__SERVER__ is then dropped,
        # its space left in place (configmap.go replaces text and trims nothing)
        (
            "bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__",
            SEED_VALUES,
            "bind 169.254.20.10 10.96.0.10 ",
        ),
        # an address:port use takes the first local IP only
        ("health __PILLAR__LOCAL__DNS__:8080", SEED_VALUES, "health 169.254.20.10:8080"),
        (
            "health __PILLAR__LOCAL__DNS__:8080",
            Pillars(("fd00::10",), "fd00::53"),
            "health [fd00::10]:8080",
        ),
        (
            "__PILLAR__DNS__DOMAIN__:53 {\n}",
            Pillars(("10.0.0.1",), "10.0.0.2", (), "corp.example."),
            "corp.example:53 {\n}",
        ),
        ("forward . __PILLAR__CLUSTER__DNS__", SEED_VALUES, "forward . 10.96.0.10"),
        ("forward . __PILLAR__UPSTREAM__SERVERS__", SEED_VALUES, "forward . /etc/resolv.conf"),
        (
            "forward . __PILLAR__UPSTREAM__SERVERS__",
            Pillars(("10.0.0.1",), "10.0.0.2", ("10.1.0.1", "10.1.0.2:5353")),
            "forward . 10.1.0.1 10.1.0.2:5353",
        ),
        # explicit upstreams: node-cache switches its own force_tcp block (upstreamTCPBlock,
        # byte for byte) to plain (UDP) forward ...
        (
            ".:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n}",
            Pillars(("10.0.0.1",), "10.0.0.2", ("10.1.0.1",)),
            ".:53 {\n    forward . 10.1.0.1\n}",
        ),
        # ... and in any other spelling only fills the servers in, force_tcp kept
        (
            "forward . __PILLAR__UPSTREAM__SERVERS__ {\n        force_tcp\n    }\n",
            Pillars(("10.0.0.1",), "10.0.0.2", ("10.1.0.1",)),
            "forward . 10.1.0.1 {\n        force_tcp\n    }\n",
        ),
        # without explicit upstreams the TCP block stays (resolv.conf over TCP)
        (
            "forward . __PILLAR__UPSTREAM__SERVERS__ {\n force_tcp\n}",
            SEED_VALUES,
            "forward . /etc/resolv.conf {\n force_tcp\n}",
        ),
    ],
)
def test_fill(template: str, pillars: Pillars, expected: str) -> None:
    assert fill(template, pillars) == expected


def test_unknown_pillar_is_refused_with_file_and_line() -> None:
    with pytest.raises(NodeCacheError, match=r"base:2: __PILLAR__NOPE__ is not a value"):
        fill(".:53 {\n  forward . __PILLAR__NOPE__\n}", SEED_VALUES, "base")


def test_pillar_in_a_comment_is_fine() -> None:
    assert fill("# __PILLAR__NOPE__\n.:53 {}", SEED_VALUES) == "# __PILLAR__NOPE__\n.:53 {}"


def test_unknown_pillar_is_named_at_its_template_line_after_a_block_rewrite() -> None:
    # the force_tcp block collapses to one line when filled: the line is the template's
    template = (
        ".:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n"
        "    log __PILLAR__NOPE__\n}"
    )
    with pytest.raises(NodeCacheError, match=r"^base:5: __PILLAR__NOPE__"):
        fill(template, Pillars(("10.0.0.1",), "10.0.0.2", ("10.1.0.1",)), "base")


UNKNOWN_CLUSTER_DNS = Pillars(
    ("169.254.20.10",), None, cluster_dns_missing="env KUBE_DNS_SERVICE_HOST ... is not set"
)


def test_unknown_cluster_dns_fails_only_where_the_template_needs_it() -> None:
    # node-cache (cache_app.go NewCacheApp) only warns when the upstream Service's env var
    # is unset; the value is needed only to fill __PILLAR__CLUSTER__DNS__.
    template = "cluster.local:53 {\n    bind __PILLAR__LOCAL__DNS__\n    forward . __PILLAR__CLUSTER__DNS__\n}"
    with pytest.raises(
        NodeCacheError,
        match=r"^base:3: __PILLAR__CLUSTER__DNS__ needs the cluster DNS address, "
        r"but env KUBE_DNS_SERVICE_HOST \.\.\. is not set$",
    ):
        fill(template, UNKNOWN_CLUSTER_DNS, "base")


@pytest.mark.parametrize(
    "template",
    [
        ".:53 {\n    bind __PILLAR__LOCAL__DNS__\n    forward . 10.96.0.10\n}",
        "# forward . __PILLAR__CLUSTER__DNS__\n.:53 {\n    forward . 10.96.0.10\n}",
    ],
)
def test_a_template_without_the_cluster_dns_pillar_needs_no_address(template: str) -> None:
    assert "__PILLAR__LOCAL__DNS__" not in fill(template, UNKNOWN_CLUSTER_DNS)
