"""Where a relayed token's CPU goes: the path a token takes through the app, peeled one layer at a time.

Each layer is timed as this process's CPU per token (the upstream runs in another process).
`layer_costs` runs the layers here, one stream at a time: the relay's worker is an OS thread, and
each layer shows its own cost. `layer_costs_under_gevent` runs them in a child process under
gevent with many streams open at once, which is what one production worker pays (bench.layers_gevent);
there the last layer is the chat endpoint's stream under gevent (llmcfg/chat/inline.py), written
to a counting sink instead of a client's socket.
"""

import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from llmcfg.chat.relay import relay, under_gevent
from llmcfg.cooldown import MemoryCooldowns
from llmcfg.fallback import FallbackEngine
from llmcfg.providers import DEFAULT_READ_TIMEOUT, build_http_client, provider_for
from llmcfg.providers.base import ChatTarget, Credential, TextDelta

from .client import HELLO, bench_client
from .load import request_bytes
from .seed import BENCH_KEY

RUNS = 3  # each cost is the median of this many runs
LAYERS = ("Socket read only (no HTTP parsing)", "+ the HTTP client (httpx, raw bytes)",
          "+ SSE parsing and the adapter (stream_chat)", "+ the fallback engine",
          "+ the relay (SSE text for the response)")
Costs = list[tuple[str, float]]
# Runs one layer's reader for every stream at once and returns the tokens they read in all.
RunStreams = Callable[[Callable[[], int], int], int]


def one_at_a_time(read: Callable[[], int], streams: int) -> int:
    return sum(read() for _ in range(streams))


def read_raw(client: httpx.Client, url: httpx.URL, body: dict, headers: dict) -> int:
    """Stream one chat's answer as raw bytes; return the tokens in it."""
    with client.stream("POST", url, json=body, headers=headers) as response:
        return sum(chunk.count(b'"content":"') for chunk in response.iter_raw()) - 1  # minus the role chunk


def layer_costs(base_url: str, model: str, tokens: int, streams: int = 1,
                run_streams: RunStreams = one_at_a_time) -> tuple[Costs, float]:
    """CPU µs per token with each layer added, and the HTTP-client layer through httpx's stock transport.

    The stock transport (httpcore's own connection, which parses every chunk with h11) is the
    baseline for the app's own connection.
    """
    client, stock = build_http_client(), bench_client()  # bench_client: httpx as it comes
    base_urls = {p: base_url for p in ("openai", "openrouter", "anthropic")}
    target = ChatTarget(1, "relay", "openai", model, Credential("openai", BENCH_KEY))
    provider = provider_for(target.credential, base_urls=base_urls, allow_private=True, client=client)
    body = provider.chat_body(target, HELLO)
    headers = provider.auth_headers(target.credential)
    url = httpx.URL(base_url + "/chat/completions")
    request = request_bytes(url.raw_path.decode(), body, headers)

    def socket_only():
        # The floor under any HTTP client: the same request, its answer read off a socket with the
        # app's read timeout and nothing parsed (tokens are counted once the upstream hangs up).
        chunks = []
        with socket.create_connection((url.host, url.port), timeout=DEFAULT_READ_TIMEOUT) as sock:
            sock.sendall(request)
            while data := sock.recv(65536):
                chunks.append(data)
        return b"".join(chunks).count(b'"content":"') - 1  # minus the role chunk

    def raw():
        return read_raw(client, url, body, headers)

    def adapter():
        return sum(1 for item in provider.stream_chat(target, HELLO) if isinstance(item, TextDelta))

    def engine():
        chat = FallbackEngine(lambda t: provider, MemoryCooldowns())
        return sum(1 for event in chat.stream([target], HELLO) if event.event == "token")

    def relayed():
        chat = FallbackEngine(lambda t: provider, MemoryCooldowns())

        def produce(cancelled):
            return chat.stream([target], HELLO, cancelled)

        if under_gevent():
            from llmcfg.chat.inline import InlineStream

            written = []
            InlineStream(written.append, lambda e: None, 15.0).run(produce)
            return sum(data.count(b"event: token\n") for data in written)
        # One piece of SSE text may carry several events (the relay writes what is waiting at once).
        return sum(text.count("event: token\n") for text in relay(produce, lambda e: None))

    def cost(read) -> float:
        runs = []
        for _ in range(RUNS):
            started = time.process_time()  # every thread of the process
            got = run_streams(read, streams)
            if got != tokens * streams:
                raise RuntimeError(f"read {got} of {tokens * streams} tokens")
            runs.append((time.process_time() - started) / got * 1e6)
        return statistics.median(runs)

    try:
        costs = [(name, cost(read)) for name, read in zip(LAYERS, (socket_only, raw, adapter, engine, relayed))]
        return costs, cost(lambda: read_raw(stock, url, body, headers))
    finally:
        client.close()
        stock.close()


def layer_costs_under_gevent(base_url: str, model: str, tokens: int, streams: int) -> tuple[Costs, float]:
    """layer_costs with `streams` streams at once, in a child process monkeypatched by gevent."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.layers_gevent", base_url, model, str(tokens), str(streams)],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.layers_gevent failed: {done.stderr.strip()[-2000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return [tuple(row) for row in found["costs"]], found["stock"]


def added_per_layer(costs: Costs) -> Costs:
    """What each layer adds to the one before it (the first layer adds all of its cost)."""
    previous = [0.0] + [cost for _, cost in costs]
    return [(name, cost - before) for (name, cost), before in zip(costs, previous)]
