"""Where reading from an upstream socket may wait: whether it would, and what runs before it does.

Under gevent (the production worker class) a wait switches to the event loop, and every other
greenlet of the worker runs before the reader is back; these helpers ask the operating system
instead, which answers at once.
"""

import select
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache

# Run, where it is set, when reading an answer's body is about to wait for the socket: the chat
# stream under gevent writes the events parsed so far there (chat/inline.py).
before_body_read: ContextVar[Callable[[], None] | None] = ContextVar("llmcfg_before_body_read", default=None)


@cache
def os_poll():
    """select.poll as the operating system gives it, even after gevent has patched the module."""
    try:
        from gevent import monkey
    except ImportError:
        return select.poll
    return monkey.get_original("select", "poll")


def socket_is_readable(sock) -> bool:
    """Whether recv on this socket would return at once (data, or b"" for a hang-up); never waits.

    Under gevent (the production worker class) `select.poll` is gevent's, and even a zero timeout
    switches to the event loop: every other greenlet of the worker would run before the answer,
    while the pool holds its lock. The operating system's own poll answers at once.
    """
    fileno = sock.fileno() if sock is not None else -1
    if fileno < 0:
        return True  # gone: as good as hung up
    poller = os_poll()()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


def readable_waiter(sock) -> Callable[[], None] | None:
    """Under gevent, a callable that waits until sock is readable without trying a read first; else None.

    gevent's recv tries the read, takes the EAGAIN, and only then waits: when the reader already
    knows the socket is empty, that try is a wasted system call and exception, once per relayed
    token. This waits on the socket's own read watcher (gevent's internals, as deadline.py's timer
    finds the waiting reader there), so the read deadline still times the wait out.
    """
    wait, event = getattr(sock, "_wait", None), getattr(sock, "_read_event", None)
    if wait is None or event is None:
        return None
    pending = getattr(sock, "pending", None)  # TLS: bytes decrypted already are off the socket

    def wait_readable() -> None:
        if sock._read_event is None or (pending is not None and pending()):
            return  # closed (the read says so) or the read returns at once
        wait(sock._read_event)

    return wait_readable


def before_each_read(sock, hand_over: Callable[[], None] | None, mark: Callable[[], None] | None):
    """What runs before each read of a body, `before(drained)`: hand_over if the read would wait,
    then the read deadline's mark, then (under gevent) the wait for the socket.

    Only a read that would wait calls for the hand-over: when the next token is already in the
    socket, it goes out with the ones before it, in one write. `drained` says whether the last read
    came back short, which empties a plain socket: the next read would wait, and the operating
    system need not be asked. It is None before the first read, whose bytes may have come with the
    answer's head and wait in the reader's buffer: that read is never waited for here. The mark
    comes after the hand-over, which may take a while (the response writes), so that time never
    counts as the read's.
    """
    if hand_over is None:
        return None if mark is None else lambda drained: mark()
    poller = os_poll()()
    poller.register(sock.fileno(), select.POLLIN)
    wait_readable = readable_waiter(sock)
    # A TLS read stops at a record's end, short or not: only a plain socket's short read empties it.
    trust_drained = wait_readable is not None and getattr(sock, "pending", None) is None

    def before(drained: bool | None) -> None:
        if (drained and trust_drained) or not poller.poll(0):
            hand_over()
            if mark is not None:
                mark()
            if wait_readable is not None and drained is not None:
                wait_readable()
        elif mark is not None:
            mark()

    return before
