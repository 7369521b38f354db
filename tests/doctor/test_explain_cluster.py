"""`clusterdns explain --cluster`: an in-process clusterdns over a manifest answers the walk."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from clusterdns.cli import main
from clusterdns.cluster import sample_cluster_path


def _explain(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["explain", *argv, "--cluster", str(sample_cluster_path()), "--json"])
    doc: dict[str, Any] = json.loads(out.getvalue()) if out.getvalue() else {}
    return code, doc


@pytest.mark.parametrize(
    ("name", "found", "address", "rcodes"),
    [
        ("kubernetes", "kubernetes.default.svc.cluster.local.", "10.96.0.1", ["NOERROR"] * 2),
        (
            "web.shop",
            "web.shop.svc.cluster.local.",
            "10.96.10.10",
            ["NXDOMAIN", "NXDOMAIN", "NOERROR", "NOERROR"],
        ),
        (
            "web.shop.svc.cluster.local.",
            "web.shop.svc.cluster.local.",
            "10.96.10.10",
            ["NOERROR"] * 2,
        ),
    ],
)
def test_cluster_names_resolve(name: str, found: str, address: str, rcodes: list[str]) -> None:
    code, doc = _explain(name)
    assert code == 0
    assert doc["found"] == found and address in doc["addresses"]
    assert [q["rcode"] for q in doc["queries"]] == rcodes
    assert all(q["server"].startswith("127.0.0.1:") for q in doc["queries"])
    assert "cluster" not in {a["kind"] for a in doc["advice"]}


def test_outside_names_are_refused_and_said_so() -> None:
    code, doc = _explain("example.com")
    assert code == 1 and doc["found"] is None
    assert {q["rcode"] for q in doc["queries"] if q["name"] == "example.com."} == {"REFUSED"}
    note = [a["text"] for a in doc["advice"] if a["kind"] == "cluster"]
    assert note and "REFUSED" in note[0] and "no upstream" in note[0]


def test_cluster_and_server_are_exclusive() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(
            ["explain", "web", "--cluster", str(sample_cluster_path()), "--server", "127.0.0.1:1"]
        )
    assert code == 1 and "not both" in err.getvalue()


def test_missing_manifest_is_named(tmp_path: Any) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["explain", "web", "--cluster", str(tmp_path / "nope.yaml")])
    assert code == 1 and "nope.yaml" in err.getvalue()
