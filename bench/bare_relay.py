"""The floors under the concurrency figure: bare relays under gevent, as many processes as gunicorn.conf.py.

Each chat's request is read off the client's socket and sent as it is to the bench upstream on a
connection of its own. Its worker processes share one listening socket and accept as many
connections per loop turn as gunicorn.conf.py's, and upstream reads time out as the app's do (one
timer per answer, llmcfg.providers.deadline).

Copying: the answer's bytes go to the client as they arrive; no HTTP parsing beyond the request's
length, no SSE, no app. What it costs per token is what any relay written in Python under gevent
pays on this machine.

Parsing (`--parse`): the relay also does the work a token needs in the app, in one flat loop: the
answer's chunked framing, its SSE events, each event's JSON, and the app's own `token` and `done`
events written to the client as chunks (AppEvents). No Flask, no database, no fallback engine, no
layers. What the served app costs beyond it is the depth of the app's path, not the work.

Run alone: `python -m bench.bare_relay UPSTREAM_PORT [--parse]` prints `listening on 127.0.0.1:PORT`.
"""

import os
import signal
import socket
import sys

import orjson

from .served import serve_settings
from .upstream import ListeningProcess, raise_open_files_limit

READ_SIZE = 64 * 1024
# What each floor does, in the words the report uses for it (bench.streams' rows, bench.capacity's note).
COPYING = "the upstream's bytes copied to the client, no HTTP parsing, no app"
PARSING = ("a token's work in one flat loop (the answer's chunked framing, its SSE events, each event's JSON, "
           "the app's token events; no Flask, database or fallback engine)")
ANSWER_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")


def read_request(client: socket.socket) -> bytes | None:
    """The request's head and body, as the client sent them; None if it hung up first."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = client.recv(READ_SIZE)
        if not more:
            return None
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        more = client.recv(READ_SIZE)
        if not more:
            return None
        body += more
    return head + b"\r\n\r\n" + body


class AppEvents:
    """The upstream's chunked, OpenAI-shaped SSE answer turned into the app's events, as its bytes arrive.

    feed() takes what one read brought (the answer's head included) and returns the app's SSE text
    for every event completed so far, framed as one chunk (b"" when none is); `finished` turns true
    at the answer's `[DONE]` or its last chunk, or at once for a status other than 200 (one `error`
    event, as the app writes when no backup is left).
    """

    def __init__(self):
        self.raw = b""  # bytes not yet unframed (the head, then chunk framing)
        self.body = b""  # unframed SSE text not yet ending in a blank line
        self.head_read = False
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        self.raw += data
        if not self.head_read:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return b""
            status = int(self.raw.split(b" ", 2)[1])
            self.raw, self.head_read = self.raw[end + 4:], True
            if status != 200:
                # The app, with no backup to turn to, ends such a chat with one error event: so does the floor.
                self.finished = True
                return _chunk(self._error(status))
        self._unframe()
        cut = self.body.rfind(b"\n\n")
        if cut < 0:
            return b""
        complete, self.body = self.body[:cut], self.body[cut + 2:]
        return _chunk(b"".join(self._event(event) for event in complete.split(b"\n\n")))

    @staticmethod
    def _error(status: int) -> bytes:
        from llmcfg.providers.wire import reason_for_status

        reason = reason_for_status(status)
        data = {"message": f"The upstream answered HTTP {status}.", "reason": reason,
                "attempts": [{"status": status, "reason": reason}]}
        return b"event: error\ndata: %s\n\n" % orjson.dumps(data)

    def _unframe(self) -> None:
        while not self.finished:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.raw[:line_end].split(b";", 1)[0], 16)
            end = line_end + 2 + size
            if len(self.raw) < end + 2:
                return
            self.body += self.raw[line_end + 2:end]
            self.raw = self.raw[end + 2:]
            self.finished = size == 0

    def _event(self, event: bytes) -> bytes:
        out = b""
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                self.finished = True
                out += b'event: done\ndata: {"usage": null}\n\n'
                continue
            choices = orjson.loads(data).get("choices") or ()
            text = (choices[0].get("delta") or {}).get("content") if choices else None
            if text:
                out += b'event: token\ndata: {"text": %s}\n\n' % orjson.dumps(text)
        return out


def _chunk(data: bytes) -> bytes:
    """data framed as one HTTP chunk; b"" for no data (an empty chunk would end the answer)."""
    return b"%X\r\n%s\r\n" % (len(data), data) if data else b""


def relay_one(client: socket.socket, upstream_port: int, read_timeout: float, parse: bool = False) -> None:
    """Send one request upstream; copy its answer back (or, parsing, write the app's events for it) until it ends."""
    from llmcfg.providers.deadline import ReadDeadline  # imported once gevent has patched the worker

    try:
        request = read_request(client)
        if request is None:
            return
        with socket.create_connection(("127.0.0.1", upstream_port)) as upstream:
            upstream.sendall(request)
            deadline = ReadDeadline.start(upstream, read_timeout)
            events = AppEvents() if parse else None
            if events is not None:
                client.sendall(ANSWER_HEAD)
            try:
                while events is None or not events.finished:
                    deadline.reading()
                    if not (data := upstream.recv(READ_SIZE)):
                        break
                    if events is not None:
                        data = events.feed(data)
                    if data:
                        client.sendall(data)
            finally:
                deadline.cancel()
            if events is not None:
                client.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the client left, or the upstream did: either way this chat is over
    finally:
        client.close()


def serve_worker(listener_fd: int, upstream_port: int, per_turn: int, parse: bool = False) -> None:
    """One worker process: gevent, one greenlet per chat, until terminated."""
    from gevent import monkey

    monkey.patch_all()
    from gevent.server import StreamServer

    from llmcfg.providers import DEFAULT_READ_TIMEOUT

    listener = socket.socket(fileno=listener_fd)  # gevent's socket now, over the shared listening one
    server = StreamServer(listener, lambda client, _: relay_one(client, upstream_port, DEFAULT_READ_TIMEOUT, parse))
    server.max_accept = per_turn
    server.serve_forever()


def main(argv: list[str]) -> None:
    upstream_port = int(argv[0])
    settings = serve_settings()
    raise_open_files_limit()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    children = []
    for _ in range(int(settings.get("workers", 1))):
        pid = os.fork()
        if pid == 0:
            serve_worker(listener.fileno(), upstream_port, int(settings.get("accept_per_turn", 1)), "--parse" in argv)
            os._exit(0)
        children.append(pid)

    def stop(*_):
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    for pid in children:
        os.waitpid(pid, 0)


class BareRelay(ListeningProcess):
    """A bare relay in a child process, copying or (parse=True) parsing: `port` to load it, `pid` for its tree."""

    def __init__(self, upstream_port: int, parse: bool = False):
        super().__init__("bench.bare_relay", str(upstream_port), *(["--parse"] if parse else []),
                         what="the bare relay")


if __name__ == "__main__":
    main(sys.argv[1:])
