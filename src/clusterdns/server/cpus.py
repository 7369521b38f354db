"""How many workers ``serve`` runs by default: the CPUs this process may use.

The CPU affinity (``sched_getaffinity``: taskset, cpusets) bounds it, and in a
container so does the CFS quota of its cgroup: cgroup v2's ``cpu.max``
(``"200000 100000"``: two CPUs; ``"max 100000"``: no limit), or cgroup v1's
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: no limit).  A quota of 1.5
CPUs is 1 worker: rounded down, at least 1.  This is what a Kubernetes CPU
limit becomes on the node (kubelet writes the limit as the quota).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

CGROUP_ROOT = "/sys/fs/cgroup"


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 ``cpu.max`` -> CPUs (quota / period), None when unlimited or unreadable."""
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    try:
        quota = int(parts[0])
        period = int(parts[1]) if len(parts) > 1 else 100_000
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota_text: str, period_text: str) -> float | None:
    """cgroup v1 ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` -> CPUs, None when unlimited."""
    try:
        quota, period = int(quota_text.strip()), int(period_text.strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_dirs(proc_self_cgroup: str, root: str = CGROUP_ROOT) -> list[str]:
    """Where this process's cgroup files may be: its own cgroup path, then the root
    (inside a container's cgroup namespace the root is the container's cgroup)."""
    dirs: list[str] = []
    for line in proc_self_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            dirs.append(os.path.join(root, path.lstrip("/")))
        elif "cpu" in controllers.split(","):
            for name in ("cpu,cpuacct", "cpu"):
                dirs.append(os.path.join(root, name, path.lstrip("/")))
    dirs.extend([root, os.path.join(root, "cpu,cpuacct"), os.path.join(root, "cpu")])
    return list(dict.fromkeys(dirs))


def cgroup_quota(read: Callable[[str], str], dirs: list[str]) -> float | None:
    """The first quota found among ``dirs`` (cgroup v2, then v1), None when there is none."""
    for directory in dirs:
        try:
            return parse_cpu_max(read(os.path.join(directory, "cpu.max")))
        except OSError:
            pass
        try:
            quota = read(os.path.join(directory, "cpu.cfs_quota_us"))
            period = read(os.path.join(directory, "cpu.cfs_period_us"))
        except OSError:
            continue
        return parse_cfs(quota, period)
    return None


def worker_count(allowed: int, quota: float | None) -> int:
    """CPUs allowed, capped by the quota rounded down; at least 1."""
    count = allowed if quota is None else min(allowed, math.floor(quota))
    return max(1, count)


def default_workers() -> int:
    """``-workers`` when not given: the CPUs this process may use (see the module text)."""
    allowed = len(os.sched_getaffinity(0))
    try:
        own = _read("/proc/self/cgroup")
    except OSError:
        own = ""
    return worker_count(allowed, cgroup_quota(_read, cgroup_dirs(own)))


def _read(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read()
