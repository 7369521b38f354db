"""Kubernetes label selectors in their string form (``env in (qa, prod),app=web,!legacy``).

The grammar is the one ``kubectl -l`` and CoreDNS's ``labels``/``namespace_labels``
options accept (apimachinery's ``ParseToLabelSelector``): requirements joined by
commas, each ``key``, ``!key``, ``key=value``, ``key==value``, ``key!=value``,
``key in (v1, v2)`` or ``key notin (v1, v2)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from clusterdns.errors import ClusterDNSError

EXISTS = "exists"
DOES_NOT_EXIST = "!"
EQUALS = "="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|!=|=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


class SelectorError(ClusterDNSError):
    """A label selector does not parse."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == EXISTS:
            return present
        if self.op == DOES_NOT_EXIST:
            return not present
        if self.op in (EQUALS, IN):
            return present and labels[self.key] in self.values
        # != and notin also match objects without the key (apimachinery semantics)
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]
    text: str = ""

    def matches(self, labels: Mapping[str, str] | tuple[tuple[str, str], ...]) -> bool:
        label_map = labels if isinstance(labels, Mapping) else dict(labels)
        return all(r.matches(label_map) for r in self.requirements)

    def __str__(self) -> str:
        return self.text


def parse_selector(text: str) -> LabelSelector:
    """Parse a selector; raise SelectorError saying which requirement is wrong."""
    parts = _split_requirements(text)
    if not parts:
        raise SelectorError(f"empty label selector {text!r}")
    return LabelSelector(tuple(_parse_requirement(p, text) for p in parts), text.strip())


def _split_requirements(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def _parse_requirement(part: str, text: str) -> Requirement:
    if m := _SET_RE.match(part):
        values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
        if not values or not all(_VALUE_RE.match(v) for v in values):
            raise SelectorError(f"bad value list in {part!r} of label selector {text!r}")
        return Requirement(m["key"], IN if m["op"] == "in" else NOT_IN, values)
    if m := _EQ_RE.match(part):
        op = NOT_EQUALS if m["op"] == "!=" else EQUALS
        return Requirement(m["key"], op, (m["value"],))
    if m := _EXISTS_RE.match(part):
        return Requirement(m["key"], DOES_NOT_EXIST if m["neg"] else EXISTS)
    raise SelectorError(
        f"cannot parse {part!r} in label selector {text!r}: "
        "expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"
    )
