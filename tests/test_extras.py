"""Optional dependencies: a plugin or command whose extra is missing says which to install.

Each case runs the real `clusterdns` command in a subprocess where the optional module is
blocked (``sys.modules[name] = None`` makes its import fail as if it were not installed),
which is what a core-only install looks like to our code. tests/deploy/test_install.py
checks one real venv with the core alone.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusterdns import extras
from clusterdns.cli import COMMANDS
from tests.support.deployed import ROOT
from tests.support.upstream import free_port

# Every module an extra brings: blocked together, they leave the core install.
EVERY_OPTIONAL = sorted(
    {m.split(".")[0] for mods in extras.MODULES.values() for m in mods} | {"google.protobuf"}
)

RUN_BLOCKED = """\
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from clusterdns.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_blocked(blocked: list[str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_BLOCKED, ",".join(blocked), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@dataclass(frozen=True, slots=True)
class PluginCase:
    directive: str
    block: str
    blocked: tuple[str, ...]
    extra: str


PLUGIN_CASES = [
    PluginCase(
        "etcd",
        "etcd cluster.test {\n        endpoint http://127.0.0.1:1\n    }",
        ("aetcd",),
        "etcd",
    ),
    PluginCase("etcd", "etcd cluster.test", ("grpc",), "etcd"),
    PluginCase("dnstap", "dnstap unix:///nonexistent/tap.sock", ("google.protobuf",), "dnstap"),
    PluginCase("trace", "trace zipkin 127.0.0.1:1", ("opentelemetry",), "trace"),
]


@pytest.mark.parametrize("case", PLUGIN_CASES, ids=lambda c: f"{c.directive}-{c.blocked[0]}")
def test_corefile_with_a_plugin_whose_extra_is_missing_is_refused(
    case: PluginCase, tmp_path: Path
) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(f".:{free_port()} {{\n    bind 127.0.0.1\n    {case.block}\n    whoami\n}}\n")
    result = run_blocked(list(case.blocked), "serve", "-conf", str(conf))
    assert result.returncode == 1, result.stderr
    assert f"plugin/{case.directive}: {conf}:3: " in result.stderr
    assert f"pip install 'clusterdns[{case.extra}]'" in result.stderr


@dataclass(frozen=True, slots=True)
class CommandCase:
    argv: tuple[str, ...]
    blocked: tuple[str, ...]
    extra: str


COMMAND_CASES = [
    CommandCase(("tap", "-r", "/nonexistent.fstrm"), ("google.protobuf",), "dnstap"),
    CommandCase(("doctor",), ("rich",), "tools"),
    CommandCase(("explain", "kubernetes.default"), ("rich",), "tools"),
    CommandCase(("synth", "--services", "1"), ("rich",), "tools"),
    # before a single query is sent: the server named here does not exist
    CommandCase(
        ("bench", "--server", "127.0.0.1:1", "-n", "1", "--plot", "/nonexistent.png"),
        ("matplotlib",),
        "plot",
    ),
]


@pytest.mark.parametrize("case", COMMAND_CASES, ids=lambda c: f"{c.argv[0]}-{c.blocked[0]}")
def test_command_whose_extra_is_missing_names_it(case: CommandCase) -> None:
    result = run_blocked(list(case.blocked), *case.argv)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"clusterdns {case.argv[0]}: ")
    assert f"pip install 'clusterdns[{case.extra}]'" in result.stderr


def test_help_lists_every_subcommand_without_the_tools_extra() -> None:
    result = run_blocked(EVERY_OPTIONAL, "--help")
    assert result.returncode == 0, result.stderr
    for name, help_line in COMMANDS.items():
        assert name in result.stdout
        assert " ".join(help_line.split()[:4]) in " ".join(result.stdout.split())


def test_every_subcommand_module_is_in_the_table() -> None:
    modules = {p.stem for p in (ROOT / "src/clusterdns/cli").glob("[a-z]*.py")}
    assert modules == set(COMMANDS)


CORE_CHECK = """\
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from clusterdns.corefile import parse
from clusterdns.plugins import registry
import clusterdns.cli.nodecache, clusterdns.cli.serve, clusterdns.nodecache.app
for path in sys.argv[2:]:
    for block in parse(open(path).read(), path):
        for directive in block.directives:
            assert registry.setup_function(directive.name) is not None, directive.name
print("ok")
"""


def test_kubeadm_and_nodelocaldns_corefiles_need_no_extra(tmp_path: Path) -> None:
    """What `serve` and `nodecache` import for the two Corefiles the manifests run."""
    from tests.support.deployed import configmap_corefile

    kubeadm = tmp_path / "Corefile"
    kubeadm.write_text(configmap_corefile())
    nodelocal = ROOT / "src/clusterdns/nodecache/Corefile.base"
    result = subprocess.run(
        [sys.executable, "-c", CORE_CHECK, ",".join(EVERY_OPTIONAL), str(kubeadm), str(nodelocal)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.stdout == "ok\n", result.stderr


def test_pyproject_extras_are_the_ones_errors_name() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    optional = pyproject["project"]["optional-dependencies"]
    assert set(extras.MODULES) <= set(optional)
    assert set(extras.PLUGINS.values()) | set(extras.COMMANDS.values()) <= set(extras.MODULES)
    core = " ".join(pyproject["project"]["dependencies"]).lower()
    for modules in extras.MODULES.values():
        for module in modules:
            assert module.split(".")[0].replace("_", "-") not in core
