"""clusterdns env: the service environment variables the kubelet injects into a pod."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clusterdns.errors import ClusterDNSError
from clusterdns.podconfig.envvars import load_services, pod_service_env

DESCRIPTION = """\
Print the <SVC>_SERVICE_HOST/_PORT and Docker-link <SVC>_PORT_* variables the kubelet
injects into every container of a pod in NAMESPACE, from the services in CLUSTER.yaml
(`kubectl get svc -A -o yaml`).  Headless and ExternalName services give none; the
`kubernetes` service of `default` is always there, even with --no-service-links.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("namespace", metavar="NAMESPACE")
    parser.add_argument("--cluster", required=True, metavar="CLUSTER.yaml")
    links = parser.add_mutually_exclusive_group()
    links.add_argument(
        "--enable-service-links",
        dest="service_links",
        action="store_true",
        default=True,
        help="pod.spec.enableServiceLinks: true (the default)",
    )
    links.add_argument(
        "--no-service-links",
        dest="service_links",
        action="store_false",
        help="pod.spec.enableServiceLinks: false",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    try:
        text = Path(args.cluster).read_text()
    except OSError as exc:
        raise ClusterDNSError(f"cannot read {args.cluster}: {exc.strerror}") from exc
    env = pod_service_env(load_services(text, args.cluster), args.namespace, args.service_links)
    if args.json:
        print(json.dumps([{"name": k, "value": v} for k, v in env], indent=2))
    else:
        for name, value in env:
            print(f"{name}={value}")
    return 0
