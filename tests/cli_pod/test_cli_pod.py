"""The resolvconf, explain and env subcommands end to end (explain live against a loopback server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterdns.cli import main
from tests.support import loopback_dns

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      dnsConfig:
        options: [{name: ndots, value: "2"}]
"""
BAD = "kind: Pod\nmetadata: {name: bad}\nspec: {dnsPolicy: None}\n"


def test_resolvconf_prints_the_kubelet_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "d.yaml"
    manifest.write_text(DEPLOYMENT)
    assert main(["resolvconf", str(manifest), "--cluster-dns", "10.0.0.10"]) == 0
    assert capsys.readouterr().out == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.0.0.10\noptions ndots:2\n"
    )


def test_resolvconf_reports_rejected_pods_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(DEPLOYMENT + "---\n" + BAD)
    assert main(["resolvconf", str(manifest), "--json"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert [d["name"] for d in data] == ["web", "bad"]
    assert "Pod default/bad" in captured.err and "must provide `dnsConfig`" in captured.err


def test_resolvconf_reads_host_file_only_when_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "p.yaml"
    manifest.write_text("kind: Pod\nmetadata: {name: p}\nspec: {dnsPolicy: Default}\n")
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 192.168.7.7\nsearch node.example\n")
    assert main(["resolvconf", str(manifest)]) == 0
    assert "192.0.2.53" in capsys.readouterr().out  # the built-in sample
    assert main(["resolvconf", str(manifest), "--host-resolv-conf", str(host)]) == 0
    assert capsys.readouterr().out == "search node.example\nnameserver 192.168.7.7\n"


def test_explain_needs_a_server_unless_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "www.example.com"]) == 1
    assert "--server" in capsys.readouterr().err
    assert main(["explain", "www.example.com", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["sent"] == 8 and plan["queries"] == []


def test_explain_live_json_for_a_pod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "d.yaml"
    manifest.write_text(DEPLOYMENT.replace("shop", "default"))
    with loopback_dns.running_server() as server:
        code = main(
            [
                "explain",
                "www.example.com",
                "--pod",
                str(manifest),
                "--server",
                server.label,
                "--json",
            ]
        )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(q["name"], q["type"], q["rcode"]) for q in out["queries"]] == [
        ("www.example.com.", "A", "NOERROR"), ("www.example.com.", "AAAA", "NOERROR")
    ]  # fmt: skip
    assert out["wasted"] == 0


def test_explain_live_text_shows_every_query(capsys: pytest.CaptureFixture[str]) -> None:
    with loopback_dns.running_server() as server:
        code = main(["explain", "www.example.com", "--libc", "musl", "--server", server.label])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("NXDOMAIN") == 6 and "8 queries sent, 6 wasted" in out
    assert 'value: "2"' in out


def test_env_prints_service_variables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(
        "kind: Service\nmetadata: {name: kubernetes, namespace: default}\n"
        "spec: {clusterIP: 10.96.0.1, ports: [{name: https, port: 443}]}\n---\n"
        "kind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: 10.96.0.20, ports: [{port: 80}]}\n"
    )
    assert main(["env", "shop", "--cluster", str(cluster), "--no-service-links"]) == 0
    out = capsys.readouterr().out
    assert "KUBERNETES_SERVICE_HOST=10.96.0.1\n" in out and "WEB_" not in out
    assert main(["env", "shop", "--cluster", str(cluster), "--json"]) == 0
    names = [v["name"] for v in json.loads(capsys.readouterr().out)]
    assert "WEB_PORT_80_TCP_ADDR" in names
