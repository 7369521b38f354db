"""Putting the node cache's addresses and iptables rules on the node, and taking them off.

Runs the ``ip`` and ``iptables`` commands (Debian's iproute2 and iptables).  As
node-cache does: the interface is a dummy device named ``-interfacename`` holding
each local IP as a /32 (/128); every sync it is re-created if gone and its
addresses re-added; each rule is checked with ``-C`` and prepended with ``-I``
when missing; teardown deletes each rule until none is left, then the device
(in that order).  Failures are logged and counted in ``coredns_nodecache_setup_errors_total``
by ``errortype`` (node-cache's labels), never raised from a sync.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from clusterdns.nodecache.params import NodeCacheError, NodeCacheParams
from clusterdns.nodecache.rules import Rule, iptables_argv, node_cache_rules

log = logging.getLogger("clusterdns.nodecache")

# node-cache's own registry, served on -metrics-listen-address only: the prometheus
# plugin's endpoint (and every other clusterdns process) must not carry it.
REGISTRY = CollectorRegistry(auto_describe=True)
SETUP_ERRORS = Counter(
    "coredns_nodecache_setup_errors",
    "The number of errors during periodic network setup for node-cache",
    ["errortype"],
    registry=REGISTRY,
)
for _label in ("iptables", "iptables_lock", "interface_add", "interface_check", "configmap"):
    SETUP_ERRORS.labels(_label)

# Some kernels (this project's CI among them) are built without the dummy driver;
# a bridge without ports holds local addresses just as well.
FALLBACK_LINK_TYPE = "bridge"
MAX_DELETES = 100  # teardown deletes duplicates of a rule until -C fails; bound it


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    output: str


def run_command(argv: Sequence[str]) -> Result:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return Result(127, f"{argv[0]}: command not found (install iproute2 and iptables)")
    except subprocess.TimeoutExpired:
        return Result(124, f"{' '.join(argv)}: timed out")
    return Result(done.returncode, (done.stderr or done.stdout).strip())


class NetworkSetup:
    """The node-side state of one node cache: its interface and its iptables rules."""

    def __init__(self, params: NodeCacheParams) -> None:
        self.params = params
        self.rules: tuple[Rule, ...] = node_cache_rules(
            params.local_ips, params.port, params.health_port
        )
        self.iptables = "ip6tables" if params.ipv6 else "iptables"
        self.prefix = 128 if params.ipv6 else 32
        self.link_type = "dummy"
        # A sync runs in a worker thread that cancelling its task cannot stop: the lock
        # and the flag keep it from putting things back after teardown took them off.
        self._lock = threading.Lock()
        self._torn_down = False

    # -- interface ---------------------------------------------------------

    def interface_exists(self) -> bool:
        return run_command(["ip", "link", "show", "dev", self.params.interface_name]).code == 0

    def ensure_interface(self) -> bool:
        """Create the interface if missing and (re-)add the addresses; True if it was there."""
        name = self.params.interface_name
        existed = self.interface_exists()
        if not existed:
            self._add_link(name)
            log.info("[INFO] Added interface - %s", name)
        for ip in self.params.local_ips:
            added = run_command(["ip", "addr", "add", f"{ip}/{self.prefix}", "dev", name])
            if added.code != 0 and "exists" not in added.output:
                SETUP_ERRORS.labels("interface_check").inc()
                log.error("[ERROR] Error adding %s to %s: %s", ip, name, added.output)
        run_command(["ip", "link", "set", "dev", name, "up"])
        return existed

    def _add_link(self, name: str) -> None:
        added = run_command(["ip", "link", "add", name, "type", self.link_type])
        if added.code != 0 and "Unknown device type" in added.output:
            log.warning(
                "[WARNING] kernel has no %s link type; using %s for %s",
                self.link_type, FALLBACK_LINK_TYPE, name,
            )  # fmt: skip
            self.link_type = FALLBACK_LINK_TYPE
            added = run_command(["ip", "link", "add", name, "type", self.link_type])
        if added.code != 0:
            SETUP_ERRORS.labels("interface_add").inc()
            raise NodeCacheError(
                f"cannot add interface {name}: {added.output} "
                "(node cache needs root or CAP_NET_ADMIN; or pass -setupinterface=false)"
            )

    def remove_interface(self) -> None:
        removed = run_command(["ip", "link", "del", "dev", self.params.interface_name])
        if removed.code != 0:
            log.error("[ERROR] removing %s: %s", self.params.interface_name, removed.output)

    # -- iptables ----------------------------------------------------------

    def rule_exists(self, rule: Rule) -> bool:
        return run_command(iptables_argv(self.iptables, "-C", rule)).code == 0

    def ensure_rules(self) -> int:
        """Prepend every missing rule; returns how many were added."""
        added = 0
        for rule in self.rules:
            checked = run_command(iptables_argv(self.iptables, "-C", rule))
            if checked.code == 0:
                continue
            inserted = run_command(iptables_argv(self.iptables, "-I", rule))
            if inserted.code == 0:
                added += 1
                log.info("[INFO] Added back nodelocaldns rule - %s", rule.to_text())
            elif "xtables lock" in inserted.output:
                SETUP_ERRORS.labels("iptables_lock").inc()
                log.info("[INFO] xtables lock in use, retrying %s next sync", rule.to_text())
            else:
                SETUP_ERRORS.labels("iptables").inc()
                log.error(
                    "[ERROR] Error adding iptables rule %s - %s", rule.to_text(), inserted.output
                )
        return added

    def delete_rules(self) -> None:
        for rule in self.rules:
            for _ in range(MAX_DELETES):
                if run_command(iptables_argv(self.iptables, "-D", rule)).code != 0:
                    break

    # -- the node-cache cycle ----------------------------------------------

    def setup(self) -> None:
        """What each sync does (node-cache's ``setupNetworking``)."""
        with self._lock:
            if not self._torn_down:
                self._setup()

    def setup_interface(self) -> None:
        """The start's step (node-cache's ``Init``: ``setupNetworking`` with the rules held back)."""
        with self._lock:
            if not self._torn_down:
                self._interface()

    def _setup(self) -> None:
        if self.params.setup_iptables:
            self.ensure_rules()
        if self.params.setup_interface:
            self._interface()

    def _interface(self) -> None:
        """A failure is logged and counted, and the cache goes on: the addresses may be there."""
        try:
            self.ensure_interface()
        except NodeCacheError as exc:
            log.error("[ERROR] %s", exc)

    def teardown(self) -> None:
        with self._lock:
            self._torn_down = True
            self._teardown()

    def _teardown(self) -> None:
        log.info("[INFO] Tearing down")  # rules first, then the interface, as TeardownNetworking
        if self.params.setup_iptables:
            self.delete_rules()
        if self.params.setup_interface:
            self.remove_interface()
