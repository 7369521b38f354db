"""CoreDNS's own kubernetes test tables, asked of a real clusterdns server over UDP.

Each table below is one case table of coredns/coredns ``plugin/kubernetes`` (the file and
the table are named above it), rewritten here as Python data with the same facts: the
cluster of that test as manifests (``coredns/serve.yaml``, ``coredns/reverse.yaml``), the
option the test sets as a Corefile line, and per case the question and the expected rcode
and sections.  Tables marked "ours" pin behaviours of CoreDNS's code that its tables do
not cover; they cite the code.

The reply is checked as CoreDNS's ``test.SortAndCheck`` checks it, and a little more:
rcode, AA, and the answer, authority and additional sections record by record (owner
name and its case, TTL, type, data); the SOA serial (the time of the last change) is
only checked to be a Unix time.  A CNAME must come before the records of its target.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.serverutil import RunningServer, running

HERE = Path(__file__).parent / "coredns"
SERVE = HERE / "serve.yaml"
REVERSE = HERE / "reverse.yaml"
UPSTREAM = HERE / "interwebs.db"

NOERROR, NXDOMAIN = dns.rcode.NOERROR, dns.rcode.NXDOMAIN
SERVFAIL, REFUSED = dns.rcode.SERVFAIL, dns.rcode.REFUSED


@dataclass(frozen=True)
class Case:
    qname: str
    qtype: str
    rcode: int = NOERROR
    answer: tuple[str, ...] = ()
    ns: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    why: str = field(default="", compare=False)


def soa(zone: str = "cluster.local.", ttl: int = 5, minimum: int = 5) -> str:
    """plugin/backend_lookup.go SOA: TTL min(ttl, 300), minimum = the ttl option."""
    return f"{zone} {ttl} IN SOA ns.dns.{zone} hostmaster.{zone} SERIAL 7200 1800 86400 {minimum}"


def nodata(qname: str, qtype: str, zone: str = "cluster.local.", why: str = "") -> Case:
    return Case(qname, qtype, NOERROR, ns=(soa(zone),), why=why)


def nxdomain(qname: str, qtype: str, zone: str = "cluster.local.", why: str = "") -> Case:
    return Case(qname, qtype, NXDOMAIN, ns=(soa(zone),), why=why)


def rr(*lines: str) -> tuple[str, ...]:
    return lines


# ---------------------------------------------------------------- handler_test.go


# handler_test.go commonDnsTestCases (TestServeDNS: zone cluster.local., namespaces testns)
COMMON_DNS_TEST_CASES = [
    Case(
        "svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    Case(
        "svcempty.testns.svc.cluster.local.",
        "A",
        answer=rr("svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    Case(
        "svc1.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."
        ),
        extra=rr("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    Case(
        "svcempty.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 svcempty.testns.svc.cluster.local."
        ),
        extra=rr("svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    Case(
        "svc6.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local."
        ),
        extra=rr("svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"),
    ),
    Case(
        "_http._tcp.svc1.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 "
            "svc1.testns.svc.cluster.local."
        ),
        extra=rr("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    Case(
        "_http._tcp.svcempty.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "_http._tcp.svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 "
            "svcempty.testns.svc.cluster.local."
        ),
        extra=rr("svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    Case(
        "hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr(
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
        ),
    ),
    Case(
        "hdlsprtls.testns.svc.cluster.local.",
        "A",
        answer=rr("hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"),
    ),
    nodata("svc1.testns.svc.cluster.local.", "AAAA"),
    nxdomain("svc0.testns.svc.cluster.local.", "AAAA"),
    nxdomain("svc0.testns.svc.cluster.local.", "A"),
    nxdomain("svc0.svc-nons.svc.cluster.local.", "A"),
    Case(
        "dns-version.cluster.local.",
        "TXT",
        answer=rr('dns-version.cluster.local. 28800 IN TXT "1.1.0"'),
    ),
    nodata("svc1.testns.svc.cluster.local.", "TXT"),
    nxdomain("svc0.svc-nons.svc.cluster.local.", "TXT"),
    nxdomain("bogusendpoint.hdls1.testns.svc.cluster.local.", "A"),
    nxdomain("bogusendpoint.svc0.testns.svc.cluster.local.", "A"),
    Case(
        "svc6.testns.svc.cluster.local.",
        "AAAA",
        answer=rr("svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"),
    ),
    Case(
        "_http._tcp.svc6.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "_http._tcp.svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 "
            "svc6.testns.svc.cluster.local."
        ),
        extra=rr("svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"),
    ),
    Case(
        "hdls1.testns.svc.cluster.local.",
        "AAAA",
        answer=rr(
            "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
            "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
        ),
    ),
    nodata("svc.cluster.local.", "A"),
    nodata("pod.cluster.local.", "A"),
    nodata("testns.svc.cluster.local.", "A"),
    nodata("svc.cluster.local.", "NS", why="NS query for qname != zone (existing domain)"),
    nodata("testns.svc.cluster.local.", "NS", why="NS query for qname != zone (existing domain)"),
    nxdomain("foo.cluster.local.", "NS", why="NS query for qname != zone (non existing domain)"),
    nxdomain("foo.svc.cluster.local.", "NS", why="NS query for qname != zone (non existing)"),
    Case(
        "svc-dual-stack.testns.svc.cluster.local.",
        "A",
        answer=rr("svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3"),
    ),
    Case(
        "svc-dual-stack.testns.svc.cluster.local.",
        "AAAA",
        answer=rr("svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3"),
    ),
    Case(
        "svc-dual-stack.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "svc-dual-stack.testns.svc.cluster.local. 5 IN SRV 0 50 80 "
            "svc-dual-stack.testns.svc.cluster.local."
        ),
        extra=rr(
            "svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3",
            "svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3",
        ),
    ),
    nodata("svc1.testns.svc.cluster.local.", "SOA"),
    nxdomain(
        "endpoint.external.testns.svc.cluster.local.",
        "CNAME",
        why="a subdomain of an external service is not the external service",
    ),
    nxdomain("subdomain.subdomain.external.testns.svc.cluster.local.", "CNAME"),
]

# handler_test.go dnsTestCases (TestServeDNS).  "CNAME External Truncated Lookup" asks its
# Upstub, which answers with TC set; here the rest of the chain is the file plugin with
# interwebs.db, which answers in full, so only the records are checked (no TC).
DNS_TEST_CASES = [
    Case(
        "_http._tcp.hdls1.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            *(
                f"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 "
                f"{host}.hdls1.testns.svc.cluster.local."
                for host in ("172-0-0-2", "172-0-0-3", "5678-abcd--1", "5678-abcd--2", "dup-name")
            )
        ),
        extra=rr(
            "172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
            "172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
            "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
            "5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
        ),
    ),
    Case(
        "hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr(
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
            "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
        ),
    ),
    Case(
        "5678-abcd--2.hdls1.testns.svc.cluster.local",
        "AAAA",
        answer=rr("5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2"),
    ),
    Case(
        "5678-abcd--1.hdls1.testns.svc.cluster.local.",
        "AAAA",
        answer=rr("5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1"),
    ),
    Case(
        "172-0-0-20.hdlsprtls.testns.svc.cluster.local.",
        "A",
        answer=rr("172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"),
        why="an endpoint with no port",
    ),
    Case(
        "172-0-0-2.hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr("172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2"),
    ),
    Case(
        "172-0-0-3.hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr("172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3"),
    ),
    Case(
        "dup-name.hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr(
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
        ),
    ),
    Case(
        "external.testns.svc.cluster.local.",
        "CNAME",
        answer=rr("external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."),
    ),
    Case(
        "external.testns.svc.cluster.local.",
        "A",
        answer=rr(
            "external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.",
            "ext.interwebs.test. 5 IN A 1.2.3.4",
        ),
        why="CNAME External Lookup: the target is asked of the rest of the chain",
    ),
    Case(
        "external-to-service.testns.svc.cluster.local",
        "A",
        answer=rr(
            "external-to-service.testns.svc.cluster.local. 5 IN CNAME "
            "svc1.testns.svc.cluster.local.",
            "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",
        ),
    ),
]

# handler_test.go nsTestCases (TestServeNamespaceDNS: no namespaces option, so every
# namespace that exists is exposed).  The SOA of its second case is not checked by
# CoreDNS (its SortAndCheck result is dropped); here it is the SOA for ttl 5.
NS_TEST_CASES = [
    Case(
        "svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    nxdomain("svc1.nsnoexist.svc.cluster.local.", "A", why="exposed namespace that doesn't exist"),
]

# ---------------------------------------------------------------- handler_pod_*_test.go

# handler_pod_disabled_test.go podModeDisabledCases
POD_MODE_DISABLED_CASES = [
    nxdomain("10-240-0-1.podns.pod.cluster.local.", "A"),
    nxdomain("172-0-0-2.podns.pod.cluster.local.", "A"),
]

# handler_pod_insecure_test.go podModeInsecureCases (the SOA minimum there, 30, is not
# checked by CoreDNS; with the default ttl it is 5)
POD_MODE_INSECURE_CASES = [
    Case(
        "10-240-0-1.podns.pod.cluster.local.",
        "A",
        answer=rr("10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"),
    ),
    Case(
        "172-0-0-2.podns.pod.cluster.local.",
        "A",
        answer=rr("172-0-0-2.podns.pod.cluster.local. 5 IN A 172.0.0.2"),
    ),
    nxdomain("blah.podns.pod.cluster.local.", "A"),
    nxdomain("blah.podns.pod.cluster.local.", "AAAA"),
    nxdomain("blah.podns.pod.cluster.local.", "HINFO"),
    nxdomain("blah.pod-nons.pod.cluster.local.", "A"),
    nodata("podns.pod.cluster.local.", "A"),
]

# handler_pod_verified_test.go podModeVerifiedCases
POD_MODE_VERIFIED_CASES = [
    Case(
        "10-240-0-1.podns.pod.cluster.local.",
        "A",
        answer=rr("10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"),
    ),
    nodata("podns.pod.cluster.local.", "A"),
    nodata("svcns.svc.cluster.local.", "A"),
    nxdomain("pod-nons.pod.cluster.local.", "A"),
    nxdomain("172-0-0-2.podns.pod.cluster.local.", "A"),
]

# ---------------------------------------------------------------- other handler tables

# handler_ignore_emptyservice_test.go dnsEmptyServiceTestCases (ignore empty_service)
DNS_EMPTY_SERVICE_TEST_CASES = [
    nxdomain("svcempty.testns.svc.cluster.local.", "A"),
    Case(
        "external.testns.svc.cluster.local.",
        "CNAME",
        answer=rr("external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."),
    ),
]

# handler_case_test.go dnsPreserveCaseCases (TestPreserveCase, ignore empty_service): the
# zone as the question wrote it is the zone of every name CoreDNS writes, in the SOA too.
DNS_PRESERVE_CASE_CASES = [
    nxdomain("not-a-service.testns.svc.ClUsTeR.lOcAl.", "A", zone="ClUsTeR.lOcAl."),
    Case(
        "SvC1.TeStNs.SvC.cLuStEr.LoCaL.",
        "A",
        answer=rr("SvC1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN A 10.0.0.1"),
    ),
    Case(
        "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.",
        "SRV",
        answer=rr(
            "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN SRV 0 100 80 "
            "svc1.testns.svc.cLuStEr.LoCaL."
        ),
        extra=rr("svc1.testns.svc.cLuStEr.LoCaL. 5 IN A 10.0.0.1"),
    ),
    Case("Cluster.local.", "SOA", answer=(soa("Cluster.local."),)),
]

# kubernetes_apex_test.go kubeApexCases (the server is bound to 127.0.0.1, as the test's
# localIPs, and 127.0.0.1 is no endpoint: the NS is ns.dns.<zone>)
KUBE_APEX_CASES = [
    Case("cluster.local.", "SOA", answer=(soa(),)),
    nodata("cluster.local.", "HINFO"),
    Case(
        "cluster.local.",
        "NS",
        answer=rr("cluster.local. 5 IN NS ns.dns.cluster.local."),
        extra=rr("ns.dns.cluster.local. 5 IN A 127.0.0.1"),
    ),
    nodata("cluster.local.", "A"),
    nodata("cluster.local.", "AAAA"),
    nodata("cluster.local.", "SRV"),
]

# handler_test.go notSyncedTestCases (TestNotSyncedServeDNS): SERVFAIL, with the SOA
NOT_SYNCED_TEST_CASES = [
    Case("svc0.testns.svc.cluster.local.", "A", SERVFAIL, ns=(soa(),)),
]

# ---------------------------------------------------------------- reverse_test.go

REVERSE_ZONES = (
    "cluster.local.",
    "0.10.in-addr.arpa.",
    "168.192.in-addr.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.",
)
V6_EP1B = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa."
V6_EX = "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa."
V6_IN = "6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa."

# reverse_test.go TestReverse
REVERSE_CASES = [
    Case(
        "100.0.0.10.in-addr.arpa.",
        "PTR",
        answer=rr("100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."),
        why="one PTR although two slices of svc1 hold the address",
    ),
    Case(
        "100.1.168.192.in-addr.arpa.",
        "PTR",
        answer=rr("100.1.168.192.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local."),
    ),
    Case(V6_EP1B, "PTR", answer=rr(f"{V6_EP1B} 5 IN PTR ep1b.svc1.testns.svc.cluster.local.")),
    Case(V6_EX, "PTR", answer=rr(f"{V6_EX} 5 IN PTR ip6svc1ex.svc1.testns.svc.cluster.local.")),
    Case(V6_IN, "PTR", answer=rr(f"{V6_IN} 5 IN PTR ip6svc1in.svc1.testns.svc.cluster.local.")),
    nxdomain("101.0.0.10.in-addr.arpa.", "PTR", zone="0.10.in-addr.arpa."),
    nxdomain("example.org.cluster.local.", "PTR"),
    nodata("svc1.testns.svc.cluster.local.", "PTR"),
    nxdomain("svc1.testns.svc.0.10.in-addr.arpa.", "A", zone="0.10.in-addr.arpa."),
    nxdomain("100.0.0.10.cluster.local.", "PTR"),
    Case(
        "99.0.0.10.in-addr.arpa.",
        "PTR",
        answer=rr(
            "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc1.testns.svc.cluster.local.",
            "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc2.testns.svc.cluster.local.",
        ),
        why="an address two services select has a PTR for each",
    ),
]

# ---------------------------------------------------------------- ours, from CoreDNS's code

# kubernetes.go findServices / plugin/backend_lookup.go, on TestServeDNS's cluster
SERVICE_CODE_CASES = [
    Case(
        "_http._tcp.svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("_http._tcp.svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
        why="findServices: a _port._proto name holds the addresses of its entries",
    ),
    Case(
        "_http._tcp.hdls1.testns.svc.cluster.local.",
        "AAAA",
        answer=rr(
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
        ),
    ),
    nxdomain("_http._udp.svc1.testns.svc.cluster.local.", "SRV", why="protocol must match"),
    nxdomain("_dns._tcp.svc1.testns.svc.cluster.local.", "SRV", why="port name must match"),
    Case(
        "ep1a.svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("ep1a.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1"),
        why="kubernetes_test.go TestServices: endpoint names of a ClusterIP service",
    ),
    Case(
        "ep1a.svc1.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "ep1a.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 "
            "ep1a.svc1.testns.svc.cluster.local."
        ),
        extra=rr("ep1a.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1"),
    ),
    nodata("hdlsprtls.testns.svc.cluster.local.", "SRV", why="port -1 entries give no SRV"),
    Case(
        "external.testns.svc.cluster.local.",
        "AAAA",
        answer=rr(
            "external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.",
            "ext.interwebs.test. 5 IN AAAA 2001:db8::4",
        ),
    ),
    nodata(
        "external.testns.svc.cluster.local.",
        "SRV",
        why="Services: SRV for external services is not implemented, the CNAME is dropped",
    ),
    nodata("external.testns.svc.cluster.local.", "TXT", why="Services: only dns-version has TXT"),
    nodata("external.testns.svc.cluster.local.", "MX", why="MX: no service is Mail"),
    nodata("external.testns.svc.cluster.local.", "HINFO", why="ServeDNS: other types are NODATA"),
    nodata(
        "external-to-service.testns.svc.cluster.local.",
        "AAAA",
        why="A/AAAA: an in-zone CNAME whose target has nothing of the type is left out",
    ),
    Case(
        "external-to-service.testns.svc.cluster.local.",
        "CNAME",
        answer=rr(
            "external-to-service.testns.svc.cluster.local. 5 IN CNAME "
            "svc1.testns.svc.cluster.local."
        ),
    ),
    nodata("svc1.testns.svc.cluster.local.", "CNAME", why="CNAME: cluster IPs are no CNAME"),
    nodata("svc1.testns.svc.cluster.local.", "ANY", why="ServeDNS: ANY is the default branch"),
    nodata("svc1.testns.svc.cluster.local.", "MX"),
    Case("cluster.local.", "AXFR", REFUSED, why="ServeDNS: transfers are the transfer plugin's"),
    Case("cluster.local.", "IXFR", REFUSED),
    # wildcard queries were removed from CoreDNS (coredns/coredns#5019, 1.9.0): "*" is a label
    nxdomain("*.testns.svc.cluster.local.", "A", why="no wildcard service"),
    nxdomain("svc1.*.svc.cluster.local.", "A", why="no wildcard namespace"),
    nxdomain("*.*.svc.cluster.local.", "A"),
    nxdomain("*._tcp.svc1.testns.svc.cluster.local.", "SRV", why="no wildcard port"),
    nxdomain("_http.*.svc1.testns.svc.cluster.local.", "SRV", why="no wildcard protocol"),
    nxdomain("*.hdls1.testns.svc.cluster.local.", "A", why="no wildcard endpoint"),
    nxdomain("svc1.unexposedns.svc.cluster.local.", "A", why="namespaces: not exposed"),
    nxdomain("x.svc1.testns.pod.cluster.local.", "A", why="parseRequest: pod names are short"),
    nxdomain("a.b.c.svc1.testns.svc.cluster.local.", "A", why="parseRequest: too long"),
    nxdomain("svc1.testns.nope.cluster.local.", "A", why="parseRequest: svc or pod"),
]

# kubernetes.go Services (isDefaultNS), kubernetes_test.go TestServicesAuthority: the
# nameserver's own name, on the pods-disabled server (bound to 127.0.0.1)
APEX_CODE_CASES = [
    Case(
        "ns.dns.cluster.local.",
        "A",
        answer=rr("ns.dns.cluster.local. 5 IN A 127.0.0.1"),
    ),
    nodata("ns.dns.cluster.local.", "AAAA"),
    nodata("ns.dns.cluster.local.", "NS", why="ServeDNS: NS below the apex is a fake A lookup"),
    nodata("cluster.local.", "MX"),
    Case(
        "CLUSTER.LOCAL.",
        "NS",
        answer=rr("CLUSTER.LOCAL. 5 IN NS ns.dns.CLUSTER.LOCAL."),
        extra=rr("ns.dns.CLUSTER.LOCAL. 5 IN A 127.0.0.1"),
        why="NS: the nameserver's name is written in the zone as asked",
    ),
    nxdomain("NoPe.ClUsTeR.LoCaL.", "A", zone="ClUsTeR.LoCaL."),
    nodata("Svc.Cluster.Local.", "A", zone="Cluster.Local."),
]

# findPods: pod names with IPv6 addresses, pods insecure
POD_CODE_CASES = [
    Case(
        "fd00--1.podns.pod.cluster.local.",
        "AAAA",
        answer=rr("fd00--1.podns.pod.cluster.local. 5 IN AAAA fd00::1"),
    ),
    Case(
        "1234-abcd-0-0-0-0-0-1.podns.pod.cluster.local.",
        "AAAA",
        answer=rr("1234-abcd-0-0-0-0-0-1.podns.pod.cluster.local. 5 IN AAAA 1234:abcd::1"),
    ),
    nodata("fd00--1.podns.pod.cluster.local.", "A"),
    nodata("10-240-0-1.podns.pod.cluster.local.", "AAAA"),
    nxdomain("10-240-0-1-2.podns.pod.cluster.local.", "A", why="five parts read as IPv6: bad"),
    nxdomain("10-240-0.podns.pod.cluster.local.", "A"),
]


# ---------------------------------------------------------------- ours, options

# README "ttl": records get the ttl; the SOA's TTL is min(ttl, 300) and its minimum the ttl
# (backend_lookup.go SOA); dns-version keeps 28800 (kubernetes.go Services).
TTL_CASES = [
    Case(
        "svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("svc1.testns.svc.cluster.local. 3600 IN A 10.0.0.1"),
    ),
    Case(
        "_http._tcp.hdls1.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            *(
                f"_http._tcp.hdls1.testns.svc.cluster.local. 3600 IN SRV 0 16 80 "
                f"{host}.hdls1.testns.svc.cluster.local."
                for host in ("172-0-0-2", "172-0-0-3", "5678-abcd--1", "5678-abcd--2", "dup-name")
            )
        ),
        extra=rr(
            "172-0-0-2.hdls1.testns.svc.cluster.local. 3600 IN A 172.0.0.2",
            "172-0-0-3.hdls1.testns.svc.cluster.local. 3600 IN A 172.0.0.3",
            "5678-abcd--1.hdls1.testns.svc.cluster.local. 3600 IN AAAA 5678:abcd::1",
            "5678-abcd--2.hdls1.testns.svc.cluster.local. 3600 IN AAAA 5678:abcd::2",
            "dup-name.hdls1.testns.svc.cluster.local. 3600 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 3600 IN A 172.0.0.5",
        ),
    ),
    Case(
        "external.testns.svc.cluster.local.",
        "CNAME",
        answer=rr("external.testns.svc.cluster.local. 3600 IN CNAME ext.interwebs.test."),
    ),
    Case(
        "dns-version.cluster.local.",
        "TXT",
        answer=rr('dns-version.cluster.local. 28800 IN TXT "1.1.0"'),
    ),
    Case("cluster.local.", "SOA", answer=(soa(ttl=300, minimum=3600),)),
    Case("svc0.testns.svc.cluster.local.", "A", NXDOMAIN, ns=(soa(ttl=300, minimum=3600),)),
    Case("svc1.testns.svc.cluster.local.", "AAAA", ns=(soa(ttl=300, minimum=3600),)),
]

# README "ttl 0": records that are not to be cached
TTL_ZERO_CASES = [
    Case(
        "svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("svc1.testns.svc.cluster.local. 0 IN A 10.0.0.1"),
    ),
    Case("svc0.testns.svc.cluster.local.", "A", NXDOMAIN, ns=(soa(ttl=0, minimum=0),)),
]

# README "noendpoints": no endpoint records; endpoint and headless-service queries are
# NXDOMAIN (kubernetes.go: the endpoint cache is never filled)
NOENDPOINTS_CASES = [
    Case(
        "svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    Case(
        "_http._tcp.svc1.testns.svc.cluster.local.",
        "SRV",
        answer=rr(
            "_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 "
            "svc1.testns.svc.cluster.local."
        ),
        extra=rr("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
    nxdomain("hdls1.testns.svc.cluster.local.", "A"),
    nxdomain("_http._tcp.hdls1.testns.svc.cluster.local.", "SRV"),
    nxdomain("ep1a.svc1.testns.svc.cluster.local.", "A"),
    nxdomain("172-0-0-2.hdls1.testns.svc.cluster.local.", "A"),
]

# README "endpoint_pod_names" and kubernetes_test.go TestEndpointHostname: an endpoint with
# no hostname is named after its pod; a hostname still wins
ENDPOINT_POD_NAMES_CASES = [
    Case(
        "hdls1-0.hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr("hdls1-0.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3"),
    ),
    nxdomain("172-0-0-3.hdls1.testns.svc.cluster.local.", "A"),
    Case(
        "172-0-0-2.hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr("172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2"),
        why="no targetRef: the dashed address",
    ),
    Case(
        "dup-name.hdls1.testns.svc.cluster.local.",
        "A",
        answer=rr(
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5",
        ),
    ),
    Case(
        "3.0.0.172.in-addr.arpa.",
        "PTR",
        answer=rr("3.0.0.172.in-addr.arpa. 5 IN PTR hdls1-0.hdls1.testns.svc.cluster.local."),
    ),
]

# Several zones (README "ZONES"), and reverse zones from CIDRs: every forward zone has the
# whole schema and its own apex; SRV targets are in the zone asked; PTR targets are in the
# first forward zone (kubernetes.go primaryZone)
MULTI_ZONE_CASES = [
    Case(
        "svc1.testns.svc.corp.example.",
        "A",
        answer=rr("svc1.testns.svc.corp.example. 5 IN A 10.0.0.1"),
    ),
    Case(
        "_http._tcp.svc1.testns.svc.corp.example.",
        "SRV",
        answer=rr(
            "_http._tcp.svc1.testns.svc.corp.example. 5 IN SRV 0 100 80 "
            "svc1.testns.svc.corp.example."
        ),
        extra=rr("svc1.testns.svc.corp.example. 5 IN A 10.0.0.1"),
    ),
    Case(
        "dns-version.corp.example.",
        "TXT",
        answer=rr('dns-version.corp.example. 28800 IN TXT "1.1.0"'),
    ),
    nxdomain("svc0.testns.svc.corp.example.", "A", zone="corp.example."),
    Case("corp.example.", "SOA", answer=(soa("corp.example."),)),
    Case(
        "corp.example.",
        "NS",
        answer=rr("corp.example. 5 IN NS ns.dns.corp.example."),
        extra=rr("ns.dns.corp.example. 5 IN A 127.0.0.1"),
    ),
    Case(
        "3.0.0.10.in-addr.arpa.",
        "PTR",
        answer=rr("3.0.0.10.in-addr.arpa. 5 IN PTR svc-dual-stack.testns.svc.cluster.local."),
    ),
    Case(
        "1.0.0.172.in-addr.arpa.",
        "PTR",
        answer=rr("1.0.0.172.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."),
    ),
    nxdomain("9.9.9.10.in-addr.arpa.", "PTR", zone="10.in-addr.arpa."),
    Case("10.in-addr.arpa.", "SOA", answer=(soa("10.in-addr.arpa."),)),
    Case(
        "SvC1.TeStNs.SvC.CoRp.ExAmPlE.",
        "A",
        answer=rr("SvC1.TeStNs.SvC.CoRp.ExAmPlE. 5 IN A 10.0.0.1"),
    ),
]

# README "fallthrough [ZONES...]": an NXDOMAIN in those zones goes to the next plugin (here
# the file plugin, with legacy.cluster.local. and 4.3.2.10.in-addr.arpa.); NODATA does not
# (handler.go: only IsNameError falls through); other zones keep their NXDOMAIN.
FILE_NS = {z: f"{z} 60 IN NS ns.interwebs.test." for z in ("cluster.local.", "10.in-addr.arpa.")}
FALLTHROUGH_REVERSE_CASES = [
    Case(
        "4.3.2.10.in-addr.arpa.",
        "PTR",
        answer=rr("4.3.2.10.in-addr.arpa. 60 IN PTR legacy.cluster.local."),
        ns=(FILE_NS["10.in-addr.arpa."],),
    ),
    Case(
        "3.0.0.10.in-addr.arpa.",
        "PTR",
        answer=rr("3.0.0.10.in-addr.arpa. 5 IN PTR svc-dual-stack.testns.svc.cluster.local."),
    ),
    nxdomain("legacy.cluster.local.", "A", why="cluster.local. is not a fallthrough zone"),
]

# "fallthrough" with no zones: every zone of the plugin
FALLTHROUGH_ALL_CASES = [
    Case(
        "legacy.cluster.local.",
        "A",
        answer=rr("legacy.cluster.local. 60 IN A 192.0.2.1"),
        ns=(FILE_NS["cluster.local."],),
    ),
    Case(
        "4.3.2.10.in-addr.arpa.",
        "PTR",
        answer=rr("4.3.2.10.in-addr.arpa. 60 IN PTR legacy.cluster.local."),
        ns=(FILE_NS["10.in-addr.arpa."],),
    ),
    nodata("svc1.testns.svc.cluster.local.", "AAAA", why="NODATA is answered, not passed on"),
    Case(
        "svc1.testns.svc.cluster.local.",
        "A",
        answer=rr("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"),
    ),
]

# ---------------------------------------------------------------- servers


def corefile(zones: str, options: str, manifests: Path = SERVE, rest: str = "") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    kubernetes {zones} {{
        manifests {manifests}
        {options}
    }}
    file {UPSTREAM} interwebs.test
    {rest}
}}
"""


