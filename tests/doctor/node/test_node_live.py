"""doctor node inside the lab's node namespace: a node set up to race, and one set up well."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clusterdns.kernellab.kubeproxy import ProxyMode
from clusterdns.kernellab.lab import (
    built_node,
    install_rules,
    missing_requirements,
    start_node_cache,
)


def doctor_node(ns: str) -> dict[str, dict[str, str]]:
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "clusterdns", "doctor", "node",
            "--interval", "0.2", "--json"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 1, 2), done.stderr
    return {f["check"]: f for f in json.loads(done.stdout)["findings"]}


@pytest.mark.skipif(bool(missing_requirements()), reason="the kernel lab needs root and netfilter")
def test_doctor_node_on_the_lab_node() -> None:
    with built_node(2) as node:
        install_rules(node, ProxyMode.IPTABLES)
        bare = doctor_node(node.node)
        start_node_cache(node)
        cached = doctor_node(node.node)
    assert bare["kube-proxy"]["severity"] == "info"  # iptables, MASQUERADE not random-fully
    assert "KUBE-SVC-TCOU7JCQXEZGVUNU" not in bare["kube-proxy"]["evidence"]
    assert "10.96.0.10:53 -> 10.244.2.2:53 p=0.5, 10.244.3.2:53" in bare["kube-proxy"]["evidence"]
    assert bare["node-cache"]["severity"] == "warn"
    assert cached["node-cache"]["severity"] == "ok"
    assert "169.254.20.10" in cached["node-cache"]["evidence"]
    assert "health ok" in cached["node-cache"]["evidence"]
