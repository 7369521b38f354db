"""kube-apiserver's validation of the objects cluster DNS reads, so tests meet its rules.

The rules are those of kubernetes pkg/apis/core/validation/validation.go
(``ValidateObjectMeta``, ``ValidateService``, ``validateServicePort``,
``ValidateServiceClusterIPsRelatedFields``, ``ValidateNamespace``, the pod
status ``podIPs`` checks) and pkg/apis/discovery/validation/validation.go
(``ValidateEndpointSlice``), for the fields DNS reads and their neighbours.
They run on the object as the server's defaulting would leave it (a port's
protocol defaults to TCP, a Service's type to ClusterIP, ``clusterIPs`` follows
``clusterIP``), without storing those defaults.  Refusals are 422 ``Invalid``
with ``details.causes`` and the message shape of apimachinery's
``errors.NewInvalid`` (``Service "web" is invalid: spec.ports[0].name: ...``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.apiserver.resources import Resource
from tests.support.apiserver.status import ApiError

PROTOCOLS = ("SCTP", "TCP", "UDP")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
SESSION_AFFINITIES = ("ClientIP", "None")
#: discovery validation.go limits (maxPorts went from 100 to 20 000 in kubernetes#99795)
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_SLICE_PORTS = 20000
MAX_POD_IPS = 2

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_LABEL}$")
_DNS1035_LABEL = re.compile("^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# apimachinery util/validation messages, word for word in meaning
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    f"regex used for validation is '{_LABEL}')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    f"used for validation is '{_LABEL}(\\.{_LABEL})*')"
)
QUALIFIED_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
PORT_MSG = "must be between 1 and 65535, inclusive"
IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One ``field.Error``: its type, path, and the body ``Error()`` prints after the path."""

    reason: str  # FieldValueInvalid, FieldValueRequired, ...
    field: str
    body: str

    def cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.body, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.body}"


def _quote(value: Any) -> str:
    # field.Error prints strings with %q and numbers bare
    return json.dumps(value) if isinstance(value, str) else str(value)


def invalid(path: str, value: Any, message: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, f"Invalid value: {_quote(value)}: {message}")


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(
        "FieldValueRequired", path, "Required value" + (f": {detail}" if detail else "")
    )


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", path, f"Duplicate value: {_quote(value)}")


def not_supported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    listed = ", ".join(_quote(s) for s in supported)
    return FieldError(
        "FieldValueNotSupported",
        path,
        f"Unsupported value: {_quote(value)}: supported values: {listed}",
    )


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", path, f"Forbidden: {detail}")


def too_many(path: str, count: int, limit: int) -> FieldError:
    return FieldError(
        "FieldValueTooMany", path, f"Too many: {count}: must have at most {limit} items"
    )


# ---------------------------------------------------------------- formats


def dns1123_label(value: Any, path: str) -> list[FieldError]:
    errors = []
    text = value if isinstance(value, str) else str(value)
    if len(text) > 63:
        errors.append(invalid(path, text, "must be no more than 63 characters"))
    if not _DNS1123_LABEL.match(text):
        errors.append(invalid(path, text, LABEL_MSG))
    return errors


def dns1035_label(value: str, path: str) -> list[FieldError]:
    errors = []
    if len(value) > 63:
        errors.append(invalid(path, value, "must be no more than 63 characters"))
    if not _DNS1035_LABEL.match(value):
        errors.append(invalid(path, value, DNS1035_MSG))
    return errors


def dns1123_subdomain(value: Any, path: str) -> list[FieldError]:
    errors = []
    text = value if isinstance(value, str) else str(value)
    if len(text) > 253:
        errors.append(invalid(path, text, "must be no more than 253 characters"))
    if not _DNS1123_SUBDOMAIN.match(text):
        errors.append(invalid(path, text, SUBDOMAIN_MSG))
    return errors


def qualified_name(value: Any, path: str) -> list[FieldError]:
    """IsQualifiedName: ``[prefix/]name``, the prefix a DNS subdomain, the name up to 63."""
    text = value if isinstance(value, str) else str(value)
    prefix, _, name = text.rpartition("/")
    errors = []
    if "/" in text and not prefix:
        errors.append(invalid(path, text, "prefix part must be non-empty"))
    elif prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        errors.append(invalid(path, text, "prefix part " + SUBDOMAIN_MSG))
    if not name:
        errors.append(invalid(path, text, "name part must be non-empty"))
    elif len(name) > 63:
        errors.append(invalid(path, text, "name part must be no more than 63 characters"))
    elif not _QUALIFIED_PART.match(name):
        errors.append(invalid(path, text, QUALIFIED_MSG))
    return errors


def parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """IsValidIP for new objects: strict parsing (no leading zeros, no zone index)."""
    if not isinstance(value, str) or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def valid_ip(value: Any, path: str) -> list[FieldError]:
    return [] if parse_ip(value) is not None else [invalid(path, value, IP_MSG)]


def endpoint_ip(value: str, path: str) -> list[FieldError]:
    """ValidateEndpointIP: no unspecified, loopback, link-local or link-local multicast."""
    address = parse_ip(value)
    if address is None:
        return []
    if address.is_unspecified:
        why = f"may not be unspecified ({address})"
    elif address.is_loopback:
        why = "may not be in the loopback range (127.0.0.0/8, ::1/128)"
    elif address.is_link_local:
        why = "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
    elif address in ipaddress.ip_network("224.0.0.0/24") or (
        address.version == 6 and address in ipaddress.ip_network("ff02::/16")
    ):
        why = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
    else:
        return []
    return [invalid(path, value, why)]


def port_number(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return [invalid(path, value, PORT_MSG)]
    return []


def protocol(value: Any, path: str) -> list[FieldError]:
    protocol_ = "TCP" if value is None else value  # SetDefaults_ServicePort / EndpointPort
    if protocol_ not in PROTOCOLS:
        return [not_supported(path, value, PROTOCOLS)]
    return []


# ---------------------------------------------------------------- metadata


def object_meta(
    obj: Mapping[str, Any], namespaced: bool, name_rule: Callable[[str, str], list[FieldError]]
) -> list[FieldError]:
    """ValidateObjectMeta: the name by the kind's rule, the namespace a DNS-1123 label, labels."""
    meta = obj.get("metadata") or {}
    errors: list[FieldError] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    else:
        errors += name_rule(name, "metadata.name")
    namespace = meta.get("namespace")
    if namespaced and namespace:
        errors += dns1123_label(namespace, "metadata.namespace")
    elif not namespaced and namespace:
        errors.append(forbidden("metadata.namespace", "not allowed on this type"))
    labels = meta.get("labels") or {}
    if isinstance(labels, Mapping):
        for key, value in labels.items():
            errors += qualified_name(key, "metadata.labels")
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                errors.append(invalid(f"metadata.labels[{key}]", value, "must be a label value"))
    return errors


# ---------------------------------------------------------------- Namespace


def validate_namespace(obj: Mapping[str, Any]) -> list[FieldError]:
    return object_meta(obj, False, dns1123_label)


# ---------------------------------------------------------------- Service


def validate_service(obj: Mapping[str, Any]) -> list[FieldError]:
    errors = object_meta(obj, True, dns1035_label)
    spec = obj.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    cluster_ip = spec.get("clusterIP") or ""
    cluster_ips = list(spec.get("clusterIPs") or [])
    # the strategy's normalizeClusterIPs: either field fills the other when it is unset
    if cluster_ip and not cluster_ips:
        cluster_ips = [cluster_ip]
    elif cluster_ips and not cluster_ip:
        cluster_ip = cluster_ips[0]
    headless = cluster_ips == ["None"]
    ports = spec.get("ports") or []
    if not ports and not headless and svc_type != "ExternalName":
        errors.append(required("spec.ports"))
    if svc_type in ("LoadBalancer", "NodePort") and headless:
        errors.append(
            invalid(
                "spec.clusterIPs[0]", "None", f"may not be set to 'None' for {svc_type} services"
            )
        )
    if svc_type == "ExternalName":
        errors += _external_name(spec, cluster_ips)
    errors += _service_ports(ports)
    affinity = spec.get("sessionAffinity") or "None"
    if affinity not in SESSION_AFFINITIES:
        errors.append(not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES))
    if svc_type != "ExternalName":
        errors += _cluster_ips(cluster_ip, cluster_ips, spec, headless)
    if svc_type not in SERVICE_TYPES:
        errors.append(not_supported("spec.type", svc_type, SERVICE_TYPES))
    if svc_type == "ClusterIP":
        for i, port in enumerate(ports):
            if isinstance(port, Mapping) and port.get("nodePort"):
                errors.append(
                    forbidden(
                        f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"
                    )
                )
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        if isinstance(port, Mapping):
            key = (port.get("protocol") or "TCP", port.get("port"))
            if key in seen:
                errors.append(duplicate(f"spec.ports[{i}]", {"port": key[1], "protocol": key[0]}))
            seen.add(key)
    return errors


def _external_name(spec: Mapping[str, Any], cluster_ips: list[Any]) -> list[FieldError]:
    errors = []
    if cluster_ips:
        errors.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    if spec.get("ipFamilies"):
        errors.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
    if spec.get("ipFamilyPolicy") is not None:
        errors.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
    # "The value (a CNAME) may have a trailing dot to denote it as fully qualified"
    external = spec.get("externalName") or ""
    cname = external[:-1] if isinstance(external, str) and external.endswith(".") else external
    if cname:
        errors += dns1123_subdomain(cname, "spec.externalName")
    else:
        errors.append(required("spec.externalName"))
    return errors