@pytest.fixture(scope="module")
def serve() -> Iterator[RunningServer]:
    """TestServeDNS: namespaces testns; the rest of the chain knows interwebs.test."""
    with running(corefile("cluster.local", "namespaces testns")) as server:
        yield server


@pytest.fixture(scope="module")
def pods_disabled() -> Iterator[RunningServer]:
    """TestServeNamespaceDNS, TestServeDNSModeDisabled, TestServeDNSApex: the defaults."""
    with running(corefile("cluster.local", "pods disabled")) as server:
        yield server


@pytest.fixture(scope="module")
def pods_insecure() -> Iterator[RunningServer]:
    with running(corefile("cluster.local", "pods insecure")) as server:
        yield server


@pytest.fixture(scope="module")
def pods_verified() -> Iterator[RunningServer]:
    with running(corefile("cluster.local", "pods verified")) as server:
        yield server


@pytest.fixture(scope="module")
def ignore_empty() -> Iterator[RunningServer]:
    """TestServeDNSEmptyService and TestPreserveCase: ignore empty_service."""
    with running(corefile("cluster.local", "ignore empty_service")) as server:
        yield server


@pytest.fixture(scope="module")
def reverse() -> Iterator[RunningServer]:
    with running(corefile(" ".join(REVERSE_ZONES), "", REVERSE)) as server:
        yield server


