"""kubeconfig files and exec credential plugins written by tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

#: an exec credential plugin: logs each run (args, env) as a JSON line to $PLUGIN_LOG and
#: prints an ExecCredential whose token is ``token-<run number>``; $EXPIRES, when set, is
#: its expirationTimestamp, $EXIT a failing exit code, $API_VERSION the version it answers
EXEC_PLUGIN = """#!{python}
import json, os, sys
log = os.environ["PLUGIN_LOG"]
with open(log, "a") as handle:
    handle.write(json.dumps({{"args": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
if os.environ.get("EXIT"):
    sys.exit(int(os.environ["EXIT"]))
with open(log) as handle:
    runs = sum(1 for _ in handle)
status = {{"token": "token-%d" % runs}}
if os.environ.get("EXPIRES"):
    status["expirationTimestamp"] = os.environ["EXPIRES"]
version = os.environ.get("API_VERSION", "client.authentication.k8s.io/v1")
print(json.dumps({{"apiVersion": version, "kind": "ExecCredential", "status": status}}))
"""


def write_exec_plugin(folder: Path) -> Path:
    path = folder / "credential-plugin"
    path.write_text(EXEC_PLUGIN.format(python=sys.executable))
    path.chmod(0o755)
    return path


def write_kubeconfig(path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    """A kubeconfig with one cluster, one user and one current context joining them."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": cluster}],
                "users": [{"name": "dns", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "test", "user": "dns"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def exec_user(plugin: Path, log: Path, *, args: tuple[str, ...] = (), **env: str) -> dict[str, Any]:
    """``user.exec`` running ``plugin`` with PLUGIN_LOG=``log`` and ``env``."""
    pairs = [{"name": "PLUGIN_LOG", "value": str(log)}]
    pairs += [{"name": name, "value": value} for name, value in env.items()]
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "args": list(args),
            "env": pairs,
            "interactiveMode": "Never",
            "provideClusterInfo": True,
        }
    }


def plugin_runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0
