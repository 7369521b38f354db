from __future__ import annotations

import pytest

from clusterdns.kernellab.lab import missing_requirements


@pytest.fixture(autouse=True)
def _needs_root_and_netfilter() -> None:
    lacks = missing_requirements()
    if lacks:
        pytest.skip(f"the kernel lab needs: {'; '.join(lacks)}")