@pytest.fixture(scope="module", params=["ttl 3600", "ttl 0", "noendpoints", "endpoint_pod_names"])
def option(request: pytest.FixtureRequest) -> Iterator[tuple[str, RunningServer]]:
    zones = "cluster.local 172.0.0.0/8"
    with running(corefile(zones, f"namespaces testns\n{request.param}")) as server:
        yield request.param, server


@pytest.fixture(scope="module")
def multi_zone() -> Iterator[RunningServer]:
    zones = "cluster.local corp.example 10.0.0.0/8 172.0.0.0/8"
    with running(corefile(zones, "namespaces testns")) as server:
        yield server


LEGACY_ZONES = {
    "cluster.local.": "legacy 60 IN A 192.0.2.1",
    "10.in-addr.arpa.": "4.3.2 60 IN PTR legacy.cluster.local.",
}


@pytest.fixture(scope="module", params=["fallthrough 10.in-addr.arpa", "fallthrough"])
def fallthrough(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RunningServer]]:
    """The next plugin (file) holds names the cluster does not have, in the same zones."""
    files = []
    for zone, record in LEGACY_ZONES.items():
        path = tmp_path_factory.mktemp("zones") / f"{zone}db"
        path.write_text(
            f"$ORIGIN {zone}\n@ 60 IN SOA ns.interwebs.test. hostmaster.interwebs.test. "
            f"1 7200 1800 86400 60\n@ 60 IN NS ns.interwebs.test.\n{record}\n"
        )
        files.append(f"file {path} {zone}")
    text = corefile(
        "cluster.local 10.0.0.0/8", f"namespaces testns\n{request.param}", rest="\n".join(files)
    )
    with running(text) as server:
        yield request.param, server


