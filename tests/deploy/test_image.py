"""The Dockerfile, built with podman on a Debian base and run from the image's filesystem.

There is no Docker here and containers may not run, but Debian's podman builds with
``--isolation chroot``. The base is Debian bookworm with python3, made with mmdebstrap
from Debian's packages (cached under /var/tmp by a hash of its recipe, and as a podman
image) and passed as the Dockerfile's ``BASE``: a stand-in for python:3.11-slim-bookworm,
both being Debian's minbase with a Python. The commands of deploy/ then start from the
built image's filesystem (``podman mount`` of a created container, then chroot): the
Deployment's server as the image's user with the deploy ConfigMap's Corefile, against
the fake API server on loopback, must answer a cluster name; the DaemonSet's node cache
as root, in a network namespace this test creates, must set up its interface and NOTRACK
rules with the image's ip and iptables and serve on its addresses.

The first run on a machine makes the base (mmdebstrap: about 1 to 3 minutes) and builds
every stage; later runs reuse the base and podman's layer cache and take about 30 s.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import pytest
import yaml

from clusterdns.kernellab.netns import Process
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
from tests.support.netns import NamespaceError, Namespaces, http_get, query, wait_for
from tests.support.upstream import free_port

# the first run makes the base (mmdebstrap) and downloads the wheels: bounded by the
# timeouts of debian_base (15 min) and of the build (20 min), well inside this one
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

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
# one tag per checkout, so a run only ever replaces (and removes) its own checkout's image
IMAGE = f"localhost/clusterdns:test-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
USER = "65532:65532"  # the Dockerfile's USER
MAX_SIZE = 150 * MB  # issue 22 item 6; deploy/README.md gives the size
NODELOCALDNS = ROOT / "deploy" / "nodelocaldns.yaml"
CAP_NET_BIND_SERVICE = 10  # linux/capability.h


def podman(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout.strip()


def debian_base() -> str:
    """The mmdebstrap base as a podman image, made once per recipe.

    Written under a name of this process's own and renamed when complete, so a run that
    is stopped half-way, or two runs at once, never leave a broken base behind.
    """
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE]).returncode == 0:
        return BASE_IMAGE
    if not BASE_TAR.exists():
        partial = BASE_TAR.with_suffix(f".partial-{os.getpid()}")
        try:
            done = subprocess.run(
                ["mmdebstrap", *MMDEBSTRAP, SUITE, str(partial), MIRROR],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            partial.rename(BASE_TAR)
        finally:
            partial.unlink(missing_ok=True)
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


def image_id(name: str) -> str | None:
    done = subprocess.run(
        ["podman", "image", "inspect", name, "--format", "{{.Id}}"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The built image's ID (not its tag: another checkout's run may retag it meanwhile)."""
    missing = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: make debs")
    base = debian_base()
    work = tmp_path_factory.mktemp("build")
    volumes = build_volumes(work)
    previous = image_id(IMAGE)
    podman(
        "build", "--isolation", "chroot", "--build-arg", f"BASE={base}", *volumes,
        "--iidfile", str(work / "iid"), "-t", IMAGE, str(ROOT), timeout=1200,
    )  # fmt: skip
    built = (work / "iid").read_text().strip().removeprefix("sha256:")
    if previous and previous != built:
        # each build is one full layer: drop the one this build replaced (kept if in use)
        subprocess.run(["podman", "rmi", previous], capture_output=True)
    return built


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
    print(f"image size: {size / MB:.1f} MB")
    assert size < MAX_SIZE, f"the image is {size / MB:.1f} MB, over {MAX_SIZE / MB:.0f} MB"


def in_image(rootfs: Path, path: str) -> Path:
    """``path`` inside the image, its symbolic links followed inside the image."""
    here = Path(path)
    for _ in range(40):
        host = rootfs / here.relative_to("/")
        if not host.is_symlink():
            return host
        target = Path(os.readlink(host))
        here = target if target.is_absolute() else here.parent / target
    raise AssertionError(f"{path}: too many symbolic links in the image")


