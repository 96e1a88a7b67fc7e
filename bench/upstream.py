"""The benchmark's upstream: an asyncio HTTP server on 127.0.0.1 speaking OpenAI's streaming wire format.

Why not the tests' threaded fake: the concurrency figure holds up to 1000 slow streams open at
once, which wants one event loop rather than a thread per stream, and every figure wants the
upstream in its own process so it never shares an interpreter lock with the code being measured.
The wire format is the one the tests' fake speaks (data-only SSE chunks, a usage chunk, `[DONE]`);
the official `openai` SDK and LiteLLM parse it, which the smoke test checks.

Behaviour is read from the model name, so a config needs no scripting:

    ok-<tokens>-<interval_ms>   stream that many tokens, one every interval (0: as fast as it can)
    rl                          429 at once, no Retry-After (clients pick their own wait)
    rl-<seconds>                429 at once with Retry-After: <seconds>

Each token's text is the `time.monotonic()` at which it was written (CLOCK_MONOTONIC is shared by
every process on the machine), so a client measures each token's delay against its source.
`GET /v1/models` answers an OpenRouter-shaped catalog (the tests' 350 entries);
`GET /_stats` answers request counts; `POST /_reset` zeroes them.

Run alone: `python -m bench.upstream --port 0` prints `listening on 127.0.0.1:PORT`.
"""

import argparse
import asyncio
import gc
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

MODEL = re.compile(r"^ok-(\d+)-(\d+)$")
RATE_LIMITED = re.compile(r"^rl(?:-(\d+))?$")
DRAIN_ABOVE = 64 * 1024  # wait for the socket only when this much is buffered
CHUNK = ('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,"model":"%s",'
         '"choices":[{"index":0,"delta":{"content":"%s"},"logprobs":null,"finish_reason":null}]}\n\n')


def catalog() -> list[dict]:
    """The tests' OpenRouter-size catalog when it is importable, else a plain one of the same size."""
    try:
        from tests.fakes.catalogs import openrouter_catalog

        entries = openrouter_catalog()
    except ImportError:
        entries = [{"id": f"vendor/model-{i}", "name": f"Vendor: Model {i}", "created": 1700000000 + i,
                    "context_length": 8192, "pricing": {"prompt": "0", "completion": "0"}} for i in range(350)]
    return [{**entry, "object": "model", "owned_by": "bench"} for entry in entries]


def run_loop(coroutine):
    """asyncio.run, on uvloop when it is installed (the bench extra): the harness's own cost per
    token then stays small beside the server's, on a machine whose two cores they share."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def raise_open_files_limit() -> None:
    """A stream holds a socket on each side; the default soft limit (often 1024) is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Upstream:
    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.catalog_body = json.dumps(
            {"object": "list", "data": catalog(), "total_count": 350, "links": {"next": None}},
            separators=(",", ":")).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                path = target.partition("?")[0]
                keep_alive = await self.route(method, path, body, writer)
                if not keep_alive or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str, body: bytes, writer) -> bool:
        if path == "/_stats":
            return self.respond(writer, 200, json.dumps(dict(self.counts)).encode())
        if path == "/_reset":
            self.counts.clear()
            return self.respond(writer, 200, b"{}")
        if method == "GET" and path.endswith("/models"):
            self.counts["models"] += 1
            return self.respond(writer, 200, self.catalog_body)
        if method == "GET" and path.endswith("/key"):
            return self.respond(writer, 200, b'{"data":{"label":"bench","limit":null,"is_free_tier":false}}')
        if method == "POST" and path.endswith("/chat/completions"):
            request = json.loads(body or b"{}")
            model = str(request.get("model", ""))
            self.counts[f"chat:{model}"] += 1
            return await self.chat(writer, model, bool((request.get("stream_options") or {}).get("include_usage")))
        return self.respond(writer, 404, b'{"error":{"message":"not found","type":"invalid_request_error"}}')

    def respond(self, writer, status: int, body: bytes, extra: str = "") -> bool:
        reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}.get(status, "OK")
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
        return True

    async def chat(self, writer, model: str, usage: bool) -> bool:
        limited = RATE_LIMITED.match(model)
        if limited:
            extra = f"Retry-After: {limited.group(1)}\r\n" if limited.group(1) else ""
            message = f"Rate limit reached for {model} on requests per min (RPM): Limit 1, Used 1."
            body = json.dumps({"error": {"message": message, "type": "requests", "param": None,
                                         "code": "rate_limit_exceeded"}}).encode()
            return self.respond(writer, 429, body, extra)
        match = MODEL.match(model)
        if not match:
            body = json.dumps({"error": {"message": f"The model `{model}` does not exist.", "type":
                                         "invalid_request_error", "param": None, "code": "model_not_found"}})
            return self.respond(writer, 404, body.encode())
        tokens, interval = int(match.group(1)), int(match.group(2)) / 1000.0
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        created = int(time.time())
        self.chunk(writer, ('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,'
                            '"model":"%s","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
                            '"finish_reason":null}]}\n\n') % (created, model))
        if interval:
            sent = await Paced(writer, model, created, tokens, interval).finished
        else:
            sent = await self.unpaced(writer, model, created, tokens)
        if not sent:
            return False
        self.chunk(writer, self.tail(model, created, tokens, usage))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def unpaced(self, writer, model: str, created: int, tokens: int) -> bool:
        """Write the tokens as fast as the reader takes them."""
        for i in range(tokens):
            writer.write(token_chunk(created, model))
            if writer.transport.get_write_buffer_size() > DRAIN_ABOVE or i % 64 == 63:
                await writer.drain()
            if writer.transport.is_closing():
                return False
        return True

    @staticmethod
    def tail(model: str, created: int, tokens: int, usage: bool) -> str:
        tail = ('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,"model":"%s",'
                '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n') % (created, model)
        if usage:
            tail += ('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,"model":"%s",'
                     '"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%d,"total_tokens":%d}}\n\n'
                     ) % (created, model, tokens, tokens + 5)
        return tail + "data: [DONE]\n\n"

    @staticmethod
    def chunk(writer, text: str) -> None:
        writer.write(chunked(text))


