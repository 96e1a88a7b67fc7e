"""Where reading from an upstream socket may wait: whether it would, and what runs before it does.

Under gevent (the production worker class) a wait switches to the event loop, and every other
greenlet of the worker runs before the reader is back; these helpers ask the operating system
instead, which answers at once.
"""

import select
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache

# Run, where it is set, when reading an answer's body is about to wait for the socket: the gevent
# relay hands over the events parsed so far there (chat/switchboard.py).
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


def before_each_read(sock, hand_over: Callable[[], None] | None, mark: Callable[[], None] | None):
    """What runs before each read of a body: hand_over if the read would wait, then the read deadline's mark.

    Only a read that would wait calls for the hand-over: when the next token is already in the
    socket, it goes out with the ones before it, in one write. The mark comes after the hand-over,
    which may take a while (the response writes), so that time never counts as the read's.
    """
    if hand_over is None:
        return mark
    poller = os_poll()()
    poller.register(sock.fileno(), select.POLLIN)

    def before() -> None:
        if not poller.poll(0):
            hand_over()
        if mark is not None:
            mark()

    return before
