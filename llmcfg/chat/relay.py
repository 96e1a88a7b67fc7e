"""Relay engine events to a client as Server-Sent Events, with heartbeats and clean cancellation.

The engine runs in a worker thread so the response can send `: ping` while the upstream is silent
(a blocking upstream read cannot); events reach the response through a Mailbox (mailbox.py).
Under gevent (the production workers) the chat endpoint writes from the engine's own greenlet
instead (inline.py); relay() still works there, its worker thread a greenlet.
When the client goes away the WSGI server closes our generator; its `finally` cancels the walk
and shuts the live upstream socket, so no upstream connection outlives its client by more than
one heartbeat.
"""

import contextvars
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator

import httpx
import orjson

from ..fallback import ChatEvent
from .mailbox import PING, Mailbox, heartbeats

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
# SSE comments: the first thing a client reads, and what keeps an idle stream's connection open.
CONNECTED_TEXT = ": connected\n\n"
PING_TEXT = ": ping\n\n"
MAX_BATCH = 64  # events per write at most
_END = object()
_current: contextvars.ContextVar["StreamHandle | None"] = contextvars.ContextVar("llmcfg_stream", default=None)


class StreamHandle:
    """The upstream responses of one chat stream, so another thread can cut them off."""

    def __init__(self):
        self.cancelled = threading.Event()
        self.responses: list[httpx.Response] = []

    def cancel(self) -> None:
        self.cancelled.set()
        for response in list(self.responses):
            if response.is_closed:
                continue  # finished responses may already serve another request from the pool
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the worker's blocked read at once
                except OSError:
                    pass


def register_response(response: httpx.Response) -> None:
    """httpx response hook: remember the live upstream response of the stream running here."""
    handle = _current.get()
    if handle is not None:
        handle.responses.append(response)


def install(client: httpx.Client) -> None:
    hooks = client.event_hooks
    if register_response not in hooks["response"]:
        hooks["response"].append(register_response)
        client.event_hooks = hooks


def format_event(event: ChatEvent) -> str:
    data = event.data
    text = data.get("text") if event.event == "token" else None
    if type(text) is str and len(data) == 1:
        # One of these per token: orjson writes a string as json.dumps(ensure_ascii=False) does, for a
        # fraction of the CPU. It refuses a lone surrogate, which the standard library renders below.
        try:
            return f'event: token\ndata: {{"text": {orjson.dumps(text).decode()}}}\n\n'
        except TypeError:
            pass
    return f"event: {event.event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def under_gevent() -> bool:
    """Whether gevent has patched threading here (gunicorn's gevent workers): one thread, many greenlets."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def internal_error() -> ChatEvent:
    return ChatEvent("error", {"message": "The chat stopped because of an internal error; please try again.",
                               "reason": "internal_error", "attempts": []})


def recorded(after_event: Callable[[ChatEvent], None], events: list[ChatEvent]) -> None:
    """Run after_event for each event the client now has; a failure is logged, never a second ending."""
    for event in events:
        try:
            after_event(event)
        except Exception:
            # The client has the event already: failing to record it must not end the stream twice.
            log.exception("recording a chat's %s event failed", event.event)


def written(next_items: Callable[[], list], sent: Callable[[], None],
            after_event: Callable[[ChatEvent], None]) -> Iterator[str]:
    """SSE text for the items next_items() hands over until a done or error; always end with one.

    next_items returns [PING] when a heartbeat is due, else the events waiting, oldest first, the
    last one _END once the engine has stopped. Whatever is waiting goes out in one write: when the
    server is busy, fewer, larger writes keep it from falling further behind.
    """
    terminal = ended = False
    while not (terminal or ended):
        items = next_items()
        if items[0] is PING:
            yield PING_TEXT
            sent()
            continue
        if items[-1] is _END:
            ended = True
            items.pop()
        if items:
            terminal = items[-1].terminal
            yield "".join(format_event(event) for event in items)
            sent()
            recorded(after_event, items)
    if not terminal:
        # The engine always ends with done or error; this guards against a bug, never silence.
        event = internal_error()
        yield format_event(event)
        recorded(after_event, [event])


def relay(produce: Callable[[Callable[[], bool]], Iterator[ChatEvent]], after_event: Callable[[ChatEvent], None],
          heartbeat: float = HEARTBEAT_S) -> Iterator[str]:
    """Yield SSE text for the events produce() makes; always end with exactly one done or error.

    produce receives a `cancelled()` callable; after_event runs in the response thread after
    each event is sent (the caller writes fallback rows there, off the worker's path).
    """
    mailbox = Mailbox(heartbeat)
    handle = StreamHandle()

    def work() -> None:
        _current.set(handle)
        try:
            for event in produce(handle.cancelled.is_set):
                if handle.cancelled.is_set():
                    break
                mailbox.put(event)
                if event.terminal:
                    break
        except Exception:
            log.exception("chat engine failed")
        finally:
            mailbox.put(_END)

    worker = threading.Thread(target=work, name="llmcfg-chat", daemon=True)
    try:
        yield CONNECTED_TEXT
        heartbeats.add(mailbox)
        worker.start()
        yield from written(lambda: mailbox.take(MAX_BATCH), mailbox.sent, after_event)
    finally:
        heartbeats.discard(mailbox)
        if worker.is_alive():
            handle.cancel()
