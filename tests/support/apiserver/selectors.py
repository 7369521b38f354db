"""``labelSelector`` and ``fieldSelector`` of list and watch requests.

Label selectors use the project's parser (``clusterdns.cluster.labels``: ``=``,
``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``, commas for AND).  Field
selectors follow apimachinery's ``fields.ParseSelector``: terms joined by
commas, each ``field=value``, ``field==value`` or ``field!=value``, with ``\\``
escaping ``,``, ``=`` and ``!`` in values; a field the resource does not
register is refused (``field label not supported: x``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clusterdns.cluster.labels import LabelSelector, SelectorError, parse_selector
from tests.support.apiserver.resources import Resource
from tests.support.apiserver.status import ApiError, bad_request

FieldTerm = tuple[str, bool, str]
"""(field, equal?, value): ``status.phase!=Running`` is ("status.phase", False, "Running")."""


@dataclass(frozen=True, slots=True)
class Filter:
    """What one list or watch asks for: a namespace ("" for all) and the two selectors."""

    namespace: str = ""
    labels: LabelSelector | None = None
    fields: tuple[FieldTerm, ...] = ()

    @property
    def selects_all(self) -> bool:
        """No selector narrows the result (the namespace of the path may)."""
        return self.labels is None and not self.fields

    def matches(self, namespace: str, labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
        if self.namespace and namespace != self.namespace:
            return False
        if self.labels is not None and not self.labels.matches(labels):
            return False
        return all((fields.get(f, "") == v) == equal for f, equal, v in self.fields)


def parse_filter(resource: Resource, namespace: str, label_text: str, field_text: str) -> Filter:
    """Build a Filter from the query parameters; ApiError(400) when a selector is wrong."""
    labels = None
    if label_text.strip():
        try:
            labels = parse_selector(label_text)
        except SelectorError as err:
            raise bad_request(f"unable to parse requirement: {err}") from None
    return Filter(namespace, labels, parse_field_selector(resource, field_text))


def parse_field_selector(resource: Resource, text: str) -> tuple[FieldTerm, ...]:
    terms: list[FieldTerm] = []
    allowed = resource.selectable_fields()
    for term in _split_unescaped(text, ","):
        if not term:
            continue
        parsed = _parse_term(term)
        if parsed is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, equal, value = parsed
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        terms.append((field, equal, value))
    return tuple(terms)


def _parse_term(term: str) -> FieldTerm | None:
    for op, equal in (("!=", False), ("==", True), ("=", True)):
        index = _find_unescaped(term, op)
        if index >= 0:
            field = term[:index].strip()
            if not field:
                return None
            return field, equal, _unescape(term[index + len(op) :])
    return None


def _find_unescaped(text: str, needle: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


__all__ = ["ApiError", "FieldTerm", "Filter", "parse_field_selector", "parse_filter"]
