"""The API server's checks of dnsConfig (kubernetes/kubernetes pkg/apis/core/validation,
validatePodDNSConfig; the search regex is apimachinery's IsDNS1123SubdomainWithUnderscore,
used since RelaxedDNSSearchValidation went GA in 1.34, KEP-4427), as a table of specs."""

from __future__ import annotations

import pytest

from clusterdns.podconfig.kubelet import Kubelet, PodDNSInvalid, pod_dns, validate
from clusterdns.podconfig.manifest import DNSOption, PodDNSConfig, PodDNSSpec


def spec(config: PodDNSConfig | None, policy: str = "ClusterFirst") -> PodDNSSpec:
    return PodDNSSpec("Pod", "default", "p", policy, False, config)


def searches(*names: str) -> PodDNSConfig:
    return PodDNSConfig(searches=names)


def servers(*ips: str) -> PodDNSConfig:
    return PodDNSConfig(nameservers=ips)


# 15 * 127 + 128 characters and 15 spaces
LIST_2048 = ["a" * 63 + "." + "b" * 63] * 15 + ["c" * 63 + "." + "c" * 64]

# (case, spec, None when valid or a piece of the error)
CASES = [
    ("no_dns_config", spec(None), None),
    ("plain_search", spec(searches("corp.example")), None),
    ("trailing_dot", spec(searches("corp.example.")), None),
    ("underscore_labels", spec(searches("_sip._tcp.abc_d.example.com")), None),
    ("root_alone", spec(searches(".")), None),
    ("root_after_domains", spec(searches("corp.example", ".")), None),
    ("two_dots", spec(searches("..")), "RFC 1123"),
    ("empty", spec(searches("")), "RFC 1123"),
    ("double_dot_inside", spec(searches("a..example")), "RFC 1123"),
    ("uppercase", spec(searches("Corp.example")), "RFC 1123"),
    ("leading_dash", spec(searches("-corp.example")), "RFC 1123"),
    ("trailing_underscore", spec(searches("corp_.example")), "RFC 1123"),
    ("two_leading_underscores", spec(searches("__corp.example")), "RFC 1123"),
    ("253_characters", spec(searches(".".join(["a" * 63] * 4)[:253])), None),
    ("254_characters", spec(searches("a" + ".a" * 126 + "b")), "no more than 253"),
    ("32_searches", spec(searches(*(f"s{i}.example" for i in range(32)))), None),
    ("33_searches", spec(searches(*(f"s{i}.example" for i in range(33)))), "more than 32"),
    ("2048_characters", spec(searches(*LIST_2048)), None),
    ("2049_characters", spec(searches(*LIST_2048[:-1], LIST_2048[-1] + "c")),
     "more than 2048 characters"),
    ("three_nameservers", spec(servers("10.0.0.1", "10.0.0.2", "fd00::53")), None),
    ("four_nameservers", spec(servers("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")),
     "more than 3 nameservers"),
    ("nameserver_name", spec(servers("dns.example")), "valid IP"),
    ("nameserver_ipv6_zone", spec(servers("fe80::1%eth0")), "valid IP"),
    ("nameserver_leading_zeros_legacy", spec(servers("010.000.000.010")), None),
    ("option_without_name", spec(PodDNSConfig(options=(DNSOption("", "1"),))), "must not be empty"),
    ("none_without_dns_config", spec(None, "None"), "must provide `dnsConfig`"),
    ("none_without_nameserver", spec(searches("a.example"), "None"), "at least one DNS nameserver"),
    ("none_with_nameserver", spec(servers("10.0.0.1"), "None"), None),
    ("unknown_policy", spec(None, "ClusterLast"), "Unsupported value"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "pod", "error"), CASES, ids=[c[0] for c in CASES])
def test_validate_pod_dns_config(case: str, pod: PodDNSSpec, error: str | None) -> None:
    errors = validate(pod)
    if error is None:
        assert errors == []
    else:
        assert any(error in e for e in errors), errors


def test_length_cases_are_the_lengths_they_claim() -> None:
    assert len(".".join(["a" * 63] * 4)[:253]) == 253
    assert len("a" + ".a" * 126 + "b") == 254
    assert len(" ".join(LIST_2048)) == 2048


def test_root_search_reaches_the_file() -> None:
    # KEP-4427: searches: ["."] is how a pod asks for no search beyond the kubelet's.
    result = pod_dns(spec(searches(".")), Kubelet())
    assert result.searches[-1] == "."
    assert result.to_text().startswith(
        "search default.svc.cluster.local svc.cluster.local cluster.local .\n"
    )


def test_rejected_pod_names_itself_and_every_error() -> None:
    pod = spec(PodDNSConfig(nameservers=("x", "y"), searches=("A",)))
    with pytest.raises(PodDNSInvalid) as info:
        pod_dns(pod, Kubelet())
    assert str(info.value).startswith("Pod default/p: ")
    assert len(info.value.errors) == 3
