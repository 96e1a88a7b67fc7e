"""A read timeout for answer bodies that costs nothing per read under gevent.

A socket timeout under gevent arms a timer before every wait for data and disarms it after: in
the served benchmark, about 4% of a busy worker's CPU, once per relayed token. A body's read
timeout limits how long one read may wait, so one timer per answer does the same job: each read
notes when it began, and the timer, when it fires, raises socket.timeout in the greenlet waiting
on the socket if that read has waited the whole timeout, or sets itself again for what is left.
Waiting elsewhere (a consumer busy between reads) never counts.

Only gevent sockets take this path; a plain socket keeps its own per-read timeout, which costs
the operating system's poll and no timer.
"""

import socket
import sys
import time


def _gevent_types() -> tuple[type, type] | None:
    """gevent's socket and the Waiter a greenlet waits on one with; None where gevent is not in use.

    Looked up, never imported: a process that has not imported gevent has no gevent sockets.
    """
    gevent_socket, hub = sys.modules.get("gevent.socket"), sys.modules.get("gevent.hub")
    if gevent_socket is None or hub is None:
        return None
    return gevent_socket.socket, hub.Waiter


class ReadDeadline:
    """Raise socket.timeout in the greenlet reading `sock` once one read has waited `seconds`."""

    def __init__(self, sock, seconds: float, waiter_type: type):
        self.sock = sock
        self.seconds = seconds
        self._waiter_type = waiter_type  # what a greenlet waiting on the socket waits with
        self.read_began = time.monotonic()
        self._loop = sock.hub.loop
        self._timer = None
        self._arm(seconds)

    @classmethod
    def start(cls, sock, seconds: float | None) -> "ReadDeadline | None":
        """Take over sock's read timeout if it is a gevent socket (its own timeout is then off), else None."""
        types = _gevent_types()
        if seconds is None or types is None or not isinstance(sock, types[0]):
            return None
        sock.settimeout(None)  # gevent then waits for data with no timer of its own
        return cls(sock, seconds, types[1])

    def reading(self) -> None:
        """Note that a read begins now (one clock reading: the timer is not touched)."""
        self.read_began = time.monotonic()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    def _arm(self, delay: float) -> None:
        # ref=False: a deadline alone does not keep the event loop running.
        self._timer = self._loop.timer(max(delay, 0.001), ref=False)
        self._timer.start(self._fire)

    def _fire(self) -> None:
        """Runs in gevent's hub: time the waiting read out, or set the timer for what is left."""
        self._timer.close()
        self._timer = None
        if self.sock.fileno() < 0:
            return  # closed: nothing reads it any more
        waited = time.monotonic() - self.read_began
        if waited < self.seconds:
            self._arm(self.seconds - waited)
            return
        watcher = getattr(self.sock, "_read_event", None)
        waiter = getattr(getattr(watcher, "callback", None), "__self__", None)
        if not isinstance(waiter, self._waiter_type):
            # Nobody waits on the socket now: the time went to whoever reads it, not to the upstream.
            self.reading()
            self._arm(self.seconds)
            return
        self._arm(self.seconds)  # the read may be retried on the same answer
        waiter.throw(socket.timeout, socket.timeout("timed out"), None)
