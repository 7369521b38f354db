"""The test API server over real HTTP(S) on loopback, checked against kube-apiserver's
documented behaviour (Kubernetes "API Concepts": efficient detection of changes,
watch bookmarks, retrieving large results in chunks, resource versions) and its code
(apiserver ``storage/cacher``, ``storage/etcd3``, ``endpoints/handlers``)."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import trustme

from clusterdns.cluster import synthetic
from tests.support.apiserver import ApiError, ApiServer, server_ssl_context
from tests.support.apiserver.store import INITIAL_EVENTS_END

TIMEOUT = 10.0


class Client:
    """A plain http.client user of the server: one request per connection."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        basic: tuple[str, str] | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.tls = (
            parts.hostname or "",
            parts.port or 0,
            parts.scheme == "https",
        )
        self.headers: dict[str, str] = {}
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        if basic is not None:
            pair = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            self.headers["Authorization"] = f"Basic {pair}"
        self.context = context

    def connect(self) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=TIMEOUT, context=self.context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = self.connect()
        try:
            target = path + ("?" + urlencode(params) if params else "")
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, target, body=data, headers={**self.headers, **(headers or {})})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        status, _, body = self.request("GET", path, params)
        return status, json.loads(body) if body.startswith(b"{") else body.decode()

    def watch(self, path: str, **params: Any) -> Watch:
        conn = self.connect()
        params = {"watch": "1", **params}
        conn.request("GET", path + "?" + urlencode(params), headers=self.headers)
        return Watch(conn, conn.getresponse())


class Watch:
    """One watch stream: events one line at a time, with a bounded wait for each."""

    def __init__(
        self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self.conn = conn
        self.response = response
        self.status = response.status

    def line(self) -> bytes:
        return self.response.readline()

    def next(self) -> dict[str, Any]:
        line = self.line()
        assert line.endswith(b"\n"), f"stream ended or cut: {line!r}"
        event: dict[str, Any] = json.loads(line)
        return event

    def events(self, count: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(count)]

    def rest(self) -> bytes:
        return self.response.read()

    def close(self) -> None:
        self.conn.close()


def service(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "dns", "port": 53}]},
    }


def pod(name: str, phase: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1"},
        "status": {"phase": phase, "podIP": "10.128.0.9"},
    }


def names(listing: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in listing["items"]]


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer(bookmark_interval=60.0) as api:
        yield api


@pytest.fixture
def client(server: ApiServer) -> Client:
    return Client(server.url)


def test_list_get_and_object_shapes(server: ApiServer, client: Client) -> None:
    server.create(service("web"))
    server.create(service("db", "prod"))
    status, listing = client.get("/api/v1/services")
    assert status == 200
    assert listing["kind"] == "ServiceList" and listing["apiVersion"] == "v1"
    assert listing["metadata"] == {"resourceVersion": str(server.resource_version)}
    assert names(listing) == ["web", "db"]  # in key order: "default/web" < "prod/db"
    item = listing["items"][0]
    assert "kind" not in item and "apiVersion" not in item  # list items come bare
    meta = item["metadata"]
    assert list(meta)[:5] == ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"]
    assert isinstance(meta["resourceVersion"], str) and meta["namespace"] == "default"
    status, one = client.get("/api/v1/namespaces/default/services/web")
    assert status == 200 and one["kind"] == "Service" and one["apiVersion"] == "v1"
    assert one["metadata"]["uid"] == meta["uid"]
    status, prod = client.get("/api/v1/namespaces/prod/services")
    assert names(prod) == ["db"]
    status, missing = client.get("/api/v1/namespaces/default/services/nope")
    assert status == 404
    assert missing["kind"] == "Status" and missing["reason"] == "NotFound"
    assert missing["message"] == 'services "nope" not found'
    assert missing["details"] == {"name": "nope", "kind": "services"}
    assert client.get("/healthz") == (200, "ok") and client.get("/readyz") == (200, "ok")
    status, version = client.get("/version")
    assert status == 200 and version["major"] == "1" and version["gitVersion"].startswith("v1.")
    status, _ = client.get("/api/v1/nodes")
    assert status == 404


