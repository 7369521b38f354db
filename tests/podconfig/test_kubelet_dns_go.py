"""The kubelet's own unit tests, ported as tables: kubernetes/kubernetes
pkg/kubelet/network/dns/dns_test.go (the tests of pkg/kubelet/network/dns/dns.go).

Each table names the Go test it was taken from.  The facts (inputs and expected results) are
the kubelet's; where the kubelet test also covered a case that our API-server layer rejects,
or a legacy limit that is gone (ExpandedDNSConfig is GA: 32 paths, 2048 characters), the
case says so.
"""

from __future__ import annotations

import pytest

from clusterdns.podconfig.kubelet import (
    MAX_SEARCH_PATHS,
    HostResolv,
    HostResolvConfError,
    Kubelet,
    PodDNSInvalid,
    fit_nameservers,
    fit_searches,
    merge_options,
    parse_host_resolv_conf,
    pod_dns,
    policy_kind,
)
from clusterdns.podconfig.manifest import DNSOption, PodDNSConfig, PodDNSSpec

SEARCH_EXCEEDED = (
    "DNSConfigForming: Search Line limits were exceeded, some search paths have been omitted, "
    "the applied search line is: "
)


def spec(
    policy: str,
    *,
    host_network: bool = False,
    config: PodDNSConfig | None = None,
    namespace: str = "testNS",
) -> PodDNSSpec:
    return PodDNSSpec("Pod", namespace, "test_pod", policy, host_network, config)


# --- TestParseResolvConf ----------------------------------------------------------------
# (text, nameservers, searches, options); None in place of the three: parseResolvConf errors.
E: tuple[str, ...] = ()
PARSE = [
    ("", E, E, E),
    (" ", E, E, E),
    ("\n", E, E, E),
    ("\t\n\t", E, E, E),
    ("#comment\n", E, E, E),
    (" #comment\n", E, E, E),
    ("#comment\n#comment", E, E, E),
    ("#comment\nnameserver", None, None, None),  # a nameserver line without an address
    ("#comment\nnameserver\nsearch", None, None, None),
    ("#comment\nnameserver 1.2.3.4\nsearch", ("1.2.3.4",), E, E),  # an empty search is fine
    ("nameserver 1.2.3.4", ("1.2.3.4",), E, E),
    (" nameserver 1.2.3.4", ("1.2.3.4",), E, E),
    ("\tnameserver 1.2.3.4", ("1.2.3.4",), E, E),
    ("nameserver\t1.2.3.4", ("1.2.3.4",), E, E),
    ("nameserver \t 1.2.3.4", ("1.2.3.4",), E, E),
    ("nameserver 1.2.3.4\nnameserver 5.6.7.8", ("1.2.3.4", "5.6.7.8"), E, E),
    ("nameserver 1.2.3.4 #comment", ("1.2.3.4",), E, E),
    ("search ", E, E, E),
    ("search foo", E, ("foo",), E),
    ("search foo bar", E, ("foo", "bar"), E),
    ("search foo. bar", E, ("foo", "bar"), E),  # one trailing dot trimmed
    ("search foo bar bat\n", E, ("foo", "bar", "bat"), E),
    ("search foo\nsearch bar", E, ("bar",), E),  # the last search line wins
    ("nameserver 1.2.3.4\nsearch foo bar", ("1.2.3.4",), ("foo", "bar"), E),
    (
        "nameserver 1.2.3.4\nsearch foo\nnameserver 5.6.7.8\nsearch bar",
        ("1.2.3.4", "5.6.7.8"),
        ("bar",),
        E,
    ),
    ("#comment\nnameserver 1.2.3.4\n#comment\nsearch foo\ncomment", ("1.2.3.4",), ("foo",), E),
    ("options ", E, E, E),
    ("options ndots:5 attempts:2", E, E, ("ndots:5", "attempts:2")),
    ("options ndots:1\noptions ndots:5 attempts:3", E, E, ("ndots:5", "attempts:3")),
    (
        "nameserver 1.2.3.4\nsearch foo\nnameserver 5.6.7.8\nsearch bar\noptions ndots:5 attempts:4",
        ("1.2.3.4", "5.6.7.8"),
        ("bar",),
        ("ndots:5", "attempts:4"),
    ),
    # parseResolvConf drops the root from the search line (dns.go: s != ".").
    ("search .", E, E, E),
    ("search . foo.", E, ("foo",), E),
    # Ours, from the same code: only '#' starts a comment, "domain" is not read, and the
    # words after a search domain are all domains.
    ("; comment\nnameserver 1.2.3.4", ("1.2.3.4",), E, E),
    ("domain corp.example\nnameserver 1.2.3.4", ("1.2.3.4",), E, E),
    ("search a.example #note", E, ("a.example", "#note"), E),
]


