"""Where the Kubernetes API is and how to authenticate to it.

Three ways in, as CoreDNS's *kubernetes* plugin has them (setup.go,
kubernetes.go ``getClientConfig``):

* ``kubeconfig FILE [CONTEXT]``: a kubeconfig file (``clusters``, ``users``,
  ``contexts``, ``current-context``), read as client-go's clientcmd reads it:
  server, ``proxy-url``, CA (file or data), ``insecure-skip-tls-verify``,
  ``tls-server-name``, client certificate and key (file or data), bearer token
  or token file, username and password, and ``exec`` credential plugins
  (``client.authentication.k8s.io/v1`` and ``v1beta1``).  Relative paths in it
  are relative to the file, as kubectl reads them.
* ``endpoint URL`` with ``tls CERT KEY CACERT``.
* neither: in-cluster, from ``KUBERNETES_SERVICE_HOST``/``_PORT`` and the
  service account's token and CA under
  ``/var/run/secrets/kubernetes.io/serviceaccount``.

``load_kubeconfig`` and ``in_cluster`` read files through the ``read`` argument
and return a frozen ``Connection``; nothing here opens a socket or runs a
command (``credentials`` runs exec plugins and reads token files).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from clusterdns.errors import ClusterDNSError

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: the ExecCredential versions client-go still speaks (v1alpha1 was removed in 1.24)
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
#: interactiveMode values (client-go's clientcmd/api ExecInteractiveMode)
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
PROXY_SCHEMES = ("http", "https")


class KubeconfigError(ClusterDNSError):
    """The connection settings are unusable; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class ExecConfig:
    """``users[].user.exec``: a command that prints an ExecCredential on stdout."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = EXEC_API_VERSIONS[0]
    install_hint: str = ""
    interactive_mode: str = "Never"
    #: the ``spec.cluster`` sent in KUBERNETES_EXEC_INFO when ``provideClusterInfo``
    #: is set, as JSON text ("" when not asked for)
    cluster_info: str = ""
    #: where it was read, for messages: ``kubeconfig /path: users[0].user.exec``
    where: str = ""


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
    proxy_url: str = ""
    exec: ExecConfig | None = None

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
    _, ctx = _named(doc, "contexts", "context", name, path)
    cluster_at, cluster = _named(doc, "clusters", "cluster", str(ctx.get("cluster", "")), path)
    user_name = str(ctx.get("user", ""))
    user_at, user = _named(doc, "users", "user", user_name, path) if user_name else ("", {})
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise KubeconfigError(f"kubeconfig {path}: {cluster_at}.server: the cluster has none")
    base = os.path.dirname(os.path.abspath(path))
    conn = Connection(
        server=server.rstrip("/"),
        ca_file=_path(cluster.get("certificate-authority"), base),
        ca_data=_data(cluster, "certificate-authority-data", f"kubeconfig {path}: {cluster_at}"),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=str(cluster.get("tls-server-name") or ""),
        cert_file=_path(user.get("client-certificate"), base),
        cert_data=_data(user, "client-certificate-data", f"kubeconfig {path}: {user_at}"),
        key_file=_path(user.get("client-key"), base),
        key_data=_data(user, "client-key-data", f"kubeconfig {path}: {user_at}"),
        token=str(user.get("token") or ""),
        token_file=_path(user.get("tokenFile"), base),
        username=str(user.get("username") or ""),
        password=str(user.get("password") or ""),
        proxy_url=_proxy_url(cluster.get("proxy-url"), f"kubeconfig {path}: {cluster_at}"),
    )
    _check_cluster(conn, f"kubeconfig {path}: {cluster_at}")
    if user.get("auth-provider"):
        raise KubeconfigError(
            f"kubeconfig {path}: {user_at}.auth-provider: auth-provider plugins are not run by "
            "clusterdns (client-go removed its gcp and azure providers); use an exec plugin, "
            "a token, a token file or a client certificate"
        )
    if user.get("exec"):
        exec_config = _exec(user["exec"], cluster, conn, f"kubeconfig {path}: {user_at}.exec")
        return dataclasses.replace(conn, exec=exec_config)
    return conn


def _named(
    doc: Mapping[str, Any], section: str, field: str, name: str, path: str
) -> tuple[str, dict[str, Any]]:
    """``(where, entry)``: the entry of ``section`` called ``name``, and ``users[2].user``."""
    for index, entry in enumerate(doc.get(section) or []):
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(field)
            return f"{section}[{index}].{field}", value if isinstance(value, dict) else {}
    raise KubeconfigError(f"kubeconfig {path}: no {section[:-1]} named {name!r}")


def _path(value: Any, base: str) -> str:
    if not value:
        return ""
    return str(value) if os.path.isabs(str(value)) else os.path.join(base, str(value))


def _data(section: Mapping[str, Any], field: str, where: str) -> bytes:
    value = section.get(field)
    if not value:
        return b""
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise KubeconfigError(f"{where}.{field}: not base64") from None


def _proxy_url(value: Any, where: str) -> str:
    """``proxy-url``: http:// and https:// proxies (client-go also speaks socks5)."""
    if not value:
        return ""
    url = str(value)
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("socks5", "socks5h"):
        raise KubeconfigError(
            f"{where}.proxy-url {url!r}: SOCKS proxies are not supported by clusterdns; "
            "use an http:// or https:// proxy (HTTP CONNECT)"
        )
    if scheme not in PROXY_SCHEMES or not urlsplit(url).hostname:
        raise KubeconfigError(
            f"{where}.proxy-url {url!r}: not a proxy URL; give http://HOST:PORT or https://HOST:PORT"
        )
    return url