def test_list_order_is_etcd_key_order(server: ApiServer, client: Client) -> None:
    # keys are "<namespace>/<name>" compared as bytes: "a-b/x" < "a/x" since "-" < "/"
    for namespace, name in (("a", "x"), ("a-b", "x"), ("b", "a")):
        server.create(service(name, namespace))
    _, listing = client.get("/api/v1/services")
    assert [i["metadata"]["namespace"] for i in listing["items"]] == ["a-b", "a", "b"]


def test_one_resource_version_across_kinds(server: ApiServer, client: Client) -> None:
    first = server.resource_version
    created = [
        server.create(service("web")),
        server.create({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "prod"}}),
        server.create(pod("web-1", "Running")),
    ]
    assert [int(o["metadata"]["resourceVersion"]) for o in created] == [
        first + 1,
        first + 2,
        first + 3,
    ]
    assert created[1]["status"] == {"phase": "Active"}
    again = server.update(service("web"))  # nothing changed: nothing written
    assert again["metadata"]["resourceVersion"] == str(first + 1)
    assert server.resource_version == first + 3
    changed = server.replace(service("web", tier="front"))
    assert changed["metadata"]["resourceVersion"] == str(first + 4)
    assert changed["metadata"]["uid"] == created[0]["metadata"]["uid"]


