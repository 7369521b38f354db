"""The Dockerfile, built with podman on a Debian base and run from the image's filesystem.

There is no Docker here and containers may not run, but Debian's podman builds with
``--isolation chroot``. The base is Debian bookworm with python3, made with mmdebstrap
from Debian's packages (cached under /var/tmp by a hash of its recipe, and as a podman
image) and passed as the Dockerfile's ``BASE``. The server then starts from the built
image's filesystem (``podman mount`` of a created container, then chroot as the image's
user) with the deploy ConfigMap's Corefile, against the fake API server on loopback, and
must answer a cluster name.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
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

# the first run makes the base (mmdebstrap, ~3 min) and downloads the wheels
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

MB = 1_000_000
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
MMDEBSTRAP = (
    "--variant=minbase",
    "--include=python3,python3-venv",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",  # no usrmerge, so no perl
    "--aptopt=APT::Install-Recommends false",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
)
RECIPE = hashlib.sha256(repr((SUITE, MIRROR, MMDEBSTRAP)).encode()).hexdigest()[:16]
BASE_TAR = Path("/var/tmp") / f"clusterdns-mmdebstrap-{RECIPE}.tar"
BASE_IMAGE = f"localhost/clusterdns-base:{RECIPE}"
IMAGE = "localhost/clusterdns:test"
USER = "65532:65532"  # the Dockerfile's USER


def podman(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout.strip()


def debian_base() -> str:
    """The mmdebstrap base as a podman image, made once per recipe."""
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE]).returncode == 0:
        return BASE_IMAGE
    if not BASE_TAR.exists():
        partial = BASE_TAR.with_suffix(".partial")
        done = subprocess.run(
            ["mmdebstrap", *MMDEBSTRAP, SUITE, str(partial), MIRROR],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        partial.rename(BASE_TAR)
    podman("import", "-q", str(BASE_TAR), BASE_IMAGE)
    return BASE_IMAGE


def build_volumes(tmp_path: Path) -> list[str]:
    """Lend the build the host's CA bundle: HTTPS here goes through a proxy only it trusts."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.exists():
        return []
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\ncert = {bundle}\n")
    return ["-v", f"{conf}:/etc/pip.conf:ro", "-v", f"{bundle}:{bundle}:ro"]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    missing = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: make debs")
    base = debian_base()
    volumes = build_volumes(tmp_path_factory.mktemp("build"))
    podman(
        "build", "--isolation", "chroot", "--build-arg", f"BASE={base}", *volumes,
        "-t", IMAGE, str(ROOT), timeout=1200,
    )  # fmt: skip
    return IMAGE


@pytest.fixture
def rootfs(image: str) -> Iterator[Path]:
    """The image's filesystem, writable (a created container's, never started)."""
    container = podman("create", image)
    try:
        yield Path(podman("mount", container))
    finally:
        podman("umount", container)
        podman("rm", container)


def test_image_is_small(image: str) -> None:
    size = int(podman("image", "inspect", image, "--format", "{{.Size}}"))
    print(f"image size: {size / MB:.0f} MB")
    assert size < 200 * MB  # the target is 150 MB: see the note in the Dockerfile


def test_image_serves_the_deploy_corefile(rootfs: Path) -> None:
    """The Deployment's container, as far as this sandbox lets one run: same files, user, args."""
    ports = Ports.free()
    with api_server() as url:
        corefile = on_loopback(configmap_corefile(), ports, url, f"127.0.0.1:{free_port()}")
        conf = rootfs / "etc/coredns/Corefile"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(corefile)
        server = subprocess.Popen(
            [shutil.which("chroot") or "/usr/sbin/chroot", f"--userspec={USER}", str(rootfs),
             "clusterdns", "serve", "-conf", "/etc/coredns/Corefile"],
            env={"PATH": "/opt/clusterdns/bin:/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert in_service_cidr(wait_for_answer(ports.dns, NAME, server))
        finally:
            server.terminate()
            server.wait(15)
