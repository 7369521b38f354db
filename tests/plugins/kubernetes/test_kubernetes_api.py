"""The kubernetes plugin against a live (test) API server: list, watch, outages, auth.

The API server (``tests.support.apiserver``) speaks kube-apiserver's list/watch
protocol over real HTTP(S) on loopback; clusterdns is served from a Corefile with
``kubeconfig`` or ``endpoint`` + ``tls`` and asked with dnspython, as a pod would.
Behaviour checked against CoreDNS's plugin/kubernetes (README: ``kubeconfig``,
``endpoint``, ``tls``, ``startup_timeout``; handler.go: SERVFAIL while unsynced;
ready.go: ready once synced) and client-go's reflector (relist on 410, resume
from the last resourceVersion).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import pytest
import trustme

from clusterdns.plugins.kubernetes.handler import Kubernetes
from tests.support.apiserver import ApiError, ApiServer, server_ssl_context
from tests.support.kubetest import (
    a,
    corefile,
    endpoint_slice,
    http_get,
    kubeconfig,
    metric,
    sample_objects,
    service,
    wait_for,
)
from tests.support.serverutil import RunningServer, running

NOERROR, NXDOMAIN, SERVFAIL = dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL
TOKEN = "s3cret-token"


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer(tokens={TOKEN: "clusterdns"}, bookmark_interval=0.5)
    server.load(sample_objects())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dns_server(api: ApiServer, tmp_path: Path) -> Iterator[RunningServer]:
    config = kubeconfig(tmp_path / "kubeconfig", api.url, token=TOKEN)
    with running(corefile(f"kubeconfig {config} ctx")) as server:
        yield server


# ---------------------------------------------------------------- the happy path


def test_kubeconfig_serves_the_cluster_and_every_kind_follows_changes(
    api: ApiServer, dns_server: RunningServer
) -> None:
    srv = dns_server
    assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
    assert http_get(srv, "/ready")[0] == 200

    # Service: create, update, delete (A and PTR follow)
    api.create(service("late", "shop", "10.96.10.77"))
    wait_for(lambda: a(srv, "late.shop.svc.cluster.local.") == ["10.96.10.77"], "created service")
    assert a(srv, "77.10.96.10.in-addr.arpa.", "PTR") == ["late.shop.svc.cluster.local."]
    api.update(service("late", "shop", "10.96.10.78"))
    wait_for(lambda: a(srv, "late.shop.svc.cluster.local.") == ["10.96.10.78"], "updated service")
    wait_for(
        lambda: srv.udp("77.10.96.10.in-addr.arpa.", "PTR").rcode() == NXDOMAIN, "the old PTR gone"
    )

    # headless service and its EndpointSlice: A per endpoint, endpoint names, SRV
    api.create(service("db2", "shop", "None"))
    api.create(endpoint_slice("db2-abc", "shop", "db2", ["10.244.5.1", "10.244.5.2"]))
    wait_for(
        lambda: a(srv, "db2.shop.svc.cluster.local.") == ["10.244.5.1", "10.244.5.2"],
        "headless endpoints",
    )
    assert a(srv, "db2-1.db2.shop.svc.cluster.local.") == ["10.244.5.2"]
    srv_names = a(srv, "_http._tcp.db2.shop.svc.cluster.local.", "SRV")
    assert sorted(srv_names) == [
        "db2-0.db2.shop.svc.cluster.local.",
        "db2-1.db2.shop.svc.cluster.local.",
    ]
    api.update(endpoint_slice("db2-abc", "shop", "db2", ["10.244.5.1"]))
    wait_for(lambda: a(srv, "db2.shop.svc.cluster.local.") == ["10.244.5.1"], "an endpoint gone")
    assert srv.udp("db2-1.db2.shop.svc.cluster.local.").rcode() == NXDOMAIN

    # ExternalName: a CNAME
    api.create(service("ext", "shop", "", type="ExternalName", externalName="db.example.com"))
    wait_for(lambda: srv.udp("ext.shop.svc.cluster.local.").answer, "ExternalName")
    cname = srv.udp("ext.shop.svc.cluster.local.", "CNAME").answer[0][0].target.to_text()
    assert cname == "db.example.com."

    # Namespace: <ns>.svc exists (NODATA) while the Namespace does (CoreDNS watches them)
    assert srv.udp("fresh.svc.cluster.local.").rcode() == NXDOMAIN
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}})
    wait_for(lambda: srv.udp("fresh.svc.cluster.local.").rcode() == NOERROR, "a namespace")

    # Pod (pods verified): its dashed address answers while the pod runs
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "fresh"},
        "spec": {},
        "status": {"phase": "Running", "podIP": "10.244.9.9"},
    }
    api.create(pod)
    wait_for(lambda: a(srv, "10-244-9-9.fresh.pod.cluster.local.") == ["10.244.9.9"], "a pod")
    api.delete("Pod", "p", "fresh")
    wait_for(lambda: srv.udp("10-244-9-9.fresh.pod.cluster.local.").rcode() == NXDOMAIN, "pod gone")

    # deletes
    api.delete("Service", "late", "shop")
    api.delete("EndpointSlice", "db2-abc", "shop")
    wait_for(lambda: srv.udp("late.shop.svc.cluster.local.").rcode() == NXDOMAIN, "deleted svc")
    wait_for(lambda: srv.udp("db2.shop.svc.cluster.local.").rcode() == NXDOMAIN, "no endpoints")


def test_what_is_listed_and_watched_and_with_which_selectors(
    api: ApiServer, tmp_path: Path
) -> None:
    """CoreDNS's informers (controller.go): services, endpointslices, namespaces; pods only
    with ``pods verified``, with its phase field selector; ``labels`` goes to the server."""
    config = kubeconfig(tmp_path / "kubeconfig", api.url, token=TOKEN)
    with running(corefile(f"kubeconfig {config}", "labels app")):
        wait_for(lambda: api.count(verb="watch", resource="pods") > 0, "the pod watch")
        lists = api.requests(verb="list")
        resources = {r.resource for r in lists}
        assert resources == {"services", "endpointslices", "namespaces", "pods"}
        for record in lists:
            assert record.query.get("limit"), record  # paged
            if record.resource in ("services", "endpointslices", "pods"):
                assert record.query.get("labelSelector") == "app"
        pods = [r for r in lists if r.resource == "pods"][0]
        assert "status.phase!=Succeeded" in pods.query.get("fieldSelector", "")
        watches = api.requests(verb="watch")
        assert all(r.query.get("allowWatchBookmarks") == "true" for r in watches)
        assert all(r.query.get("resourceVersion") for r in watches)


def test_endpoint_and_tls_with_a_client_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("clusterdns", common_name="clusterdns")
    ca_file, cert_file, key_file = tmp_path / "ca.crt", tmp_path / "c.crt", tmp_path / "c.key"
    ca.cert_pem.write_to_path(str(ca_file))
    client_cert.cert_chain_pems[0].write_to_path(str(cert_file))
    client_cert.private_key_pem.write_to_path(str(key_file))
    server_pem = tmp_path / "server.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    context = server_ssl_context(str(server_pem), None, str(ca_file))
    api = ApiServer(ssl_context=context)
    api.load(sample_objects())
    api.start()
    try:
        source = f"endpoint {api.url}\n        tls {cert_file} {key_file} {ca_file}"
        with running(corefile(source)) as srv:
            assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
            assert {r.user for r in api.requests(verb="list")} == {"clusterdns"}
    finally:
        api.close()


def test_a_rotated_token_file_is_read_again(api: ApiServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    config = kubeconfig(tmp_path / "kubeconfig", api.url, token_file=str(token_file))
    with running(corefile(f"kubeconfig {config}")) as srv:
        assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
        api.set_tokens({"rotated": "clusterdns"})
        token_file.write_text("rotated")
        api.cut_watches()  # the next requests must carry the new token
        api.create(service("after", "shop", "10.96.10.88"))
        wait_for(lambda: a(srv, "after.shop.svc.cluster.local.") == ["10.96.10.88"], "new token")


def test_forbidden_is_logged_naming_resource_and_verb_then_retried(
    api: ApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api.deny("list", "endpointslices")
    config = kubeconfig(tmp_path / "kubeconfig", api.url, token=TOKEN)
    with caplog.at_level(logging.WARNING), running(corefile(f"kubeconfig {config}")) as srv:
        assert http_get(srv, "/ready")[0] == 503  # endpointslices never listed
        assert srv.udp("web.shop.svc.cluster.local.").rcode() == SERVFAIL
        assert any(
            "403" in r.getMessage()
            and "endpointslices.discovery.k8s.io" in r.getMessage()
            and "'list'" in r.getMessage()
            for r in caplog.records
        )
        api.allow("list", "endpointslices")
        wait_for(lambda: http_get(srv, "/ready")[0] == 200, "ready once allowed", 40)
        assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]


# ---------------------------------------------------------------- before sync, outages


def test_api_down_at_start_servfail_inside_our_zones_only_then_synced(tmp_path: Path) -> None:
    api = ApiServer(tokens={TOKEN: "clusterdns"})
    api.load(sample_objects())
    api.reserve()  # the port is known, nothing answers on it yet
    try:
        config = kubeconfig(tmp_path / "kubeconfig", api.url, token=TOKEN)
        with running(corefile(f"kubeconfig {config}")) as srv:
            status, body = http_get(srv, "/ready")
            assert status == 503 and "kubernetes" in body
            assert srv.udp("web.shop.svc.cluster.local.").rcode() == SERVFAIL
            assert srv.udp("10.10.96.10.in-addr.arpa.", "PTR").rcode() == SERVFAIL
            # outside the plugin's zones the chain goes on (whoami answers)
            assert srv.udp("example.org.").rcode() == NOERROR
            api.start()
            wait_for(lambda: http_get(srv, "/ready")[0] == 200, "ready after the API came up", 40)
            assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
    finally:
        api.close()


def test_losing_the_api_after_sync_changes_nothing_clients_see(
    api: ApiServer, dns_server: RunningServer
) -> None:
    srv = dns_server
    assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
    api.stop()
    wait_for(
        lambda: metric(srv, "clusterdns_kubernetes_watch_up", kind="Service") == 0,
        "the watch noticed",
    )
    for _ in range(3):
        assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
        assert srv.udp("nope.shop.svc.cluster.local.").rcode() == NXDOMAIN
    assert http_get(srv, "/ready")[0] == 200  # synced once: still ready
    api.create(service("while-away", "shop", "10.96.10.55"))  # changed while we are cut off
    api.start()
    wait_for(
        lambda: a(srv, "while-away.shop.svc.cluster.local.") == ["10.96.10.55"],
        "the change made while away",
        40,
    )
    assert metric(srv, "clusterdns_kubernetes_watch_up", kind="Service") == 1


def test_gone_relists_and_reconciles_deletes_without_empty_answers(
    api: ApiServer, dns_server: RunningServer
) -> None:
    srv = dns_server
    lists_before = api.count(verb="list", resource="services")
    api.stop()
    api.delete("Service", "web", "shop")  # deleted while the watch is down
    api.create(service("new", "shop", "10.96.10.66"))
    api.compact()  # the watch cannot resume from its resourceVersion: 410
    api.start()
    wait_for(lambda: srv.udp("web.shop.svc.cluster.local.").rcode() == NXDOMAIN, "reconciled")
    assert a(srv, "new.shop.svc.cluster.local.") == ["10.96.10.66"]
    assert api.count(verb="list", resource="services") > lists_before
    assert a(srv, "db.shop.svc.cluster.local.")  # untouched objects never went away


def test_a_stream_cut_mid_event_resumes_and_garbage_relists(
    api: ApiServer, dns_server: RunningServer
) -> None:
    srv = dns_server
    wait_for(lambda: api.watch_count() >= 4, "every watch open")
    lists = api.count(verb="list")
    api.cut_watches()  # half an event, then the connection closes
    api.create(service("after-cut", "shop", "10.96.10.44"))
    wait_for(lambda: a(srv, "after-cut.shop.svc.cluster.local.") == ["10.96.10.44"], "resumed")
    assert api.count(verb="list") == lists  # resumed from the last resourceVersion
    wait_for(lambda: api.watch_count() >= 4, "every watch open again")
    api.send_garbage()
    wait_for(lambda: api.count(verb="list") > lists, "a relist after a line that is not JSON")
    api.create(service("after-garbage", "shop", "10.96.10.45"))
    wait_for(lambda: a(srv, "after-garbage.shop.svc.cluster.local.") == ["10.96.10.45"], "again")


def test_5xx_and_429_are_retried(api: ApiServer, dns_server: RunningServer) -> None:
    srv = dns_server
    api.inject_fault(500, 2, resource="services")
    api.inject_fault(429, 1, resource="services", retry_after=1)
    api.cut_watches()
    api.create(service("retried", "shop", "10.96.10.33"))
    wait_for(lambda: a(srv, "retried.shop.svc.cluster.local.") == ["10.96.10.33"], "retried", 40)
    assert api.count(resource="services", code=500) == 2
    assert api.count(resource="services", code=429) == 1


# ---------------------------------------------------------------- bad input, metrics


def test_a_refused_object_is_422_and_an_odd_field_is_dropped_once(
    api: ApiServer, dns_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """kube-apiserver refuses a Service whose clusterIP is no address (422 Invalid,
    ValidateServiceClusterIPsRelatedFields).  An EndpointSlice port of 70000 passes its
    validation (discovery validatePorts does not range-check the number), so only that
    port is left out: the endpoint is served, the drop is counted and logged once, and a
    MODIFIED event carrying the same port does not log it again (issue 18)."""
    srv = dns_server
    with pytest.raises(ApiError) as refused:
        api.create(service("bad", "shop", "10.96.10.999"))
    assert refused.value.code == 422 and refused.value.reason == "Invalid"
    with caplog.at_level(logging.WARNING):
        odd = endpoint_slice("odd", "shop", "web", ["10.244.1.77"])
        odd["endpoints"][0]["hostname"] = "odd-0"
        odd["ports"] = [{"name": "http", "port": 70000}]
        api.create(odd)
        wait_for(lambda: a(srv, "odd-0.web.shop.svc.cluster.local.") == ["10.244.1.77"], "odd-0")
        odd["endpoints"].append({"addresses": ["10.244.1.78"], "hostname": "odd-1"})
        api.apply(odd)
        wait_for(lambda: a(srv, "odd-1.web.shop.svc.cluster.local.") == ["10.244.1.78"], "odd-1")
    assert metric(srv, "clusterdns_kubernetes_fields_dropped_total", kind="EndpointSlice") == 1
    assert metric(srv, "clusterdns_kubernetes_objects_skipped_total") == 0
    logged = [r.getMessage() for r in caplog.records if "EndpointSlice shop/odd" in r.getMessage()]
    assert len(logged) == 1 and "70000" in logged[0]


def test_dns_programming_duration_and_rest_client_metrics(
    api: ApiServer, dns_server: RunningServer
) -> None:
    """object/metrics.go: recorded from the slice's last-change-trigger-time annotation."""
    srv = dns_server
    name = "coredns_kubernetes_dns_programming_duration_seconds_count"
    before = metric(srv, name, service_kind="cluster_ip")
    stamp = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=0.2)).isoformat()
    annotations = {"endpoints.kubernetes.io/last-change-trigger-time": stamp.replace("+00:00", "Z")}
    api.apply(endpoint_slice("web-extra", "shop", "web", ["10.244.1.77"], annotations=annotations))
    wait_for(lambda: metric(srv, name, service_kind="cluster_ip") == before + 1, "observed")
    total = metric(srv, "coredns_kubernetes_dns_programming_duration_seconds_sum")
    assert 0.2 <= total < 60
    assert metric(srv, "coredns_kubernetes_rest_client_requests_total", code="200", method="GET")


