"""Local-server security: the default binds loopback with no auth, so the *browser* is the threat.

A page the user visits on any site can make the browser send requests to
``http://127.0.0.1:8000``. Three rules keep such a page from acting on the user's account, and
one keeps the pages of this server from being abused inside another site's frame:

* **Host check** (:meth:`HostPolicy.refusal`, DNS rebinding). A rebinding domain
  (``evil.example`` resolving to 127.0.0.1 after the page loaded) makes the attacker's page
  *same-origin* with this server, so neither CORS nor the origin check below would stop it.
  The one thing the browser cannot fake is the ``Host`` header: it names the attacker's
  domain. Requests whose ``Host`` is not in ``TRADING_ALLOWED_HOSTS`` (plus the bind address)
  get 421 before any handler runs.
* **Write protection** (:func:`write_refusal`, CSRF). A browser sends a
  cross-origin POST *without asking first* (no CORS preflight) only when its body is a form or
  ``text/plain``; every other state-changing request (PUT, DELETE, a JSON POST) is preflighted,
  so the server sees its ``Origin`` and can refuse it. So every POST and PUT to a
  state-changing route (all but the :func:`read_only` ones) must say
  ``Content-Type: application/json`` (415 otherwise, bodiless POSTs such as the debug reset
  included), and a browser's ``Origin`` must be this server's own origin, or one listed in
  ``TRADING_CORS_ORIGINS`` (403 otherwise). With the default ``*``, "listed" means *a
  loopback origin* for writes (``http://localhost:5173``, ``http://127.0.0.1:3000``, …: the
  developer's own dev servers), since ``*`` would let every site on the internet trade after
  a preflight; reads (GET, read-only POSTs) stay open to any origin, as the UDF adapters
  expect. Requests with no ``Origin`` (curl, generated clients, tests) are no browser's
  cross-site requests and pass.
* **Security headers** (:func:`secure`, clickjacking, MIME sniffing). Every
  response forbids framing (``frame-ancestors 'none'`` + ``X-Frame-Options: DENY``: the order
  ticket must not be clickable through an invisible frame), sniffing (``nosniff``), and carries
  a Content-Security-Policy that only allows this server's own scripts, so an injected string
  cannot run. ``Server`` no longer announces the Python and aiohttp versions.

The debug reset behind a reverse proxy is handled where the route is
(:func:`trading.api.broker.debug_allowed`), with :func:`forwarded`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from aiohttp import hdrs, web
from yarl import URL

from trading.errors import error_response

WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]", ""})
"""Bind addresses meaning "every interface": then any IP-literal ``Host`` is accepted (a
rebinding attack needs a *name*; an IP address is its own origin, so it is cross-origin)."""

SAFE_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})
JSON_BODY_METHODS = frozenset({hdrs.METH_POST, hdrs.METH_PUT, hdrs.METH_PATCH})
"""Methods that must carry ``application/json``. POST is the one a browser sends cross-origin
without a preflight (with a form or text body); PUT/PATCH are held to the same rule because
every one of them in this API has a JSON body. DELETE has no body here and always needs a
preflight, so it is checked by origin only (clients send it without a Content-Type)."""

PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
"""Headers a reverse proxy adds: the peer address is then the proxy's, not the client's."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # the doc viewers (ReDoc's styled-components, Swagger UI, AsyncAPI) inject <style>
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        # 'self' covers ws:/wss: to this host in CSP level 3 (the /app/ page's socket)
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""One policy for every response (JSON included: a JSON body opened as a page runs nothing).
No inline scripts: the doc pages load their start-up code from ``/api/v1/docs/static/``."""

VIEWER_WITH_EVAL_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-eval'"
)
"""For the AsyncAPI viewer page only: its bundled parser validates the document with ajv,
which compiles validators with ``new Function``. The page shows nothing but our own document."""

SERVER_HEADER = "trading"

_READ_ONLY = "__trading_read_only__"
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


def read_only(handler: H) -> H:
    """Mark a POST that changes nothing (quotes, previews): it keeps the open CORS of reads
    and its old body handling. Every other POST/PUT/DELETE route is write-protected by
    default, so a new write route cannot forget it."""
    setattr(handler, _READ_ONLY, True)
    return handler


def changes_state(request: web.Request) -> bool:
    """A request to an existing route with an unsafe method, not marked :func:`read_only`."""
    if request.method in SAFE_METHODS or request.match_info.http_exception is not None:
        return False
    return not getattr(request.match_info.handler, _READ_ONLY, False)


# --- host check (DNS rebinding) -----------------------------------------------------------


def normalize_host(name: str) -> str:
    """Lower-case, no trailing dot, IPv6 in brackets: ``::1`` → ``[::1]``."""
    name = name.strip().lower().rstrip(".")
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return name


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port: ``[::1]:8000`` → ``[::1]``."""
    header = header.strip()
    if header.startswith("["):
        end = header.find("]")
        return normalize_host(header[: end + 1] if end > 0 else header)
    return normalize_host(header.rpartition(":")[0] if ":" in header else header)


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class HostPolicy:
    """Which ``Host`` headers this server answers: the allowed names plus the bind address;
    ``*`` among them allows any host (then DNS rebinding is possible: only behind a proxy that
    checks the host itself)."""

    def __init__(self, allowed: Iterable[str], bind_host: str) -> None:
        names = {normalize_host(n) for n in allowed}
        self.any_host = "*" in names
        self.any_ip = bind_host.strip() in WILDCARD_BINDS
        if not self.any_ip:
            names.add(normalize_host(bind_host))
        self.names = frozenset(names - {"*"})

    def allows(self, header: str) -> bool:
        if self.any_host:
            return True
        name = host_name(header)
        return name in self.names or (self.any_ip and _is_ip_literal(name))

    def refusal(self, request: web.Request) -> web.Response | None:
        """421 ``{"detail": ...}`` naming a ``Host`` this server does not answer to, else None.
        A request without ``Host`` (HTTP/1.0 tools) is no browser's and passes."""
        header = request.headers.get(hdrs.HOST)
        if header is not None and not self.allows(header):
            return error_response(
                421, f"Host {header!r} is not allowed (TRADING_ALLOWED_HOSTS lists the names)"
            )
        return None


