from __future__ import annotations

import pytest

from clusterdns.errors import ManifestError
from clusterdns.podconfig.kubelet import Kubelet, PodDNSInvalid, pod_dns
from clusterdns.podconfig.manifest import load_pods, pod_from_object


def _pod(spec: dict[str, object]) -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


INVALID = [
    ("none_requires_dns_config", {"dnsPolicy": "None"}, "must provide `dnsConfig`"),
    (
        "none_requires_a_nameserver",
        {"dnsPolicy": "None", "dnsConfig": {"searches": ["a.example"]}},
        "at least one DNS nameserver",
    ),
    (
        "at_most_three_dns_config_nameservers",
        {"dnsConfig": {"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "9.9.9.9"]}},
        "more than 3 nameservers",
    ),
    ("nameserver_must_be_an_ip", {"dnsConfig": {"nameservers": ["dns.example"]}}, "valid IP"),
    ("search_must_be_a_subdomain", {"dnsConfig": {"searches": ["Bad_Domain"]}}, "RFC 1123"),
    (
        "at_most_32_searches",
        {"dnsConfig": {"searches": [f"s{i}.example" for i in range(33)]}},
        "more than 32 search paths",
    ),
    ("option_name_required", {"dnsConfig": {"options": [{"value": "2"}]}}, "must not be empty"),
    ("policy_must_be_known", {"dnsPolicy": "ClusterLast"}, "Unsupported value"),
]


@pytest.mark.parametrize(("case", "spec", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_api_server_validation_rejects(case: str, spec: dict[str, object], message: str) -> None:
    with pytest.raises(PodDNSInvalid) as info:
        pod_dns(pod_from_object(_pod(spec)), Kubelet())
    assert any(message in e for e in info.value.errors)


def test_search_with_trailing_dot_is_valid() -> None:
    result = pod_dns(pod_from_object(_pod({"dnsConfig": {"searches": ["a.example."]}})), Kubelet())
    assert "a.example." in result.searches


WORKLOADS = """\
apiVersion: v1
kind: List
items:
- {kind: Deployment, metadata: {name: d, namespace: a}, spec: {template: {spec: {dnsPolicy: Default}}}}
- {kind: StatefulSet, metadata: {name: s, namespace: b}, spec: {template: {spec: {}}}}
---
{kind: DaemonSet, metadata: {name: ds}, spec: {template: {spec: {hostNetwork: true}}}}
---
{kind: ReplicaSet, metadata: {name: rs}, spec: {template: {spec: {}}}}
---
{kind: Job, metadata: {name: j}, spec: {template: {spec: {}}}}
---
{kind: CronJob, metadata: {name: c, namespace: batch}, spec: {jobTemplate: {spec: {template: {spec: {dnsPolicy: None, dnsConfig: {nameservers: [1.2.3.4]}}}}}}}
---
{kind: ConfigMap, metadata: {name: ignored}}
"""


def test_pod_templates_of_every_workload_kind() -> None:
    pods = load_pods(WORKLOADS, "w.yaml")
    assert [(p.kind, p.namespace, p.dns_policy, p.host_network) for p in pods] == [
        ("Deployment", "a", "Default", False),
        ("StatefulSet", "b", "ClusterFirst", False),
        ("DaemonSet", "default", "ClusterFirst", True),
        ("ReplicaSet", "default", "ClusterFirst", False),
        ("Job", "default", "ClusterFirst", False),
        ("CronJob", "batch", "None", False),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("a: [", "not valid YAML"), ("kind: ConfigMap\n", "no Pod or workload"),
     ("kind: Deployment\nmetadata: {name: d}\nspec: {}\n", "Deployment default/d")],
)  # fmt: skip
def test_bad_manifests_name_the_file_and_object(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match="m.yaml") as info:
        load_pods(text, "m.yaml")
    assert message in str(info.value)
