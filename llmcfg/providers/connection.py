"""One upstream HTTP/1.1 connection: http.client reads each answer's head, and its body as it arrives.

Every token of a chat is one chunk of a chunked HTTP answer. httpcore's own connection parses each
chunk with h11, in Python, through several layers of generators; here http.client reads the head
and a body of known length with the C-implemented buffered reader, and a chunked body is handed
over a read at a time, every chunk that read brought at once (chunked.py). Under load that is the
difference between the HTTP client being the largest share of a relayed token's CPU and costing
about what the socket read itself costs (docs/benchmarks.md measures both).

BufferedConnection speaks httpcore's connection interface, so httpcore's pool (UpstreamPool in
transport.py) still decides which connection serves which request and httpx sees no difference;
errors become httpcore's exceptions, which httpx turns into its own.
"""

import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore

from .chunked import ChunkedBody
from .deadline import ReadDeadline
from .waiting import before_body_read, before_each_read, socket_is_readable

READ_SIZE = 64 * 1024
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a method or header name (RFC 9110)
_UNSAFE_VALUE = re.compile(rb"[\r\n\x00]")
_UNSAFE_TARGET = re.compile(rb"[\s\x00]")
_FOLDED = re.compile(r"\r?\n[ \t]+")  # an obsolete folded header line: one space, as h11 reads it
NEW, ACTIVE, IDLE, CLOSED = "NEW", "ACTIVE", "IDLE", "CLOSED"
INCOMPLETE_BODY = "peer closed connection without sending complete message body"  # httpcore's words


@contextmanager
def mapped(timeout_error: type[Exception], other_error: type[Exception]):
    """Raise httpcore's exception for what the socket or http.client raised."""
    try:
        yield
    except socket.timeout as exc:
        raise timeout_error(str(exc) or "timed out") from exc
    except http.client.RemoteDisconnected as exc:
        raise httpcore.RemoteProtocolError("Server disconnected without sending a response.") from exc
    except http.client.IncompleteRead as exc:
        raise httpcore.RemoteProtocolError(INCOMPLETE_BODY) from exc
    except http.client.HTTPException as exc:
        raise httpcore.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
    except OSError as exc:
        raise other_error(str(exc) or type(exc).__name__) from exc


def request_message(request: httpcore.Request) -> bytes:
    """The request as it goes on the wire: head and body, the body's length stated up front.

    httpx checks no header for line breaks (h11 did, in httpcore's own connection); a value with
    one, say a pasted key, would start a header of its own, so it is refused here. The message
    names the header, never its value.
    """
    if not _TOKEN.fullmatch(request.method) or _UNSAFE_TARGET.search(request.url.target):
        raise httpcore.LocalProtocolError("Invalid request line")
    body = b"".join(request.stream)
    lines = [b"%s %s HTTP/1.1" % (request.method, request.url.target)]
    for name, value in request.headers:
        if not _TOKEN.fullmatch(name) or _UNSAFE_VALUE.search(value):
            raise httpcore.LocalProtocolError(f"Invalid header {name.decode('latin-1')!r}")
        if name.lower() not in (b"content-length", b"transfer-encoding"):
            lines.append(b"%s: %s" % (name, value))
    if body or request.method not in (b"GET", b"HEAD"):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class SocketInfo:
    """The `network_stream` extension of a response: what the relay needs to cut a chat off."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def get_extra_info(self, info: str):
        return self.sock if info == "socket" else None


class Answer(http.client.HTTPResponse):
    """http.client's response, strict where a kept-alive connection depends on reading it right."""

    def _read_status(self):
        version, status, reason = super()._read_status()
        if 100 < status < 200 and status != 101:
            # An interim answer (103 Early Hints, …): begin() skips it and its headers as it skips 100.
            return version, http.client.CONTINUE, reason
        return version, status, reason


def check_head(answer: Answer, method: bytes) -> None:
    """Refuse a head the connection could not be kept in step after; say which answers have no body."""
    lengths = {value.strip() for value in answer.msg.get_all("content-length") or ()}
    if answer.msg.defects or len(lengths) > 1:
        raise httpcore.RemoteProtocolError("The server sent malformed or conflicting headers.")
    if answer.status < 200 or answer.status in (204, 304) or method == b"HEAD":
        answer.chunked, answer.length = False, 0  # no body, whatever the headers say
    if answer.status == 101:
        answer.will_close = True  # the connection now speaks another protocol


