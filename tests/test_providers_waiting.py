"""Before a body read that would wait, the relay's hand-over runs (and only then), ahead of the read
deadline's mark; under gevent the wait for the socket follows, without a read tried first; reading an
answer runs it when its body has nothing more waiting."""

import socket
import threading
from contextlib import closing

import gevent
import gevent.socket

from llmcfg.providers.waiting import before_body_read, before_each_read, readable_waiter, socket_is_readable
from tests.test_providers_connection import OK_HEAD, chunk, serve, upstream_client  # noqa: F401 (serve: a fixture)


def test_the_hand_over_runs_only_when_the_read_would_wait_and_before_the_mark():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        calls = []
        before = before_each_read(ours, lambda: calls.append("hand over"), lambda: calls.append("mark"))
        before(None)
        assert calls == ["hand over", "mark"]  # nothing to read: the read would wait
        theirs.sendall(b"x")
        calls.clear()
        before(False)
        assert calls == ["mark"]  # a byte is waiting: the read returns at once
        calls.clear()
        before(True)
        assert calls == ["mark"]  # a plain socket is not waited on here: the system is asked


def test_under_gevent_a_read_after_a_short_one_hands_over_and_waits_for_the_socket_first():
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        calls = []
        before = before_each_read(ours, lambda: calls.append("hand over"), lambda: calls.append("mark"))
        gevent.spawn_later(0.05, theirs.sendall, b"x")
        before(True)  # the last read came back short: the socket is empty, no need to ask
        assert calls == ["hand over", "mark"]
        assert socket_is_readable(ours)  # it waited until the byte came: the read will not have to
        assert ours.recv(1) == b"x"
        theirs.sendall(b"y")
        calls.clear()
        before(False)
        assert calls == ["mark"]  # not known to be empty, and it is not: no hand-over, no wait
        assert ours.recv(1) == b"y"
        calls.clear()
        gevent.spawn_later(0.05, theirs.sendall, b"z")
        before(None)  # the first read: what came with the head may be in the reader, never waited for
        assert calls == ["hand over", "mark"]
        assert not socket_is_readable(ours)  # it returned before the byte came
        assert ours.recv(1) == b"z"


class DecryptedAhead(gevent.socket.socket):
    """A gevent socket with bytes waiting above it, as TLS has decrypted bytes the socket no longer holds."""

    def pending(self) -> int:
        return 1


def test_bytes_waiting_above_the_socket_are_never_waited_for():
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs, DecryptedAhead(fileno=ours.detach()) as tls:
        readable_waiter(tls)()  # returns at once: the read has its bytes
        calls = []
        before = before_each_read(tls, lambda: calls.append("hand over"), None)
        before(True)  # a short TLS read says nothing about the socket: the system is asked
        assert calls == ["hand over"]


def test_plain_sockets_have_no_waiter():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert readable_waiter(ours) is None


def test_without_a_hand_over_only_the_mark_runs():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        marks = []
        before = before_each_read(ours, None, lambda: marks.append("mark"))
        before(None)
        before(True)
        assert marks == ["mark", "mark"]
        assert before_each_read(ours, None, None) is None


def test_reading_an_answer_hands_over_before_it_waits_for_the_next_chunk(serve):
    handed_over = threading.Event()

    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(b"first"))
        if handed_over.wait(5):  # the rest only once the reader is about to wait for it
            conn.sendall(chunk(b"second") + b"0\r\n\r\n")

    server = serve(answer)
    token = before_body_read.set(handed_over.set)
    try:
        with closing(upstream_client()) as client, client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
            assert b"".join(response.iter_raw()) == b"firstsecond"
    finally:
        before_body_read.reset(token)
    assert handed_over.is_set()
