"""Hand events from the engine's worker to the response, and wake idle responses for heartbeats.

A chat relays one event per token, so this hand-off is on the hottest path of the server: a deque
and an Event cost less per token than a queue.Queue waited on with a timeout (under gevent each
timed wait also arms and disarms a timer). The timeout's one job, noticing that the client has
heard nothing for a while, goes to a single timer thread per process that checks every open
stream a few times per heartbeat interval.

Under gevent (the production workers) the chat endpoint does without the mailbox: the engine runs
in the response's greenlet and writes as it goes (inline.py); the heartbeat timer here serves both.
"""

import os
import threading
import time
from collections import deque

PING = object()  # what take() returns when a heartbeat is due and nothing else is waiting


class Mailbox:
    """Events of one stream, in order; take() blocks until there are some or a heartbeat is due."""

    def __init__(self, heartbeat: float):
        self.heartbeat = heartbeat
        self.last_sent = time.monotonic()  # when the client last got something; the timer reads it
        self._items: deque = deque()
        self._wake = threading.Event()
        self._ping_due = False

    def put(self, item) -> None:
        self._items.append(item)
        self._wake.set()

    def ping_if_idle(self, now: float) -> None:
        if now - self.last_sent >= self.heartbeat:
            self._ping_due = True
            self._wake.set()

    def take(self, most: int) -> list:
        """Return up to `most` waiting items (oldest first), or [PING]; block until one of them."""
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._items:
                count = min(most, len(self._items))
                batch = [self._items.popleft() for _ in range(count)]
                if self._items:
                    self._wake.set()  # more than one write's worth: come straight back
                return batch
            if self._ping_due:
                self._ping_due = False
                return [PING]
            # Woken for items another take() already returned (set after our clear): wait again.

    def sent(self) -> None:
        self.last_sent = time.monotonic()
        self._ping_due = False


class HeartbeatTimer:
    """One daemon thread per process (a greenlet under gevent) that pings idle mailboxes."""

    CHECKS_PER_INTERVAL = 4  # a ping goes out between 1 and 1.25 heartbeat intervals of silence
    IDLE_TICK = 1.0

    def __init__(self):
        self._after_fork()
        # A thread does not survive fork (gunicorn forks its workers), and the parent's lock may
        # have been held by it at that moment: a forked child starts afresh.
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._open: set[Mailbox] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, mailbox: Mailbox) -> None:
        with self._lock:
            self._open.add(mailbox)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmcfg-heartbeats", daemon=True)
                self._thread.start()

    def discard(self, mailbox: Mailbox) -> None:
        with self._lock:
            self._open.discard(mailbox)

    def _run(self) -> None:
        while True:
            with self._lock:
                mailboxes = list(self._open)
            tick = min((m.heartbeat for m in mailboxes), default=self.IDLE_TICK * self.CHECKS_PER_INTERVAL)
            time.sleep(min(tick / self.CHECKS_PER_INTERVAL, self.IDLE_TICK))
            now = time.monotonic()
            for mailbox in mailboxes:
                mailbox.ping_if_idle(now)


heartbeats = HeartbeatTimer()
