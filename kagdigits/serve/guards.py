"""What keeps ``kagdigits serve`` safe to leave running: a Host-header allow-list (against
DNS rebinding), one log line instead of a traceback for a failed request, and a deadline for
a connection's request headers (against clients that open connections and send nothing)."""

import ipaddress
import logging

import h11
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

#: The names of this machine on its loopback interface, always accepted in a Host header.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Seconds a connection may take to send a request's headers (then it is closed), and seconds
#: an idle connection is kept open after a response (uvicorn's ``timeout_keep_alive``).
HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 5
LOG = logging.getLogger("uvicorn.error")


def is_loopback(host):
    """Whether listening on ``host`` (a name or an address) reaches this machine only."""
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header):
    """The host of a ``Host`` header value (bytes), without the port, lower case."""
    text = header.decode("latin-1").strip().lower()
    if text.startswith("["):  # [::1]:8000
        return text[1:].partition("]")[0]
    name, colon, port = text.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else text


def error_response(status, message):
    """The API's JSON error ``{"error": "<one line>"}``."""
    return JSONResponse({"error": message}, status_code=status)


def is_address(host):
    """Whether ``host`` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AllowedHosts:
    """ASGI middleware: refuse (400) a request whose ``Host`` header gives a name that is
    not among ``hosts``.

    A web page on another site can make the user's browser reach a server on loopback by
    pointing its own name at 127.0.0.1 (DNS rebinding); the browser then sends that name in
    the Host header, which is how it is told apart. An IP address in the Host header cannot
    come from such a page (the browser's same-origin rule then protects the server), so
    addresses are accepted, as is a request without a Host header (HTTP/1.0; browsers always
    send one). ``"*"`` among ``hosts`` accepts any name.
    """

    def __init__(self, app, hosts=LOOPBACK_NAMES):
        self.app = app
        self.hosts = {host.strip("[]").lower() for host in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "*" not in self.hosts:
            header = dict(scope["headers"]).get(b"host")
            host = None if header is None else host_name(header)
            if host is not None and host not in self.hosts and not is_address(host):
                shown = ascii(host[:60])
                known = ", ".join(sorted(self.hosts))
                response = error_response(
                    400, f"the Host header names {shown}, which is not this server ({known}); "
                         f"open it by one of those names, or start it with --allow-host NAME")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class QuietErrors:
    """ASGI middleware: a request that fails in a way no handler answers is logged in one
    line, not uvicorn's "Exception in ASGI application" traceback, and gets a JSON 500 (if
    nothing was sent yet); a client that goes away mid-request is logged in one line."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        where = f"{scope['method']} {scope['path'][:100]}"
        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            LOG.info("%s: the client went away before sending the whole request", where)
        except Exception as exc:
            detail = " ".join(str(exc).split())[:200]
            LOG.error("%s: internal error (%s: %s); the server goes on serving", where,
                      type(exc).__name__, detail)
            if not started:
                await error_response(500, f"internal error ({type(exc).__name__}); the server "
                                          "goes on serving")(scope, receive, send)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request headers.

    uvicorn closes an idle connection only after a response (``timeout_keep_alive``); a
    connection that sends nothing, or half its headers, stays open for good. Here a timer
    runs whenever the connection waits for a request's headers and closes it after
    ``config.header_timeout`` seconds (default :data:`HEADER_TIMEOUT`).
    """

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.header_timeout = getattr(config, "header_timeout", HEADER_TIMEOUT)
        self.header_timer = None

    def _watch_headers(self):
        """Run the header timer while the client is to send headers, stop it otherwise."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self.header_timer is None:
            self.header_timer = self.loop.call_later(self.header_timeout, self._headers_late)
        elif not waiting and self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_late(self):
        self.header_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            client = "{}:{}".format(*self.client) if self.client else "a client"
            LOG.info("%s: no complete request headers within %g s; connection closed", client,
                     self.header_timeout)
            self.transport.close()

    def connection_made(self, transport):
        super().connection_made(transport)
        self._watch_headers()

    def data_received(self, data):
        super().data_received(data)
        self._watch_headers()

    def on_response_complete(self):
        super().on_response_complete()
        self._watch_headers()

    def connection_lost(self, exc):
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None
        super().connection_lost(exc)