def test_a_reload_never_drops_answers(api: ApiServer, dns_server: RunningServer) -> None:
    """The new configuration's plugins list and sync before the swap (issue: reload)."""
    srv = dns_server
    text = srv.server.text.replace("startup_timeout 1s", "startup_timeout 5s")
    pending = asyncio.run_coroutine_threadsafe(srv.server.reload(text), srv.loop)
    while not pending.done():
        assert srv.udp("web.shop.svc.cluster.local.").rcode() == NOERROR
    assert pending.result(10) is True
    assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]


def _a_new_service_is_answered(api: ApiServer, srv: RunningServer, name: str, ip: str) -> None:
    """The running configuration follows the cluster: a Service created now is answered."""
    api.create(service(name, "shop", ip))
    wait_for(lambda: a(srv, f"{name}.shop.svc.cluster.local.") == [ip], f"service {name}")


def _kubernetes(srv: RunningServer) -> Kubernetes:
    (plugin,) = [p for b in srv.server.blocks for p in b.plugins if isinstance(p, Kubernetes)]
    return plugin


def test_a_reload_of_an_unchanged_directive_keeps_the_state_and_lists_again(
    api: ApiServer, dns_server: RunningServer
) -> None:
    """As CoreDNS's restarted informers, the new instance lists again (with the kubeconfig
    read again); it lists into the running instance's store, so nothing is built twice."""
    srv = dns_server
    old = _kubernetes(srv)
    lists = api.count("list", "services")
    assert srv.call(srv.server.reload(srv.server.text)) is True
    new = _kubernetes(srv)
    assert new is not old and new.store is old.store and new.zone is old.zone
    assert api.wait_for_requests(lists + 1, "list", "services")
    _a_new_service_is_answered(api, srv, "after-reload", "10.96.10.88")


def test_a_reload_while_the_api_server_fails_keeps_serving_the_last_state(
    api: ApiServer, dns_server: RunningServer
) -> None:
    """The state a reload carries over is synced: the new configuration serves it at once,
    as after an outage, while its own list retries (CoreDNS's new instance would start
    empty, and answer SERVFAIL once startup_timeout ran out)."""
    srv = dns_server
    api.inject_fault(503, count=1000)
    assert srv.call(srv.server.reload(srv.server.text)) is True
    assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
    assert http_get(srv, "/ready")[0] == 200
    api.clear_faults()
    _a_new_service_is_answered(api, srv, "after-outage", "10.96.10.90")


def test_a_failed_reload_leaves_the_running_instance_following_the_cluster(
    api: ApiServer, dns_server: RunningServer
) -> None:
    """The new instance took the state, then another plugin failed to start: the old
    configuration stays, and its instance follows the cluster again."""
    srv = dns_server
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failing = (
            srv.server.text
            + f"example.org:0 {{\n    bind 127.0.0.1\n    health 127.0.0.1:{port}\n}}\n"
        )
        assert srv.call(srv.server.reload(failing)) is False
    _a_new_service_is_answered(api, srv, "after-failure", "10.96.10.89")
