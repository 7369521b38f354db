"""``clusterdns synth`` end to end: the file it writes loads back as the cluster asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterdns.cli import main
from clusterdns.cluster.manifests import load_manifests


@pytest.mark.parametrize(
    ("suffix", "services", "endpoints", "pods", "headless", "external", "pod_ips"),
    [
        # every 10th service is headless, every 25th an ExternalName (which wins at 50)
        ("json", 50, 2, True, 4, 2, 48 * 2),
        ("yaml", 50, 2, False, 4, 2, 0),
        ("json", 7, 0, True, 0, 0, 0),
    ],
)
def test_synth_writes_a_loadable_cluster(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    suffix: str,
    services: int,
    endpoints: int,
    pods: bool,
    headless: int,
    external: int,
    pod_ips: int,
) -> None:
    out = tmp_path / f"cluster.{suffix}"
    argv = ["synth", "--namespaces", "3", "--services", str(services)]
    argv += ["--endpoints", str(endpoints), "--output", str(out), "--json"]
    assert main(argv + (["--pods"] if pods else [])) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kinds"]["Service"] == services
    state, problems = load_manifests(out)
    assert problems == []
    assert len(state.namespaces) == 3
    assert len(state.services) == services
    assert sum(s.headless for s in state.services.values()) == headless
    assert sum(s.is_external_name for s in state.services.values()) == external
    assert sum(len(p) for p in state.pods_by_ip.values()) == pod_ips


def test_synth_human_output_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.json"
    assert main(["synth", "--services", "3", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Service" in text and "EndpointSlice" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--namespaces", "0"], "at least one namespace"),
        (["--output", "/nonexistent-dir/c.json"], "cannot write"),
    ],
)
def test_synth_errors_say_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    base = ["synth", "--services", "2", "--output", str(tmp_path / "c.json")]
    assert main(base + argv) == 1
    assert message in capsys.readouterr().err
