"""The cluster model and its sources (manifests on disk; later the live API).

``clusterdns.cluster.model`` holds the slim immutable records DNS needs,
``clusterdns.cluster.manifests`` builds them from kubectl-shaped YAML/JSON,
``clusterdns.cluster.synthetic`` generates large clusters for load tests.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_cluster_path() -> Path:
    """The small sample cluster shipped with the package (``sample/cluster.yaml``)."""
    return Path(str(resources.files(__name__).joinpath("sample", "cluster.yaml")))
