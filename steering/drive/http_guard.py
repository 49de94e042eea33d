"""Who may talk to the servers drive.py opens: one set of Host/Origin/Content-Type rules for all of them.

A web page the user happens to have open can reach a server on 127.0.0.1 in two ways, and these
rules close both:
- **Cross-site requests.** Any page may send a "simple" POST (`Content-Type: text/plain`, no
  preflight) to http://127.0.0.1:8887/api/record. So a request that changes state must carry
  `Content-Type: application/json` (which a foreign page can only send after a CORS preflight,
  and the servers answer no preflight) and, when it has an `Origin` (browsers always send one on
  POST and on a WebSocket handshake), that Origin must be this server itself.
- **DNS rebinding.** A page on evil.example can repoint evil.example to 127.0.0.1 and then read the
  answers as same-origin. The browser still sends `Host: evil.example:PORT`, so every request's
  Host must name the address the server listens on: localhost, 127.0.0.1, [::1], the bound IP,
  always with the port. On a wildcard bind (0.0.0.0, to be seen from the network) any IP literal
  and the machine's own hostname are accepted too: a rebinding attack needs a domain it controls.
Clients that are not browsers (the Unity simulator, the headless simulator, urllib, curl) send a
Host naming the address they dialled and no Origin, so they pass.

The rules are pure functions of (method, headers, bound address), `refusal(...)`; `guarded(app, ...)`
wraps a WSGI app so every page and socket the project serves answers 403 with a one-line reason.
What each server then does with an accepted request is its own business.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # read only; anything else changes state
_DEFAULT_HTTP_PORT = 80  # a browser leaves the port out of Host and Origin when it is 80


def _own_hostnames() -> frozenset[str]:
    # gethostname() needs no DNS lookup (getfqdn() does, and can hang offline); `.local` is its mDNS name.
    name = socket.gethostname().lower()
    return frozenset({name, f"{name}.local"}) if name else frozenset()


@dataclass(frozen=True)
class Address:
    """Where a server listens: the host it bound (an IP, a name, or a wildcard) and its real port."""

    host: str
    port: int
    hostnames: frozenset[str] = field(default_factory=_own_hostnames)  # accepted on a wildcard bind

    def names_me(self, host_header: str) -> bool:
        """True when a Host header ('127.0.0.1:8887', 'localhost:8887', '[::1]:8887') names this address."""
        split = split_host(host_header)
        if split is None or split[1] != self.port:
            return False
        name, bound = split[0], self.host.lower()
        if name in LOCAL_NAMES or name == bound:
            return True
        return bound in WILDCARD_HOSTS and (_is_ip(name) or name in self.hostnames)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def split_host(value: str) -> tuple[str, int] | None:
    """'Name:port' of a Host header or an Origin's authority as (lowercase name, port); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):  # [v6]:port
        name, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else None)
    else:
        name, colon, port_text = value.rpartition(":")
        if not colon:
            name, port_text = value, ""
    if not name or port_text is None:
        return None
    if not port_text:
        return name, _DEFAULT_HTTP_PORT
    return (name, int(port_text)) if port_text.isdigit() and len(port_text) <= 5 else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def refusal(method: str, headers: Mapping[str, str], address: Address, json_only: bool = True) -> str | None:
    """Why this request must be refused (one line), or None to serve it.

    `headers` maps lowercase header names to values; only `host`, `origin` and `content-type` are read.
    `json_only=False` drops the Content-Type rule, for a protocol whose own POSTs are not JSON.
    """
    host = headers.get("host", "")
    if not host:
        return "no Host header"
    if not address.names_me(host):
        # A foreign Host is how DNS rebinding reaches a local server.
        return f"Host {host!r} does not name this server, which listens on {address}"
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower() != f"http://{host.strip().lower()}":
        return f"cross-origin request from {origin!r} refused; only pages this server serves may call it"
    if json_only and method.upper() not in SAFE_METHODS:
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return (f"{method.upper()} needs Content-Type: application/json, got {media_type or 'none'!r} "
                    "(other types can be sent cross-site without a preflight)")
    return None


def wsgi_headers(environ: Mapping[str, str]) -> dict[str, str]:
    """The headers `refusal` reads, from a WSGI environ."""
    headers = {"host": environ.get("HTTP_HOST", ""), "content-type": environ.get("CONTENT_TYPE", "")}
    if "HTTP_ORIGIN" in environ:
        headers["origin"] = environ["HTTP_ORIGIN"]
    return headers


def guarded(app: Callable, address: Address, what: str, json_only: bool = True) -> Callable:
    """`app` behind the rules: a refused request gets `403 Forbidden` and its reason as text/plain.

    Build it after binding: a server asked for port 0 learns its real port only then.
    """
    reported: set[str] = set()  # log each kind of refusal once: a hostile page may retry forever

    def guard(environ: dict, start_response: Callable) -> Iterable[bytes]:
        reason = refusal(environ.get("REQUEST_METHOD", "GET"), wsgi_headers(environ), address, json_only)
        if reason is None:
            return app(environ, start_response)
        if reason not in reported and len(reported) < 100:
            reported.add(reason)
            log.warning("%s: refused %s %s: %s", what, environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                        reason)
        body = (reason + "\n").encode("utf-8", "replace")
        start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
                                         ("X-Content-Type-Options", "nosniff")])
        return [body]

    return guard