def test_http_create_update_delete(server: ApiServer, client: Client) -> None:
    status, _, body = client.request(
        "POST", "/api/v1/namespaces/default/services", body=service("web")
    )
    assert status == 201
    created = json.loads(body)
    assert created["kind"] == "Service" and server.get("Service", "web") is not None
    status, _, body = client.request(
        "POST", "/api/v1/namespaces/default/services", body=service("web")
    )
    assert status == 409 and json.loads(body)["reason"] == "AlreadyExists"
    stale = service("web", tier="x")
    stale["metadata"]["resourceVersion"] = "1"
    status, _, body = client.request("PUT", "/api/v1/namespaces/default/services/web", body=stale)
    assert status == 409 and json.loads(body)["reason"] == "Conflict"
    fresh = service("web", tier="x")
    fresh["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, _, body = client.request("PUT", "/api/v1/namespaces/default/services/web", body=fresh)
    assert status == 200 and json.loads(body)["metadata"]["labels"] == {"tier": "x"}
    status, _, body = client.request(
        "POST", "/api/v1/namespaces/other/services", body=service("web", "default")
    )
    assert status == 400
    status, _, body = client.request("DELETE", "/api/v1/namespaces/default/services/web")
    assert status == 200
    assert json.loads(body)["metadata"]["resourceVersion"] == str(server.resource_version)
    status, _, _ = client.request("DELETE", "/api/v1/namespaces/default/services/web")
    assert status == 404
    status, _, body = client.request(
        "POST",
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        body={"metadata": {"name": "web-abc"}, "addressType": "IPv4", "endpoints": []},
    )
    assert status == 201 and json.loads(body)["kind"] == "EndpointSlice"


def test_paging_with_limit_and_continue(server: ApiServer, client: Client) -> None:
    server.load(service(f"svc-{i:02d}") for i in range(25))
    seen: list[str] = []
    token, rvs, remaining = "", set(), []
    for _ in range(10):
        params: dict[str, Any] = {"limit": 10}
        if token:
            params["continue"] = token
        status, page = client.get("/api/v1/services", **params)
        assert status == 200
        seen += names(page)
        rvs.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        remaining.append(page["metadata"].get("remainingItemCount"))
        if not token:
            break
    assert seen == [f"svc-{i:02d}" for i in range(25)]
    assert len(rvs) == 1
    assert remaining == [15, 5, None]
    assert server.count(verb="list", resource="services", code=200) == 3
    assert [r.query.get("limit") for r in server.requests(verb="list")] == ["10"] * 3


def test_continue_reads_the_snapshot_of_the_first_page(server: ApiServer, client: Client) -> None:
    server.load(service(f"svc-{i}") for i in range(6))
    _, first = client.get("/api/v1/services", limit=3)
    assert names(first) == ["svc-0", "svc-1", "svc-2"]
    server.delete("Service", "svc-4")
    server.create(service("svc-45"))
    server.update(service("svc-5", tier="new"))
    _, second = client.get(
        "/api/v1/services", limit=3, **{"continue": first["metadata"]["continue"]}
    )
    assert names(second) == ["svc-3", "svc-4", "svc-5"]  # as they were at the first page
    assert second["items"][2]["metadata"]["labels"] == {"app": "svc-5"}
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    _, now = client.get("/api/v1/services")
    assert names(now) == ["svc-0", "svc-1", "svc-2", "svc-3", "svc-45", "svc-5"]


def test_expired_continue_is_410_with_an_inconsistent_continue(
    server: ApiServer, client: Client
) -> None:
    server.load(service(f"svc-{i}") for i in range(6))
    _, first = client.get("/api/v1/services", limit=2)
    server.create(service("svc-9"))
    server.compact()
    status, gone = client.get(
        "/api/v1/services", limit=2, **{"continue": first["metadata"]["continue"]}
    )
    assert status == 410
    assert gone["kind"] == "Status" and gone["reason"] == "Expired" and gone["code"] == 410
    assert gone["message"].startswith("The provided continue parameter is too old")
    status, rest = client.get(
        "/api/v1/services", limit=10, **{"continue": gone["metadata"]["continue"]}
    )
    assert status == 200
    assert names(rest) == ["svc-2", "svc-3", "svc-4", "svc-5", "svc-9"]  # the latest state
    status, bad = client.get("/api/v1/services", **{"continue": "not-a-token"})
    assert status == 400 and bad["reason"] == "BadRequest"
    assert server.count(verb="list", code=410) == 1
    assert [r.reason for r in server.requests(code=410)] == ["Expired"]


def test_list_resource_version_semantics(server: ApiServer, client: Client) -> None:
    server.create(service("a"))
    then = server.resource_version
    server.create(service("b"))
    _, latest = client.get("/api/v1/services", resourceVersion=str(then))  # not older than
    assert names(latest) == ["a", "b"]
    _, exact = client.get(
        "/api/v1/services", resourceVersion=str(then), resourceVersionMatch="Exact"
    )
    assert names(exact) == ["a"] and exact["metadata"]["resourceVersion"] == str(then)
    status, future = client.get("/api/v1/services", resourceVersion="999999")
    assert status == 504 and future["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    status, _ = client.get("/api/v1/services", resourceVersionMatch="Exact")
    assert status == 422


def test_label_and_field_selectors_on_lists(server: ApiServer, client: Client) -> None:
    server.create(service("web", env="prod", app="web"))
    server.create(service("api", env="qa", app="api"))
    server.create(service("legacy", app="legacy"))
    server.create(pod("p-run", "Running"))
    server.create(pod("p-pend", "Pending"))
    server.create(pod("p-other", "Running", "kube-system"))

    def select(path: str, **params: str) -> list[str]:
        status, listing = client.get(path, **params)
        assert status == 200, listing
        return sorted(names(listing))

    svc = "/api/v1/services"
    assert select(svc, labelSelector="env=prod") == ["web"]
    assert select(svc, labelSelector="env==qa") == ["api"]
    assert select(svc, labelSelector="env!=prod") == ["api", "legacy"]
    assert select(svc, labelSelector="env in (prod,qa)") == ["api", "web"]
    assert select(svc, labelSelector="env notin (prod)") == ["api", "legacy"]
    assert select(svc, labelSelector="env") == ["api", "web"]
    assert select(svc, labelSelector="!env") == ["legacy"]
    assert select(svc, labelSelector="env,app=web") == ["web"]
    assert select(svc, fieldSelector="metadata.name=api") == ["api"]
    assert select(svc, fieldSelector="metadata.namespace=default,metadata.name!=api") == [
        "legacy",
        "web",
    ]
    assert select("/api/v1/pods", fieldSelector="status.phase=Running") == ["p-other", "p-run"]
    assert select("/api/v1/pods", fieldSelector="status.phase!=Running") == ["p-pend"]
    assert select("/api/v1/namespaces/default/pods", fieldSelector="status.phase==Running") == [
        "p-run"
    ]
    status, refused = client.get(svc, fieldSelector="spec.nodeName=x")
    assert status == 400 and refused["message"] == "field label not supported: spec.nodeName"
    status, _ = client.get(svc, labelSelector="env in (")
    assert status == 400
    # a selector with a limit: pages hold only matching objects
    _, page = client.get(svc, labelSelector="env", limit=1)
    assert len(page["items"]) == 1 and "remainingItemCount" not in page["metadata"]


def test_watch_from_a_resource_version_sees_later_changes_in_order(
    server: ApiServer, client: Client
) -> None:
    server.create(service("old"))
    start = server.resource_version
    server.create(service("web"))
    server.create({"kind": "Namespace", "metadata": {"name": "other"}})  # not a Service
    server.update(service("web", tier="front"))
    watch = client.watch("/api/v1/services", resourceVersion=str(start))
    assert watch.status == 200
    assert watch.response.getheader("Content-Type") == "application/json"
    assert watch.response.getheader("Transfer-Encoding") == "chunked"
    server.delete("Service", "web")
    server.create(service("late", "prod"))
    events = watch.events(4)
    watch.close()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "web"),
        ("MODIFIED", "web"),
        ("DELETED", "web"),
        ("ADDED", "late"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > start
    deleted = events[2]["object"]
    # a deleted object comes with the deletion's resourceVersion (cacher: updateResourceVersion)
    assert deleted["metadata"]["labels"] == {"tier": "front"}
    assert all(e["object"]["kind"] == "Service" for e in events)
    assert all(e["object"]["apiVersion"] == "v1" for e in events)


def test_watch_without_resource_version_starts_with_the_state(
    server: ApiServer, client: Client
) -> None:
    server.create(service("a"))
    server.create(service("b", "prod"))
    expected = ["a"]
    for rv in ("", "0"):
        watch = client.watch("/api/v1/namespaces/default/services", resourceVersion=rv)
        initial = watch.events(len(expected))
        assert {e["type"] for e in initial} == {"ADDED"}
        assert sorted(e["object"]["metadata"]["name"] for e in initial) == expected
        server.create(service(f"c{rv}"))
        assert watch.next() == {"type": "ADDED", "object": server.get("Service", f"c{rv}")}
        expected.append(f"c{rv}")
        watch.close()


def test_watch_from_a_compacted_resource_version_gets_one_410_error_event(
    server: ApiServer, client: Client
) -> None:
    server.create(service("a"))
    old = server.resource_version
    server.create(service("b"))
    floor = server.compact()
    watch = client.watch("/api/v1/services", resourceVersion=str(old))
    assert watch.status == 200  # the error comes as an event on a 200 stream
    event = watch.next()
    assert event["type"] == "ERROR"
    assert event["object"] == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {old} ({floor})",
        "reason": "Expired",
        "code": 410,
    }
    assert watch.rest() == b""  # and the stream ends
    watch.close()
    assert [r.reason for r in server.requests(verb="watch", code=200)] == ["Expired"]
    current = client.watch("/api/v1/services", resourceVersion=str(floor))
    server.create(service("c"))
    assert current.next()["object"]["metadata"]["name"] == "c"
    current.close()


def test_history_window_bounds_how_far_back_a_watch_may_start() -> None:
    with ApiServer(history=3) as api:
        watcher = Client(api.url)
        start = api.resource_version
        api.load(service(f"s{i}") for i in range(5))
        refused = watcher.watch("/api/v1/services", resourceVersion=str(start))
        status_event = refused.next()
        refused.close()
        assert status_event["type"] == "ERROR"
        assert (
            status_event["object"]["message"] == f"too old resource version: {start} ({start + 2})"
        )
        watch = watcher.watch("/api/v1/services", resourceVersion=str(start + 2))
        assert [e["object"]["metadata"]["name"] for e in watch.events(3)] == ["s2", "s3", "s4"]
        watch.close()


def test_bookmarks_on_demand_and_periodic(server: ApiServer, client: Client) -> None:
    server.create(service("a"))
    plain = client.watch("/api/v1/services", resourceVersion=str(server.resource_version))
    marked = client.watch(
        "/api/v1/services", resourceVersion=str(server.resource_version), allowWatchBookmarks="true"
    )
    assert server.wait_for_watches(2)
    assert server.send_bookmark() == 1  # only the watch that allowed them
    bookmark = marked.next()
    assert bookmark == {
        "type": "BOOKMARK",
        "object": {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {
                "resourceVersion": str(server.resource_version),
                "creationTimestamp": None,
            },
        },
    }
    server.create(service("b"))
    assert plain.next()["object"]["metadata"]["name"] == "b"  # no bookmark before it
    assert marked.next()["type"] == "ADDED"
    plain.close()
    marked.close()
    server.bookmark_interval = 0.05
    periodic = client.watch("/api/v1/services", resourceVersion="1", allowWatchBookmarks="1")
    kinds = [periodic.next()["type"] for _ in range(3)]
    assert kinds[-1] == "BOOKMARK"
    periodic.close()


def test_send_initial_events_ends_with_an_annotated_bookmark(
    server: ApiServer, client: Client
) -> None:
    server.create(service("a"))
    server.create(service("b"))
    watch = client.watch(
        "/api/v1/services",
        sendInitialEvents="true",
        allowWatchBookmarks="true",
        resourceVersionMatch="NotOlderThan",
        resourceVersion="",
    )
    events = watch.events(3)
    assert sorted(e["object"]["metadata"]["name"] for e in events[:2]) == ["a", "b"]
    end = events[2]
    assert end["type"] == "BOOKMARK"
    assert end["object"]["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
    assert end["object"]["metadata"]["resourceVersion"] == str(server.resource_version)
    watch.close()
    status, _, _ = client.request(
        "GET", "/api/v1/services", {"watch": "1", "sendInitialEvents": "true"}
    )
    assert status == 422  # needs resourceVersionMatch=NotOlderThan and bookmarks


def test_watch_selectors_turn_match_changes_into_added_and_deleted(
    server: ApiServer, client: Client
) -> None:
    server.create(service("web", app="web"))
    server.create(service("db", app="db"))
    watch = client.watch(
        "/api/v1/services", resourceVersion=str(server.resource_version), labelSelector="app=web"
    )
    server.update(service("db", app="db", tier="x"))  # never matches: not sent
    server.update(service("web", app="web", tier="front"))  # still matches
    server.update(service("web", app="other"))  # stops matching
    server.update(service("web", app="web"))  # matches again
    server.update(service("db", app="web"))  # starts matching
    server.delete("Service", "web")
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in watch.events(5)]
    assert got == [
        ("MODIFIED", "web"),
        ("DELETED", "web"),
        ("ADDED", "web"),
        ("ADDED", "db"),
        ("DELETED", "web"),
    ]
    watch.close()
    by_field = client.watch(
        "/api/v1/pods",
        resourceVersion=str(server.resource_version),
        fieldSelector="status.phase=Running",
    )
    server.create(pod("p", "Pending"))
    server.update(pod("p", "Running"))
    server.update(pod("p", "Succeeded"))
    assert [e["type"] for e in by_field.events(2)] == ["ADDED", "DELETED"]
    by_field.close()


def test_watch_on_one_object_and_timeout_ends_the_stream_cleanly(
    server: ApiServer, client: Client
) -> None:
    server.create(service("a"))
    server.create(service("b"))
    watch = client.watch(
        "/api/v1/namespaces/default/services/b",
        resourceVersion=str(server.resource_version),
        timeoutSeconds="1",
    )
    server.update(service("a", x="1"))
    server.update(service("b", x="1"))
    assert watch.next()["object"]["metadata"]["name"] == "b"
    assert watch.rest() == b""  # ends at the timeout with the last chunk: no error
    watch.close()


def test_slow_watcher_is_ended_when_its_buffer_overflows() -> None:
    with ApiServer(watch_buffer=5) as api:
        watch = Client(api.url).watch("/api/v1/services", resourceVersion=str(api.resource_version))
        assert api.wait_for_watches(1)
        api.load(service(f"s{i}") for i in range(20))  # one burst, no chance to write
        assert watch.rest() == b""
        watch.close()
        assert api.watch_count() == 0


def test_bearer_tokens_rotate_and_refusals_are_401_status() -> None:
    with ApiServer(tokens={"first": "alice"}) as api:
        assert Client(api.url, token="first").get("/api/v1/services")[0] == 200
        status, refusal = Client(api.url, token="wrong").get("/api/v1/services")
        assert status == 401
        assert refusal == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
        assert Client(api.url).get("/api/v1/services")[0] == 401  # no credentials
        assert Client(api.url).get("/healthz")[0] == 200  # health needs none
        assert Client(api.url).get("/api/v1/nodes")[0] == 401  # authentication comes first
        api.set_tokens(["second"])
        assert Client(api.url, token="first").get("/api/v1/services")[0] == 401
        assert Client(api.url, token="second").get("/api/v1/services")[0] == 200
        assert [r.user for r in api.requests(code=200, resource="services")] == [
            "alice",
            "system:serviceaccount:kube-system:coredns",
        ]


def test_basic_auth() -> None:
    with ApiServer(basic_auth={"admin": "s3cret"}) as api:
        assert Client(api.url, basic=("admin", "s3cret")).get("/api/v1/pods")[0] == 200
        assert Client(api.url, basic=("admin", "nope")).get("/api/v1/pods")[0] == 401


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, tmp_path: Any, **kwargs: Any) -> ApiServer:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (
        tmp_path / "server.pem",
        tmp_path / "server.key",
        tmp_path / "ca.pem",
    )
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return ApiServer(
        ssl_context=server_ssl_context(str(cert_file), str(key_file), str(ca_file)), **kwargs
    )


