"""Optional dependencies: which pip extra brings which modules, and who needs which.

The core install is what ``clusterdns serve`` and ``clusterdns nodecache`` need for
kubeadm's and nodelocaldns's Corefiles. A plugin or command that needs more names its
extra here, so a missing one is reported at start with the pip line that installs it
(pyproject.toml's ``[project.optional-dependencies]`` holds the same table).
"""

from __future__ import annotations

import importlib.util

from clusterdns.errors import ClusterDNSError

# extra -> the top-level modules it installs that our code imports
MODULES: dict[str, tuple[str, ...]] = {
    "tools": ("rich", "rich_argparse"),
    "etcd": ("aetcd", "grpc", "google.protobuf"),
    "dnstap": ("google.protobuf",),
    "trace": ("opentelemetry.sdk", "opentelemetry.exporter.otlp"),
    "plot": ("matplotlib",),
}

# directive -> the extra its plugin needs
PLUGINS: dict[str, str] = {"etcd": "etcd", "dnstap": "dnstap", "trace": "trace"}

# subcommand -> the extra it needs
COMMANDS: dict[str, str] = {
    "bench": "tools",
    "doctor": "tools",
    "explain": "tools",
    "lab": "tools",
    "synth": "tools",
    "tap": "dnstap",
    "top": "tools",
}


class MissingExtra(ClusterDNSError):
    """An optional dependency is not installed: the message gives the pip line."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(f"needs the {module} module, which is not installed: {pip_line(extra)}")


def pip_line(extra: str) -> str:
    return f"pip install 'clusterdns[{extra}]'"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing or blocked
        return False


def missing_module(extra: str) -> str | None:
    """The first module of ``extra`` that cannot be imported, or None when all can."""
    return next((m for m in MODULES[extra] if not _installed(m)), None)


def require(extra: str) -> None:
    """Raise MissingExtra unless every module of ``extra`` is installed."""
    module = missing_module(extra)
    if module is not None:
        raise MissingExtra(extra, module)


def extra_for(exc: ImportError, candidates: tuple[str, ...] = tuple(MODULES)) -> str | None:
    """The extra (among ``candidates``) that would have provided the module ``exc`` lacks."""
    name = exc.name or ""
    for extra in candidates:
        for module in MODULES[extra]:
            root = module.split(".")[0]
            if name in (module, root) or name.startswith(module + "."):
                return extra
    return None
