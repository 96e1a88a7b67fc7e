"""The chat stream under gevent (the production workers): the engine runs in the response's own
greenlet and writes each batch of events to the client as it goes.

A gevent worker runs everything in one thread, so nothing is gained by running the engine apart
from the response: a second greenlet would cost every token two switches and a pass through the
response's iterator layers (Flask's, werkzeug's, gunicorn's). Here the engine's events are written
through the WSGI server's write callable, which gunicorn's workers offer for the whole response.

Tokens that arrive together go out in one write: they are collected and written when the upstream
connection is about to wait for its socket (waiting.before_body_read), at the end of the answer, or
at MAX_BATCH. Every other event (start, fallback, done, error) goes at once.

Heartbeats: the heartbeat timer (mailbox.HeartbeatTimer) finds a stream whose client has heard
nothing for a while, and a greenlet of its own writes `: ping` while the engine waits on the
upstream; a lock keeps that write and the stream's own apart. A write that fails (the client went
away) ends the engine where it stands, so its upstream answer is closed at once.
"""

import functools
import logging
import time
from collections.abc import Callable, Iterator

import gevent
from flask import Response, current_app, stream_with_context
from gevent.lock import Semaphore
from greenlet import getcurrent

from ..fallback import ChatEvent
from ..providers.waiting import before_body_read
from .mailbox import heartbeats
from .relay import CONNECTED_TEXT, MAX_BATCH, PING_TEXT, format_event, internal_error, recorded

log = logging.getLogger(__name__)

CONNECTED = CONNECTED_TEXT.encode()
PING = PING_TEXT.encode()


class ClientGone(BaseException):
    """The client went away: unwinds the engine like GreenletExit, past its `except Exception` handlers."""


class InlineStream:
    """One chat stream written from the greenlet that runs its engine."""

    def __init__(self, write: Callable[[bytes], object], after_event: Callable[[ChatEvent], None], heartbeat: float):
        self.write = write
        self.after_event = after_event
        self.heartbeat = heartbeat
        self.last_sent = time.monotonic()  # when the client last got something; the timer reads it
        self.response = getcurrent()
        self.pending: list[ChatEvent] = []  # tokens parsed since the last write
        self.batching = False  # the upstream body read writes pending tokens (before_body_read ran)
        self.gone = False  # a write failed: the client went away
        self.running = False  # the engine runs in this greenlet: a failed ping may end it there
        self.closed = False  # the stream is over: nothing may be written any more
        self.pinging = False
        self._writing = Semaphore()

    def run(self, produce: Callable[[Callable[[], bool]], Iterator[ChatEvent]]) -> None:
        """Write the events produce() makes, always ending with exactly one done or error (unless the client left)."""
        hand_over = before_body_read.set(self.before_body_read)
        heartbeats.add(self)
        self.running = True
        try:
            self.send(CONNECTED)
            if not self._relay(produce):
                # The engine always ends with done or error; this guards against a bug, never silence.
                self._write_events([internal_error()])
        except ClientGone:
            pass
        finally:
            self.running = False
            heartbeats.discard(self)
            before_body_read.reset(hand_over)  # the greenlet goes on to the connection's next request
            with self._writing:
                self.closed = True

    def _relay(self, produce) -> bool:
        """Write the engine's events until its done or error; return whether one came."""
        events = None
        try:
            events = produce(lambda: self.gone)
            for event in events:
                if event.event == "token" and self.batching and len(self.pending) < MAX_BATCH - 1:
                    self.pending.append(event)
                    continue
                items, self.pending = self.pending, []
                items.append(event)
                self._write_events(items)
                if event.terminal:
                    return True
        except Exception:
            log.exception("chat engine failed")
        finally:
            if events is not None:
                events.close()  # the engine's generators close, and with them the upstream answer
        self._write_pending()
        return False

    def before_body_read(self) -> None:
        """Run by the upstream connection when it is about to wait for its socket: write the tokens so far."""
        self.batching = True
        self._write_pending()

    def _write_pending(self) -> None:
        if self.pending:
            items, self.pending = self.pending, []
            self._write_events(items)

    def _write_events(self, items: list[ChatEvent]) -> None:
        self.send("".join(format_event(event) for event in items).encode())
        recorded(self.after_event, items)

    def send(self, data: bytes) -> None:
        """Write to the client from the stream's greenlet; raise ClientGone if it has left."""
        if not self._write_now(data):
            raise ClientGone

    def _write_now(self, data: bytes) -> bool:
        """Write unless the stream is over; return False when the client has gone."""
        with self._writing:
            if self.gone:
                return False
            if self.closed:
                return True
            try:
                self.write(data)
            except OSError:
                self.gone = True
                return False
        self.last_sent = time.monotonic()
        return True

    # --- heartbeats ------------------------------------------------------------------------------
    def ping_if_idle(self, now: float) -> None:
        """Called by the heartbeat timer for every open stream."""
        if not (self.closed or self.pinging) and now - self.last_sent >= self.heartbeat:
            self.pinging = True
            gevent.spawn(self._ping)  # a client slow to read must not hold up the timer's other streams

    def _ping(self) -> None:
        try:
            if not self._write_now(PING) and self.running:
                # The stream's greenlet waits on the upstream: end it there, unless it has finished meanwhile.
                gevent.get_hub().loop.run_callback(self._end_engine)
        finally:
            self.pinging = False

    def _end_engine(self) -> None:
        if self.running:
            self.response.throw(ClientGone)


class _KeepsWrite:
    """Mixed into the app's response class: keeps the write callable the WSGI server's start_response returns."""

    wsgi_write: Callable[[bytes], object] | None = None

    def __call__(self, environ, start_response):
        def keep_write(status, headers, exc_info=None):
            self.wsgi_write = start_response(status, headers, exc_info) if exc_info else start_response(status, headers)
            return self.wsgi_write

        return super().__call__(environ, keep_write)


@functools.cache
def _keeping_write(response_class: type[Response]) -> type[Response]:
    # A subclass of the app's own response class, so Flask takes the response as it is.
    return type(f"Inline{response_class.__name__}", (_KeepsWrite, response_class), {})


def inline_response(produce, after_event, heartbeat: float, finish: Callable[[], None], **kwargs) -> Response:
    """A streamed response whose body an InlineStream writes through the WSGI server's write callable.

    Its iterable yields nothing: the server runs it after the view has returned (and the request's
    database session is closed, as for any streamed response), with the request's contexts pushed.
    finish runs once the stream is over, however it ended.
    """

    def body() -> Iterator[bytes]:
        try:
            InlineStream(response.wsgi_write, after_event, heartbeat).run(produce)
        finally:
            finish()
        yield from ()

    response = _keeping_write(current_app.response_class)(stream_with_context(body()), **kwargs)
    return response
