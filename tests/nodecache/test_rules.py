"""The iptables rule set node-cache installs (cache_app.go initIptables), as argv."""

from __future__ import annotations

from clusterdns.nodecache.rules import Rule, iptables_argv, node_cache_rules

SKIP = '-j NOTRACK -m comment --comment "NodeLocal DNS Cache: skip conntrack"'
ALLOW = '-j ACCEPT -m comment --comment "NodeLocal DNS Cache: allow DNS traffic"'
EXPECTED_PER_IP = [
    "-t raw -A PREROUTING -p tcp -d {ip} --dport 53 " + SKIP,
    "-t raw -A PREROUTING -p udp -d {ip} --dport 53 " + SKIP,
    "-t filter -A INPUT -p tcp -d {ip} --dport 53 " + ALLOW,
    "-t filter -A INPUT -p udp -d {ip} --dport 53 " + ALLOW,
    "-t raw -A OUTPUT -p tcp -s {ip} --sport 53 " + SKIP,
    "-t raw -A OUTPUT -p udp -s {ip} --sport 53 " + SKIP,
    "-t filter -A OUTPUT -p tcp -s {ip} --sport 53 " + ALLOW,
    "-t filter -A OUTPUT -p udp -s {ip} --sport 53 " + ALLOW,
    "-t raw -A OUTPUT -p tcp -d {ip} --dport 53 " + SKIP,
    "-t raw -A OUTPUT -p udp -d {ip} --dport 53 " + SKIP,
    "-t raw -A OUTPUT -p tcp -d {ip} --dport 8080 " + SKIP,
    "-t raw -A OUTPUT -p tcp -s {ip} --sport 8080 " + SKIP,
]


def test_rules_for_two_local_ips() -> None:
    rules = node_cache_rules(("169.254.20.10", "10.96.0.10"), 53, 8080)
    expected = [
        line.format(ip=ip) for ip in ("169.254.20.10", "10.96.0.10") for line in EXPECTED_PER_IP
    ]
    assert [rule.to_text() for rule in rules] == expected


def test_ports_come_from_the_flags() -> None:
    rules = node_cache_rules(("169.254.20.10",), 1053, 9090)
    texts = [rule.to_text() for rule in rules]
    assert sum("--dport 1053" in t or "--sport 1053" in t for t in texts) == 10
    assert sum("--dport 9090" in t or "--sport 9090" in t for t in texts) == 2


def test_argv_waits_for_the_xtables_lock() -> None:
    rule = Rule(
        "raw", "PREROUTING", ("-p", "udp", "-d", "169.254.20.10", "--dport", "53", "-j", "NOTRACK")
    )
    assert iptables_argv("iptables", "-C", rule) == [
        "iptables", "-w", "5", "-t", "raw", "-C", "PREROUTING",
        "-p", "udp", "-d", "169.254.20.10", "--dport", "53", "-j", "NOTRACK",
    ]  # fmt: skip
