"""The credentials each API request carries, kept fresh as client-go keeps them.

* A bearer token from the kubeconfig, or from a token file.  client-go
  (transport/token_source.go ``NewCachedFileTokenSource``) re-reads a token
  file every minute and after a 401; this does too, and also as soon as the
  file changes (kubelet swaps a projected service-account token in place
  well before it expires, hourly by default).
* An ``exec`` credential plugin (client-go plugin/pkg/client/auth/exec): the
  command is run with the kubeconfig's ``args`` and ``env`` and
  ``KUBERNETES_EXEC_INFO``, no stdin (clusterdns is never interactive) and
  stderr passed through; its ExecCredential's token or client certificate is
  used until ``status.expirationTimestamp`` (for ever without one), and the
  plugin is run again when the API server answers 401 to the credential it
  gave.  One run at a time: the reflectors that ask meanwhile wait for it.
  Unlike client-go, a plugin that has not exited after ``EXEC_TIMEOUT`` is
  killed, so a hung plugin cannot stop every resource's reflector for good.
* Username and password (basic auth).

``parse_exec_credential`` and ``exec_info`` are pure; ``Credentials`` does the
running and reading.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterdns.cluster.kubeconfig import Connection, ExecConfig, KubeconfigError, ssl_context
from clusterdns.errors import ClusterDNSError

log = logging.getLogger("clusterdns.plugins.kubernetes")

#: client-go's token file period (token_source.go: half the gap kubelet leaves)
TOKEN_FILE_PERIOD = 60.0
EXEC_TIMEOUT = 60.0


class CredentialError(ClusterDNSError):
    """No credential could be had (an exec plugin failed); the message says which and why."""


@dataclass(frozen=True, slots=True)
class ExecCredential:
    """What an exec plugin returned: a token and/or a client certificate and key (PEM)."""

    token: str = ""
    cert_pem: bytes = b""
    key_pem: bytes = b""
    #: unix time after which it is run again; None: never
    expires: float | None = None


def exec_info(config: ExecConfig) -> str:
    """KUBERNETES_EXEC_INFO: the ExecCredential handed to the plugin (spec only)."""
    spec: dict[str, Any] = {"interactive": False}
    if config.cluster_info:
        spec["cluster"] = json.loads(config.cluster_info)
    return json.dumps({"apiVersion": config.api_version, "kind": "ExecCredential", "spec": spec})


def parse_exec_credential(stdout: bytes, config: ExecConfig) -> ExecCredential:
    """The plugin's stdout, checked as client-go's exec authenticator checks it."""
    where = f"{config.where} {config.command!r}"
    try:
        doc = json.loads(stdout)
    except ValueError as err:
        raise CredentialError(f"{where}: decoding stdout: {err}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise CredentialError(f"{where}: stdout is not an ExecCredential")
    if doc.get("apiVersion") != config.api_version:
        raise CredentialError(
            f"{where}: exec plugin is configured to use API version {config.api_version}, "
            f"plugin returned version {doc.get('apiVersion')!r}"
        )
    status = doc.get("status")
    if not isinstance(status, dict):
        raise CredentialError(f"{where}: exec plugin didn't return a status field")
    token = str(status.get("token") or "")
    cert = str(status.get("clientCertificateData") or "").encode()
    key = str(status.get("clientKeyData") or "").encode()
    if bool(cert) != bool(key):
        raise CredentialError(f"{where}: exec plugin returned only certificate or key, not both")
    if not token and not cert:
        raise CredentialError(f"{where}: exec plugin didn't return a token or cert/key pair")
    return ExecCredential(token, cert, key, _expiry(status.get("expirationTimestamp"), where))


def _expiry(value: Any, where: str) -> float | None:
    if not value:
        return None
    try:
        stamp = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        raise CredentialError(
            f"{where}: status.expirationTimestamp {value!r} is not an RFC 3339 time"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return stamp.timestamp()


class Credentials:
    """The Authorization header and TLS settings of each request to the API of ``conn``."""

    def __init__(
        self,
        conn: Connection,
        *,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.environ = environ
        self._ssl = ssl_context(conn)
        self._token = conn.token
        self._stamp: tuple[int, int] | None = None
        self._read_at = 0.0
        #: exec plugins run only when no static bearer token is set: client-go's exec
        #: round tripper leaves a request that already carries Authorization alone
        self._exec = conn.exec if not (conn.token or conn.token_file) else None
        self._exec_credential: ExecCredential | None = None
        self._exec_lock = asyncio.Lock()
        self.exec_runs = 0

    async def header(self) -> str | None:
        """``Bearer ...``/``Basic ...`` for the next request (None: none); raise CredentialError."""
        conn = self.conn
        if self._exec is not None:
            credential = await self._exec_credential_now()
            if credential.token:
                return f"Bearer {credential.token}"
        if conn.token_file:
            self._refresh_token_file()
        if self._token:
            return f"Bearer {self._token}"
        if conn.username:
            pair = f"{conn.username}:{conn.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None

    def tls(self) -> dict[str, Any]:
        """aiohttp request options: the TLS context and the name to verify and send as SNI."""
        if self._ssl is None:
            return {}
        options: dict[str, Any] = {"ssl": self._ssl}
        if self.conn.tls_server_name:
            # client-go (transport ServerName): verify the certificate against this name and
            # send it as SNI, while connecting to the server URL's host
            options["server_hostname"] = self.conn.tls_server_name
        return options

    def invalidate(self, sent: str | None) -> None:
        """The API server answered 401 to a request that carried ``sent``: fetch anew.

        As client-go, only when ``sent`` is still the current credential, so that
        several requests refused together run the plugin once.
        """
        credential = self._exec_credential
        if credential is not None and sent == (
            f"Bearer {credential.token}" if credential.token else None
        ):
            self._exec_credential = None
        if self.conn.token_file:
            self._stamp = None  # read the file again (client-go ResetTokenOlderThan)

    # -- exec plugins -----------------------------------------------------------------

    async def _exec_credential_now(self) -> ExecCredential:
        async with self._exec_lock:
            credential = self._exec_credential
            if credential is None or (
                credential.expires is not None and self.clock() >= credential.expires
            ):
                assert self._exec is not None
                credential = parse_exec_credential(await self._run(self._exec), self._exec)
                if credential.cert_pem:
                    self._ssl = self._client_cert_context(credential)
                self._exec_credential = credential
            return credential

    def _client_cert_context(self, credential: ExecCredential) -> ssl.SSLContext | None:
        try:
            return ssl_context(self.conn, (credential.cert_pem, credential.key_pem))
        except KubeconfigError as err:
            raise CredentialError(
                f"{self._where()}: the client certificate the plugin returned: {err}"
            ) from None

    def _where(self) -> str:
        assert self._exec is not None
        return f"{self._exec.where} {self._exec.command!r}"

    async def _run(self, config: ExecConfig) -> bytes:
        env = dict(self.environ)
        env.update(config.env)
        env["KUBERNETES_EXEC_INFO"] = exec_info(config)
        self.exec_runs += 1
        try:
            process = await asyncio.create_subprocess_exec(
                config.command,
                *config.args,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            hint = f"\n\n{config.install_hint}" if config.install_hint else ""
            raise CredentialError(
                f"{self._where()}: exec: executable {config.command} not found{hint}"
            ) from None
        except OSError as err:
            raise CredentialError(f"{self._where()}: cannot run: {err.strerror}") from None
        try:
            stdout, _ = await asyncio.wait_for(process.communicate(), EXEC_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise CredentialError(
                f"{self._where()}: did not exit within {EXEC_TIMEOUT:.0f}s; killed"
            ) from None
        if process.returncode != 0:
            raise CredentialError(
                f"{self._where()}: exec: executable {config.command} failed with exit code "
                f"{process.returncode}"
            )
        return stdout

    # -- token files ----------------------------------------------------------------------

    def _refresh_token_file(self) -> None:
        try:
            st = os.stat(self.conn.token_file)
        except OSError:
            return  # keep the last token read; the API server says 401 if it is gone stale
        stamp = (st.st_mtime_ns, st.st_ino)
        now = self.clock()
        if stamp == self._stamp and now - self._read_at < TOKEN_FILE_PERIOD:
            return
        try:
            self._token = Path(self.conn.token_file).read_text(encoding="utf-8").strip()
        except OSError:
            return
        self._stamp, self._read_at = stamp, now
