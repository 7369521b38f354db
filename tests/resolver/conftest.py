"""Fixtures for the resolver tests: the loopback DNS server of ``loopback_dns``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.loopback_dns import LoopbackServer, running_server


@pytest.fixture
def dns_server() -> Iterator[LoopbackServer]:
    with running_server() as server:
        yield server