@pytest.mark.parametrize(("text", "nameservers", "searches", "options"), PARSE)
def test_parse_resolv_conf(
    text: str,
    nameservers: tuple[str, ...] | None,
    searches: tuple[str, ...] | None,
    options: tuple[str, ...] | None,
) -> None:
    if nameservers is None:
        with pytest.raises(HostResolvConfError, match="nameserver list is empty"):
            parse_host_resolv_conf(text)
        return
    assert parse_host_resolv_conf(text) == HostResolv(nameservers, searches or (), options or ())


# --- TestFormDNSSearchFitsLimits ----------------------------------------------------------
# 2048 = 128 + 15 * 127 + 15 spaces
LIST_2048 = ["A" * 128] + ["A" * 127] * 15
BASE = ["testNS.svc.TEST", "svc.TEST", "TEST"]
PATHS_32 = BASE + [str(i) for i in range(4, 33)]
FIT_SEARCH = [
    ("3_search_paths", BASE, BASE, False),
    ("5_search_paths", [*BASE, "AAA", "BBB"], [*BASE, "AAA", "BBB"], False),
    ("2048_characters", LIST_2048, LIST_2048, False),
    ("2050_characters_cut_from_the_end", [*LIST_2048, "B"], LIST_2048, True),
    ("256_character_path_dropped", [*BASE, "AAA", "B" * 256, "BBB"], [*BASE, "AAA", "BBB"], True),
    ("32_search_paths", PATHS_32, PATHS_32, False),
    ("33_search_paths_cut_to_32", [*PATHS_32, "33"], PATHS_32, True),
    # The legacy limit (6 paths) is gone with ExpandedDNSConfig GA: 7 paths stay.
    ("7_search_paths_fit_now", [*BASE, "AAA", "BBB", "CCC", "DDD"], [*BASE, "AAA", "BBB", "CCC", "DDD"], False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "given", "applied", "event"), FIT_SEARCH, ids=[c[0] for c in FIT_SEARCH]
)
def test_form_dns_search_fits_limits(
    case: str, given: list[str], applied: list[str], event: bool
) -> None:
    warnings: list[str] = []
    assert fit_searches(list(given), warnings) == applied
    assert warnings == ([SEARCH_EXCEEDED + " ".join(applied)] if event else [])


def test_search_limit_constants() -> None:
    assert MAX_SEARCH_PATHS == 32


# --- TestFormDNSNameserversFitsLimits -------------------------------------------------------
FIT_NS = [
    ("1_nameserver", ["127.0.0.1"], ["127.0.0.1"], False),
    ("3_nameservers", ["127.0.0.1", "10.0.0.10", "8.8.8.8"], ["127.0.0.1", "10.0.0.10", "8.8.8.8"], False),
    ("4_nameservers_trimmed_to_3", ["127.0.0.1", "10.0.0.10", "8.8.8.8", "1.2.3.4"], ["127.0.0.1", "10.0.0.10", "8.8.8.8"], True),
]  # fmt: skip


@pytest.mark.parametrize(("case", "given", "applied", "event"), FIT_NS, ids=[c[0] for c in FIT_NS])
def test_form_dns_nameservers_fits_limits(
    case: str, given: list[str], applied: list[str], event: bool
) -> None:
    warnings: list[str] = []
    assert fit_nameservers(list(given), warnings) == applied
    expected = (
        "DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, "
        f"the applied nameserver line is: {' '.join(applied)}"
    )
    assert warnings == ([expected] if event else [])


