"""kubeconfig as client-go's clientcmd reads it, and the credentials each request carries.

Behaviour matched: clientcmd validation.go (validateClusterInfo: a CA with the
insecure flag is refused; validateAuthInfo: exec apiVersion, command,
interactiveMode required for v1), client-go's exec authenticator
(plugin/pkg/client/auth/exec/exec.go: KUBERNETES_EXEC_INFO, args and env,
cached until expirationTimestamp, re-run after a 401 to the credential it gave,
"executable ... not found" with the installHint) and transport/token_source.go
(a token file is re-read every minute and after a 401).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from clusterdns.cluster.credentials import CredentialError, Credentials
from clusterdns.cluster.kubeconfig import KubeconfigError, load_kubeconfig
from tests.support.kubeconfigs import exec_user, plugin_runs, write_exec_plugin, write_kubeconfig

SERVER = "https://10.96.0.1:443"
V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
CA_PEM = b"-----BEGIN CERTIFICATE-----\nnot checked at load\n-----END CERTIFICATE-----\n"


def _exec(**fields: Any) -> dict[str, Any]:
    return {
        "exec": {"apiVersion": V1, "command": "get-token", "interactiveMode": "Never", **fields}
    }


REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "exec apiVersion",
        {"server": SERVER},
        _exec(apiVersion="x"),
        "users[0].user.exec.apiVersion 'x': must be one of",
    ),
    (
        "exec v1alpha1 is gone",
        {"server": SERVER},
        _exec(apiVersion="client.authentication.k8s.io/v1alpha1"),
        "users[0].user.exec.apiVersion",
    ),
    ("exec command", {"server": SERVER}, _exec(command=""), "users[0].user.exec.command: required"),
    (
        "exec v1 needs interactiveMode",
        {"server": SERVER},
        _exec(interactiveMode=None),
        "users[0].user.exec.interactiveMode: required",
    ),
    (
        "exec interactiveMode Always",
        {"server": SERVER},
        _exec(interactiveMode="Always"),
        "users[0].user.exec.interactiveMode 'Always'",
    ),
    (
        "exec interactiveMode unknown",
        {"server": SERVER},
        _exec(interactiveMode="Sometimes"),
        "users[0].user.exec.interactiveMode 'Sometimes'",
    ),
    (
        "exec env entry without a name",
        {"server": SERVER},
        _exec(env=[{"value": "x"}]),
        "users[0].user.exec.env[0]: needs a name",
    ),
    (
        "auth-provider",
        {"server": SERVER},
        {"auth-provider": {"name": "gcp"}},
        "users[0].user.auth-provider",
    ),
    (
        "socks proxy",
        {"server": SERVER, "proxy-url": "socks5://127.0.0.1:1080"},
        {},
        "clusters[0].cluster.proxy-url 'socks5://127.0.0.1:1080': SOCKS proxies are not supported",
    ),
    (
        "proxy not a URL",
        {"server": SERVER, "proxy-url": "127.0.0.1:3128"},
        {},
        "clusters[0].cluster.proxy-url '127.0.0.1:3128': not a proxy URL",
    ),
    (
        "insecure with a CA",
        {
            "server": SERVER,
            "insecure-skip-tls-verify": True,
            "certificate-authority-data": base64.b64encode(CA_PEM).decode(),
        },
        {},
        "clusters[0].cluster.insecure-skip-tls-verify: specifying a root certificates file",
    ),
    (
        "CA data not base64",
        {"server": SERVER, "certificate-authority-data": "%%%"},
        {},
        "clusters[0].cluster.certificate-authority-data: not base64",
    ),
    ("no server", {}, {}, "clusters[0].cluster.server"),
]


@pytest.mark.parametrize(
    ("cluster", "user", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_each_refusal_names_the_file_and_the_field(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], message: str
) -> None:
    if user.get("exec", {}).get("interactiveMode", "") is None:
        del user["exec"]["interactiveMode"]
    path = write_kubeconfig(tmp_path / "kubeconfig", cluster, user)
    with pytest.raises(KubeconfigError) as raised:
        load_kubeconfig(str(path))
    assert str(raised.value).startswith(f"kubeconfig {path}: ")
    assert message in str(raised.value)


def test_what_is_read_from_cluster_and_exec(tmp_path: Path) -> None:
    cluster = {
        "server": SERVER + "/",
        "tls-server-name": "kubernetes.default.svc",
        "proxy-url": "http://proxy.internal:3128",
        "certificate-authority-data": base64.b64encode(CA_PEM).decode(),
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"k": "v"}}],
    }
    user = {
        "exec": {
            "apiVersion": V1BETA1,  # interactiveMode defaults to IfAvailable in v1beta1
            "command": "aws",
            "args": ["eks", "get-token"],
            "env": [{"name": "AWS_PROFILE", "value": "dns"}],
            "installHint": "install the aws CLI",
            "provideClusterInfo": True,
        }
    }
    conn = load_kubeconfig(str(write_kubeconfig(tmp_path / "kubeconfig", cluster, user)))
    assert conn.server == SERVER
    assert conn.tls_server_name == "kubernetes.default.svc"
    assert conn.proxy_url == "http://proxy.internal:3128"
    assert conn.exec is not None
    assert conn.exec.args == ("eks", "get-token")
    assert conn.exec.env == (("AWS_PROFILE", "dns"),)
    assert conn.exec.interactive_mode == "IfAvailable"
    assert conn.exec.where == f"kubeconfig {tmp_path / 'kubeconfig'}: users[0].user.exec"
    assert json.loads(conn.exec.cluster_info) == {
        "server": SERVER,
        "tls-server-name": "kubernetes.default.svc",
        "certificate-authority-data": base64.b64encode(CA_PEM).decode(),
        "proxy-url": "http://proxy.internal:3128",
        "config": {"k": "v"},
    }


# ---------------------------------------------------------------- exec plugins, run for real


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _credentials(tmp_path: Path, clock: Clock, **env: str) -> tuple[Credentials, Path]:
    plugin, log = write_exec_plugin(tmp_path), tmp_path / "runs.jsonl"
    user = exec_user(plugin, log, args=("--region", "x"), **env)
    conn = load_kubeconfig(str(write_kubeconfig(tmp_path / "kubeconfig", {"server": SERVER}, user)))
    return Credentials(conn, clock=clock), log


def test_exec_token_is_cached_until_expiry_then_run_again(tmp_path: Path) -> None:
    expires = "2030-01-01T00:00:00Z"
    at_expiry = 1893456000.0  # 2030-01-01T00:00:00Z
    clock = Clock(at_expiry - 100)
    credentials, log = _credentials(tmp_path, clock, EXPIRES=expires)

    async def headers() -> list[str | None]:
        seen = [await credentials.header()]
        seen.append(await credentials.header())
        clock.now = at_expiry - 1
        seen.append(await credentials.header())
        clock.now = at_expiry
        seen.append(await credentials.header())
        return seen

    assert asyncio.run(headers()) == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert plugin_runs(log) == 2


def test_exec_gets_args_env_and_cluster_info(tmp_path: Path) -> None:
    credentials, log = _credentials(tmp_path, Clock(0), EXTRA="yes")
    asyncio.run(credentials.header())
    run = json.loads(log.read_text().splitlines()[0])
    assert run["args"] == ["--region", "x"]
    assert run["env"]["EXTRA"] == "yes"
    assert run["env"]["PATH"] == os.environ["PATH"]  # the process environment, plus env
    info = json.loads(run["env"]["KUBERNETES_EXEC_INFO"])
    assert info == {
        "apiVersion": V1,
        "kind": "ExecCredential",
        "spec": {"interactive": False, "cluster": {"server": SERVER}},
    }


def test_a_401_runs_the_plugin_again_once_for_many_refusals(tmp_path: Path) -> None:
    credentials, log = _credentials(tmp_path, Clock(0))

    async def flow() -> list[str | None]:
        first = await credentials.header()
        credentials.invalidate(first)
        second = await credentials.header()
        credentials.invalidate(first)  # a late 401 to the old token: already replaced
        return [first, second, await credentials.header()]

    assert asyncio.run(flow()) == ["Bearer token-1", "Bearer token-2", "Bearer token-2"]
    assert plugin_runs(log) == 2


def test_many_requests_at_once_run_the_plugin_once(tmp_path: Path) -> None:
    credentials, log = _credentials(tmp_path, Clock(0))

    async def together() -> set[str | None]:
        return set(await asyncio.gather(*(credentials.header() for _ in range(8))))

    assert asyncio.run(together()) == {"Bearer token-1"}
    assert plugin_runs(log) == 1


EXEC_FAILURES = [
    ("exit code", {"EXIT": "3"}, "failed with exit code 3"),
    (
        "wrong version back",
        {"API_VERSION": V1BETA1},
        f"configured to use API version {V1}, plugin returned version '{V1BETA1}'",
    ),
    ("bad expiry", {"EXPIRES": "tomorrow"}, "status.expirationTimestamp 'tomorrow'"),
]


@pytest.mark.parametrize(
    ("env", "message"), [c[1:] for c in EXEC_FAILURES], ids=[c[0] for c in EXEC_FAILURES]
)
def test_a_failing_plugin_is_named_with_its_kubeconfig_field(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    credentials, _ = _credentials(tmp_path, Clock(0), **env)
    with pytest.raises(CredentialError) as raised:
        asyncio.run(credentials.header())
    assert f"kubeconfig {tmp_path / 'kubeconfig'}: users[0].user.exec" in str(raised.value)
    assert message in str(raised.value)


def test_a_missing_plugin_shows_the_install_hint(tmp_path: Path) -> None:
    user = {
        "exec": {
            "apiVersion": V1,
            "command": str(tmp_path / "no-such-plugin"),
            "interactiveMode": "IfAvailable",
            "installHint": "brew install no-such-plugin",
        }
    }
    conn = load_kubeconfig(str(write_kubeconfig(tmp_path / "kc", {"server": SERVER}, user)))
    with pytest.raises(CredentialError) as raised:
        asyncio.run(Credentials(conn).header())
    assert "not found" in str(raised.value)
    assert str(raised.value).endswith("brew install no-such-plugin")


def test_a_static_token_wins_over_exec(tmp_path: Path) -> None:
    """client-go's exec round tripper leaves a request that has Authorization alone."""
    plugin, log = write_exec_plugin(tmp_path), tmp_path / "runs.jsonl"
    user = {"token": "static", **exec_user(plugin, log)}
    conn = load_kubeconfig(str(write_kubeconfig(tmp_path / "kc", {"server": SERVER}, user)))
    assert asyncio.run(Credentials(conn).header()) == "Bearer static"
    assert plugin_runs(log) == 0


