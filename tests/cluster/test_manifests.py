"""Manifests -> ClusterState: kubectl shapes, bad objects reported, watching files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from clusterdns.cluster import sample_cluster_path
from clusterdns.cluster.manifests import (
    ManifestWatcher,
    Problem,
    load_manifests,
    state_from_documents,
)
from clusterdns.cluster.model import ServicePort
from clusterdns.errors import ManifestError

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
WEB = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"clusterIP": "10.96.10.10", "ports": [{"name": "http", "port": 80}]},
}
WEB_SLICE = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "addressType": "IPv4",
    "metadata": {
        "name": "web-abc",
        "namespace": "shop",
        "labels": {"kubernetes.io/service-name": "web"},
    },
    "endpoints": [{"addresses": ["10.244.1.10"], "conditions": {"ready": True}}],
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
}


def svc(name: str, ip: str = "10.96.0.50") -> dict[str, object]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"clusterIP": ip},
    }


def test_sample_cluster_loads_without_problems() -> None:
    state, problems = load_manifests(sample_cluster_path())
    assert problems == []
    assert set(state.namespaces) == {"default", "kube-system", "shop", "monitoring"}
    assert state.service("default", "kubernetes").cluster_ips == ("10.96.0.1",)  # type: ignore[union-attr]
    assert state.service("shop", "api").cluster_ips == ("10.96.10.20", "fd00:10:96::14")  # type: ignore[union-attr]
    assert state.service("shop", "db").headless  # type: ignore[union-attr]
    assert len(state.endpoints_of("shop", "api")) == 2  # v4 and v6 slices merged


def test_list_multidoc_json_and_directory_give_the_same_state(tmp_path: Path) -> None:
    objects = [NS, WEB, WEB_SLICE]
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "all.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    (tmp_path / "multi.yaml").write_text(yaml.safe_dump_all(objects))
    (tmp_path / "all.json").write_text(json.dumps({"kind": "List", "items": objects}))
    (tmp_path / "dir").mkdir()
    for i, obj in enumerate(objects):
        (tmp_path / "dir" / f"{i}.yml").write_text(yaml.safe_dump(obj))
    (tmp_path / "dir" / "README.txt").write_text("not a manifest")
    states = [load_manifests(tmp_path / p) for p in ("list", "multi.yaml", "all.json", "dir")]
    assert all(problems == [] for _, problems in states)
    first = states[0][0]
    assert all(state == first for state, _ in states)
    web = first.service("shop", "web")
    assert web is not None and web.ports == (ServicePort("http", 80, "TCP"),)
    assert first.endpoints_of("shop", "web")[0].endpoints[0].addresses == ("10.244.1.10",)


def test_typed_list_items_take_the_list_kind() -> None:
    doc = {
        "kind": "ServiceList",
        "items": [
            {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"clusterIP": "10.0.0.1"}}
        ],
    }
    state, problems = state_from_documents([("f.yaml", doc)])
    assert problems == [] and state.service("shop", "web") is not None


def test_legacy_endpoints_only_for_a_service_without_slices() -> None:
    legacy = {
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "shop"},
        "subsets": [
            {
                "addresses": [{"ip": "10.244.9.9"}],
                "notReadyAddresses": [{"ip": "10.244.9.8"}],
                "ports": [{"name": "http", "port": 8080}],
            }
        ],
    }
    state, _ = state_from_documents([("f", NS), ("f", WEB), ("f", legacy)])
    (subset,) = state.endpoints_of("shop", "web")
    assert [(e.addresses, e.ready) for e in subset.endpoints] == [
        (("10.244.9.9",), True),
        (("10.244.9.8",), False),
    ]
    state, _ = state_from_documents([("f", NS), ("f", WEB), ("f", legacy), ("f", WEB_SLICE)])
    (subset,) = state.endpoints_of("shop", "web")
    assert subset.endpoints[0].addresses == ("10.244.1.10",)


BROKEN = [
    (
        "Service without clusterIP",
        {"kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}},
        "Service shop/web",
        "spec.clusterIP: not set",
    ),
    (
        "bad port",
        {**WEB, "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 70000}]}},
        "Service shop/web",
        "spec.ports[0].port: 70000 is not a number from 1 to 65535",
    ),
    (
        "bad cluster IP",
        {**WEB, "spec": {"clusterIP": "10.0.0.300"}},
        "Service shop/web",
        "is not an IP address",
    ),
    (
        "ExternalName without target",
        {**WEB, "spec": {"type": "ExternalName"}},
        "Service shop/web",
        "spec.externalName: not set",
    ),
    (
        "slice without service label",
        {**WEB_SLICE, "metadata": {"name": "web-abc", "namespace": "shop"}},
        "EndpointSlice shop/web-abc",
        "kubernetes.io/service-name label",
    ),
    (
        "slice with IPv6 in an IPv4 slice",
        {**WEB_SLICE, "endpoints": [{"addresses": ["fd00::1"]}]},
        "EndpointSlice shop/web-abc",
        "is not an IPv4 address",
    ),
    (
        "object without name",
        {"kind": "Service", "metadata": {"namespace": "shop"}},
        "Service shop/None",
        "no metadata.name",
    ),
    (
        "bad service type",
        {**WEB, "spec": {"type": "Magic", "clusterIP": "10.0.0.1"}},
        "Service shop/web",
        "spec.type: 'Magic'",
    ),
]


@pytest.mark.parametrize(
    ("obj", "label", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_a_broken_field_is_reported_and_the_rest_served(
    obj: dict[str, object], label: str, message: str
) -> None:
    """One odd field drops that field, not the object (issue 18: serve what the API
    server accepts); only an object DNS cannot name at all is skipped."""
    good = svc("good")
    state, problems = state_from_documents(
        [("shop.yaml", NS), ("shop.yaml", obj), ("shop.yaml", good)]
    )
    assert len(problems) == 1
    (problem,) = problems
    assert problem.file == "shop.yaml" and problem.object == label and message in problem.message
    assert str(problem).startswith(f"shop.yaml: {label}: ")
    assert state.service("shop", "good") is not None
    if label == "Service shop/web":
        assert state.service("shop", "web") is not None


def test_not_an_object_and_duplicates_are_reported() -> None:
    state, problems = state_from_documents(
        [("a.yaml", "just a string"), ("a.yaml", svc("x")), ("b.yaml", svc("x", "10.0.0.9"))]
    )
    assert problems[0] == Problem("a.yaml", "", "expected a Kubernetes object, found a string")
    assert problems[1].file == "b.yaml" and "defined again (first in a.yaml)" in problems[1].message
    assert state.service("shop", "x").cluster_ips == ("10.0.0.9",)  # type: ignore[union-attr]


def test_undeclared_namespace_is_implied_and_finished_pods_dropped() -> None:
    pods = [
        {
            "kind": "Pod",
            "metadata": {"name": "a", "namespace": "jobs"},
            "status": {"phase": "Running", "podIP": "10.1.0.1"},
        },
        {
            "kind": "Pod",
            "metadata": {"name": "b", "namespace": "jobs"},
            "status": {"phase": "Succeeded", "podIP": "10.1.0.2"},
        },
        {
            "kind": "Pod",
            "metadata": {
                "name": "c",
                "namespace": "jobs",
                "deletionTimestamp": "2024-01-01T00:00:00Z",
            },
            "status": {"phase": "Running", "podIP": "10.1.0.3"},
        },
    ]
    state, problems = state_from_documents(("p.yaml", p) for p in pods)
    assert problems == []
    assert "jobs" in state.namespaces
    assert set(state.pods_by_ip) == {"10.1.0.1"}


def test_invalid_yaml_file_is_a_problem_with_line(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(svc("good")))
    (tmp_path / "bad.yaml").write_text("kind: Service\nmetadata: [unclosed\n")
    state, problems = load_manifests(tmp_path)
    assert state.service("shop", "good") is not None
    assert len(problems) == 1 and problems[0].file == str(tmp_path / "bad.yaml")
    assert "not valid YAML" in problems[0].message


def test_missing_path_raises() -> None:
    with pytest.raises(ManifestError, match="no such file"):
        load_manifests("/nonexistent/manifests")


# ---------------------------------------------------------------- watcher


def _write(path: Path, objects: list[dict[str, object]]) -> None:
    path.write_text(yaml.safe_dump_all(objects))
    # make the change visible even on filesystems with coarse mtimes
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _changed(changes: list) -> dict[tuple[str, str, str], object]:  # type: ignore[type-arg]
    return dict(changes)


def test_watcher_turns_file_changes_into_object_changes_and_keeps_last_good_file(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    _write(a, [NS, svc("one", "10.0.0.1")])
    _write(b, [svc("two", "10.0.0.2")])
    problems: list[Problem] = []
    watcher = ManifestWatcher(tmp_path, on_problem=problems.append)
    first = _changed(watcher.poll())
    assert set(first) == {
        ("Namespace", "", "shop"),
        ("Service", "shop", "one"),
        ("Service", "shop", "two"),
    }
    assert watcher.poll() == []  # nothing changed, nothing re-read

    _write(a, [NS, svc("one", "10.0.0.11")])
    changed = _changed(watcher.poll())
    assert list(changed) == [("Service", "shop", "one")]  # only the object that changed
    assert changed[("Service", "shop", "one")].cluster_ips == ("10.0.0.11",)  # type: ignore[attr-defined]

    a.write_text("kind: Service\nmetadata: [broken\n")  # a half-saved edit
    _write(b, [svc("two", "10.0.0.22")])
    changed = _changed(watcher.poll())
    assert list(changed) == [("Service", "shop", "two")]  # a.yaml's last good content stays
    assert watcher.state().service("shop", "one").cluster_ips == ("10.0.0.11",)  # type: ignore[union-attr]
    assert any(p.file == str(a) and "not valid YAML" in p.message for p in problems)

    b.unlink()
    assert watcher.poll() == [(("Service", "shop", "two"), None)]
    assert watcher.state().service("shop", "one") is not None


def test_watcher_an_object_moved_between_files_is_not_removed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    _write(a, [svc("one", "10.0.0.1")])
    watcher = ManifestWatcher(tmp_path)
    watcher.poll()
    _write(b, [svc("one", "10.0.0.1")])
    a.unlink()
    assert watcher.poll() == []  # same object, now from b.yaml: nothing to change
    assert watcher.state().service("shop", "one") is not None


def test_watcher_reports_a_bad_object_once(tmp_path: Path) -> None:
    """A problem is reported once per object and message, not again when the file is
    edited elsewhere (issue 18: logged once, not on every relist)."""
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x_y", "namespace": "shop"}}
    _write(tmp_path / "a.yaml", [bad, svc("one", "10.0.0.1")])
    problems: list[Problem] = []
    watcher = ManifestWatcher(tmp_path, on_problem=problems.append)
    assert [k for k, _ in watcher.poll()] == [("Service", "shop", "one")]
    watcher.poll()
    assert [p.object for p in problems] == ["Service shop/x_y"]
    _write(tmp_path / "a.yaml", [bad, svc("one", "10.0.0.1"), svc("two", "10.0.0.2")])
    assert [k for k, _ in watcher.poll()] == [("Service", "shop", "two")]
    assert [p.object for p in problems] == ["Service shop/x_y"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            '{"kind": "List", "items": [\n{"kind": "Namespace",\n "metadata": {"name": "a"}},\n{"x": }]}',
            4,
        ),
        ('{"kind": "Service",\n  "metadata": }', 2),
    ],
)
def test_a_broken_json_file_is_reported_with_its_line(tmp_path: Path, text: str, line: int) -> None:
    """JSON lists are decoded item by item (jsonlist); an error still names file:line."""
    path = tmp_path / "broken.json"
    path.write_text(text)
    _, problems = load_manifests(path)
    assert [p.file for p in problems] == [str(path)]
    assert problems[0].message.startswith(f"{line}: not valid JSON")