def permitted_capabilities(path: Path) -> int:
    """The permitted set of a file capability (``security.capability``, VFS_CAP_REVISION_2)."""
    raw = os.getxattr(path, "security.capability")
    _, permitted_low, _, permitted_high, _ = struct.unpack("<5I", raw[:20])
    return int(permitted_low | permitted_high << 32)


def test_image_interpreter_may_bind_port_53(rootfs: Path) -> None:
    """The Deployment runs as 65532 with NET_BIND_SERVICE in the bounding set only: the
    interpreter's file capability must survive the build (the last stage copies it)."""
    python = in_image(rootfs, "/opt/clusterdns/bin/python3")
    assert python.is_file(), python
    assert permitted_capabilities(python) & (1 << CAP_NET_BIND_SERVICE)


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


def nodelocaldns(kind: str, name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(NODELOCALDNS.read_text()):
        if doc and doc["kind"] == kind and doc["metadata"]["name"] == name:
            return dict(doc)
    raise AssertionError(f"deploy/nodelocaldns.yaml has no {kind} {name}")


def daemonset_args() -> list[str]:
    spec = nodelocaldns("DaemonSet", "node-local-dns")["spec"]["template"]["spec"]
    return [str(arg) for arg in spec["containers"][0]["args"]]


def local_ips(args: list[str]) -> list[str]:
    return args[args.index("-localip") + 1].split(",")


def iptables(ns: str, table: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, "iptables", "-w", "5", "-t", table, "-S"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.stdout


def addresses(ns: str, interface: str) -> str:
    done = subprocess.run(
        ["ip", "-n", ns, "-br", "addr", "show", "dev", interface],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.stdout


def answers(ns: str, server: str) -> dns.message.Message:
    """Any reply from ``server``: the root zone forwards to a resolver that is not there."""
    return query(ns, server, "example.test.", timeout=1.0)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[str]:
    """A network namespace with loopback up: the node, with nothing else on it."""
    namespaces = Namespaces()
    try:
        try:
            name = namespaces.add("imgnode")
        except (NamespaceError, FileNotFoundError) as exc:
            pytest.fail(f"cannot create a network namespace ({exc}): run as root", pytrace=False)
        yield name
    finally:
        namespaces.close()


def test_image_runs_the_nodelocaldns_daemonset(rootfs: Path, node: str, tmp_path: Path) -> None:
    """The DaemonSet's container (root, NET_ADMIN, the manifest's args and Corefile) in a
    namespace of its own: the image's ip and iptables put the addresses on the dummy
    interface and the NOTRACK rules in place, as node-cache does, and it serves there."""
    args = daemonset_args()
    base = rootfs / "etc/coredns/Corefile.base"  # the ConfigMap's mount (items: Corefile.base)
    base.parent.mkdir(parents=True, exist_ok=True)
    base.write_text(nodelocaldns("ConfigMap", "node-local-dns")["data"]["Corefile"])
    # the cache's upstreams: loopback addresses of the namespace, where nothing listens
    (rootfs / "etc/resolv.conf").write_text("nameserver 127.0.0.1\n")
    env = {"PATH": "/opt/clusterdns/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "KUBE_DNS_UPSTREAM_SERVICE_HOST": "127.0.0.2"}  # fmt: skip
    cache = Process(
        node,
        [shutil.which("chroot") or "/usr/sbin/chroot", str(rootfs), "clusterdns", *args],
        tmp_path / "nodecache.log",
        env,
    )
    try:
        ips = local_ips(args)
        try:
            wait_for(lambda: all(ip in addresses(node, "nodelocaldns") for ip in ips),
                     "the addresses on nodelocaldns", timeout=30)  # fmt: skip
            wait_for(lambda: all(f"-d {ip}/32" in iptables(node, "raw") for ip in ips)
                     and "NOTRACK" in iptables(node, "raw"), "the NOTRACK rules")  # fmt: skip
            for ip in ips:
                wait_for(lambda ip=ip: answers(node, ip), f"a DNS reply from {ip}")
            wait_for(lambda: http_get(node, f"http://{ips[0]}:8080/health"), "/health")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nnodecache's log:\n{cache.output()[-3000:]}") from None
    finally:
        cache.stop()