def _check_cluster(conn: Connection, where: str) -> None:
    # clientcmd validation.go validateClusterInfo: a CA together with the insecure flag
    # is refused rather than silently ignoring one of them
    if conn.insecure and (conn.ca_file or conn.ca_data):
        raise KubeconfigError(
            f"{where}.insecure-skip-tls-verify: specifying a root certificates file with the "
            "insecure flag is not allowed; drop one of them"
        )


def _exec(value: Any, cluster: Mapping[str, Any], conn: Connection, where: str) -> ExecConfig:
    """``users[].user.exec``, checked as clientcmd's validateAuthInfo checks it."""
    if not isinstance(value, dict):
        raise KubeconfigError(f"{where}: expected a mapping")
    api_version = str(value.get("apiVersion") or "")
    if api_version not in EXEC_API_VERSIONS:
        raise KubeconfigError(
            f"{where}.apiVersion {api_version!r}: must be one of {', '.join(EXEC_API_VERSIONS)}"
        )
    command = str(value.get("command") or "")
    if not command:
        raise KubeconfigError(f"{where}.command: required (the credential plugin to run)")
    mode = str(value.get("interactiveMode") or "")
    if not mode:
        if api_version.endswith("/v1"):
            raise KubeconfigError(
                f"{where}.interactiveMode: required for {api_version}; give Never or IfAvailable"
            )
        mode = "IfAvailable"  # v1beta1's default
    if mode not in INTERACTIVE_MODES:
        raise KubeconfigError(
            f"{where}.interactiveMode {mode!r}: must be one of {', '.join(INTERACTIVE_MODES)}"
        )
    if mode == "Always":
        raise KubeconfigError(
            f"{where}.interactiveMode 'Always': clusterdns runs without a terminal, so the "
            "plugin can never be interactive; use Never or IfAvailable"
        )
    args = value.get("args") or []
    if not isinstance(args, list):
        raise KubeconfigError(f"{where}.args: expected a list of strings")
    return ExecConfig(
        command=command,
        args=tuple(str(arg) for arg in args),
        env=_exec_env(value.get("env") or [], where),
        api_version=api_version,
        install_hint=str(value.get("installHint") or ""),
        interactive_mode=mode,
        cluster_info=_cluster_info(cluster, conn) if value.get("provideClusterInfo") else "",
        where=where,
    )


