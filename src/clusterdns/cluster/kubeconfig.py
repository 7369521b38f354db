"""Where the Kubernetes API is and how to authenticate to it.

Three ways in, as CoreDNS's *kubernetes* plugin has them (setup.go,
kubernetes.go ``getClientConfig``):

* ``kubeconfig FILE [CONTEXT]``: a kubeconfig file (``clusters``, ``users``,
  ``contexts``, ``current-context``): server, CA (file or data),
  ``insecure-skip-tls-verify``, ``tls-server-name``, client certificate and key
  (file or data), bearer token or token file, username and password.  Relative
  paths in it are relative to the file, as kubectl reads them.
* ``endpoint URL`` with ``tls CERT KEY CACERT``.
* neither: in-cluster, from ``KUBERNETES_SERVICE_HOST``/``_PORT`` and the
  service account's token and CA under
  ``/var/run/secrets/kubernetes.io/serviceaccount`` (the token file is re-read
  when it changes: kubelet rotates it).

``load_kubeconfig`` and ``in_cluster`` read files through the ``read`` argument
and return a frozen ``Connection``; nothing here opens a socket.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clusterdns.errors import ClusterDNSError

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeconfigError(ClusterDNSError):
    """The connection settings are unusable; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class Connection:
    server: str  # https://10.96.0.1:443
    ca_file: str = ""
    ca_data: bytes = b""
    insecure: bool = False
    tls_server_name: str = ""
    cert_file: str = ""
    cert_data: bytes = b""
    key_file: str = ""
    key_data: bytes = b""
    token: str = ""
    token_file: str = ""
    username: str = ""
    password: str = ""

    @property
    def host(self) -> str:
        """host:port of the server, for metric labels and messages."""
        rest = self.server.split("://", 1)[-1]
        return rest.split("/", 1)[0]


def _read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def load_kubeconfig(
    path: str, context: str = "", read: Callable[[str], str] = _read_text
) -> Connection:
    """The connection of ``context`` (default: ``current-context``) in the kubeconfig at ``path``."""
    try:
        doc = yaml.safe_load(read(path))
    except OSError as err:
        raise KubeconfigError(f"kubeconfig {path}: cannot read: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise KubeconfigError(f"kubeconfig {path}: not valid YAML: {err}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
    name = context or doc.get("current-context") or ""
    if not name:
        raise KubeconfigError(f"kubeconfig {path}: no current-context; name a CONTEXT")
    ctx = _named(doc, "contexts", "context", name, path)
    cluster = _named(doc, "clusters", "cluster", str(ctx.get("cluster", "")), path)
    user_name = str(ctx.get("user", ""))
    user = _named(doc, "users", "user", user_name, path) if user_name else {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise KubeconfigError(f"kubeconfig {path}: cluster of context {name!r} has no server")
    base = os.path.dirname(os.path.abspath(path))
    if user.get("exec") or user.get("auth-provider"):
        raise KubeconfigError(
            f"kubeconfig {path}: user {user_name!r} uses an exec or auth-provider plugin, "
            "which clusterdns does not run; use a token, a token file or a client certificate"
        )
    return Connection(
        server=server.rstrip("/"),
        ca_file=_path(cluster.get("certificate-authority"), base),
        ca_data=_data(
            cluster.get("certificate-authority-data"), path, "certificate-authority-data"
        ),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=str(cluster.get("tls-server-name") or ""),
        cert_file=_path(user.get("client-certificate"), base),
        cert_data=_data(user.get("client-certificate-data"), path, "client-certificate-data"),
        key_file=_path(user.get("client-key"), base),
        key_data=_data(user.get("client-key-data"), path, "client-key-data"),
        token=str(user.get("token") or ""),
        token_file=_path(user.get("tokenFile"), base),
        username=str(user.get("username") or ""),
        password=str(user.get("password") or ""),
    )


def _named(
    doc: Mapping[str, Any], section: str, field: str, name: str, path: str
) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(field)
            return value if isinstance(value, dict) else {}
    raise KubeconfigError(f"kubeconfig {path}: no {section[:-1]} named {name!r}")


def _path(value: Any, base: str) -> str:
    if not value:
        return ""
    return str(value) if os.path.isabs(str(value)) else os.path.join(base, str(value))


def _data(value: Any, path: str, field: str) -> bytes:
    if not value:
        return b""
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise KubeconfigError(f"kubeconfig {path}: {field} is not base64") from None


def from_endpoint(url: str, cert: str = "", key: str = "", ca: str = "") -> Connection:
    """``endpoint URL`` and ``tls CERT KEY CACERT``."""
    return Connection(server=url.rstrip("/"), cert_file=cert, key_file=key, ca_file=ca)


def in_cluster(env: Mapping[str, str], account_dir: str = SERVICE_ACCOUNT_DIR) -> Connection:
    """The in-cluster connection (client-go ``rest.InClusterConfig``)."""
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    port = env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeconfigError(
            "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
            "are unset; give the kubernetes plugin 'kubeconfig FILE' or 'endpoint URL'"
        )
    if ":" in host:
        host = f"[{host}]"
    return Connection(
        server=f"https://{host}:{port}",
        ca_file=os.path.join(account_dir, "ca.crt"),
        token_file=os.path.join(account_dir, "token"),
    )


def ssl_context(conn: Connection) -> ssl.SSLContext | None:
    """The TLS settings of ``conn`` (None for plain http://); raise KubeconfigError if unusable."""
    if not conn.server.startswith("https://"):
        return None
    context = ssl.create_default_context()
    try:
        if conn.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif conn.ca_data:
            context.load_verify_locations(cadata=conn.ca_data.decode("ascii", "replace"))
        elif conn.ca_file:
            context.load_verify_locations(cafile=conn.ca_file)
        if conn.cert_data or conn.cert_file:
            _load_client_cert(context, conn)
    except (OSError, ssl.SSLError) as err:
        raise KubeconfigError(f"TLS settings for {conn.server}: {err}") from None
    return context


def _load_client_cert(context: ssl.SSLContext, conn: Connection) -> None:
    if conn.cert_file and conn.key_file and not (conn.cert_data or conn.key_data):
        context.load_cert_chain(conn.cert_file, conn.key_file)
        return
    # the ssl module loads a certificate only from a file: write the inline data to a
    # private temporary directory for the moment of loading
    with tempfile.TemporaryDirectory() as folder:
        cert = _materialize(conn.cert_data, conn.cert_file, folder, "client.crt")
        key = _materialize(conn.key_data, conn.key_file, folder, "client.key")
        context.load_cert_chain(cert, key or None)


def _materialize(data: bytes, file: str, folder: str, name: str) -> str:
    if not data:
        return file
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


class Credentials:
    """The Authorization header for ``conn``, re-reading a token file when it changes."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._token = conn.token
        self._stamp: tuple[int, int] | None = None

    def header(self) -> str | None:
        conn = self.conn
        if conn.token_file:
            self._refresh_token_file()
        if self._token:
            return f"Bearer {self._token}"
        if conn.username:
            pair = f"{conn.username}:{conn.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None

    def _refresh_token_file(self) -> None:
        try:
            st = os.stat(self.conn.token_file)
        except OSError:
            return  # keep the last token read; the API server says 401 if it is gone stale
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp == self._stamp:
            return
        try:
            self._token = Path(self.conn.token_file).read_text(encoding="utf-8").strip()
            self._stamp = stamp
        except OSError:
            return