# ---------------------------------------------------------------- checking


def ask(server: RunningServer, case: Case) -> dns.message.Message:
    """A plain query (no EDNS, as CoreDNS's test.Case.Msg makes it) over UDP."""
    query = dns.message.make_query(case.qname, case.qtype)
    query.flags |= dns.flags.RD
    return dns.query.udp(query, server.host, port=server.port, timeout=3)


def lines(section: list) -> list[str]:
    """A section as zone-file lines, the SOA serial replaced by SERIAL once checked."""
    out = []
    for rrset in section:
        for line in rrset.to_text().splitlines():
            fields = line.split()
            if fields[3] == "SOA":
                assert int(fields[6]) > 1_500_000_000, line  # the Unix time of a change
                fields[6] = "SERIAL"
            out.append(" ".join(fields))
    return sorted(out)


def check(reply: dns.message.Message, case: Case) -> None:
    assert dns.rcode.to_text(reply.rcode()) == dns.rcode.to_text(case.rcode)
    if case.rcode != REFUSED:  # REFUSED is written by the server, not the plugin
        assert reply.flags & dns.flags.AA, "CoreDNS sets AA on every answer of the plugin"
    assert lines(reply.answer) == sorted(case.answer)
    assert lines(reply.authority) == sorted(case.ns)
    assert lines(reply.additional) == sorted(case.extra)
    # test.CNAMEOrder: a CNAME comes before the records of its target
    seen: set[str] = set()
    for rrset in reply.answer:
        owner = rrset.name.to_text().lower()
        if rrset.rdtype == dns.rdatatype.CNAME:
            assert owner not in seen, f"CNAME {owner} after records of it"
        seen.add(owner)
        if rrset.rdtype == dns.rdatatype.CNAME:
            target = rrset[0].target.to_text().lower()
            assert target not in seen, f"{target}'s records before the CNAME to it"


