"""The rules kube-proxy writes for the kube-dns Service's UDP port, as text to load.

iptables mode (kubernetes ``pkg/proxy/iptables/proxier.go``): ``KUBE-SERVICES`` jumps on
VIP:53/udp to ``KUBE-SVC-<hash>``, which picks an endpoint with ``-m statistic --mode
random --probability 1/(n-i)`` and jumps to ``KUBE-SEP-<hash>``, which DNATs.  Traffic to
be SNATed is marked by ``KUBE-MARK-MASQ`` (0x4000) and masqueraded in
``KUBE-POSTROUTING``, with ``--random-fully`` when iptables supports it.  Chain hashes are
kube-proxy's ``portProtoHash``: base32(sha256(name + protocol [+ endpoint]))[:16], so
``kube-system/kube-dns:dns`` over udp gives the well-known ``KUBE-SVC-TCOU7JCQXEZGVUNU``.

nftables mode (``pkg/proxy/nftables/proxier.go``): table ``ip kube-proxy``, a
``service-ips`` verdict map keyed on daddr . proto . dport, a service chain choosing an
endpoint chain with ``numgen random mod N vmap``, and ``masquerade fully-random``.

No I/O: the values and the text; the lab loads them with iptables-restore / nft -f.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from dataclasses import dataclass

SERVICE_NAME = "kube-system/kube-dns"
MASQ_MARK = "0x4000"


class ProxyMode(enum.StrEnum):
    IPTABLES = "iptables"  # DNAT only: pods are inside --cluster-cidr, nothing is masqueraded
    IPTABLES_MASQ = "iptables-masq"  # masqueradeAll: DNAT + MASQUERADE
    IPTABLES_RANDOM_FULLY = "iptables-random-fully"  # masqueradeAll, MASQUERADE --random-fully
    NFTABLES = "nftables"  # kube-proxy's nftables mode (masquerade fully-random)
    IPVS = "ipvs"  # needs the ip_vs module and ipvsadm
    NODECACHE = "nodecache"  # iptables DNAT + a node cache on a link-local address, NOTRACK


@dataclass(frozen=True, slots=True)
class Service:
    vip: str
    port: int
    endpoints: tuple[str, ...]  # backend IPs, same port
    cluster_cidr: str  # the pods' range (kube-proxy's --cluster-cidr)


def port_proto_hash(*parts: str) -> str:
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def probability(index: int, count: int) -> str:
    """kube-proxy's ``computeProbability``: 1/(n-i), printed with 11 decimals."""
    return f"{1.0 / (count - index):0.11f}"


PROTOCOLS = (("udp", "dns"), ("tcp", "dns-tcp"))  # the kube-dns Service's two ports


def iptables_restore(service: Service, mode: ProxyMode) -> str:
    """An ``iptables-restore`` input for the nat table (without --noflush it replaces it)."""
    masquerade_all = mode in (ProxyMode.IPTABLES_MASQ, ProxyMode.IPTABLES_RANDOM_FULLY)
    random_fully = " --random-fully" if mode is ProxyMode.IPTABLES_RANDOM_FULLY else ""
    chains = [":KUBE-SERVICES - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    rules = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        f"-j MASQUERADE{random_fully}",
    ]
    for proto, port_name in PROTOCOLS:
        name = f"{SERVICE_NAME}:{port_name}"
        svc = "KUBE-SVC-" + port_proto_hash(name, proto)
        seps = ["KUBE-SEP-" + port_proto_hash(name, proto, f"{ep}:{service.port}")
                for ep in service.endpoints]  # fmt: skip
        chains += [f":{svc} - [0:0]", *(f":{sep} - [0:0]" for sep in seps)]
        comment = f'-m comment --comment "{name} cluster IP"'
        dst = f"-d {service.vip}/32 -p {proto} -m {proto} --dport {service.port}"
        rules.append(f"-A KUBE-SERVICES {dst} {comment} -j {svc}")
        source = "" if masquerade_all else f"! -s {service.cluster_cidr} "
        rules.append(f"-A {svc} {source}{dst} {comment} -j KUBE-MARK-MASQ")
        count = len(seps)
        for index, (endpoint, sep) in enumerate(zip(service.endpoints, seps, strict=True)):
            pick = f'-m comment --comment "{name} -> {endpoint}:{service.port}"'
            if index < count - 1:
                pick += f" -m statistic --mode random --probability {probability(index, count)}"
            rules.append(f"-A {svc} {pick} -j {sep}")
        for endpoint, sep in zip(service.endpoints, seps, strict=True):
            rules.append(f"-A {sep} -s {endpoint}/32 -j KUBE-MARK-MASQ")
            rules.append(
                f"-A {sep} -p {proto} -m {proto} -j DNAT --to-destination {endpoint}:{service.port}"
            )
    head = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
            ":POSTROUTING ACCEPT [0:0]"]  # fmt: skip
    return "\n".join([*head, *chains, *rules, "COMMIT"]) + "\n"


def nft_ruleset(service: Service) -> str:
    """kube-proxy's nftables mode for the Service's two ports (``nft -f`` input)."""
    elements, chains = [], []
    for proto, port_name in PROTOCOLS:
        tag = port_proto_hash(f"{SERVICE_NAME}:{port_name}", proto)[:8]
        svc = f"service-{tag}-kube-system/kube-dns/{proto}/{port_name}"
        eps = [f"endpoint-{port_proto_hash(svc, ep)[:8]}-kube-system/kube-dns/{proto}/{port_name}__{ep}/{service.port}"
               for ep in service.endpoints]  # fmt: skip
        vmap = ", ".join(f"{i} : goto {ep}" for i, ep in enumerate(eps))
        elements.append(f"{service.vip} . {proto} . {service.port} : goto {svc}")
        chains += [
            f"  chain {svc} {{",
            f"    ip daddr {service.vip} {proto} dport {service.port} "
            f"ip saddr != {service.cluster_cidr} jump mark-for-masquerade",
            f"    numgen random mod {len(eps)} vmap {{ {vmap} }}",
            "  }",
        ]
        for endpoint, chain in zip(service.endpoints, eps, strict=True):
            chains += [
                f"  chain {chain} {{",
                f"    ip saddr {endpoint} jump mark-for-masquerade",
                f"    meta l4proto {proto} dnat to {endpoint}:{service.port}",
                "  }",
            ]
    lines = [
        "table ip kube-proxy {",
        "  chain mark-for-masquerade {",
        f"    meta mark set meta mark | {MASQ_MARK}",
        "  }",
        "  chain masquerading {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f"    meta mark & {MASQ_MARK} == 0 return",
        f"    meta mark set meta mark ^ {MASQ_MARK}",
        "    masquerade fully-random",
        "  }",
        "  chain nat-prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    jump services",
        "  }",
        "  chain nat-output {",
        "    type nat hook output priority -100; policy accept;",
        "    jump services",
        "  }",
        "  map service-ips {",
        "    type ipv4_addr . inet_proto . inet_service : verdict",
        f"    elements = {{ {', '.join(elements)} }}",
        "  }",
        "  chain services {",
        "    ip daddr . meta l4proto . th dport vmap @service-ips",
        "  }",
        *chains,
        "}",
    ]
    return "\n".join(lines) + "\n"
