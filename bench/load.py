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


async def _one(port: int, request: bytes, delay: float, direct: bool, expected: int) -> StreamResult:
    """One client. Reads raw bytes and finds tokens with one regex per read: a client that parsed
    each event on its own would lag at hundreds of streams and blame its lag on the server.
    Chunk-size lines never fall inside an event (each event is written as its own chunk)."""
    result = StreamResult()
    await asyncio.sleep(delay)
    started = time.monotonic()
    writer = None
    pattern = DIRECT_TOKEN if direct else APP_TOKEN
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            result.error = f"HTTP {status}"
            return result
        buffer, last, terminal = b"", None, None
        while terminal is None:
            data = await reader.read(65536)
            if not data:
                break
            now = time.monotonic()
            buffer += data
            cut = buffer.rfind(b"\n\n")
            if cut < 0:
                continue
            complete, buffer = buffer[:cut + 2], buffer[cut + 2:]
            for match in pattern.finditer(complete):
                sent = float(match.group(1))
                if last is None:
                    result.ttft = now - started
                else:
                    result.added_gaps.append((now - last[0]) - (sent - last[1]))
                last = (now, sent)
                result.tokens += 1
            terminal = next((t for t in TERMINALS if t in complete), None)
        if terminal not in (b"event: done", b"data: [DONE]"):
            result.error = f"ended with {terminal.decode() if terminal else 'no terminal event'}"
        elif result.tokens != expected:
            result.error = f"{result.tokens} of {expected} tokens"
        else:
            result.ok = True
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        if writer is not None:
            writer.close()
    return result


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
    started = time.monotonic()
    gc.disable()  # a collection pauses every stream at once, and would be blamed on the server
    try:
        results = run_loop(_run(port, request, clients, ramp, direct, tokens, chats, deadline))
    finally:
        gc.enable()
        gc.collect()
    return LoadResult(clients, results, time.monotonic() - started)
