"""Read timeouts for answer bodies, kept by one watcher per process instead of a timer per read.

A socket timeout arms and disarms a timer around every read; under gevent (the production worker
class) that is a good part of what a relayed token costs, and a streamed answer reads once per
token. So a body is read with no socket timeout, and this watcher hangs up on any read that has
waited longer than its read timeout; the reader then raises the timeout it would have raised
itself (connection.AnswerStream). A read times out between its timeout and a quarter of it (at
most TICK_MAX) later.
"""

import os
import socket
import threading
import time

TICK_MAX = 0.25  # seconds between checks at most


class Deadline:
    """One answer body's reads: when the read in progress began (None between reads)."""

    __slots__ = ("sock", "timeout", "reading_since", "expired")

    def __init__(self, sock: socket.socket, timeout: float):
        self.sock = sock
        self.timeout = timeout
        self.reading_since: float | None = None
        self.expired = False

    def overdue(self, now: float) -> bool:
        since = self.reading_since
        return since is not None and now - since > self.timeout


class DeadlineWatch:
    """The process's watcher: a daemon thread (a greenlet under gevent) that starts with the first body."""

    def __init__(self):
        self._after_fork()
        # A thread does not survive fork (gunicorn forks its workers), and the parent's lock may
        # have been held by it at that moment: a forked child starts afresh.
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._open: set[Deadline] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, timeout: float) -> Deadline:
        deadline = Deadline(sock, timeout)
        with self._lock:
            self._open.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmcfg-read-deadlines", daemon=True)
                self._thread.start()
        return deadline

    def release(self, deadline: Deadline) -> None:
        deadline.reading_since = None  # the socket may go back to the pool: never hang up on it now
        with self._lock:
            self._open.discard(deadline)

    def _run(self) -> None:
        while True:
            with self._lock:
                deadlines = list(self._open)
            shortest = min((d.timeout for d in deadlines), default=TICK_MAX * 4)
            time.sleep(min(shortest / 4, TICK_MAX))
            now = time.monotonic()
            for deadline in deadlines:
                if not deadline.expired and deadline.overdue(now):
                    deadline.expired = True
                    try:
                        deadline.sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
                    except OSError:
                        pass


deadlines = DeadlineWatch()