def _client_context(ca: trustme.CA, user: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if user is not None:
        ca.issue_cert(f"{user}.example", common_name=user).configure_cert(context)
    return context


def test_client_certificates_over_https(ca: trustme.CA, tmp_path: Any) -> None:
    with _tls_server(ca, tmp_path, tokens=["tok"]) as api:
        assert api.url.startswith("https://127.0.0.1:")
        status, _ = Client(api.url, context=_client_context(ca, "kube-dns")).get("/api/v1/services")
        assert status == 200
        assert api.requests(resource="services")[-1].user == "kube-dns"
        no_cert = _client_context(ca, None)
        assert Client(api.url, context=no_cert).get("/api/v1/services")[0] == 401
        assert Client(api.url, context=no_cert, token="tok").get("/api/v1/services")[0] == 200
        stranger = trustme.CA()  # a certificate from another CA fails the TLS handshake
        context = ssl.create_default_context()
        ca.configure_trust(context)
        stranger.issue_cert("x.example", common_name="x").configure_cert(context)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            Client(api.url, context=context).get("/api/v1/services")
        untrusting = ssl.create_default_context()  # a client that does not trust the server
        with pytest.raises(ssl.SSLCertVerificationError):
            Client(api.url, context=untrusting).get("/healthz")


def test_forbidden_reads_like_rbac(server: ApiServer) -> None:
    api_client = Client(server.url)
    server.deny("watch", "endpointslices")
    status, refusal = api_client.get("/apis/discovery.k8s.io/v1/endpointslices", watch="1")
    assert status == 403
    assert refusal["reason"] == "Forbidden" and refusal["code"] == 403
    assert refusal["message"] == (
        'endpointslices.discovery.k8s.io is forbidden: User "system:anonymous" cannot watch '
        'resource "endpointslices" in API group "discovery.k8s.io" at the cluster scope'
    )
    assert refusal["details"] == {"group": "discovery.k8s.io", "kind": "endpointslices"}
    assert api_client.get("/apis/discovery.k8s.io/v1/endpointslices")[0] == 200  # list is allowed
    server.deny("get", "services")
    status, refusal = api_client.get("/api/v1/namespaces/default/services/web")
    assert refusal["message"] == (
        'services "web" is forbidden: User "system:anonymous" cannot get resource "services" '
        'in API group "" in the namespace "default"'
    )
    server.allow("watch", "endpointslices")
    watch = api_client.watch("/apis/discovery.k8s.io/v1/endpointslices", timeoutSeconds="1")
    assert watch.status == 200
    watch.close()


def test_injected_faults_and_request_counts(server: ApiServer, client: Client) -> None:
    server.inject_fault(500, 2, resource="services", verb="list")
    server.inject_fault(429, 1, resource="endpointslices", retry_after=3)
    assert client.get("/api/v1/namespaces")[0] == 200  # other resources unaffected
    status, failure = client.get("/api/v1/services")
    assert status == 500 and failure["reason"] == "InternalError"
    assert client.get("/api/v1/services")[0] == 500
    assert client.get("/api/v1/services")[0] == 200  # only the next two
    status, headers, body = client.request("GET", "/apis/discovery.k8s.io/v1/endpointslices")
    assert status == 429 and headers["Retry-After"] == "3"
    assert json.loads(body)["details"] == {"retryAfterSeconds": 3}
    server.inject_fault(401)
    assert client.get("/api/v1/pods")[0] == 401
    server.inject_fault(403, resource="pods")
    status, refusal = client.get("/api/v1/pods")
    assert status == 403 and "cannot list resource" in refusal["message"]
    assert server.count(verb="list", resource="services", code=500) == 2
    assert server.count(verb="list", resource="services") == 3
    assert server.count(code=429) == 1
    assert server.wait_for_requests(3, verb="list", resource="services", timeout=0)
    assert not server.wait_for_requests(4, verb="list", resource="services", timeout=0.05)
    server.reset_requests()
    assert server.count() == 0


def test_cut_watches_leaves_half_a_line_and_a_dead_connection(
    server: ApiServer, client: Client
) -> None:
    server.create(service("a"))
    watch = client.watch("/api/v1/services", resourceVersion=str(server.resource_version))
    assert server.wait_for_watches(1)
    server.create(service("b"))
    assert watch.next()["object"]["metadata"]["name"] == "b"
    assert server.cut_watches() == 1
    with pytest.raises(http.client.IncompleteRead) as cut:
        watch.rest()
    partial = cut.value.partial
    assert partial and not partial.endswith(b"\n")
    with pytest.raises(ValueError):
        json.loads(partial)
    assert server.watch_count() == 0
    watch.close()


def test_garbage_line_on_open_watches(server: ApiServer, client: Client) -> None:
    watch = client.watch("/api/v1/services", resourceVersion=str(server.resource_version))
    assert server.wait_for_watches(1)
    assert server.send_garbage() == 1
    assert watch.line() == b"this is not json\n"
    server.create(service("a"))
    assert watch.next()["type"] == "ADDED"  # the stream goes on
    watch.close()


def _refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT).close()
    except ConnectionRefusedError:
        return True
    return False


