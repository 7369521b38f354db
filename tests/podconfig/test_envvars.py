from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.podconfig.envvars import load_services, pod_service_env

CLUSTER = """\
apiVersion: v1
kind: List
items:
- kind: Service
  metadata: {name: kubernetes, namespace: default}
  spec: {clusterIP: 10.96.0.1, ports: [{name: https, port: 443, protocol: TCP}]}
- kind: Service
  metadata: {name: svc-nginx-demo, namespace: shop}
  spec: {clusterIP: 10.96.3.7, ports: [{name: http, port: 80}, {name: dns-udp, port: 53, protocol: UDP}]}
- kind: Service
  metadata: {name: db, namespace: shop}
  spec: {clusterIP: None, ports: [{port: 5432}]}
- kind: Service
  metadata: {name: ext, namespace: shop}
  spec: {type: ExternalName, externalName: db.example.com}
- kind: Service
  metadata: {name: web, namespace: other}
  spec: {clusterIP: 10.96.9.9, ports: [{port: 8080}]}
- kind: Service
  metadata: {name: 3d-render, namespace: shop}
  spec: {clusterIP: "fd00::12", ports: [{port: 9000}]}
"""
GOLDEN = Path(__file__).parent / "golden" / "env_shop.txt"


def test_env_golden_for_shop_namespace() -> None:
    env = pod_service_env(load_services(CLUSTER), "shop")
    assert "".join(f"{k}={v}\n" for k, v in env) == GOLDEN.read_text()


@pytest.mark.parametrize(
    ("namespace", "links", "services"),
    [
        ("shop", False, {"KUBERNETES"}),  # master service even without service links
        ("other", True, {"KUBERNETES", "WEB"}),
        ("default", False, {"KUBERNETES"}),
    ],
)
def test_service_links_choose_services(namespace: str, links: bool, services: set[str]) -> None:
    env = pod_service_env(load_services(CLUSTER), namespace, links)
    assert {
        k.removesuffix("_SERVICE_HOST") for k, _ in env if k.endswith("_SERVICE_HOST")
    } == services


def test_headless_and_external_name_get_nothing() -> None:
    names = [k for k, _ in pod_service_env(load_services(CLUSTER), "shop")]
    assert not any(n.startswith(("DB_", "EXT_")) for n in names)
