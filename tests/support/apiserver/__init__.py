"""A small, real Kubernetes API server (list + watch) to test clusterdns's API source.

``ApiServer`` serves Services, EndpointSlices, Namespaces and Pods on kube-apiserver's
paths and JSON shapes, with one global resourceVersion, paged lists at a consistent
snapshot, watches with bookmarks and 410 Expired, selectors, bearer/basic/client
certificate authentication, 403s that read like RBAC's, and fault injection.
``python -m tests.support.apiserver`` serves a synthetic cluster for benchmarks.
"""

from __future__ import annotations

from tests.support.apiserver.http import ANONYMOUS, RequestRecord
from tests.support.apiserver.resources import RESOURCES, Resource, resource_for
from tests.support.apiserver.server import DEFAULT_TOKEN_USER, ApiServer, server_ssl_context
from tests.support.apiserver.status import ApiError
from tests.support.apiserver.store import INITIAL_EVENTS_END

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
