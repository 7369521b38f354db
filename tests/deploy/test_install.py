"""A plain `pip install clusterdns` (no extra) in a fresh venv serves kubeadm's Corefile.

The venv holds the core install only; it serves the deploy ConfigMap's Corefile against
the fake API server on loopback and answers a cluster name, and its packages stay small.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deployed import (
    NAME,
    ROOT,
    Ports,
    api_server,
    configmap_corefile,
    in_service_cidr,
    on_loopback,
    wait_for_answer,
)
from tests.support.upstream import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MB = 1_000_000
# what a venv holds before anything is installed
VENV_OWN = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth")


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def packages_size(site: Path) -> int:
    own = tuple(f"{name}-" for name in VENV_OWN)
    return sum(
        tree_size(entry)
        for entry in site.iterdir()
        if entry.name not in VENV_OWN and not entry.name.startswith(own)
    )


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def test_core_install_is_small(core_venv: Path) -> None:
    (site,) = core_venv.glob("lib/python3*/site-packages")
    size = packages_size(site)
    print(f"core install: {size / MB:.1f} MB")
    assert size < 50 * MB
    assert not (site / "matplotlib").exists() and not (site / "grpc").exists()


def test_core_install_serves_the_kubeadm_corefile(core_venv: Path, tmp_path: Path) -> None:
    ports = Ports.free()
    with api_server() as url:
        conf = tmp_path / "Corefile"
        conf.write_text(on_loopback(configmap_corefile(), ports, url, f"127.0.0.1:{free_port()}"))
        server = subprocess.Popen(
            [str(core_venv / "bin/clusterdns"), "serve", "-conf", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert in_service_cidr(wait_for_answer(ports.dns, NAME, server))
        finally:
            server.terminate()
            server.wait(15)