def _exec_env(entries: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(entries, list):
        raise KubeconfigError(f"{where}.env: expected a list of name/value pairs")
    pairs: list[tuple[str, str]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise KubeconfigError(f"{where}.env[{index}]: needs a name and a value")
        pairs.append((str(entry["name"]), str(entry.get("value") or "")))
    return tuple(pairs)


def _cluster_info(cluster: Mapping[str, Any], conn: Connection) -> str:
    """ExecCredential ``spec.cluster`` (client-go clientauthentication Cluster)."""
    ca = conn.ca_data
    if not ca and conn.ca_file:
        try:
            ca = Path(conn.ca_file).read_bytes()
        except OSError:
            ca = b""  # the TLS set-up reports the unreadable file, naming it
    info: dict[str, Any] = {"server": conn.server}
    if conn.tls_server_name:
        info["tls-server-name"] = conn.tls_server_name
    if conn.insecure:
        info["insecure-skip-tls-verify"] = True
    if ca:
        info["certificate-authority-data"] = base64.b64encode(ca).decode("ascii")
    if conn.proxy_url:
        info["proxy-url"] = conn.proxy_url
    if cluster.get("disable-compression"):
        info["disable-compression"] = True
    # clusters[].extensions[] named client.authentication.k8s.io/exec becomes spec.cluster.config
    for extension in cluster.get("extensions") or []:
        if (
            isinstance(extension, dict)
            and extension.get("name") == "client.authentication.k8s.io/exec"
        ):
            info["config"] = extension.get("extension")
    return json.dumps(info)


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


def ssl_context(
    conn: Connection, client_pem: tuple[bytes, bytes] | None = None
) -> ssl.SSLContext | None:
    """The TLS settings of ``conn`` (None for plain http://); raise KubeconfigError if unusable.

    ``client_pem`` is a client certificate and key an exec plugin returned; it
    takes the place of the connection's own.
    """
    if not conn.server.startswith("https://"):
        return None
    try:
        context = _verifying_context(conn)
        if client_pem is not None:
            _load_cert_chain(context, client_pem[0], "", client_pem[1], "")
        elif conn.cert_data or conn.cert_file:
            _load_cert_chain(context, conn.cert_data, conn.cert_file, conn.key_data, conn.key_file)
    except (OSError, ssl.SSLError) as err:
        raise KubeconfigError(f"TLS settings for {conn.server}: {err}") from None
    return context


def _verifying_context(conn: Connection) -> ssl.SSLContext:
    if conn.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif conn.ca_data or conn.ca_file:
        # client-go (transport/tls.go rootCertPool): a CA given replaces the system
        # roots; it is not added to them.  Inline data wins over the file (dataFromSliceOrFile).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if conn.ca_data:
            context.load_verify_locations(cadata=conn.ca_data.decode("ascii", "replace"))
        else:
            context.load_verify_locations(cafile=conn.ca_file)
    else:
        context = ssl.create_default_context()  # the system roots, as Go's x509 pool
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # client-go's floor
    return context


def _load_cert_chain(
    context: ssl.SSLContext, cert_data: bytes, cert_file: str, key_data: bytes, key_file: str
) -> None:
    if not (cert_data or key_data):
        context.load_cert_chain(cert_file, key_file or None)
        return
    # the ssl module loads a certificate only from a file: write the inline data to a
    # private temporary directory for the moment of loading
    with tempfile.TemporaryDirectory() as folder:
        cert = _materialize(cert_data, cert_file, folder, "client.crt")
        key = _materialize(key_data, key_file, folder, "client.key")
        context.load_cert_chain(cert, key or None)


def _materialize(data: bytes, file: str, folder: str, name: str) -> str:
    if not data:
        return file
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path
