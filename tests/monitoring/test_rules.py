"""The alert and recording rules: promtool accepts them, every alert has a unit test, the
PrometheusRule wraps the same groups, and kustomize builds deploy/monitoring."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.monitoring import MONITORING, RULES, fast_rules, load_generator

UNIT_TESTS = Path(__file__).parent / "rules_test.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool: apt-get install prometheus")


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def alert_names() -> set[str]:
    return {r["alert"] for r in rules() if "alert" in r}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_promtool
@pytest.mark.parametrize(
    "path", [RULES, MONITORING / "prometheusrule.yaml"], ids=["plain", "prometheusrule"]
)
def test_promtool_check_rules(path: Path, tmp_path: Path) -> None:
    if path.name == "prometheusrule.yaml":  # promtool reads the spec, as the operator does
        spec = yaml.safe_load(path.read_text())["spec"]
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alert_names() - fires == set(), "alerts with no unit test where they fire"
    assert alert_names() - quiet == set(), "alerts with no unit test where they stay quiet"


@pytest.mark.parametrize("alert", sorted(alert_names()))
def test_alert_has_summary_description_and_runbook(alert: str) -> None:
    """Each alert says what is wrong, where (the labels that locate it), and what to do next."""
    rule = next(r for r in rules() if r.get("alert") == alert)
    annotations = rule["annotations"]
    assert annotations["summary"]
    assert "$labels." in annotations["description"] or alert == "ClusterDNSAbsent"
    anchor = annotations["runbook"].split("#")[1]
    readme = (MONITORING / "README.md").read_text()
    assert f"### {alert}\n" in readme and anchor == alert.lower()
    section = readme.split(f"### {alert}\n")[1].split("\n### ")[0]
    assert "clusterdns doctor" in section, f"the runbook of {alert} names no doctor command"


def test_prometheusrule_wraps_the_plain_rules(tmp_path: Path) -> None:
    generated = load_generator().generate(tmp_path)[0]
    committed = MONITORING / "prometheusrule.yaml"
    assert committed.read_text() == generated.read_text(), (
        "prometheusrule.yaml is stale: run python deploy/monitoring/generate.py"
    )
    manifest = yaml.safe_load(committed.read_text())
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_fast_rules_keep_every_rule_and_shorten_windows() -> None:
    fast = yaml.safe_load(fast_rules(RULES.read_text()))
    fast_rules_list = [r for g in fast["groups"] for r in g["rules"]]
    assert len(fast_rules_list) == len(rules())
    assert all("[5m]" not in r["expr"] and "[1m]" not in r["expr"] for r in fast_rules_list)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_rules_and_the_dashboard() -> None:
    """`kubectl kustomize deploy/monitoring` (what `kubectl apply -k` applies), offline."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(MONITORING)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(result.stdout)}
    assert set(objects) == {("PrometheusRule", "clusterdns"), ("ConfigMap", "clusterdns-dashboard")}
    configmap = objects[("ConfigMap", "clusterdns-dashboard")]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"]["dashboard.json"] == (MONITORING / "dashboard.json").read_text()