def test_stop_and_start_again_on_the_same_port_with_the_same_state() -> None:
    api = ApiServer().start()
    try:
        url = api.url
        api.create(service("web"))
        rv = api.resource_version
        watch = Client(url).watch("/api/v1/services", resourceVersion=str(rv))
        assert api.wait_for_watches(1)
        api.stop()
        assert watch.rest() == b""  # the stream ended with the server
        watch.close()
        assert _refused(url)
        api.create(service("while-down"))  # the state can change while it is down
        api.start()
        assert api.url == url
        status, listing = Client(url).get("/api/v1/services")
        assert status == 200 and names(listing) == ["web", "while-down"]
        assert listing["metadata"]["resourceVersion"] == str(rv + 1)
        again = Client(url).watch("/api/v1/services", resourceVersion=str(rv))
        assert again.next()["object"]["metadata"]["name"] == "while-down"
        again.close()
    finally:
        api.close()


def test_a_server_can_start_down_and_come_up_later() -> None:
    api = ApiServer().reserve()
    try:
        assert _refused(api.url)
        api.create(service("web"))
        api.start()
        assert names(Client(api.url).get("/api/v1/services")[1]) == ["web"]
    finally:
        api.close()
    assert _refused(api.url)


def test_python_api_errors_are_api_errors(server: ApiServer) -> None:
    server.create(service("web"))
    with pytest.raises(ApiError) as exists:
        server.create(service("web"))
    assert exists.value.code == 409
    with pytest.raises(ApiError) as missing:
        server.update(service("nope"))
    assert missing.value.code == 404
    with pytest.raises(ValueError):
        server.create({"metadata": {"name": "no-kind"}})


