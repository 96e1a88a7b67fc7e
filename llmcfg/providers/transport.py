"""The upstream transport: httpx's own, over a connection pool that keeps idle connections cheaply.

Two things in httpcore's stock pool (1.0.x) cost a busy worker dearly; each is replaced here by the
smallest piece that does the same job. The tests in tests/test_providers_transport.py fail on the
stock pool, so an httpcore release that changes what is replaced here shows up there.

The idle check. Before it hands a pooled connection to a new request, httpcore asks each idle
connection whether its socket is readable (an idle socket with data waiting means the server hung
up), with `select.poll().poll(0)`. Under gevent (the production worker class) `select.poll` is
gevent's, and even a zero timeout switches to the event loop: every other greenlet of the worker
runs (up to one switch interval) before the check returns, once per idle connection, while the
pool's lock is held. Under load a new chat waited hundreds of milliseconds before its upstream
request was even sent. PromptBackend answers the same question with the operating system's own
poll, which returns at once; everything else is httpcore's standard sync backend.

The bookkeeping pass. On every request and every response close, the stock pool walks its
connections to drop closed ones, close expired ones and close idle ones beyond
max_keepalive_connections; but it counts every connection as idle, so once more chats are open
than that limit, each finished chat's connection is closed instead of kept for the next chat (and
the next chat pays a new TCP and TLS handshake). Raising the limit avoids that, but the stock pass
then recounts all connections once per idle one. UpstreamPool does the same pass once, counting
only idle connections.
"""

import select
from functools import cache

import httpcore
import httpx


@cache
def os_poll():
    """select.poll as the operating system gives it, even after gevent has patched the module."""
    try:
        from gevent import monkey
    except ImportError:
        return select.poll
    return monkey.get_original("select", "poll")


def socket_is_readable(sock) -> bool:
    """Whether recv on this socket would return at once (data, or b"" for a hang-up); never waits."""
    fileno = sock.fileno() if sock is not None else -1
    if fileno < 0:
        return True  # gone: as good as hung up
    poller = os_poll()()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


class PromptStream(httpcore.NetworkStream):
    """A standard stream whose is_readable answer comes from socket_is_readable."""

    def __init__(self, inner: httpcore.NetworkStream):
        self.inner = inner
        # Every token is a read: the inner stream's own methods, without a forwarding call.
        self.read, self.write, self.close = inner.read, inner.write, inner.close

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> "PromptStream":
        return PromptStream(self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        if info == "is_readable":
            return socket_is_readable(self.inner.get_extra_info("socket"))
        return self.inner.get_extra_info(info)


class PromptBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, its streams wrapped in PromptStream."""

    def __init__(self):
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return PromptStream(self.inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return PromptStream(self.inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class UpstreamPool(httpcore.ConnectionPool):
    """httpcore's HTTP/1.1 connection pool with a one-pass bookkeeping step (see the module's text)."""

    def _assign_requests_to_connections(self) -> list:
        """Drop closed connections, close expired and surplus idle ones, give queued requests one each.

        Runs under the pool's lock, as the method it replaces; returns the connections to close
        once the lock is released. A connection already given to a request that has not started
        on it yet still looks idle: it is not counted as idle, so it is neither closed to keep
        the idle count down or to make room, nor given to a second request.
        """
        spoken_for = {id(r.connection) for r in self._requests if r.connection is not None}
        closing, kept, idle = [], [], []
        for connection in self._connections:
            if connection.is_closed():
                continue
            if connection.has_expired():
                closing.append(connection)
                continue
            kept.append(connection)
            if connection.is_idle() and id(connection) not in spoken_for:
                idle.append(connection)
        surplus = len(idle) - self._max_keepalive_connections
        if surplus > 0:  # the oldest go first
            dropped, idle = idle[:surplus], idle[surplus:]
            closing += dropped
            kept = [c for c in kept if c not in dropped]
        self._connections = kept

        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            reusable = next((c for c in idle if c.can_handle_request(origin) and c.is_available()), None)
            if reusable is not None:
                idle.remove(reusable)  # HTTP/1.1: one request per connection at a time
                pool_request.assign_to_connection(reusable)
                continue
            if len(self._connections) >= self._max_connections:
                if not idle:
                    continue  # stays queued until a connection frees up
                making_room = idle.pop(0)
                self._connections.remove(making_room)
                closing.append(making_room)
            connection = self.create_connection(origin)
            self._connections.append(connection)
            pool_request.assign_to_connection(connection)
        return closing


class UpstreamTransport(httpx.HTTPTransport):
    """httpx's HTTP transport over UpstreamPool and PromptBackend."""

    def __init__(self, limits: httpx.Limits):
        super().__init__(limits=limits)
        # httpx builds its pool without a way to name the backend; this is the same pool, with one.
        self._pool = UpstreamPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PromptBackend(),
        )
