"""An upstream connection read by http.client: answers stream chunk by chunk, requests go out as
httpx built them, connections are kept only when their answer was read to its end, TLS is
verified, and a body that stops arriving times out."""

import socket
import ssl
import subprocess
import sys
import threading
import time
from contextlib import closing

import httpx
import pytest
import trustme

from llmcfg.providers.transport import UpstreamTransport

OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class ScriptedServer:
    """A loopback HTTP server that plays `answer(conn, request, number)` for every request it reads.

    It keeps each connection open for the next request (keep-alive) until the script returns False
    or the client hangs up, and records every connection it accepted and every request it read.
    """

    def __init__(self, answer, tls: ssl.SSLContext | None = None):
        self.answer, self.tls = answer, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections, self.requests = 0, []
        self.hung_up = threading.Event()  # a client closed a connection the server still held
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                return
        with conn:
            reader = conn.makefile("rb")
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        self.hung_up.set()
                        return
                    head += line
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + reader.read(length))
                if self.answer(conn, self.requests[-1], len(self.requests)) is False:
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve():
    servers = []

    def start(answer, tls=None) -> ScriptedServer:
        servers.append(ScriptedServer(answer, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def upstream_client(ssl_context=None) -> httpx.Client:
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    return httpx.Client(timeout=httpx.Timeout(5.0), transport=UpstreamTransport(limits, ssl_context))


def test_each_chunk_of_an_answer_arrives_as_soon_as_it_is_sent(serve):
    first_read = threading.Event()
    released = []

    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(b"first"))
        released.append(first_read.wait(5))  # the rest only once the client has the first chunk
        conn.sendall(chunk(b"second") + b"0\r\n\r\n")

    server = serve(answer)
    with closing(upstream_client()) as client, client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"first"
        first_read.set()
        assert list(chunks) == [b"second"]
    assert released == [True]


def test_chunks_already_received_arrive_together(serve):
    sent = threading.Event()

    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n")
        conn.sendall(chunk(b"one") + chunk(b"two") + chunk(b"three") + b"0\r\n\r\n")
        sent.set()

    server = serve(answer)
    with closing(upstream_client()) as client, client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
        assert sent.wait(5)
        time.sleep(0.1)  # all of it is waiting in the socket before the first read of the body
        assert list(response.iter_raw()) == [b"onetwothree"]


def test_an_answer_followed_by_bytes_it_did_not_announce_does_not_keep_its_connection(serve):
    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(b"%d" % number) + b"0\r\n\r\n"
                     + (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nSTALE" if number == 1 else b""))

    server = serve(answer)
    with closing(upstream_client()) as client:
        answers = [client.get(f"http://127.0.0.1:{server.port}/").text for _ in range(2)]
    assert answers == ["1", "2"] and server.connections == 2


def test_the_request_goes_out_as_httpx_built_it(serve):
    server = serve(lambda conn, request, number: conn.sendall(OK_HEAD + b"content-length: 2\r\n\r\nok"))
    with closing(upstream_client()) as client:
        response = client.post(f"http://127.0.0.1:{server.port}/v1/chat?stream=1", json={"model": "m"},
                               headers={"Authorization": "Bearer sk-test"})
    assert response.status_code == 200 and response.text == "ok"
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    assert lines[0] == b"POST /v1/chat?stream=1 HTTP/1.1"
    assert headers[b"host"] == b"127.0.0.1:%d" % server.port
    assert headers[b"authorization"] == b"bearer sk-test"
    assert headers[b"content-type"] == b"application/json"
    assert body == b'{"model":"m"}' and headers[b"content-length"] == b"%d" % len(body)


ENDINGS = {
    "chunked": b"transfer-encoding: chunked\r\n\r\n" + chunk(b"hello") + b"0\r\n\r\n",
    "content-length": b"content-length: 5\r\n\r\nhello",
    "no body": b"content-length: 0\r\n\r\n",
}


@pytest.mark.parametrize("ending", ENDINGS, ids=list(ENDINGS))
def test_an_answer_read_to_its_end_leaves_its_connection_for_the_next_request(serve, ending):
    server = serve(lambda conn, request, number: conn.sendall(OK_HEAD + ENDINGS[ending]))
    with closing(upstream_client()) as client:
        answers = [client.get(f"http://127.0.0.1:{server.port}/{n}").content for n in range(3)]
    assert answers == [b"hello" if ending != "no body" else b""] * 3
    assert server.connections == 1


def test_an_answer_left_before_its_end_closes_its_connection(serve):
    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(b"first"))
        if number == 2:
            conn.sendall(b"0\r\n\r\n")  # the second request is answered in full

    server = serve(answer)
    with closing(upstream_client()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        with client.stream("GET", url) as response:
            assert next(response.iter_raw()) == b"first"  # and the chat stops here
        assert server.hung_up.wait(5)  # the rest of that answer would be read as the next one's
        assert client.get(url).content == b"first"
    assert server.connections == 2


def test_a_connection_the_server_closes_is_not_asked_again(serve):
    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"connection: close\r\ncontent-length: 2\r\n\r\nok")
        return False  # and hang up

    server = serve(answer)
    with closing(upstream_client()) as client:
        answers = [client.get(f"http://127.0.0.1:{server.port}/").text for _ in range(2)]
    assert answers == ["ok", "ok"] and server.connections == 2


def test_an_idle_connection_the_server_hung_up_on_is_replaced_not_reused(serve):
    answered = threading.Event()

    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"content-length: 2\r\n\r\nok")
        if number == 1:  # no `connection: close`: the hang-up comes while the connection is idle
            conn.shutdown(socket.SHUT_RDWR)
            answered.set()
            return False

    server = serve(answer)
    with closing(upstream_client()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        assert client.get(url).text == "ok"
        assert answered.wait(5)
        assert client.get(url).text == "ok"  # not a "server disconnected" error
    assert server.connections == 2


@pytest.fixture(scope="module")
def certificate_authority():
    return trustme.CA()


def tls_server_context(ca) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    return context


def test_https_answers_are_read_over_a_verified_connection_and_kept_for_the_next_request(serve, certificate_authority):
    server = serve(lambda conn, request, number: conn.sendall(
        OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunk(b"secure") + b"0\r\n\r\n"),
        tls=tls_server_context(certificate_authority))
    trusting = ssl.create_default_context()
    certificate_authority.configure_trust(trusting)
    with closing(upstream_client(trusting)) as client:
        answers = [client.get(f"https://localhost:{server.port}/").text for _ in range(2)]
    assert answers == ["secure", "secure"] and server.connections == 1


def test_an_https_server_whose_certificate_is_not_trusted_is_refused(serve, certificate_authority):
    server = serve(lambda conn, request, number: conn.sendall(OK_HEAD + b"content-length: 0\r\n\r\n"),
                   tls=tls_server_context(certificate_authority))
    with closing(upstream_client(ssl.create_default_context())) as client, pytest.raises(httpx.ConnectError):
        client.get(f"https://localhost:{server.port}/")
    assert server.requests == []


def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent(serve):
    server = serve(lambda conn, request, number: conn.sendall(OK_HEAD + b"content-length: 0\r\n\r\n"))
    with closing(upstream_client()) as client, pytest.raises(httpx.LocalProtocolError) as refused:
        client.get(f"http://127.0.0.1:{server.port}/", headers={"Authorization": "Bearer sk-x\r\nX-Injected: 1"})
    assert "authorization" in str(refused.value).lower() and "sk-x" not in str(refused.value)
    assert server.connections == 0


def test_a_body_of_unknown_length_goes_out_with_its_length_stated(serve):
    server = serve(lambda conn, request, number: conn.sendall(OK_HEAD + b"content-length: 0\r\n\r\n"))
    with closing(upstream_client()) as client:
        client.post(f"http://127.0.0.1:{server.port}/", content=iter([b"part one, ", b"part two"]))
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert body == b"part one, part two" and b"content-length: 18" in head.lower()
    assert b"transfer-encoding" not in head.lower()


def fails_then_answers_afresh(server: ScriptedServer, text: str) -> None:
    """The first request is a protocol error; the next is answered in full, on a new connection."""
    with closing(upstream_client()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(url)
        assert client.get(url).text == text
    assert server.connections == 2


def test_a_body_cut_short_of_its_length_is_an_error_and_its_connection_is_not_kept(serve):
    def answer(conn, request, number):
        if number == 1:
            conn.sendall(OK_HEAD + b"content-length: 100\r\n\r\npartial")
            return False  # and hang up, 93 bytes short
        conn.sendall(OK_HEAD + b"content-length: 2\r\n\r\nok")

    fails_then_answers_afresh(serve(answer), "ok")


BROKEN_BODIES = {
    "size line that is not a number": b"zz\r\n",
    "negative size": b"-5\r\n",
}


@pytest.mark.parametrize("broken", BROKEN_BODIES, ids=list(BROKEN_BODIES))
def test_a_broken_chunk_is_an_error_and_the_rest_of_that_answer_is_never_read_as_the_next(serve, broken):
    def answer(conn, request, number):
        if number == 1:
            conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + BROKEN_BODIES[broken])
            time.sleep(0.2)  # the rest of this answer comes late, as a stale answer would
            conn.sendall(chunk(b"STALE") + b"0\r\n\r\n")
        else:
            conn.sendall(OK_HEAD + b"content-length: 5\r\n\r\nFRESH")

    fails_then_answers_afresh(serve(answer), "FRESH")


def test_an_interim_answer_is_skipped_and_the_answers_stay_in_step(serve):
    def answer(conn, request, number):
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n")
        conn.sendall(OK_HEAD + b"content-length: 1\r\n\r\n%d" % number)

    server = serve(answer)
    with closing(upstream_client()) as client:
        answers = [client.get(f"http://127.0.0.1:{server.port}/") for _ in range(3)]
    assert [(a.status_code, a.text) for a in answers] == [(200, "1"), (200, "2"), (200, "3")]
    assert server.connections == 1


def test_answers_without_a_body_end_at_their_head_whatever_their_headers_say(serve):
    def answer(conn, request, number):
        status = b"HTTP/1.1 304 Not Modified\r\n" if request.startswith(b"GET") else b"HTTP/1.1 200 OK\r\n"
        conn.sendall(status + b"transfer-encoding: chunked\r\n\r\n")  # and no chunk ever follows

    server = serve(answer)
    with closing(upstream_client()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        answers = [client.get(url), client.head(url), client.get(url)]
    assert [(a.status_code, a.content) for a in answers] == [(304, b""), (200, b""), (304, b"")]
    assert server.connections == 1


@pytest.mark.parametrize("rest", [
    pytest.param(b"x-a: 1\r\nnot a header\r\ncontent-length: 2\r\n\r\nok", id="a header line without a colon"),
    pytest.param(b"content-length: 2\r\ncontent-length: 5\r\n\r\nokabc", id="two different lengths"),
])
def test_a_malformed_head_is_refused(serve, rest):
    server = serve(lambda conn, request, number: conn.sendall(OK_HEAD + rest))
    with closing(upstream_client()) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(f"http://127.0.0.1:{server.port}/")


def test_a_folded_header_value_reads_as_one_line(serve):
    server = serve(lambda conn, request, number: conn.sendall(
        OK_HEAD + b"x-note: one\r\n two\r\ncontent-length: 0\r\n\r\n"))
    with closing(upstream_client()) as client:
        assert client.get(f"http://127.0.0.1:{server.port}/").headers["x-note"] == "one two"


def test_a_request_that_asks_to_close_is_not_followed_by_another_on_its_connection(serve):
    server = serve(lambda conn, request, number: conn.sendall(OK_HEAD + b"content-length: 2\r\n\r\nok"))
    with closing(upstream_client()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        client.get(url, headers={"Connection": "close"})
        client.get(url)
    assert server.connections == 2


def timed_client(read: float) -> httpx.Client:
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    return httpx.Client(timeout=httpx.Timeout(5.0, read=read), transport=UpstreamTransport(limits))


@pytest.mark.parametrize("framing", [b"transfer-encoding: chunked\r\n\r\n" + chunk(b"first"),
                                     b"connection: close\r\n\r\nfirst"])  # read to the hang-up
def test_a_body_that_stops_arriving_times_out_after_the_read_timeout(serve, framing):
    stop = threading.Event()

    def answer(conn, request, number):
        conn.sendall(OK_HEAD + framing)
        stop.wait(10)  # then nothing, with the connection open

    server = serve(answer)
    try:
        with closing(timed_client(read=0.3)) as client, \
                client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
            chunks = response.iter_raw()
            assert next(chunks) == b"first"
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                next(chunks)
            waited = time.monotonic() - started
    finally:
        stop.set()
    assert 0.3 <= waited < 2.0


def test_time_the_reader_spends_between_chunks_is_not_a_read_timeout(serve):
    def answer(conn, request, number):
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n")
        for word in (b"one", b"two", b"three"):
            conn.sendall(chunk(word))
        conn.sendall(b"0\r\n\r\n")

    server = serve(answer)
    read = []
    with closing(timed_client(read=0.2)) as client, client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
        for part in response.iter_raw():
            read.append(part)
            time.sleep(0.5)  # longer than the read timeout, spent by the reader, not waiting on the server
    assert b"".join(read) == b"onetwothree"


def test_after_a_body_read_without_a_socket_timeout_the_next_answer_head_still_times_out(serve):
    def answer(conn, request, number):
        if number == 1:
            conn.sendall(OK_HEAD + b"content-length: 2\r\n\r\nok")
        else:
            time.sleep(1.5)  # the second answer's head comes late

    server = serve(answer)
    with closing(timed_client(read=0.3)) as client:
        assert client.get(f"http://127.0.0.1:{server.port}/").text == "ok"
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"http://127.0.0.1:{server.port}/")
        assert time.monotonic() - started < 1.2
    assert server.connections == 1  # the second request went out on the kept connection


GEVENT_STALL = """
from gevent import monkey; monkey.patch_all()
import socket, threading, time
import httpx
from llmcfg.providers.transport import UpstreamTransport

listener = socket.create_server(("127.0.0.1", 0))
def serve():
    conn, _ = listener.accept()
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\\r\\ntransfer-encoding: chunked\\r\\n\\r\\n5\\r\\nfirst\\r\\n")
    time.sleep(10)
threading.Thread(target=serve, daemon=True).start()
client = httpx.Client(timeout=httpx.Timeout(5.0, read=0.3), transport=UpstreamTransport(httpx.Limits()))
with client.stream("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/") as response:
    chunks = response.iter_raw()
    print(next(chunks).decode())
    started = time.monotonic()
    try:
        next(chunks)
    except httpx.ReadTimeout:
        print("timed out", round(time.monotonic() - started, 1))
"""


def test_a_stalled_body_times_out_under_gevent_too():
    """The production workers wait on sockets through gevent's event loop: the read timeout holds there too."""
    done = subprocess.run([sys.executable, "-c", GEVENT_STALL], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, outcome = done.stdout.splitlines()
    assert first == "first" and outcome.startswith("timed out ")
    assert 0.3 <= float(outcome.split()[-1]) < 2.0
