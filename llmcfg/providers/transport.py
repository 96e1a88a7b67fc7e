"""The upstream transport: httpx's own, over a connection pool that keeps idle connections cheaply.

Three things in httpcore's stock pool (1.0.x) cost a busy worker dearly; each is replaced by the
smallest piece that does the same job. The tests in tests/test_providers_transport.py fail on the
stock pool, so an httpcore release that changes what is replaced here shows up there (the
connection's own tests are in tests/test_providers_connection.py).

The connections. The pool makes BufferedConnection (connection.py), which reads answers with the
standard library's http.client instead of h11: every token of a chat is a chunk of its answer.

The idle check. httpcore's pool asks every idle connection whether its server has hung up, on
every request and every response close; under gevent (the production worker class) it asks with
gevent's poll, which switches to the event loop while the pool's lock is held. UpstreamPool asks
only the connection it is about to hand out, and BufferedConnection asks the operating system's
poll, which returns at once (see socket_is_readable).

The bookkeeping pass. On every request and every response close, the stock pool walks its
connections to drop closed ones, close expired ones and close idle ones beyond
max_keepalive_connections; but it counts every connection as idle, so once more chats are open
than that limit, each finished chat's connection is closed instead of kept for the next chat (and
the next chat pays a new TCP and TLS handshake). Raising the limit avoids that, but the stock pass
then recounts all connections once per idle one. UpstreamPool does the same pass once, counting
only idle connections. A connection given to a request that has not started on it yet still looks
idle; the pool marks it with that request (BufferedConnection.claimed_by) when it hands it out,
instead of collecting every open request's connection on each pass: with hundreds of chats open,
that collection cost more than the rest of the pass.
"""

import ssl

import httpcore
import httpx

from .connection import ACTIVE, CLOSED, IDLE, BufferedConnection


class UpstreamPool(httpcore.ConnectionPool):
    """httpcore's HTTP/1.1 connection pool with a one-pass bookkeeping step (see the module's text)."""

    def _assign_requests_to_connections(self) -> list:
        """Drop closed connections, close expired and surplus idle ones, give queued requests one each.

        Runs under the pool's lock, as the method it replaces; returns the connections to close
        once the lock is released. A connection already given to a request that has not started
        on it yet still looks idle: it is not counted as idle, so it is neither closed to keep
        the idle count down or to make room, nor given to a second request.
        """
        closing, kept, idle, open_requests = [], [], [], None
        for connection in self._connections:
            state = connection.state
            if state == ACTIVE:  # most of them while chats stream: nothing to check
                kept.append(connection)
                continue
            if state == CLOSED:
                continue
            if connection.has_expired():
                closing.append(connection)
                continue
            kept.append(connection)
            if state == IDLE:
                claim = connection.claimed_by
                if claim is not None and claim.connection is connection:
                    # Given out and not started on yet, unless its request has left the pool
                    # (cancelled before it started): then the connection is free again.
                    if open_requests is None:
                        open_requests = set(self._requests)
                    if claim in open_requests:
                        continue
                    connection.claimed_by = None
                idle.append(connection)
        surplus = len(idle) - self._max_keepalive_connections
        if surplus > 0:  # the oldest go first
            dropped, idle = idle[:surplus], idle[surplus:]
            closing += dropped
            kept = [c for c in kept if c not in dropped]
        self._connections = kept

        for pool_request in self._requests:
            if pool_request.connection is not None:  # is_queued(), without a call per open chat
                continue
            origin = pool_request.request.url.origin
            reusable = self._reusable(idle, origin, closing)
            if reusable is not None:
                self._give(pool_request, reusable)
                continue
            if len(self._connections) >= self._max_connections:
                if not idle:
                    continue  # stays queued until a connection frees up
                making_room = idle.pop(0)
                self._connections.remove(making_room)
                closing.append(making_room)
            connection = self.create_connection(origin)
            self._connections.append(connection)
            self._give(pool_request, connection)
        return closing

    @staticmethod
    def _give(pool_request, connection: BufferedConnection) -> None:
        connection.claimed_by = pool_request  # cleared when the request starts on it
        pool_request.assign_to_connection(connection)

    def _reusable(self, idle: list, origin: httpcore.Origin, closing: list) -> BufferedConnection | None:
        """Take the oldest idle connection to origin whose server has not hung up, or None.

        Only the connection about to be used is asked whether its server hung up (a poll of its
        socket): one poll per request, not one per idle connection on every request and every
        response close. Hung-up ones met on the way are closed.
        """
        for connection in list(idle):
            if not (connection.can_handle_request(origin) and connection.is_available()):
                continue
            idle.remove(connection)  # HTTP/1.1: one request per connection at a time
            if not connection.hung_up():
                return connection
            self._connections.remove(connection)
            closing.append(connection)
        return None

    def create_connection(self, origin: httpcore.Origin) -> BufferedConnection:
        return BufferedConnection(origin, self._ssl_context, self._keepalive_expiry)


class UpstreamTransport(httpx.HTTPTransport):
    """httpx's HTTP transport over UpstreamPool."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None):
        super().__init__(limits=limits)
        # httpx builds its own pool; this is the same pool with UpstreamPool's bookkeeping.
        self._pool = UpstreamPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )
