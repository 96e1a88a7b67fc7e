"""relay() under gevent (the production workers): the engine in a greenlet that hands its events
straight to the response.

Everything a gevent worker runs shares one thread. relay.py's worker thread and mailbox cost each
token a wake-up scheduled on the event loop and a turn of it; here the engine's greenlet switches to
the response with what it has, and the response switches back once it has written it. The loop
only comes in where a socket has to be waited on anyway.

Tokens that arrive together go out in one write: the engine collects them and hands them over when
the upstream connection is about to wait for its socket (waiting.before_body_read), at the end of
the answer, or at MAX_BATCH. Every other event (start, fallback) goes at once, and so do the tokens
of a producer that never reaches that point. The heartbeat timer (mailbox.HeartbeatTimer) wakes an
idle response with PING through the loop.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator

from gevent import get_hub
from greenlet import GreenletExit, getcurrent, greenlet

from ..fallback import ChatEvent
from ..providers.waiting import before_body_read
from .mailbox import PING, heartbeats
from .relay import _END, MAX_BATCH, written

log = logging.getLogger(__name__)


class Switchboard:
    """Where one response and its engine's greenlet meet; only one of them runs at a time.

    `waiting` says the response is parked for its next items: only then may anything switch into
    it (a switch into a greenlet waiting on a socket would end that wait with a wrong answer).
    """

    def __init__(self, heartbeat: float, work: Callable[[], None]):
        self.heartbeat = heartbeat
        self.last_sent = time.monotonic()  # when the client last got something; the timer reads it
        self.response = getcurrent()
        self.hub = get_hub()
        self.engine = greenlet(work)  # a child of the response: it comes back here if it ends
        self.waiting = False
        self.pending: list = []  # tokens parsed since the last hand-over
        self.batching = False  # the upstream body read hands pending tokens over (before_body_read ran)
        self._engine_paused = True  # in hand() (or not started yet), rather than waiting on a socket
        self._response_parked: threading.Event | None = None  # made when the engine first has to wait for it

    # --- the engine's side ---------------------------------------------------------------------
    def hand(self, items: list) -> None:
        """Give the response these items; return once it wants more."""
        while not self.waiting:
            # The response is busy (writing a heartbeat) and expects no switch: wait until it parks.
            if self._response_parked is None:
                self._response_parked = threading.Event()  # gevent's, in a worker it has patched
            self._response_parked.wait()
            self._response_parked.clear()
        self.waiting = False
        self._engine_paused = True
        self.response.switch(items)

    def add(self, event: ChatEvent) -> None:
        """Pass on one event: a token may wait for the next body read; anything else goes now."""
        if event.event == "token" and self.batching and len(self.pending) < MAX_BATCH - 1:
            self.pending.append(event)
            return
        items, self.pending = self.pending, []
        items.append(event)
        self.hand(items)

    def before_body_read(self) -> None:
        """Run by the upstream connection when it is about to wait for its socket: hand the tokens over."""
        self.batching = True
        if self.pending:
            items, self.pending = self.pending, []
            self.hand(items)

    # --- the response's side -------------------------------------------------------------------
    def next_items(self):
        """Park until the engine hands items over or the heartbeat timer wakes it ([PING])."""
        self.waiting = True
        if self._engine_paused:
            self._engine_paused = False
            return self.engine.switch()
        if self._response_parked is not None:
            self._response_parked.set()
        return self.hub.switch()

    def sent(self) -> None:
        self.last_sent = time.monotonic()

    def ping_if_idle(self, now: float) -> None:
        """Called by the heartbeat timer for every open stream."""
        if self.waiting and now - self.last_sent >= self.heartbeat:
            self.hub.loop.run_callback(self._wake)

    def _wake(self) -> None:
        """Run by the loop: switch [PING] into the parked response, unless it has moved on meanwhile."""
        if self.waiting and not self._engine_paused and time.monotonic() - self.last_sent >= self.heartbeat:
            self.waiting = False
            self.response.switch([PING])

    def stop_engine(self) -> None:
        """End the engine's greenlet wherever it is: its generators close, and with them the upstream."""
        self.waiting = False  # nothing may switch into the response any more
        if not self.engine.dead:
            try:
                self.engine.throw(GreenletExit)
            except Exception:
                log.exception("chat engine failed while stopping")


def relay_in_greenlets(produce, after_event, heartbeat: float) -> Iterator[str]:
    """relay() for a gevent worker: the same events, heartbeats and guarantees.

    No upstream socket needs shutting down to wake the engine here (relay.py's StreamHandle): the
    response ends the engine's greenlet itself, and its generators close the upstream answer.
    """
    cancelled = threading.Event()

    def work() -> None:
        before_body_read.set(board.before_body_read)
        try:
            for event in produce(cancelled.is_set):
                board.add(event)
                if event.terminal:
                    break
        except Exception:
            log.exception("chat engine failed")
        items, board.pending = board.pending, []
        board.hand([*items, _END])  # the response stops this greenlet once the stream is over

    board = Switchboard(heartbeat, work)
    try:
        yield ": connected\n\n"
        heartbeats.add(board)
        yield from written(board.next_items, board.sent, after_event)
    finally:
        heartbeats.discard(board)
        cancelled.set()
        board.stop_engine()
