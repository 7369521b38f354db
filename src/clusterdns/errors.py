"""The one root of the errors clusterdns shows to users.

Every message names its place: a Corefile error reads
``plugin/<name>: <file>:<line>: <what is wrong>``, a manifest error names the
object (``Service default/web``).  DNS failures are rcodes and counters, never
exceptions: these are for configuration, input files and command lines.
"""

from __future__ import annotations


class ClusterDNSError(Exception):
    """Base of every error meant for a user's eyes."""


class ConfigError(ClusterDNSError):
    """A Corefile (or a plugin's part of one) is wrong: the message says where and what."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, plugin: str = "") -> None:
        self.file = file
        self.line = line
        self.plugin = plugin
        self.reason = message
        place = f"{file}:{line}: " if file else ""
        prefix = f"plugin/{plugin}: " if plugin else ""
        super().__init__(f"{prefix}{place}{message}")


class ManifestError(ClusterDNSError):
    """A Kubernetes manifest is wrong: the message names the file and the object."""
