from __future__ import annotations

import pytest

from clusterdns.cluster.labels import SelectorError, parse_selector

CASES = [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "api"}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("env in (qa, prod)", {"env": "qa"}, True),
    ("env in (qa, prod)", {}, False),
    ("env notin (qa)", {}, True),
    ("env notin (qa)", {"env": "qa"}, False),
    ("tier", {"tier": ""}, True),
    ("!tier", {"tier": "x"}, False),
    ("app=web,env in (qa,prod),!legacy", {"app": "web", "env": "prod"}, True),
    ("app=web,env in (qa,prod),!legacy", {"app": "web", "env": "prod", "legacy": "1"}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), CASES)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["", "a in", "a in ()", "=x", "a=b=c", "a in (b,c"])
def test_rejects(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)
