"""Many concurrent streaming clients on one event loop, reading raw HTTP/1.1 (chunked or not).

Each client records when each token arrived and when the upstream wrote it (the token's text is
its send time, see bench.upstream), so the delay the server adds between tokens is measured per
token, apart from any lateness of the upstream itself.
"""

import asyncio
import gc
import json
import math
import re
import time
from dataclasses import dataclass, field

from .stats import percentile
from .upstream import run_loop

# The send time inside a token, as the app relays it and as the upstream writes it.
APP_TOKEN = re.compile(rb'event: token\ndata: \{"text": "([0-9.]+) "\}')
DIRECT_TOKEN = re.compile(rb'"content":"([0-9.]+) "')
TERMINALS = (b"event: done", b"event: error", b"data: [DONE]")


@dataclass
class StreamResult:
    ok: bool = False
    error: str = ""
    ttft: float = math.nan
    tokens: int = 0
    added_gaps: list[float] = field(default_factory=list)  # seconds: receive gap minus send gap


@dataclass
class LoadResult:
    clients: int
    results: list[StreamResult]
    wall: float
    client_cpu: float = math.nan  # seconds of CPU the load generator itself used
    upstream_cpu: float = math.nan  # the bench upstream's, where the caller measured it

    def harness_cpu_per_token_us(self) -> float:
        """What the load generator and the upstream cost per token read (the machine they share)."""
        tokens = sum(r.tokens for r in self.results)
        return (self.client_cpu + self.upstream_cpu) / tokens * 1e6 if tokens else math.nan

    @property
    def chats(self) -> int:
        return len(self.results)

    @property
    def completed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if not r.ok]

    def p99_added_gap(self) -> float:
        return percentile([g for r in self.results for g in r.added_gaps], 99)

    def p99_ttft(self) -> float:
        return percentile([r.ttft for r in self.results if not math.isnan(r.ttft)], 99)


def request_bytes(path: str, body: dict, headers: dict) -> bytes:
    """One POST with a JSON body, written by hand; the server closes the connection after answering."""
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            f"Content-Length: {len(payload)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


class ChatReader(asyncio.Protocol):
    """One chat, read as the bytes arrive (a protocol: no task wakes per read).

    Finds tokens with one regex per read: a client that parsed each event on its own would lag at
    hundreds of streams and blame its lag on the server. Chunk-size lines never fall inside an
    event (each event is written as its own chunk).
    """

    def __init__(self, request: bytes, pattern: re.Pattern, expected: int, started: float):
        self.request, self.pattern, self.expected, self.started = request, pattern, expected, started
        self.result = StreamResult()
        self.finished = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.head_read = False
        self.last: tuple[float, float] | None = None  # (received, sent) of the last token
        self.terminal: bytes | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if not self.head_read:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = int(self.buffer.split(b" ", 2)[1])
            if status != 200:
                self.result.error = f"HTTP {status}"
                self.transport.close()
                return
            self.head_read, self.buffer = True, self.buffer[end + 4:]
        cut = self.buffer.rfind(b"\n\n")
        if cut < 0:
            return
        complete, self.buffer = self.buffer[:cut + 2], self.buffer[cut + 2:]
        result = self.result
        for match in self.pattern.finditer(complete):
            sent = float(match.group(1))
            if self.last is None:
                result.ttft = now - self.started
            else:
                result.added_gaps.append((now - self.last[0]) - (sent - self.last[1]))
            self.last = (now, sent)
            result.tokens += 1
        self.terminal = next((t for t in TERMINALS if t in complete), None)
        if self.terminal is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        result = self.result
        result.error = result.error or self.fault(exc)  # an HTTP status other than 200 was already said
        result.ok = not result.error
        if not self.finished.done():
            self.finished.set_result(result)

    def fault(self, exc: Exception | None) -> str:
        """What went wrong with an answer that came back 200, or "" if nothing did."""
        if self.terminal is None:
            return f"{type(exc).__name__}: {exc}"[:200] if exc else "ended with no terminal event"
        if self.terminal == b"event: error":
            return "ended with event: error"
        if self.result.tokens != self.expected:
            return f"{self.result.tokens} of {self.expected} tokens"
        return ""


async def _one(port: int, request: bytes, delay: float, direct: bool, expected: int) -> StreamResult:
    """One client: connect after `delay`, send the chat request, read the answer to its end."""
    await asyncio.sleep(delay)
    started = time.monotonic()
    reader = ChatReader(request, DIRECT_TOKEN if direct else APP_TOKEN, expected, started)
    try:
        await asyncio.get_running_loop().create_connection(lambda: reader, "127.0.0.1", port)
    except OSError as exc:
        reader.result.error = f"{type(exc).__name__}: {exc}"[:200]
        return reader.result
    try:
        return await reader.finished
    finally:
        if reader.transport is not None:
            reader.transport.close()  # cancelled at the deadline: let the socket go


async def _client(port, request, delay, direct, expected, chats) -> list[StreamResult]:
    """One person: `chats` chats back to back, the first after `delay`."""
    results = []
    for i in range(chats):
        results.append(await _one(port, request, delay if i == 0 else 0.0, direct, expected))
    return results


async def _run(port, request, clients, ramp, direct, expected, chats, deadline) -> list[StreamResult]:
    tasks = [asyncio.create_task(_client(port, request, ramp * i / clients, direct, expected, chats))
             for i in range(clients)]
    done, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    results = [r for t in done for r in t.result()]
    return results + [StreamResult(error="did not finish in time")] * (clients * chats - len(results))


def run_load(port: int, clients: int, *, tokens: int, interval_ms: int, ramp: float, direct: bool,
             payload: dict, headers: dict, path: str, chats: int = 1) -> LoadResult:
    """`clients` people, each chatting `chats` times in a row, first chats spread over `ramp` seconds.

    With ramp equal to one chat's length, `clients` chats are open at once in the steady state.
    Bounded: whatever has not finished by the deadline is cut off and counted as an error.
    """
    deadline = ramp + chats * tokens * interval_ms / 1000.0 + 30.0
    request = request_bytes(path, payload, headers)
    started, cpu = time.monotonic(), time.thread_time()  # the event loop runs in this thread
    gc.disable()  # a collection pauses every stream at once, and would be blamed on the server
    try:
        results = run_loop(_run(port, request, clients, ramp, direct, tokens, chats, deadline))
    finally:
        gc.enable()
    cpu = time.thread_time() - cpu
    gc.collect()
    return LoadResult(clients, results, time.monotonic() - started, cpu)
