"""The iptables rules node-cache installs so DNS to the local addresses skips conntrack.

The set, per local IP, is node-cache's (kubernetes/dns ``cmd/node-cache/app/cache_app.go``,
``initIptables``): NOTRACK in ``raw`` PREROUTING for queries to IP:port, ACCEPT in
``filter`` INPUT for them (the usual ``ESTABLISHED`` accept no longer matches untracked
packets), NOTRACK and ACCEPT in ``raw``/``filter`` OUTPUT for replies from IP:port,
NOTRACK in ``raw`` OUTPUT for queries from the node itself (hostNetwork pods), and
NOTRACK for the liveness probe to and from IP:health-port.  Each is ensured with
``-C`` then prepended with ``-I`` (``EnsureRule(Prepend, ...)``).  Every rule ends in
node-cache's comment match (``-m comment --comment "NodeLocal DNS Cache: skip conntrack"``
on NOTRACK, ``"... allow DNS traffic"`` on ACCEPT), which is part of the rule: ``-C`` and
``-D`` find node-cache's own rules, and only those.

Pure values and argv lists; running them is ``netsetup``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

#: cache_app.go's iptablesCommentSkipConntrack and iptablesCommentAllowTraffic
SKIP_CONNTRACK = "NodeLocal DNS Cache: skip conntrack"
ALLOW_TRAFFIC = "NodeLocal DNS Cache: allow DNS traffic"
_NOTRACK = ("-j", "NOTRACK", "-m", "comment", "--comment", SKIP_CONNTRACK)
_ACCEPT = ("-j", "ACCEPT", "-m", "comment", "--comment", ALLOW_TRAFFIC)


@dataclass(frozen=True, slots=True)
class Rule:
    table: str
    chain: str
    args: tuple[str, ...]

    def to_text(self) -> str:
        """The rule in node-cache's argument order, an argument with spaces in double quotes."""
        args = (f'"{arg}"' if " " in arg else arg for arg in self.args)
        return f"-t {self.table} -A {self.chain} {' '.join(args)}"


def node_cache_rules(local_ips: tuple[str, ...], port: int, health_port: int) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    dns, health = str(port), str(health_port)
    for ip in local_ips:
        for proto in ("tcp", "udp"):
            rules.append(Rule("raw", "PREROUTING", (*_to(ip, proto, dns), *_NOTRACK)))
        for proto in ("tcp", "udp"):
            rules.append(Rule("filter", "INPUT", (*_to(ip, proto, dns), *_ACCEPT)))
        for proto in ("tcp", "udp"):
            rules.append(Rule("raw", "OUTPUT", (*_from(ip, proto, dns), *_NOTRACK)))
        for proto in ("tcp", "udp"):
            rules.append(Rule("filter", "OUTPUT", (*_from(ip, proto, dns), *_ACCEPT)))
        for proto in ("tcp", "udp"):
            rules.append(Rule("raw", "OUTPUT", (*_to(ip, proto, dns), *_NOTRACK)))
        rules.append(Rule("raw", "OUTPUT", (*_to(ip, "tcp", health), *_NOTRACK)))
        rules.append(Rule("raw", "OUTPUT", (*_from(ip, "tcp", health), *_NOTRACK)))
    return tuple(rules)


def _to(ip: str, proto: str, port: str) -> tuple[str, ...]:
    return ("-p", proto, "-d", ip, "--dport", port)


def _from(ip: str, proto: str, port: str) -> tuple[str, ...]:
    return ("-p", proto, "-s", ip, "--sport", port)


def iptables_argv(binary: str, action: str, rule: Rule) -> list[str]:
    """``iptables -w 5 -t TABLE -C|-I|-D CHAIN ARGS`` (``-w``: wait for the xtables lock)."""
    return [binary, "-w", "5", "-t", rule.table, action, rule.chain, *rule.args]
