"""Where ``doctor node`` reads from: /proc and the filesystem under a root, and the rule
listings (``iptables-save``, ``nft list ruleset``), run here or read from a directory of
saved outputs (``--commands DIR``: files ``iptables-save``, ``nft-list-ruleset``)."""

from __future__ import annotations

import glob
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Where container runtimes keep each pod sandbox's resolv.conf on a node.
POD_RESOLV_GLOBS = (
    "var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/*/resolv.conf",
    "var/lib/docker/containers/*/resolv.conf",
    "var/lib/containers/storage/overlay-containers/*/userdata/resolv.conf",
    "run/containerd/io.containerd.grpc.v1.cri/sandboxes/*/resolv.conf",
)

COMMANDS = {
    "iptables-save": ["iptables-save"],
    "nft-list-ruleset": ["nft", "list", "ruleset"],
}


@dataclass(frozen=True, slots=True)
class Sources:
    proc: str = "/proc"
    root: str = "/"
    commands: str | None = None  # a directory of saved command outputs

    def read(self, relative: str) -> str | None:
        """A file under /proc (``relative`` as in ``sys/net/...``); None when unreadable."""
        try:
            return (Path(self.proc) / relative).read_text()
        except OSError:
            return None

    def command(self, name: str) -> tuple[str | None, str]:
        """(output, where it came from); output None when it could not be had."""
        if self.commands is not None:
            path = Path(self.commands) / name
            try:
                return path.read_text(), str(path)
            except OSError:
                return None, f"{path} (missing)"
        argv = COMMANDS[name]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(argv)}: {exc}"
        if done.returncode != 0:
            return None, f"{' '.join(argv)}: {done.stderr.strip()}"
        return done.stdout, " ".join(argv)

    def pod_resolv_confs(self) -> list[tuple[str, str]]:
        found = []
        for pattern in POD_RESOLV_GLOBS:
            for path in sorted(glob.glob(str(Path(self.root) / pattern)))[:200]:
                try:
                    found.append((path, Path(path).read_text()))
                except OSError:
                    continue
        return found
