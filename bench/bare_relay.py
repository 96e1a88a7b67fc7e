"""The floor under the concurrency figure: a bare relay under gevent, as many processes as gunicorn.conf.py.

Each chat's request is read off the client's socket and sent as it is to the bench upstream on a
connection of its own, and the answer's bytes are copied to the client as they arrive: no HTTP
parsing beyond the request's length, no SSE, no app. Its worker processes share one listening
socket and accept as many connections per loop turn as gunicorn.conf.py's, and upstream reads time
out as the app's do (one timer per answer, llmcfg.providers.deadline). What it costs per token is
what any relay written in Python under gevent pays on this machine; what the served app costs
beyond it is the app's own path.

Run alone: `python -m bench.bare_relay UPSTREAM_PORT` prints `listening on 127.0.0.1:PORT`.
"""

import os
import signal
import socket
import sys

from .served import serve_settings
from .upstream import ListeningProcess, raise_open_files_limit

READ_SIZE = 64 * 1024


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


def relay_one(client: socket.socket, upstream_port: int, read_timeout: float) -> None:
    """Send one request upstream and copy the answer back until the upstream hangs up."""
    from llmcfg.providers.deadline import ReadDeadline  # imported once gevent has patched the worker

    try:
        request = read_request(client)
        if request is None:
            return
        with socket.create_connection(("127.0.0.1", upstream_port)) as upstream:
            upstream.sendall(request)
            deadline = ReadDeadline.start(upstream, read_timeout)
            try:
                while True:
                    deadline.reading()
                    if not (data := upstream.recv(READ_SIZE)):
                        break
                    client.sendall(data)
            finally:
                deadline.cancel()
    except OSError:
        pass  # the client left, or the upstream did: either way this chat is over
    finally:
        client.close()


def serve_worker(listener_fd: int, upstream_port: int, per_turn: int) -> None:
    """One worker process: gevent, one greenlet per chat, until terminated."""
    from gevent import monkey

    monkey.patch_all()
    from gevent.server import StreamServer

    from llmcfg.providers import DEFAULT_READ_TIMEOUT

    listener = socket.socket(fileno=listener_fd)  # gevent's socket now, over the shared listening one
    server = StreamServer(listener, lambda client, _: relay_one(client, upstream_port, DEFAULT_READ_TIMEOUT))
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
            serve_worker(listener.fileno(), upstream_port, int(settings.get("accept_per_turn", 1)))
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
    """The bare relay in a child process: `port` to load it, `pid` for its process tree."""

    def __init__(self, upstream_port: int):
        super().__init__("bench.bare_relay", str(upstream_port), what="the bare relay")


if __name__ == "__main__":
    main(sys.argv[1:])