def ids(case: Case) -> str:
    return f"{case.qname} {case.qtype}"


@pytest.mark.parametrize("case", COMMON_DNS_TEST_CASES + DNS_TEST_CASES, ids=ids)
def test_serve_dns(serve: RunningServer, case: Case) -> None:
    check(ask(serve, case), case)


@pytest.mark.parametrize("case", SERVICE_CODE_CASES, ids=ids)
def test_service_lookups_of_coredns_code(serve: RunningServer, case: Case) -> None:
    check(ask(serve, case), case)


@pytest.mark.parametrize(
    "case", NS_TEST_CASES + POD_MODE_DISABLED_CASES + KUBE_APEX_CASES + APEX_CODE_CASES, ids=ids
)
def test_defaults(pods_disabled: RunningServer, case: Case) -> None:
    check(ask(pods_disabled, case), case)


@pytest.mark.parametrize("case", POD_MODE_INSECURE_CASES + POD_CODE_CASES, ids=ids)
def test_pods_insecure(pods_insecure: RunningServer, case: Case) -> None:
    check(ask(pods_insecure, case), case)


@pytest.mark.parametrize("case", POD_MODE_VERIFIED_CASES, ids=ids)
def test_pods_verified(pods_verified: RunningServer, case: Case) -> None:
    check(ask(pods_verified, case), case)


