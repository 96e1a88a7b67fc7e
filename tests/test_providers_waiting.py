"""Before a body read that would wait, the relay's hand-over runs (and only then), ahead of the read
deadline's mark; under gevent the wait for the socket follows, without a read tried first; reading an
answer runs it when its body has nothing more waiting."""

import json
import socket
import subprocess
import sys
import threading
from contextlib import closing

import gevent
import gevent.socket
import pytest

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


# An upstream over TLS or plain TCP in a process patched by gevent, as gunicorn's gevent workers
# are, with the relay's hand-over set: it sends the whole answer in one write (the body then comes
# in with the head), chunks after gaps, in a burst, and larger than one read (or one TLS record).
# Prints, per plan, whether the body arrived whole, how long it took and how many hand-overs ran.
UNDER_GEVENT = """
from gevent import monkey; monkey.patch_all()
import json, socket, ssl, sys, threading, time
import httpx, trustme
from llmcfg.providers.transport import UpstreamTransport
from llmcfg.providers.waiting import before_body_read

tls = sys.argv[1] == "tls"
ca = trustme.CA()
server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ca.issue_cert("127.0.0.1").configure_cert(server_context)
client_context = ssl.create_default_context()
ca.configure_trust(client_context)
listener = socket.create_server(("127.0.0.1", 0))
PLANS = {"one write": [(None, b"t%d" % i) for i in range(3)], "gaps": [(0.05, b"t%d" % i) for i in range(8)],
         "burst": [(0, b"t%d" % i) for i in range(200)], "large": [(0.02, b"x" * 40000), (0.02, b"y" * 70000), (0, b"z")]}
plan = []

def serve():
    while True:
        conn, _ = listener.accept()
        conn = server_context.wrap_socket(conn, server_side=True) if tls else conn
        threading.Thread(target=answer, args=(conn,), daemon=True).start()

def answer(conn):
    while conn.recv(65536):
        head = b"HTTP/1.1 200 OK\\r\\ntransfer-encoding: chunked\\r\\n\\r\\n"
        chunks = [b"%x\\r\\n%s\\r\\n" % (len(piece), piece) for _, piece in plan] + [b"0\\r\\n\\r\\n"]
        if plan[0][0] is None:
            conn.sendall(head + b"".join(chunks))
            continue
        conn.sendall(head)
        for (gap, _), chunk in zip(plan, chunks):
            time.sleep(gap)
            conn.sendall(chunk)
        conn.sendall(chunks[-1])

threading.Thread(target=serve, daemon=True).start()
hand_overs = []
before_body_read.set(lambda: hand_overs.append(1))
client = httpx.Client(timeout=httpx.Timeout(5.0, read=3.0), transport=UpstreamTransport(httpx.Limits(), client_context))
url = f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}/"
found = {}
for name, pieces in PLANS.items():
    plan[:], hand_overs[:] = pieces, []
    started = time.monotonic()
    with client.stream("GET", url) as response:
        whole = b"".join(response.iter_raw()) == b"".join(p for _, p in pieces)
    found[name] = {"whole": whole, "seconds": time.monotonic() - started, "hand_overs": len(hand_overs)}
print(json.dumps(found))
"""


@pytest.mark.parametrize("transport", ["plain", "tls"])
def test_under_gevent_every_body_arrives_whole_and_no_read_waits_for_bytes_it_already_has(transport):
    done = subprocess.run([sys.executable, "-c", UNDER_GEVENT, transport], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(plan["whole"] for plan in found.values()), found
    # A read that waited for bytes already received would sit out the 3 s read timeout, or fail.
    assert all(plan["seconds"] < 2.0 for plan in found.values()), found
    assert found["gaps"]["hand_overs"] >= 8  # each gap: the tokens so far went out before the wait
