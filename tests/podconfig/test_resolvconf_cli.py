"""``clusterdns resolvconf`` end to end for the kubelet rules of this audit (node file
parsing, --resolv-conf="" with node IPs, the node-file limit warnings, relaxed searches)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterdns.cli import main

DEFAULT_POD = "kind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {dnsPolicy: Default}\n"
CLUSTER_POD = "kind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {}\n"


def files(tmp_path: Path, pod: str, node: str) -> tuple[str, str]:
    manifest, host = tmp_path / "pod.yaml", tmp_path / "resolv.conf"
    manifest.write_text(pod)
    host.write_text(node)
    return str(manifest), str(host)


def test_node_file_search_root_dropped_and_only_hash_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, host = files(
        tmp_path,
        DEFAULT_POD,
        "# node\n; not a comment to the kubelet, but no keyword either\n"
        "domain ignored.example\nsearch corp.example. .\nnameserver 192.0.2.53\n",
    )
    assert main(["resolvconf", manifest, "--host-resolv-conf", host]) == 0
    assert capsys.readouterr().out == "search corp.example\nnameserver 192.0.2.53\n"


def test_node_file_with_an_empty_nameserver_line_fails_every_pod(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, host = files(tmp_path, CLUSTER_POD, "nameserver 192.0.2.53\nnameserver\n")
    assert main(["resolvconf", manifest, "--host-resolv-conf", host]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{host}: line 2: nameserver list is empty" in captured.err


@pytest.mark.parametrize(
    ("node_ips", "servers"),
    [([], ["127.0.0.1"]), (["--node-ip", "192.0.2.7,2001:db8::7"], ["127.0.0.1", "::1"])],
)
def test_empty_resolv_conf_flag_uses_loopback_per_node_ip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], node_ips: list[str], servers: list[str]
) -> None:
    manifest, _ = files(tmp_path, DEFAULT_POD, "")
    args = ["resolvconf", manifest, "--host-resolv-conf", "", *node_ips, "--json"]
    assert main(args) == 0
    [pod] = json.loads(capsys.readouterr().out)
    assert pod["nameservers"] == servers and pod["searches"] == ["."]


def test_node_search_line_over_the_limit_warns_and_is_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = "nameserver 192.0.2.53\nsearch " + " ".join(f"n{i}.example" for i in range(30)) + "\n"
    manifest, host = files(tmp_path, CLUSTER_POD, node)
    assert main(["resolvconf", manifest, "--host-resolv-conf", host]) == 0
    captured = capsys.readouterr()
    search = captured.out.splitlines()[0].split()[1:]
    assert len(search) == 32 and search[-1] == "n28.example"
    assert "search line of more than 29 domains" in captured.err  # 32 - the 3 cluster ones
    assert "Search Line limits were exceeded" in captured.err


def test_relaxed_search_validation_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = (
        "kind: Pod\nmetadata: {name: p, namespace: shop}\n"
        "spec: {dnsConfig: {searches: [abc_d.example.com, .]}}\n"
    )
    manifest, _ = files(tmp_path, pod, "")
    assert main(["resolvconf", manifest, "--cluster-dns", "10.0.0.10"]) == 0
    assert capsys.readouterr().out == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local abc_d.example.com .\n"
        "nameserver 10.0.0.10\noptions ndots:5\n"
    )


@pytest.mark.parametrize("flag", ["--cluster-dns", "--node-ip"])
def test_kubelet_ip_flags_must_be_ips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    manifest, _ = files(tmp_path, CLUSTER_POD, "")
    assert main(["resolvconf", manifest, flag, "10.0.0.10,kube-dns"]) == 1
    assert f"{flag}: 'kube-dns' is not an IP address" in capsys.readouterr().err