# --- write protection (CSRF) --------------------------------------------------------------


def is_loopback_origin(origin: str) -> bool:
    """``http(s)://localhost[:port]``, ``127.x.x.x`` or ``[::1]``: a page served from this
    machine (the reference frontend's dev server), never a site from the internet."""
    try:
        url = URL(origin)
    except ValueError:
        return False
    if url.scheme not in ("http", "https") or not url.host:
        return False
    host = url.host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_same_origin(request: web.Request, origin: str) -> bool:
    """The ``Origin`` names this server as the browser reached it: its authority equals the
    request's ``Host`` (checked by the host middleware). The scheme is not compared, so a TLS
    proxy in front (``https://`` origin, ``http`` to us) still counts as same-origin."""
    host = request.headers.get(hdrs.HOST)
    if not host or origin == "null":
        return False
    try:
        url = URL(origin)
    except ValueError:
        return False
    if not url.host or url.path not in ("", "/"):
        return False
    authority = url.raw_host or url.host
    if url.explicit_port is not None:
        authority = f"{authority}:{url.explicit_port}"
    return _authority(authority) == _authority(host)


def _authority(text: str) -> str:
    text = text.strip().lower()
    for default in (":80", ":443"):
        if text.endswith(default):
            return text[: -len(default)]
    return text


def write_origin_allowed(request: web.Request, origin: str, cors_origins: Sequence[str]) -> bool:
    """May a browser page at ``origin`` change state here? Same-origin always; a listed origin;
    with ``*``, any loopback origin."""
    if is_same_origin(request, origin) or origin in cors_origins:
        return True
    return "*" in cors_origins and is_loopback_origin(origin)


def read_origin_allowed(request: web.Request, origin: str, cors_origins: Sequence[str]) -> bool:
    """May a page at ``origin`` read (GET, the WebSocket)? Same-origin always, else listed."""
    return "*" in cors_origins or origin in cors_origins or is_same_origin(request, origin)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json"


def write_refusal(request: web.Request, cors_origins: Sequence[str]) -> web.Response | None:
    """403 for a state-changing request from an origin we refuse; 415 for a POST/PUT whose
    body is not declared JSON; None when the request may go on. Only routes that exist and
    accept the method are checked, so 404/405 answers stay what they were, and
    :func:`read_only` POSTs are left alone."""
    if not changes_state(request):
        return None
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and not write_origin_allowed(request, origin, cors_origins):
        return error_response(403, f"Origin {origin!r} may not change state here")
    if (
        request.method in JSON_BODY_METHODS
        and not _is_json(request.content_type)
        and not _bodiless_non_browser(request)
    ):
        return error_response(
            415,
            f"{request.method} needs Content-Type: application/json"
            f" (got {request.headers.get(hdrs.CONTENT_TYPE) or 'none'})",
        )
    return None


BROWSER_MARKERS = (hdrs.ORIGIN, "Sec-Fetch-Site", "Sec-Fetch-Mode")
"""Headers every current browser sends with a POST (Origin on every non-GET request, the
Fetch Metadata headers on every request); a page cannot suppress them."""


def _bodiless_non_browser(request: web.Request) -> bool:
    """A POST/PUT with no body, no Content-Type and none of the headers a browser always sends:
    ``curl -X POST .../debug/reset`` or a script's ``client.post(url)``. No web page can send
    it (its browser adds Origin and Sec-Fetch-*), so it is no CSRF vector, and requiring a
    JSON content type for an empty body would break such clients for nothing."""
    return (
        hdrs.CONTENT_TYPE not in request.headers
        and not request.body_exists
        and not any(name in request.headers for name in BROWSER_MARKERS)
    )


# --- security headers ----------------------------------------------------------------------


def secure(response: web.StreamResponse) -> None:
    """The security headers of every answer, also the HTTP parser's own (trading/http_server.py),
    which no application hook sees."""
    headers = response.headers
    headers[hdrs.SERVER] = SERVER_HEADER
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")


# --- reverse proxies -----------------------------------------------------------------------


def forwarded(request: web.Request) -> bool:
    """The request came through a proxy that says so: the peer address is the proxy's."""
    return any(name in request.headers for name in PROXY_HEADERS)
