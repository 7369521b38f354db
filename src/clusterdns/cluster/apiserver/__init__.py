"""A small, real Kubernetes API server (list + watch) to test clusterdns's API source.

``ApiServer`` serves Services, EndpointSlices, Namespaces and Pods on kube-apiserver's
paths and JSON shapes, with one global resourceVersion, paged lists at a consistent
snapshot, watches with bookmarks and 410 Expired, selectors, bearer/basic/client
certificate authentication, 403s that read like RBAC's, and fault injection.
``python -m clusterdns.cluster.apiserver`` serves a synthetic cluster for benchmarks.
"""

from __future__ import annotations

from clusterdns.cluster.apiserver.http import ANONYMOUS, RequestRecord
from clusterdns.cluster.apiserver.resources import RESOURCES, Resource, resource_for
from clusterdns.cluster.apiserver.server import DEFAULT_TOKEN_USER, ApiServer, server_ssl_context
from clusterdns.cluster.apiserver.status import ApiError
from clusterdns.cluster.apiserver.store import INITIAL_EVENTS_END

__all__ = [
    "ANONYMOUS",
    "DEFAULT_TOKEN_USER",
    "INITIAL_EVENTS_END",
    "RESOURCES",
    "ApiError",
    "ApiServer",
    "RequestRecord",
    "Resource",
    "resource_for",
    "server_ssl_context",
]
