"""Reading kube-proxy's DNS rules (and node-cache's NOTRACK rules) back from a listing.

Inputs are the text of ``iptables-save`` and ``nft list ruleset``; the output says which
kube-proxy mode wrote rules, which Service VIPs on port 53/udp are DNATed to which
endpoints with which probabilities, whether the MASQUERADE rule is fully random, and
which rules take DNS out of conntrack.  Used by the lab to check its rules really went
in, and by ``doctor node`` to judge a node.  No I/O.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

DNS_PORT = "53"


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str  # IP:port after DNAT
    probability: float | None  # None: the last rule of the chain (takes what is left)


@dataclass(frozen=True, slots=True)
class DnsService:
    vip: str  # IP:port
    chain: str
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class Ruleset:
    mode: str  # "iptables", "nftables", "ipvs" or "none"
    services: tuple[DnsService, ...] = ()
    masquerade: tuple[str, ...] = ()  # the MASQUERADE/masquerade rules, as listed
    random_fully: bool | None = None  # None: no masquerade rule at all
    notrack: tuple[str, ...] = ()  # rules that take port 53 out of conntrack
    notes: tuple[str, ...] = field(default=())

    @property
    def found(self) -> bool:
        return self.mode != "none"


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def _arg(words: list[str], flag: str) -> str | None:
    for index, word in enumerate(words[:-1]):
        if word == flag:
            return words[index + 1]
    return None


def _iptables_rules(text: str) -> dict[tuple[str, str], list[list[str]]]:
    """(table, chain) -> the argument lists of its ``-A`` lines."""
    rules: dict[tuple[str, str], list[list[str]]] = {}
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            words = _split(line)
            rules.setdefault((table, words[1]), []).append(words[2:])
    return rules


def _is_dns_rule(words: list[str]) -> bool:
    return _arg(words, "--dport") == DNS_PORT or _arg(words, "--sport") == DNS_PORT


def parse_iptables_save(text: str) -> Ruleset:
    rules = _iptables_rules(text)
    nat_services = rules.get(("nat", "KUBE-SERVICES"), [])
    ipvs = any("KUBE-CLUSTER-IP" in " ".join(words) for words in nat_services)
    services = []
    for words in nat_services:
        target = _arg(words, "-j") or ""
        if not target.startswith("KUBE-SVC-") or _arg(words, "--dport") != DNS_PORT:
            continue
        if _arg(words, "-p") != "udp":
            continue
        vip = (_arg(words, "-d") or "?").removesuffix("/32")
        services.append(DnsService(f"{vip}:{DNS_PORT}", target, _iptables_endpoints(rules, target)))
    masquerade = tuple(
        " ".join(words)
        for (table, _), chain_rules in rules.items()
        if table == "nat"
        for words in chain_rules
        if _arg(words, "-j") == "MASQUERADE"
    )
    notrack = tuple(
        f"-t raw -A {chain} " + " ".join(words)
        for (table, chain), chain_rules in rules.items()
        if table == "raw"
        for words in chain_rules
        if _is_notrack(words) and _is_dns_rule(words)
    )
    has_kube = any(chain.startswith("KUBE-") for _, chain in rules)
    mode = "ipvs" if ipvs else ("iptables" if has_kube else "none")
    return Ruleset(
        mode=mode,
        services=tuple(services),
        masquerade=masquerade,
        random_fully=all("--random-fully" in m for m in masquerade) if masquerade else None,
        notrack=notrack,
    )


def _is_notrack(words: list[str]) -> bool:
    target = _arg(words, "-j")
    return target == "NOTRACK" or (target == "CT" and "--notrack" in words)


def _iptables_endpoints(
    rules: dict[tuple[str, str], list[list[str]]], svc: str
) -> tuple[Endpoint, ...]:
    endpoints = []
    for words in rules.get(("nat", svc), []):
        sep = _arg(words, "-j") or ""
        if not sep.startswith("KUBE-SEP-"):
            continue
        prob = _arg(words, "--probability")
        for sep_words in rules.get(("nat", sep), []):
            if _arg(sep_words, "-j") == "DNAT":
                address = _arg(sep_words, "--to-destination") or "?"
                endpoints.append(Endpoint(address, float(prob) if prob else None))
    return tuple(endpoints)


_NFT_SERVICE = re.compile(
    r"(?P<vip>\d+\.\d+\.\d+\.\d+) \. udp \. (?P<port>\d+) : goto (?P<chain>\S+?)(?:[,}\s]|$)"
)
_NFT_VMAP = re.compile(r"numgen random mod (\d+) vmap \{([^}]*)\}")
_NFT_MASQ = re.compile(r"(^|\s)masquerade(\s|$)")
_NFT_DNAT = re.compile(r"dnat (?:ip )?to (\S+)")


def _nft_chains(text: str) -> dict[str, list[str]]:
    chains: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("chain ") and line.endswith("{"):
            current = chains.setdefault(line[len("chain ") : -1].strip().strip('"'), [])
        elif line == "}":
            current = None
        elif current is not None and line:
            current.append(line)
    return chains


def parse_nft_ruleset(text: str) -> Ruleset:
    """``nft list ruleset``: kube-proxy's ``table ip kube-proxy`` and any notrack rule."""
    chains = _nft_chains(text)
    services = []
    for match in _NFT_SERVICE.finditer(text):
        if match["port"] != DNS_PORT:
            continue
        chain = match["chain"].strip('"')
        services.append(
            DnsService(f"{match['vip']}:{match['port']}", chain, _nft_endpoints(chains, chain))
        )
    masquerade = tuple(
        line for rules in chains.values() for line in rules if _NFT_MASQ.search(line)
    )
    notrack = tuple(
        line
        for rules in chains.values()
        for line in rules
        if "notrack" in line and (f"dport {DNS_PORT}" in line or f"sport {DNS_PORT}" in line)
    )
    mode = "nftables" if "table ip kube-proxy" in text or "table ip6 kube-proxy" in text else "none"
    return Ruleset(
        mode=mode,
        services=tuple(services),
        masquerade=masquerade,
        random_fully=all("fully-random" in m for m in masquerade) if masquerade else None,
        notrack=notrack,
    )


def _nft_endpoints(chains: dict[str, list[str]], svc: str) -> tuple[Endpoint, ...]:
    endpoints = []
    for line in chains.get(svc, []):
        match = _NFT_VMAP.search(line)
        if match is None:
            continue
        count = int(match[1])
        for item in match[2].split(","):
            chain = item.split("goto", 1)[-1].strip().strip('"')
            for rule in chains.get(chain, []):
                dnat = _NFT_DNAT.search(rule)
                if dnat:
                    endpoints.append(Endpoint(dnat[1], 1.0 / count))
    return tuple(endpoints)


def merge(first: Ruleset, second: Ruleset) -> Ruleset:
    """iptables-nft and native nftables rules side by side on one node: both count."""
    if not second.found and not second.notrack:
        return first
    if not first.found and not first.notrack:
        return second
    masquerade = first.masquerade + second.masquerade
    return Ruleset(
        mode=first.mode if first.found else second.mode,
        services=first.services + second.services,
        masquerade=masquerade,
        random_fully=_all_random(first, second),
        notrack=first.notrack + second.notrack,
        notes=(f"rules of both {first.mode} and {second.mode} found",)
        if first.found and second.found
        else (),
    )


def _all_random(first: Ruleset, second: Ruleset) -> bool | None:
    known = [r.random_fully for r in (first, second) if r.random_fully is not None]
    return all(known) if known else None
