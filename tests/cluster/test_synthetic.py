from __future__ import annotations

from pathlib import Path

from clusterdns.cluster.manifests import load_manifests, state_from_documents
from clusterdns.cluster.synthetic import generate, write
from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.plugins.kubernetes.records import build_records


def test_generate_is_deterministic() -> None:
    assert generate(3, 50, 2, True) == generate(3, 50, 2, True)


def test_1000_services_write_and_load(tmp_path: Path) -> None:
    objects = generate(namespaces=10, services=1000, endpoints_per_service=3, pods=True)
    state, problems = load_manifests(write(objects, tmp_path / "cluster.json"))
    assert problems == []
    assert len(state.namespaces) == 10
    assert len(state.services) == 1000
    headless = [s for s in state.services.values() if s.headless]
    external = [s for s in state.services.values() if s.is_external_name]
    assert len(headless) == 80 and len(external) == 40  # every 10th, every 25th wins
    assert sum(len(p) for p in state.pods_by_ip.values()) == 960 * 3
    records = build_records(state, KubernetesOptions(zones=("cluster.local.", "in-addr.arpa.")))
    assert [r.rdata for r in records["svc-0.ns-0.svc.cluster.local."] if r.rdtype == "A"] == [
        "10.96.1.0"
    ]
    assert "svc-9-0.svc-9.ns-9.svc.cluster.local." in records  # a StatefulSet-shaped endpoint


def test_yaml_and_json_files_hold_the_same_cluster(tmp_path: Path) -> None:
    objects = generate(namespaces=2, services=60, endpoints_per_service=2, pods=True)
    from_yaml = load_manifests(write(objects, tmp_path / "c.yaml"))
    from_json = load_manifests(write(objects, tmp_path / "c.json"))
    assert from_yaml == from_json and from_yaml[1] == []
    assert len(from_yaml[0].services) == 60


def test_without_pods() -> None:
    state, _ = state_from_documents(("x", o) for o in generate(1, 10, 1, False))
    assert not state.pods_by_ip
