from __future__ import annotations

import pytest

from clusterdns.cluster import sample_cluster_path
from clusterdns.cluster.manifests import load_manifests
from clusterdns.cluster.model import ClusterState


@pytest.fixture(scope="session")
def sample_state() -> ClusterState:
    state, problems = load_manifests(sample_cluster_path())
    assert problems == []
    return state