# --- TestMergeDNSOptions ------------------------------------------------------------------------
# The kubelet merges through a Go map, so its order is random and its test compares sets.
MERGE = [
    ("empty_dns_config_options", [], {"ndots:5", "debug"}),
    ("no_duplicated_entries", [DNSOption("single-request", None), DNSOption("attempts", "3")],
     {"ndots:5", "debug", "single-request", "attempts:3"}),
    ("overwrite_duplicated_entries",
     [DNSOption("ndots", "3"), DNSOption("debug", None), DNSOption("single-request", None),
      DNSOption("attempts", "3")],
     {"ndots:3", "debug", "single-request", "attempts:3"}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "pod_options", "expected"), MERGE, ids=[c[0] for c in MERGE])
def test_merge_dns_options(case: str, pod_options: list[DNSOption], expected: set[str]) -> None:
    merged = merge_options([("ndots", "5"), ("debug", None)], tuple(pod_options))
    assert {n if v is None else f"{n}:{v}" for n, v in merged} == expected
    assert len(merged) == len(expected)  # one entry per name


def test_merge_dns_options_empty_value_is_a_bare_name() -> None:
    # mergeDNSOptions writes "name:value" only for a non-empty value.
    merged = merge_options([("ndots", "5")], (DNSOption("ndots", ""), DNSOption("edns0", "")))
    assert merged == [("ndots", None), ("edns0", None)]


# --- TestGetPodDNSType ------------------------------------------------------------------------
DNS_TYPE = [
    ("cluster_first_without_host_network", "ClusterFirst", False, "cluster"),
    ("cluster_first_with_host_net_with_host_network", "ClusterFirstWithHostNet", True, "cluster"),
    ("cluster_first_with_host_net_without_host_network", "ClusterFirstWithHostNet", False, "cluster"),
    ("default_without_host_network", "Default", False, "host"),
    ("default_with_host_network", "Default", True, "host"),
    ("cluster_first_with_host_network_falls_back_to_default", "ClusterFirst", True, "host"),
    ("none", "None", False, "none"),
    # The kubelet returns an error and goes on with ClusterFirst; the API server rejects it.
    ("invalid_policy_is_cluster_first_for_the_kubelet", "invalidPolicy", False, "cluster"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "policy", "host_network", "kind"), DNS_TYPE, ids=[c[0] for c in DNS_TYPE]
)
def test_get_pod_dns_type(case: str, policy: str, host_network: bool, kind: str) -> None:
    assert policy_kind(spec(policy, host_network=host_network)) == kind


def test_invalid_policy_is_rejected_before_the_kubelet_sees_it() -> None:
    with pytest.raises(PodDNSInvalid, match="Unsupported value"):
        pod_dns(spec("invalidPolicy"), Kubelet())


# --- TestGetPodDNS ----------------------------------------------------------------------------
# Cluster DNS 203.0.113.1, domain kubernetes.io; the test pods are host-network pods with
# no namespace, so the first search domain is ".svc.kubernetes.io".
GET_POD_DNS = [
    ("cluster_first_with_host_net", "ClusterFirstWithHostNet", True, ("203.0.113.1",), ".svc.kubernetes.io"),
    ("cluster_first_on_host_network_is_default", "ClusterFirst", True, ("127.0.0.1",), "."),
    ("cluster_first_off_host_network", "ClusterFirst", False, ("203.0.113.1",), ".svc.kubernetes.io"),
    ("default", "Default", True, ("127.0.0.1",), "."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "policy", "host_network", "servers", "first_search"),
    GET_POD_DNS,
    ids=[c[0] for c in GET_POD_DNS],
)
def test_get_pod_dns_without_node_resolv_conf(
    case: str, policy: str, host_network: bool, servers: tuple[str, ...], first_search: str
) -> None:
    kubelet = Kubelet(cluster_dns=("203.0.113.1",), cluster_domain="kubernetes.io", host=None)
    result = pod_dns(spec(policy, host_network=host_network, namespace=""), kubelet)
    assert result.nameservers == servers
    assert result.searches[0] == first_search
    if first_search == ".":
        assert result.searches == (".",)


