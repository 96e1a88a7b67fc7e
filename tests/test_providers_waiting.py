"""Before a body read that would wait, the relay's hand-over runs (and only then), ahead of the read
deadline's mark; reading an answer runs it when its body has nothing more waiting."""

import socket
import threading
from contextlib import closing

from llmcfg.providers.waiting import before_body_read, before_each_read
from tests.test_providers_connection import OK_HEAD, chunk, serve, upstream_client  # noqa: F401 (serve: a fixture)


def test_the_hand_over_runs_only_when_the_read_would_wait_and_before_the_mark():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        calls = []
        before = before_each_read(ours, lambda: calls.append("hand over"), lambda: calls.append("mark"))
        before()
        assert calls == ["hand over", "mark"]  # nothing to read: the read would wait
        theirs.sendall(b"x")
        calls.clear()
        before()
        assert calls == ["mark"]  # a byte is waiting: the read returns at once


def test_without_a_hand_over_only_the_mark_runs():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        mark = object()
        assert before_each_read(ours, None, mark) is mark
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
