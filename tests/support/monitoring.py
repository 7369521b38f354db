"""A real Prometheus (Debian's package) and a real clusterdns process, on loopback, for tests.

``Prometheus`` runs ``prometheus`` in its own temporary directory with a short scrape and
evaluation interval, scraping the given targets and loading the given rule files; the test
reads its HTTP API. ``ClusterDNSProcess`` runs ``clusterdns serve -conf`` in a subprocess, so
its metrics are its own, not the test process's registry.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import yaml

from tests.support.upstream import free_port

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "clusterdns.rules.yaml"
CLUSTERDNS = Path(sys.executable).with_name("clusterdns")

T = TypeVar("T")


def load_generator() -> ModuleType:
    """deploy/monitoring/generate.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("monitoring_generate", MONITORING / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``probe`` every 0.2 s until it returns something other than None; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def http_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def _with_window(expr: str, window: str) -> str:
    return re.sub(r"\[\d+[smh]\]", f"[{window}]", expr)


def fast_rules(source: str, window: str = "5s", hold: str = "2s") -> str:
    """The rules file with every range window set to ``window`` and every ``for:`` to ``hold``.

    The shipped rules wait minutes; an end-to-end test waits seconds, with the same expressions.
    """
    doc = yaml.safe_load(source)
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["expr"] = _with_window(rule["expr"], window)
            if "for" in rule:
                rule["for"] = hold
    return yaml.safe_dump(doc, sort_keys=False)


class Prometheus:
    """``prometheus`` on 127.0.0.1 scraping ``targets`` ({job: "host:port"}) every second."""

    def __init__(self, directory: Path, targets: dict[str, str], rule_files: list[Path]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError(
                "prometheus is not installed: apt-get install prometheus (make debs)"
            )
        self.port = free_port()
        self.directory = directory
        config = {
            "global": {
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "scrape_timeout": "1s",
            },
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
        wait_until(self._ready, 30, "prometheus /-/ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool | None:
        return _answers(self.process, self.directory / "prometheus.log", f"{self.url}/-/ready")

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: the ``data`` of a success, AssertionError with the error otherwise."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            body = http_json(url)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]

    def stop(self) -> None:
        _stop(self.process)
        self.log.close()


class ClusterDNSProcess:
    """``clusterdns serve -conf Corefile`` in a subprocess; ``metrics_port`` is its prometheus port."""

    def __init__(self, directory: Path, corefile: str, dns_port: int, metrics_port: int) -> None:
        self.dns_port = dns_port
        self.metrics_port = metrics_port
        self.directory = directory
        (directory / "Corefile").write_text(corefile)
        self.log = (directory / "clusterdns.log").open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
        self.process = subprocess.Popen(
            [str(CLUSTERDNS), "serve", "-conf", str(directory / "Corefile")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=env,
        )
        wait_until(self._serving, 30, "clusterdns /metrics")

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _serving(self) -> bool | None:
        return _answers(self.process, self.directory / "clusterdns.log", self.metrics_url)

    def stop(self) -> None:
        _stop(self.process)
        self.log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process we started, SIGKILL if it will not go."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _answers(process: subprocess.Popen[bytes], log: Path, url: str) -> bool | None:
    """True once ``url`` answers 200; None while it does not yet; fails if the process died."""
    if process.poll() is not None:
        raise AssertionError(f"{Path(process.args[0]).name} exited: {log.read_text()}")  # type: ignore[index]
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return True if response.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None