@pytest.mark.parametrize("case", DNS_EMPTY_SERVICE_TEST_CASES + DNS_PRESERVE_CASE_CASES, ids=ids)
def test_ignore_empty_service_and_case(ignore_empty: RunningServer, case: Case) -> None:
    check(ask(ignore_empty, case), case)


@pytest.mark.parametrize("case", REVERSE_CASES, ids=ids)
def test_reverse(reverse: RunningServer, case: Case) -> None:
    check(ask(reverse, case), case)


OPTION_CASES = {
    "ttl 3600": TTL_CASES,
    "ttl 0": TTL_ZERO_CASES,
    "noendpoints": NOENDPOINTS_CASES,
    "endpoint_pod_names": ENDPOINT_POD_NAMES_CASES,
}


def test_options(option: tuple[str, RunningServer]) -> None:
    name, server = option
    for case in OPTION_CASES[name]:
        check(ask(server, case), case)


@pytest.mark.parametrize("case", MULTI_ZONE_CASES, ids=ids)
def test_multiple_zones(multi_zone: RunningServer, case: Case) -> None:
    check(ask(multi_zone, case), case)


def test_fallthrough(fallthrough: tuple[str, RunningServer]) -> None:
    name, server = fallthrough
    cases = FALLTHROUGH_ALL_CASES if name == "fallthrough" else FALLTHROUGH_REVERSE_CASES
    for case in cases:
        check(ask(server, case), case)


