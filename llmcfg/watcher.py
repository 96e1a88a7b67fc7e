"""One daemon thread per process that checks a set of open things a few times a second or less.

The chat relay's heartbeats (chat/mailbox.py) and the upstream read timeouts (providers/deadlines.py)
each need a clock over every open stream; one thread (a greenlet under gevent) per process does it
for all of them, instead of a timer armed and disarmed on every token.
"""

import os
import threading
import time


class ProcessWatcher:
    """Items checked by one daemon thread per process, which starts with the first item added.

    Subclasses say how long to sleep between rounds (pause) and what to do with each item (check).
    """

    thread_name = "llmcfg-watcher"

    def __init__(self):
        self._after_fork()
        # A thread does not survive fork (gunicorn forks its workers), and the parent's lock may
        # have been held by it at that moment: a forked child starts afresh.
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._open: set = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, item) -> None:
        with self._lock:
            self._open.add(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def discard(self, item) -> None:
        with self._lock:
            self._open.discard(item)

    def pause(self, items: list) -> float:
        """Seconds to sleep before checking these items."""
        raise NotImplementedError

    def check(self, item, now: float) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            with self._lock:
                items = list(self._open)
            time.sleep(self.pause(items))
            now = time.monotonic()
            for item in items:
                self.check(item, now)