class BufferedConnection(httpcore.ConnectionInterface):
    """An HTTP/1.1 connection to one origin: one request at a time, kept alive between them."""

    def __init__(self, origin: httpcore.Origin, ssl_context: ssl.SSLContext, keepalive_expiry: float | None):
        self._origin = origin
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self.state = NEW  # NEW, ACTIVE, IDLE or CLOSED; the pool reads it (transport.py)
        self.claimed_by = None  # the pool's request this was given to, until that request starts on it
        self._state_lock = threading.Lock()
        self._expire_at: float | None = None
        self._sock: socket.socket | None = None
        self._answer: Answer | None = None  # the answer being read, if any
        self._close_after = False  # the request said `connection: close`
        self._request_count = 0

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} on connection to {self._origin}")
        with self._state_lock:
            if self.state not in (NEW, IDLE):
                raise httpcore.ConnectionNotAvailable()
            self.state, self._expire_at, self.claimed_by = ACTIVE, None, None
            self._request_count += 1
        timeouts = request.extensions.get("timeout", {})
        answer = None
        try:
            message = request_message(request)  # a malformed request never opens a connection
            if self._sock is None:
                self._connect(timeouts.get("connect"))
            self._send(message, timeouts.get("write"))
            self._sock.settimeout(timeouts.get("read"))
            answer = Answer(self._sock, method=request.method.decode("ascii"))
            with mapped(httpcore.ReadTimeout, httpcore.ReadError):
                answer.begin()
            check_head(answer, request.method)
            self._answer = answer
            self._close_after = any(name.lower() == b"connection" and b"close" in value.lower()
                                    for name, value in request.headers)
        except BaseException:
            if answer is not None:
                answer.close()
            self.close()
            raise
        return httpcore.Response(
            status=answer.status,
            headers=[(name.encode("latin-1"), _FOLDED.sub(" ", value).encode("latin-1"))
                     for name, value in answer.getheaders()],
            content=AnswerStream(self, answer, timeouts.get("read")),
            extensions={
                "http_version": b"HTTP/1.0" if answer.version == 10 else b"HTTP/1.1",
                "reason_phrase": answer.reason.encode("latin-1", "replace"),
                "network_stream": SocketInfo(self._sock),
            },
        )

    def _connect(self, timeout: float | None) -> None:
        host = self._origin.host.decode("ascii")
        with mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            sock = socket.create_connection((host, self._origin.port), timeout=timeout)
            if self._origin.scheme == b"https":
                try:
                    sock = self._ssl_context.wrap_socket(sock, server_hostname=host)
                except BaseException:
                    sock.close()
                    raise
        self._sock = sock

    def _send(self, message: bytes, timeout: float | None) -> None:
        """Send the request head and body; a refused write still leaves the answer to be read.

        A server may answer (say, 413) and close its side before the body is through; as httpcore
        does, the write error is dropped so that the answer, if any, is what the caller sees.
        """
        self._sock.settimeout(timeout)
        with mapped(httpcore.WriteTimeout, httpcore.WriteError):
            try:
                self._sock.sendall(message)  # one write: no wait on a delayed ACK between head and body
            except (BrokenPipeError, ConnectionResetError):
                pass

    def answer_finished(self, answer: Answer, complete: bool) -> None:
        """Keep the connection for the next request if the answer was read to its end, else close it."""
        answer.close()
        with self._state_lock:
            if answer is not self._answer:
                return  # told twice: the connection may already serve another request
            self._answer = None
            if complete and not answer.will_close and not self._close_after and self.state == ACTIVE:
                self.state = IDLE
                if self._keepalive_expiry is not None:
                    self._expire_at = time.monotonic() + self._keepalive_expiry
                return
        self.close()

    def close(self) -> None:
        self.state = CLOSED
        if self._sock is not None:
            self._sock.close()  # the socket closes once an answer's reader has let go of it too

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self._origin

    def is_available(self) -> bool:
        return self.state == IDLE

    def has_expired(self) -> bool:
        """Whether the connection has been idle longer than the keep-alive allows."""
        return self._expire_at is not None and time.monotonic() > self._expire_at

    def hung_up(self) -> bool:
        """Whether the server has closed this idle connection (it has something to read: EOF)."""
        return self.state == IDLE and socket_is_readable(self._sock)

    def is_idle(self) -> bool:
        return self.state == IDLE

    def is_closed(self) -> bool:
        return self.state == CLOSED

    def info(self) -> str:
        return f"{str(self._origin)!r}, HTTP/1.1, {self.state}, Request Count: {self._request_count}"

    def __repr__(self) -> str:
        return f"<BufferedConnection [{self.info()}]>"


class AnswerStream:
    """The body of one answer, as it arrives: for a chunked body, every chunk received so far at once."""

    def __init__(self, connection: BufferedConnection, answer: Answer, read_timeout: float | None = None):
        self._connection = connection
        self._answer = answer
        self._read_timeout = read_timeout
        self._chunked = ChunkedBody(answer.fp, READ_SIZE) if answer.chunked else None
        self._closed = self._failed = False

    def __iter__(self) -> Iterator[bytes]:
        answer, chunked = self._answer, self._chunked
        # Under gevent one timer per answer times reads out (deadline.py); elsewhere the socket does.
        deadline = ReadDeadline.start(self._connection._sock, self._read_timeout)
        reading = before_each_read(self._connection._sock, before_body_read.get(),
                                    deadline.reading if deadline is not None else None)
        try:
            with mapped(httpcore.ReadTimeout, httpcore.ReadError):
                if chunked is not None:
                    while data := chunked.read(reading):
                        yield data
                    answer.will_close = answer.will_close or chunked.overran
                else:
                    drained = None
                    while answer.length != 0:  # None: to the end of the connection
                        if reading is not None:
                            reading(drained)
                        if not (data := answer.read1(READ_SIZE)):
                            break
                        drained = len(data) < READ_SIZE
                        yield data
                    if answer.length:  # http.client ends quietly at an early hang-up
                        raise httpcore.RemoteProtocolError(INCOMPLETE_BODY)
        except BaseException:
            self._failed = True  # http.client may have closed its reader on the way: not a clean end
            self.close()
            raise
        finally:
            if deadline is not None:
                deadline.cancel()

    def complete(self) -> bool:
        answer = self._answer
        if self._failed:
            return False
        if self._chunked is not None:
            return self._chunked.ended
        # A content-length body read to its end leaves http.client's reader open: its length is 0.
        return answer.isclosed() or answer.length == 0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._connection.answer_finished(self._answer, self.complete())