def chunked(text: str) -> bytes:
    """One chunk of a chunked HTTP body: each SSE event is written as a chunk of its own."""
    data = text.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def token_chunk(created: int, model: str) -> bytes:
    """One token's event, its text the moment it is written (see the module's text)."""
    return chunked(CHUNK % (created, model, f"{time.monotonic():.6f} "))


class Paced:
    """Write one token per interval from timer callbacks, as a model streams: at its own pace,
    whether or not the reader keeps up (the transport buffers what the reader has not taken).

    A callback per token rather than a task that sleeps between tokens: this process shares the
    machine's cores with the server being measured, and a sleeping task costs more per token (a
    future, a timer and a task step each time) than the callback's timer alone.
    """

    def __init__(self, writer, model: str, created: int, tokens: int, interval: float):
        self.transport, self.model, self.created = writer.transport, model, created
        self.tokens, self.interval, self.written = tokens, interval, 0
        self.loop = asyncio.get_running_loop()
        self.finished = self.loop.create_future()  # True once every token is written; False if the reader left
        self.start = self.loop.time()  # the timers' clock
        if tokens:
            self.loop.call_at(self.start + interval, self.write_next)
        else:
            self.finished.set_result(True)

    def write_next(self) -> None:
        if self.finished.done():
            return  # the request was cancelled: the server is shutting down
        if self.transport.is_closing():
            self.finished.set_result(False)
            return
        self.transport.write(token_chunk(self.created, self.model))
        self.written += 1
        if self.written == self.tokens:
            self.finished.set_result(True)
        else:
            # Paced against the start, not the previous token, so a late wake-up does not drift.
            self.loop.call_at(self.start + (self.written + 1) * self.interval, self.write_next)


async def serve(port: int) -> None:
    upstream = Upstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", port, backlog=4096, limit=1 << 20)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


class ListeningProcess:
    """A bench module run in a child process on 127.0.0.1, ready once it prints `listening on HOST:PORT`."""

    def __init__(self, module: str, *args: str, what: str):
        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=root,
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)},
        )
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.close()
            raise RuntimeError(f"{what} did not start: {line!r}")
        self.url = "http://" + line.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1])
        self.pid = self.process.pid

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class UpstreamProcess(ListeningProcess):
    """Run the upstream in a child process; read its counters over HTTP."""

    def __init__(self):
        super().__init__("bench.upstream", "--port", "0", what="the bench upstream")
        self.base_url = self.url + "/v1"

    def stats(self) -> Counter:
        return Counter(httpx.get(self.url + "/_stats", timeout=5).json())

    def chat_calls(self, model: str) -> int:
        return self.stats()[f"chat:{model}"]

    def reset(self) -> None:
        httpx.post(self.url + "/_reset", timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the benchmark upstream until interrupted.")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_open_files_limit()
    # Rare collections: a pause here would delay every open stream at once.
    gc.freeze()
    gc.set_threshold(200_000, 50, 50)
    try:
        run_loop(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