# ---------------------------------------------------------------- token files


def test_a_token_file_is_reread_each_minute_on_change_and_after_a_401(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one\n")
    user = {"tokenFile": str(token)}
    conn = load_kubeconfig(str(write_kubeconfig(tmp_path / "kc", {"server": SERVER}, user)))
    clock = Clock(1000.0)
    credentials = Credentials(conn, clock=clock)

    def rewrite_keeping_stamp(text: str) -> None:
        st = os.stat(token)
        token.write_text(text)
        os.utime(token, ns=(st.st_atime_ns, st.st_mtime_ns))

    async def flow() -> list[str | None]:
        seen = [await credentials.header()]
        rewrite_keeping_stamp("two")  # unseen by the stat: waits for the period
        seen.append(await credentials.header())
        clock.now += 60
        seen.append(await credentials.header())
        rewrite_keeping_stamp("three")
        credentials.invalidate(seen[-1])  # a 401: read it again now
        seen.append(await credentials.header())
        token.write_text("four")  # a new mtime: read at once
        os.utime(token, ns=(1, 1))
        seen.append(await credentials.header())
        return seen

    assert asyncio.run(flow()) == [
        "Bearer one",
        "Bearer one",
        "Bearer two",
        "Bearer three",
        "Bearer four",
    ]