@pytest.mark.parametrize("case", NOT_SYNCED_TEST_CASES, ids=ids)
def test_not_synced(tmp_path: Path, case: Case) -> None:
    """The manifests are not there yet: the plugin never synced."""
    text = corefile("cluster.local", "startup_timeout 50ms", tmp_path / "not-yet")
    with running(text) as server:
        check(ask(server, case), case)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_each_spelling_of_the_zone_gets_its_own_reply(
    ignore_empty: RunningServer, transport: str
) -> None:
    """handler_case_test.go, asked again and again: the server keeps replies by the question's
    bytes, so a spelling never gets the reply built for another one."""
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    for zone in ("cluster.local.", "CLUSTER.local.", "cluster.local.", "ClUsTeR.LoCaL."):
        query = dns.message.make_query(f"_http._tcp.svc1.testns.svc.{zone}", "SRV")
        reply = send(query, ignore_empty.host, port=ignore_empty.port, timeout=3)
        assert reply.answer[0][0].target.to_text() == f"svc1.testns.svc.{zone}"
        assert reply.additional[0].name.to_text() == f"svc1.testns.svc.{zone}"
        query = dns.message.make_query(f"nope.testns.svc.{zone}", "A")
        reply = send(query, ignore_empty.host, port=ignore_empty.port, timeout=3)
        soa = reply.authority[0]
        assert soa.name.to_text() == zone
        assert (soa[0].mname.to_text(), soa[0].rname.to_text()) == (
            f"ns.dns.{zone}",
            f"hostmaster.{zone}",
        )