@pytest.mark.parametrize("host_searches", [0, 2, 29, 40])
def test_get_pod_dns_with_node_resolv_conf_prepends_cluster_domains(host_searches: int) -> None:
    # testGetPodDNS with a node file: the cluster pods search len(node search) + 3 domains,
    # at most MaxDNSSearchPaths, starting with the namespace's.
    node = HostResolv(("192.0.2.1",), tuple(f"h{i}.example" for i in range(host_searches)), ())
    kubelet = Kubelet(cluster_dns=("203.0.113.1",), cluster_domain="kubernetes.io", host=node)
    default = pod_dns(spec("ClusterFirst", host_network=True, namespace=""), kubelet)
    expected = min(len(default.searches) + 3, MAX_SEARCH_PATHS)
    for policy, host_network in (("ClusterFirstWithHostNet", True), ("ClusterFirst", False)):
        result = pod_dns(spec(policy, host_network=host_network, namespace=""), kubelet)
        assert result.nameservers == ("203.0.113.1",)
        assert len(result.searches) == expected
        assert result.searches[0] == ".svc.kubernetes.io"


# --- TestGetPodDNSCustom ------------------------------------------------------------------------
CUSTOM_KUBELET = Kubelet(
    cluster_dns=("10.0.0.10",),
    cluster_domain="kubernetes.io",
    host=parse_host_resolv_conf("nameserver 8.8.8.8\nsearch host.domain\n"),
)
MERGED = PodDNSConfig(
    ("10.0.0.11",), ("my.domain",), (DNSOption("ndots", "3"), DNSOption("debug", None))
)
CLUSTER_SEARCH = ("testNS.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io", "host.domain")
CUSTOM = [
    ("none_with_dns_config_is_only_the_dns_config", "None", False,
     PodDNSConfig(("203.0.113.1",), ("my.domain", "second.domain"),
                  (DNSOption("ndots", "3"), DNSOption("debug", None))),
     ("203.0.113.1",), ("my.domain", "second.domain"), {"ndots:3", "debug"}),
    ("cluster_first_with_dns_config_merged", "ClusterFirst", False, MERGED,
     ("10.0.0.10", "10.0.0.11"), (*CLUSTER_SEARCH, "my.domain"), {"ndots:3", "debug"}),
    ("cluster_first_with_host_net_with_dns_config_merged", "ClusterFirstWithHostNet", True, MERGED,
     ("10.0.0.10", "10.0.0.11"), (*CLUSTER_SEARCH, "my.domain"), {"ndots:3", "debug"}),
    ("default_with_dns_config_merged", "Default", False, MERGED,
     ("8.8.8.8", "10.0.0.11"), ("host.domain", "my.domain"), {"ndots:3", "debug"}),
    # Ours, same rules: ClusterFirst on the host network is Default, dnsConfig appended.
    ("cluster_first_on_host_network_with_dns_config_is_default_merged", "ClusterFirst", True, MERGED,
     ("8.8.8.8", "10.0.0.11"), ("host.domain", "my.domain"), {"ndots:3", "debug"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "policy", "host_network", "config", "servers", "searches", "options"),
    CUSTOM,
    ids=[c[0] for c in CUSTOM],
)
def test_get_pod_dns_custom(
    case: str,
    policy: str,
    host_network: bool,
    config: PodDNSConfig,
    servers: tuple[str, ...],
    searches: tuple[str, ...],
    options: set[str],
) -> None:
    result = pod_dns(spec(policy, host_network=host_network, config=config), CUSTOM_KUBELET)
    assert result.nameservers == servers
    assert result.searches == searches
    assert {n if v is None else f"{n}:{v}" for n, v in result.options} == options


def test_get_pod_dns_custom_none_without_dns_config() -> None:
    # The kubelet's case "DNSNone without DNSConfig should have empty DNS settings": the
    # kubelet alone gives an empty config; the API server never lets such a pod through.
    pod = spec("None")
    result = pod_dns(pod, CUSTOM_KUBELET, validate_spec=False)
    assert (result.nameservers, result.searches, result.options) == ((), (), ())
    with pytest.raises(PodDNSInvalid, match="must provide `dnsConfig`"):
        pod_dns(pod, CUSTOM_KUBELET)


# --- GetPodDNS details the kubelet tests do not table ------------------------------------------
LOCALHOST = [
    ("no_node_ips", (), ("127.0.0.1",)),
    ("ipv4_node", ("192.0.2.10",), ("127.0.0.1",)),
    ("ipv6_node", ("2001:db8::10",), ("::1",)),
    ("dual_stack_node", ("192.0.2.10", "2001:db8::10"), ("127.0.0.1", "::1")),
    ("dual_stack_ipv6_first", ("2001:db8::10", "192.0.2.10"), ("::1", "127.0.0.1")),
    ("ipv4_mapped_is_ipv4", ("::ffff:192.0.2.10",), ("127.0.0.1",)),
]


@pytest.mark.parametrize(("case", "node_ips", "servers"), LOCALHOST, ids=[c[0] for c in LOCALHOST])
def test_empty_resolv_conf_flag_points_at_loopback_per_node_ip(
    case: str, node_ips: tuple[str, ...], servers: tuple[str, ...]
) -> None:
    # GetPodDNS podDNSHost with ResolverConfig == "": ::1 for each IPv6 node IP, else 127.0.0.1.
    result = pod_dns(spec("Default"), Kubelet(host=None, node_ips=node_ips))
    assert result.nameservers == servers
    assert result.searches == (".",)
    assert result.options == ()


def test_no_cluster_dns_without_node_file_falls_back_to_loopback() -> None:
    # MissingClusterDNS falls through to podDNSHost, --resolv-conf="" included.
    result = pod_dns(spec("ClusterFirst"), Kubelet(cluster_dns=(), host=None))
    assert (result.policy_applied, result.nameservers, result.searches) == (
        "host",
        ("127.0.0.1",),
        (".",),
    )
    assert result.warnings[0].startswith("MissingClusterDNS:")


def test_cluster_dns_written_as_go_prints_the_ip() -> None:
    # GetPodDNS writes ip.String() for each --cluster-dns IP.
    kubelet = Kubelet(cluster_dns=("FD00:0:0:0::A", "::ffff:10.96.0.10"), host=None)
    assert pod_dns(spec("ClusterFirst"), kubelet).nameservers == ("fd00::a", "10.96.0.10")


def test_node_file_is_used_verbatim_without_dns_config() -> None:
    # Without dnsConfig nothing is merged: the node's duplicate nameservers and options stay.
    node = parse_host_resolv_conf(
        "nameserver 192.0.2.1\nnameserver 192.0.2.1\nsearch a b a\noptions ndots:2 ndots:3 edns0:\n"
    )
    result = pod_dns(spec("Default"), Kubelet(host=node))
    assert result.to_text() == (
        "search a b a\nnameserver 192.0.2.1\nnameserver 192.0.2.1\noptions ndots:2 ndots:3 edns0:\n"
    )
    # An empty dnsConfig goes through appendDNSConfig: duplicates go, options merge by name.
    merged = pod_dns(spec("Default", config=PodDNSConfig()), Kubelet(host=node))
    assert merged.to_text() == "search a b\nnameserver 192.0.2.1\noptions ndots:3 edns0\n"


def test_cluster_search_deduplicates_the_node_search() -> None:
    node = HostResolv(("192.0.2.1",), ("svc.cluster.local", "corp.example"), ())
    result = pod_dns(spec("ClusterFirst", namespace="shop"), Kubelet(host=node))
    assert result.searches == (
        "shop.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
        "corp.example",
    )


def test_search_limits_apply_after_the_dns_config_is_appended() -> None:
    node = HostResolv(("192.0.2.1",), tuple(f"n{i}.example" for i in range(28)), ())
    config = PodDNSConfig(searches=("p1.example", "p2.example"))
    result = pod_dns(spec("ClusterFirst", config=config), Kubelet(host=node))
    assert len(result.searches) == 32 and result.searches[-1] == "p1.example"
    assert result.warnings == (SEARCH_EXCEEDED + " ".join(result.searches),)
