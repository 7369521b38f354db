"""``doctor node --trace SECONDS``: count DNS packet drops by reason as they happen.

With bpftrace (Debian package ``bpftrace``): the ``skb:kfree_skb`` tracepoint carries the
drop reason (``enum skb_drop_reason``, kernel 5.17+), filtered to UDP port 53; where
kprobes exist, ``nf_ct_resolve_clash`` (clashes resolved) and ``__nf_conntrack_confirm``
returning NF_DROP (insert failures).  Where any part is missing, ``missing`` says exactly
which, and the report goes on with the counters.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))

DROPS = """
tracepoint:skb:kfree_skb {
  $skb = (struct sk_buff *)args->skbaddr;
  $ip = (struct iphdr *)($skb->head + $skb->network_header);
  if ($ip->protocol == 17) {
    $udp = (struct udphdr *)($skb->head + $skb->transport_header);
    $d = (($udp->dest & 0xff) << 8) | ($udp->dest >> 8);
    $s = (($udp->source & 0xff) << 8) | ($udp->source >> 8);
    if ($d == 53 || $s == 53) { @drops[args->reason] = count(); }
  }
}
"""
CONNTRACK = """
kprobe:nf_ct_resolve_clash { @clash_resolved = count(); }
kretprobe:__nf_conntrack_confirm /retval == 0/ { @confirm_dropped = count(); }
"""


@dataclass(frozen=True, slots=True)
class TraceResult:
    seconds: float
    tool: str | None
    drops: tuple[tuple[str, int], ...] = ()  # drop reason -> packets to/from port 53
    clash_resolved: int | None = None
    confirm_dropped: int | None = None
    missing: tuple[str, ...] = ()  # what kept a probe from running, one line each

    def to_json(self) -> dict[str, object]:
        return {
            "seconds": self.seconds,
            "tool": self.tool,
            "drops": dict(self.drops),
            "clashResolved": self.clash_resolved,
            "confirmDropped": self.confirm_dropped,
            "missing": list(self.missing),
        }


def tracefs() -> Path | None:
    for path in TRACEFS:
        if (path / "events").is_dir():
            return path
    return None


def what_is_missing(bpftrace: str | None = None) -> tuple[list[str], bool, bool]:
    """(missing, can trace drops, can use kprobes)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("privileges: BPF tracing needs root (CAP_BPF and CAP_PERFMON)")
    tool = bpftrace or shutil.which("bpftrace")
    if tool is None:
        missing.append("bpftrace is not installed (Debian: apt-get install bpftrace)")
    fs = tracefs()
    if fs is None:
        missing.append("no tracefs: mount -t tracefs nodev /sys/kernel/tracing")
    event = fs / "events" / "skb" / "kfree_skb" if fs is not None else None
    drops = event is not None and event.is_dir()
    if event is not None and not drops:
        missing.append("no skb:kfree_skb tracepoint in this kernel")
    elif event is not None and "reason" not in _read(event / "format"):
        missing.append("skb:kfree_skb has no drop reason field (kernel before 5.17)")
    kprobes = fs is not None and (fs / "kprobe_events").exists()
    if fs is not None and not kprobes:
        missing.append(
            "no kprobes: this kernel is built without CONFIG_KPROBES (no kprobe_events in "
            "tracefs), so conntrack insert failures and clash resolutions are not traced; "
            "read them from the counters"
        )
    usable = not any(m.startswith(("privileges", "bpftrace")) for m in missing)
    return missing, usable and drops, usable and kprobes


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def drop_reason_names(format_text: str) -> dict[int, str]:
    """``enum skb_drop_reason`` values from the tracepoint's ``__print_symbolic`` list."""
    return {
        int(num): name for num, name in re.findall(r"\{\s*(\d+),\s*\"(\w+)\"\s*\}", format_text)
    }


_MAP_LINE = re.compile(r"^@(\w+)(?:\[(\d+)\])?:\s*(\d+)", re.M)


def parse_bpftrace_output(
    text: str, names: dict[int, str]
) -> tuple[dict[str, int], dict[str, int]]:
    """(drops by reason name, scalar counters) from bpftrace's map dump at exit."""
    drops: dict[str, int] = {}
    scalars: dict[str, int] = {}
    for name, key, value in _MAP_LINE.findall(text):
        if name == "drops" and key:
            drops[names.get(int(key), f"reason {key}")] = int(value)
        elif not key:
            scalars[name] = int(value)
    return drops, scalars


def run_trace(seconds: float, netns: str | None = None) -> TraceResult:
    """Trace for ``seconds`` (bounded) with bpftrace; only what this kernel allows."""
    missing, drops_ok, kprobes_ok = what_is_missing()
    if not drops_ok and not kprobes_ok:
        return TraceResult(seconds, None, missing=tuple(missing))
    fs = tracefs()
    assert fs is not None
    names = drop_reason_names(_read(fs / "events" / "skb" / "kfree_skb" / "format"))
    program = (DROPS if drops_ok else "") + (CONNTRACK if kprobes_ok else "")
    program += f"interval:ms:{int(seconds * 1000)} {{ exit(); }}\n"
    argv = ["bpftrace", "-e", program]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]  # kprobes see every namespace anyway
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired:
        return TraceResult(
            seconds, "bpftrace", missing=(*missing, "bpftrace did not finish in time")
        )
    if done.returncode != 0:
        error = done.stderr.strip().splitlines()[-1:] or ["?"]
        return TraceResult(seconds, "bpftrace", missing=(*missing, f"bpftrace failed: {error[0]}"))
    drops, scalars = parse_bpftrace_output(done.stdout, names)
    return TraceResult(
        seconds,
        "bpftrace",
        drops=tuple(sorted(drops.items())),
        clash_resolved=scalars.get("clash_resolved", 0) if kprobes_ok else None,
        confirm_dropped=scalars.get("confirm_dropped", 0) if kprobes_ok else None,
        missing=tuple(missing),
    )