def _service_ports(ports: Any) -> list[FieldError]:
    if not isinstance(ports, list):
        return [invalid("spec.ports", ports, "must be a list")]
    errors: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        if not isinstance(port, Mapping):
            errors.append(invalid(path, port, "must be an object"))
            continue
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errors.append(required(f"{path}.name"))
        elif name:
            # validateServicePort: a DNS-1123 label (63), not IANA_SVC_NAME (15, container ports)
            errors += dns1123_label(name, f"{path}.name")
            if name in names:
                errors.append(duplicate(f"{path}.name", name))
            names.add(name)
        errors += port_number(port.get("port"), f"{path}.port")
        errors += protocol(port.get("protocol"), f"{path}.protocol")
        target = port.get("targetPort")
        if isinstance(target, int) and not isinstance(target, bool):
            errors += [
                invalid(f"{path}.targetPort", target, PORT_MSG) for _ in port_number(target, "")
            ]
        if port.get("appProtocol") is not None:
            errors += qualified_name(port["appProtocol"], f"{path}.appProtocol")
    return errors


def _cluster_ips(
    cluster_ip: str, cluster_ips: list[Any], spec: Mapping[str, Any], headless: bool
) -> list[FieldError]:
    """ValidateServiceClusterIPsRelatedFields."""
    errors: list[FieldError] = []
    if cluster_ip and cluster_ips[0] != cluster_ip:
        errors.append(invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`"))
    families = spec.get("ipFamilies") or []
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in IP_FAMILIES:
            errors.append(not_supported(f"spec.ipFamilies[{i}]", family, IP_FAMILIES))
        if family in seen:
            errors.append(duplicate(f"spec.ipFamilies[{i}]", family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errors.append(not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))
    bad_ip = False
    for i, ip in enumerate(cluster_ips):
        if i == 0 and ip == "None":
            if len(cluster_ips) > 1:
                bad_ip = True
                errors.append(
                    invalid(
                        "spec.clusterIPs", cluster_ips, "'None' must be the first and only value"
                    )
                )
            continue
        found = valid_ip(ip, f"spec.clusterIPs[{i}]")
        bad_ip = bad_ip or bool(found)
        errors += found
    if len(cluster_ips) > 2:
        errors.append(invalid("spec.clusterIPs", cluster_ips, "may only hold up to 2 values"))
    if bad_ip:
        return errors
    if len(cluster_ips) > 1:
        versions = {parse_ip(ip).version for ip in cluster_ips}  # type: ignore[union-attr]
        if len(versions) != len(cluster_ips):
            errors.append(
                invalid(
                    "spec.clusterIPs",
                    cluster_ips,
                    "may specify no more than one IP for each IP family",
                )
            )
    if not headless and policy == "SingleStack" and len(cluster_ips) > 1:
        errors.append(
            invalid(
                "spec.ipFamilyPolicy",
                policy,
                "must be RequireDualStack or PreferDualStack when multiple IP families are specified",
            )
        )
    if not headless:
        for i, (ip, family) in enumerate(zip(cluster_ips, families, strict=False)):
            version = parse_ip(ip).version  # type: ignore[union-attr]
            if family == "IPv4" and version == 6:
                errors.append(
                    invalid(
                        f"spec.clusterIPs[{i}]",
                        ip,
                        f"expected an IPv4 value as indicated by `ipFamilies[{i}]`",
                    )
                )
            if family == "IPv6" and version == 4:
                errors.append(
                    invalid(
                        f"spec.clusterIPs[{i}]",
                        ip,
                        f"expected an IPv6 value as indicated by `ipFamilies[{i}]`",
                    )
                )
    return errors


# ---------------------------------------------------------------- EndpointSlice


def validate_endpoint_slice(obj: Mapping[str, Any]) -> list[FieldError]:
    errors = object_meta(obj, True, dns1123_subdomain)
    address_type = obj.get("addressType")
    if not address_type:
        errors.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errors.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    errors += _slice_endpoints(obj.get("endpoints") or [], address_type)
    errors += _slice_ports(obj.get("ports") or [])
    return errors


def _slice_endpoints(endpoints: list[Any], address_type: Any) -> list[FieldError]:
    if len(endpoints) > MAX_ENDPOINTS:
        return [too_many("endpoints", len(endpoints), MAX_ENDPOINTS)]
    errors: list[FieldError] = []
    for i, endpoint in enumerate(endpoints):
        path = f"endpoints[{i}]"
        addresses = endpoint.get("addresses") or []
        if not addresses:
            errors.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            errors.append(too_many(f"{path}.addresses", len(addresses), MAX_ADDRESSES))
        for j, address in enumerate(addresses):
            at = f"{path}.addresses[{j}]"
            if address_type in ("IPv4", "IPv6"):
                parsed = parse_ip(address)
                if parsed is None or f"IPv{parsed.version}" != address_type:
                    errors.append(invalid(at, address, f"must be a valid {address_type} address"))
                else:
                    errors += endpoint_ip(address, at)
            elif address_type == "FQDN":
                errors += dns1123_subdomain(address, at)
        if endpoint.get("hostname") is not None:
            errors += dns1123_label(endpoint["hostname"], f"{path}.hostname")
        if endpoint.get("nodeName") is not None:
            errors += dns1123_subdomain(endpoint["nodeName"], f"{path}.nodeName")
        conditions = endpoint.get("conditions") or {}
        for condition in ("ready", "serving", "terminating"):
            value = conditions.get(condition)
            if value is not None and not isinstance(value, bool):
                errors.append(invalid(f"{path}.conditions.{condition}", value, "must be a boolean"))
    return errors


def _slice_ports(ports: list[Any]) -> list[FieldError]:
    if len(ports) > MAX_SLICE_PORTS:
        return [too_many("ports", len(ports), MAX_SLICE_PORTS)]
    errors: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"ports[{i}]"
        name = port.get("name") or ""  # SetDefaults_EndpointPort: ""
        if name:
            errors += dns1123_label(name, f"{path}.name")
        if name in names:
            errors.append(duplicate(f"{path}.name", name))
        names.add(name)
        errors += protocol(port.get("protocol"), f"{path}.protocol")
        # the number is a *int32 the discovery validation does not range-check: nil is legal
        number = port.get("port")
        if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
            errors.append(invalid(f"{path}.port", number, "must be an integer"))
        if port.get("appProtocol") is not None:
            errors += qualified_name(port["appProtocol"], f"{path}.appProtocol")
    return errors


# ---------------------------------------------------------------- Pod


def validate_pod(obj: Mapping[str, Any]) -> list[FieldError]:
    errors = object_meta(obj, True, dns1123_subdomain)
    spec = obj.get("spec") or {}
    for member in ("hostname", "subdomain"):
        if spec.get(member):
            errors += dns1123_label(spec[member], f"spec.{member}")
    status = obj.get("status") or {}
    pod_ips = [
        entry.get("ip") for entry in status.get("podIPs") or [] if isinstance(entry, Mapping)
    ]
    pod_ip = status.get("podIP")
    if pod_ip and pod_ips and pod_ips[0] != pod_ip:
        errors.append(invalid("status.podIPs[0].ip", pod_ips[0], "must match status.podIP"))
    if pod_ip and not pod_ips:
        pod_ips = [pod_ip]
    bad = False
    for i, ip in enumerate(pod_ips):
        found = valid_ip(ip, f"status.podIPs[{i}].ip")
        bad = bad or bool(found)
        errors += found
    if len(pod_ips) > MAX_POD_IPS:
        errors.append(too_many("status.podIPs", len(pod_ips), MAX_POD_IPS))
    elif len(pod_ips) == 2 and not bad and _same_family(pod_ips[0], pod_ips[1]):
        errors.append(
            invalid("status.podIPs", pod_ips, "may specify no more than one IP for each IP family")
        )
    return errors


def _same_family(first: str, second: str) -> bool:
    a, b = parse_ip(first), parse_ip(second)
    return a is not None and b is not None and a.version == b.version


VALIDATORS: dict[str, Callable[[Mapping[str, Any]], list[FieldError]]] = {
    "Namespace": validate_namespace,
    "Service": validate_service,
    "EndpointSlice": validate_endpoint_slice,
    "Pod": validate_pod,
}


def validate(resource: Resource, obj: Mapping[str, Any], name: str) -> None:
    """Raise the real server's 422 when ``obj`` breaks one of its rules."""
    check = VALIDATORS.get(resource.kind)
    try:
        errors = check(obj) if check is not None else []
    except (AttributeError, TypeError) as err:  # a member of the wrong JSON type
        raise _refusal(resource, name, [invalid("", None, f"malformed object: {err}")]) from None
    if errors:
        raise _refusal(resource, name, errors)


def _refusal(resource: Resource, name: str, errors: list[FieldError]) -> ApiError:
    # errors.NewInvalid: one error bare, several in brackets
    text = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    details: dict[str, Any] = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.kind
    details["causes"] = [e.cause() for e in errors]
    return ApiError(
        422, f'{resource.kind} "{name}" is invalid: {text}', reason="Invalid", details=details
    )
