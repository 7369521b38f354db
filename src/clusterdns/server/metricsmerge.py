"""One ``/metrics`` for a supervisor and its workers: the text expositions merged.

Every process writes its families with prometheus_client's ``generate_latest``,
so one sample is one line, ``name{labels} value``, and the same series has the
same text in every process.  The merge keeps CoreDNS's names and labels (no
``worker`` label) and, per family:

- the supervisor's own families (the kubernetes source's request and
  programming metrics, the worker restarts): the supervisor's value only; a
  worker inherits those values at its fork and must not add them again;
- per-process facts (``*_info``, ``coredns_plugin_enabled``, the process start
  time and fd limit): the supervisor's value, else the first worker's;
- ``*_created`` samples: the earliest;
- everything else (counters, histograms, gauges such as cache entries or
  resident memory): the sum over every process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

#: families whose value is the same fact in every process, not a part of a whole
FACTS = frozenset(
    {
        "coredns_plugin_enabled",
        "process_start_time_seconds",
        "process_max_fds",
        "process_virtual_memory_max_bytes",
    }
)


@dataclass
class _Family:
    lines: list[str] = field(default_factory=list)  # HELP and TYPE, as first seen
    kind: str = "untyped"
    #: sample text before the value -> merged value, in first-seen order
    samples: dict[str, float] = field(default_factory=dict)


def merge(supervisor: str, workers: Sequence[str], supervisor_owns: Callable[[str], bool]) -> str:
    """The exposition of the whole pod from each process's own."""
    families: dict[str, _Family] = {}
    for index, text in enumerate([*workers, supervisor]):
        is_supervisor = index == len(workers)
        for name, family, sample, value in _samples(text, families):
            if sample is None or (supervisor_owns(name) and not is_supervisor):
                continue
            _combine(family, name, sample, value, is_supervisor)
    return "".join(_render(family) for family in families.values())


def _samples(
    text: str, families: dict[str, _Family]
) -> Iterator[tuple[str, _Family, str | None, float]]:
    """(family name, family, sample key or None, value) for each line of ``text``."""
    current = ""
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                current = parts[2]
                family = families.setdefault(current, _Family())
                if not any(known.startswith(f"# {parts[1]} ") for known in family.lines):
                    family.lines.append(line)
                if parts[1] == "TYPE" and len(parts) == 4:
                    family.kind = parts[3]
                yield current, family, None, 0.0
            continue
        key, _, raw = line.rpartition(" ")
        try:
            value = float(raw)
        except ValueError:
            continue
        family = families.setdefault(current, _Family())
        yield current, family, key, value


def _combine(family: _Family, name: str, key: str, value: float, is_supervisor: bool) -> None:
    held = family.samples.get(key)
    if held is None:
        family.samples[key] = value
        return
    sample_name = key.split("{", 1)[0]
    if sample_name.endswith("_created"):
        family.samples[key] = min(held, value)
    elif family.kind == "info" or name.endswith("_info") or name in FACTS:
        if is_supervisor:
            family.samples[key] = value
    else:
        family.samples[key] = held + value


def _render(family: _Family) -> str:
    if not family.lines and not family.samples:
        return ""
    out = [line + "\n" for line in family.lines]
    out.extend(f"{key} {_number(value)}\n" for key, value in family.samples.items())
    return "".join(out)


def _number(value: float) -> str:
    """As prometheus_client writes floats (``1.0``, ``+Inf``, ``NaN``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
