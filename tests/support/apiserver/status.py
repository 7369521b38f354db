"""``Status`` bodies: how kube-apiserver says no.

Every failure answers a ``{"kind":"Status","apiVersion":"v1","metadata":{},
"status":"Failure","message":..,"reason":..,"details":{..},"code":N}`` body,
with the reasons of apimachinery's ``metav1.StatusReason`` (``NotFound``,
``AlreadyExists``, ``Conflict``, ``Forbidden``, ``Unauthorized``, ``Expired``,
``BadRequest``, ``Invalid``, ``TooManyRequests``, ``InternalError``...).
The messages follow the shapes of ``k8s.io/apimachinery/pkg/api/errors`` so a
client that matches on them (``too old resource version``) sees the real text.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.apiserver.resources import Resource

#: the reason kube-apiserver gives for each status code when it has nothing better
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A request the server refuses: becomes an HTTP status and a ``Status`` body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str = "",
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        continue_token: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "")
        self.details = details
        self.headers = headers or {}
        self.continue_token = continue_token

    def status(self) -> dict[str, Any]:
        return status_object(
            self.code, self.message, self.reason, self.details, self.continue_token
        )

    def body(self) -> bytes:
        return json.dumps(self.status(), separators=(",", ":")).encode()


def status_object(
    code: int,
    message: str,
    reason: str,
    details: dict[str, Any] | None = None,
    continue_token: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1"}
    status["metadata"] = {"continue": continue_token} if continue_token else {}
    status["status"] = "Failure"
    status["message"] = message
    if reason:
        status["reason"] = reason
    if details:
        status["details"] = details
    status["code"] = code
    return status


def _details(resource: Resource, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.name
    return details


def _subject(resource: Resource, name: str) -> str:
    # GroupResource.String() and the object name, as errors.NewNotFound & co. print them
    return f'{resource.qualified} "{name}"' if name else resource.qualified


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, f"{_subject(resource, name)} not found", details=_details(resource, name))


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        f"{_subject(resource, name)} already exists",
        reason="AlreadyExists",
        details=_details(resource, name),
    )


def conflict(resource: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        f"Operation cannot be fulfilled on {_subject(resource, name)}: the object has been "
        "modified; please apply your changes to the latest version and try again",
        reason="Conflict",
        details=_details(resource, name),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def invalid(resource: Resource, name: str, message: str) -> ApiError:
    return ApiError(
        422,
        f"{resource.kind} {name!r} is invalid: {message}" if name else message,
        details=_details(resource, name),
    )


def expired(message: str, continue_token: str = "") -> ApiError:
    return ApiError(410, message, reason="Expired", continue_token=continue_token)


def too_large_resource_version(requested: int, current: int) -> ApiError:
    # storage.NewTooLargeResourceVersionError: 504 Timeout with a ResourceVersionTooLarge cause
    return ApiError(
        504,
        f"Too large resource version: {requested}, current: {current}",
        reason="Timeout",
        details={
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
        headers={"Retry-After": "1"},
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def forbidden(user: str, verb: str, resource: Resource, namespace: str, name: str) -> ApiError:
    # responsewriters.forbiddenMessage + errors.NewForbidden
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    why = (
        f'User "{user}" cannot {verb} resource "{resource.name}" '
        f'in API group "{resource.group}" {scope}'
    )
    return ApiError(
        403, f"{_subject(resource, name)} is forbidden: {why}", details=_details(resource, name)
    )


def forbidden_path(user: str, verb: str, path: str) -> ApiError:
    return ApiError(403, f'forbidden: User "{user}" cannot {verb} path "{path}"', details={})


def injected(code: int, retry_after: int | None, message: str = "") -> ApiError:
    """The answer of an injected fault, shaped like the server's own answer with that code."""
    headers: dict[str, str] = {}
    details: dict[str, Any] | None = None
    if code == 429:
        message = message or "Too many requests, please try again later."
    elif code == 401:
        message = message or "Unauthorized"
    elif code == 500:
        message = message or "Internal error occurred: injected fault"
    elif code == 503:
        message = message or "the server is currently unable to handle the request"
    else:
        message = message or f"injected fault: {REASONS.get(code, 'error')}"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        details = {"retryAfterSeconds": retry_after}
    return ApiError(code, message, details=details, headers=headers)
