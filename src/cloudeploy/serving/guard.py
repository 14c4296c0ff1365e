"""The loopback guard: local servers answer local programs, never a web page.

A server on 127.0.0.1 is reachable from every web page the user's browser opens:
by DNS rebinding (``evil.example`` resolving to 127.0.0.1, so the browser sends
``Host: evil.example``) and by plain cross-site requests (a form or ``fetch`` with
``Content-Type: text/plain`` needs no CORS preflight). The gateway, the model
server's control routes and both emulators therefore check every request:

1. ``Host`` must be a loopback name (``localhost``, ``127.0.0.0/8``, ``[::1]``,
   with any port) or one the user configured (``$CLOUDEPLOY_ALLOWED_HOSTS``,
   comma-separated, or ``allowed_hosts=``): else 403.
2. A state-changing request (anything but GET/HEAD/OPTIONS) that a browser marks
   as cross-origin is refused: an ``Origin`` that is not itself a loopback or
   allowed origin, or ``Sec-Fetch-Site: cross-site``: 403.
3. On ``json_paths`` (our own JSON control routes), a request with a body (POST,
   PUT, PATCH) must say ``Content-Type: application/json`` (a browser cannot send that cross-site
   without a preflight that we never grant): else 415.

SDK clients (boto3, google-cloud-*, httpx, requests, curl) send none of the
browser headers and a loopback ``Host``, so they are unaffected.

:func:`refusal` holds the rules; :class:`LoopbackGuard` (ASGI) and
:class:`WSGILoopbackGuard` (WSGI, for the moto-based SageMaker emulation) apply
them.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

ALLOWED_HOSTS_ENV = "CLOUDEPLOY_ALLOWED_HOSTS"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Methods whose body a browser could send cross-site as a "simple request" form or fetch.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_TYPES = ("application/json",)


def configured_hosts(extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names allowed besides loopback: ``extra`` and ``$CLOUDEPLOY_ALLOWED_HOSTS``."""
    names = [*extra, *os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")]
    return frozenset(name.strip().lower() for name in names if name.strip())


def _hostname(host: str) -> str:
    """``Host`` header value without its port (IPv6 brackets removed), lower-case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_loopback(hostname: str) -> bool:
    if hostname in ("localhost", "localhost.") or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


_READ_HEADERS = frozenset({b"host", b"origin", b"sec-fetch-site", b"content-type"})


@functools.lru_cache(maxsize=256)
def _host_allowed(host: str, allowed: frozenset[str]) -> bool:
    name = _hostname(host)
    return bool(name) and (is_loopback(name) or name in allowed)


def _origin_allowed(origin: str, allowed: frozenset[str]) -> bool:
    if origin == "null":  # sandboxed frames, file:// pages: never ours
        return False
    parts = urlsplit(origin)
    return bool(parts.hostname) and (is_loopback(parts.hostname) or parts.hostname.lower() in allowed)


def refusal(
    method: str,
    path: str,
    headers: Mapping[str, str],
    *,
    allowed: frozenset[str],
    json_paths: tuple[str, ...] = (),
) -> tuple[int, str] | None:
    """``(status, message)`` when the request must be refused, else None.

    ``headers`` maps lower-case names to values.
    """
    host = headers.get("host", "")
    if not _host_allowed(host, allowed):
        return 403, (
            f"host {host!r} is not allowed: this server answers loopback names only "
            f"(add names to ${ALLOWED_HOSTS_ENV} to allow them)"
        )
    if method.upper() in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None and not _origin_allowed(origin, allowed):
        return 403, f"cross-origin {method} from {origin!r} refused"
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return 403, f"cross-site {method} refused"
    if json_paths and path.startswith(json_paths) and method.upper() in BODY_METHODS:
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in JSON_TYPES:
            return 415, f"{method} {path} takes application/json, got {content_type or 'no Content-Type'!r}"
    return None


def _error_body(status: int, message: str) -> bytes:
    names = {403: "PERMISSION_DENIED", 415: "INVALID_ARGUMENT"}
    return json.dumps({"error": {"code": status, "message": message, "status": names.get(status, "ERROR")}}).encode()


class LoopbackGuard:
    """ASGI middleware applying :func:`refusal` to every HTTP request."""

    def __init__(
        self,
        app: Callable,
        *,
        allowed_hosts: Iterable[str] = (),
        json_paths: Iterable[str] = (),
        applies: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.allowed = configured_hosts(allowed_hosts)
        self.json_paths = tuple(json_paths)
        self.applies = applies

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and (self.applies is None or self.applies(scope["path"])):
            # On every request of a loopback server: decode only the headers the rules read
            # (ASGI servers give header names in lower case).
            headers = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ()) if k in _READ_HEADERS
            }
            refused = refusal(scope["method"], scope["path"], headers, allowed=self.allowed, json_paths=self.json_paths)
            if refused is not None:
                status, message = refused
                body = _error_body(status, message)
                await send({
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                })
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class WSGILoopbackGuard:
    """WSGI middleware applying :func:`refusal` to every request."""

    def __init__(self, app: Callable, *, allowed_hosts: Iterable[str] = (), json_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = configured_hosts(allowed_hosts)
        self.json_paths = tuple(json_paths)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = environ["CONTENT_TYPE"]
        refused = refusal(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/"), headers,
                          allowed=self.allowed, json_paths=self.json_paths)
        if refused is None:
            return self.app(environ, start_response)
        status, message = refused
        body = _error_body(status, message)
        reason = {403: "Forbidden", 415: "Unsupported Media Type"}[status]
        start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