def test_fifty_thousand_objects_listed_whole_and_in_pages() -> None:
    objects = synthetic.generate(10, 25_000, 1, pods=False)  # 10 + 25 000 + 24 000 objects
    services = sum(1 for o in objects if o["kind"] == "Service")
    with ApiServer(history=100) as api:
        api.load(objects)
        client = Client(api.url)
        status, headers, body = client.request(
            "GET", "/api/v1/services", headers={"Accept-Encoding": "gzip"}
        )
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        listing = json.loads(gzip.decompress(body))
        assert len(listing["items"]) == services
        assert listing["items"][0]["metadata"]["name"] == "svc-0"
        status, slices = client.get("/apis/discovery.k8s.io/v1/endpointslices")
        assert len(slices["items"]) + services + 10 == len(objects)
        token, total, pages = "", 0, 0
        while pages < 20:
            params: dict[str, Any] = {"limit": 5000}
            if token:
                params["continue"] = token
            _, page = client.get("/api/v1/services", **params)
            total += len(page["items"])
            pages += 1
            token = page["metadata"].get("continue", "")
            if not token:
                break
        assert (total, pages) == (services, 5)


def test_entry_point_serves_a_synthetic_cluster_until_sigterm() -> None:
    command = [
        sys.executable,
        "-m",
        "tests.support.apiserver",
        "--synthetic-services",
        "30",
        "--endpoints-per-service",
        "2",
        "--namespaces",
        "3",
        "--token",
        "bench",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:")
        client = Client(url, token="bench")
        status, listing = client.get("/api/v1/services")
        assert status == 200
        assert len(listing["items"]) == 30
        assert names(client.get("/api/v1/namespaces")[1]) == ["ns-0", "ns-1", "ns-2"]
        assert Client(url).get("/api/v1/services")[0] == 401
        status, _, _ = client.request("DELETE", "/api/v1/namespaces/ns-0/services/svc-0")
        assert status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_official_kubernetes_client_lists_and_watches() -> None:
    """The maintained Python client (typed models, its own watch decoder) reads this
    server as it reads kube-apiserver: paged lists, watch events, the 410 ERROR event."""
    from kubernetes import client as k8s
    from kubernetes import watch as k8s_watch

    with ApiServer(tokens={"t": "alice"}) as api:
        api.load(synthetic.generate(2, 10, 2, pods=False))
        config = k8s.Configuration()
        config.host = api.url
        config.api_key = {"authorization": "t"}
        config.api_key_prefix = {"authorization": "Bearer"}
        with k8s.ApiClient(config) as api_client:
            core = k8s.CoreV1Api(api_client)
            first = core.list_service_for_all_namespaces(limit=4)
            rest = core.list_service_for_all_namespaces(
                limit=100, _continue=first.metadata._continue
            )
            assert len(first.items) + len(rest.items) == 10
            assert first.metadata.remaining_item_count == 6
            slices = k8s.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice("ns-0")
            assert slices.items[0].endpoints[0].addresses == ["10.128.0.1"]
            start = first.metadata.resource_version
            api.apply(service("svc-1", "ns-1", x="y"))
            stream = k8s_watch.Watch()
            for event in stream.stream(
                core.list_service_for_all_namespaces, resource_version=start, timeout_seconds=5
            ):
                assert event["type"] == "MODIFIED"
                assert event["object"].metadata.labels == {"x": "y"}
                stream.stop()
            api.compact()
            with pytest.raises(k8s.ApiException) as gone:
                for _ in k8s_watch.Watch().stream(
                    core.list_service_for_all_namespaces, resource_version=start, timeout_seconds=5
                ):
                    pass
            assert gone.value.status == 410
