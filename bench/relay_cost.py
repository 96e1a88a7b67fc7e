"""Figure 3: what the app adds to a long stream — per-token delay, tokens per second, and TTFT."""

import socket
import statistics
import time

import httpx
from llmcfg.chat.relay import relay
from llmcfg.cooldown import MemoryCooldowns
from llmcfg.fallback import FallbackEngine
from llmcfg.providers import build_http_client, provider_for
from llmcfg.providers.base import ChatTarget, Credential, TextDelta

from .client import HELLO, bench_client, read_app, read_direct
from .context import Context
from .load import request_bytes
from .report import Row, markdown_table
from .seed import BENCH_KEY
from .stats import fmt, fmt_ratio, percentile, ratio


def _delays(timed) -> list[float]:
    """Seconds from the upstream writing each token to the client reading it."""
    return [received - sent for received, sent in timed.tokens]


def figure_relay(ctx: Context) -> None:
    paced, unpaced = ctx.relay_models()
    paced_id, unpaced_id = ctx.seeded.configs[paced], ctx.seeded.configs[unpaced]
    tokens = ctx.sizes.relay_tokens

    direct = _delays(read_direct(ctx.client, ctx.upstream.base_url, paced, keep_tokens=True))
    served = _delays(read_app(ctx.client, ctx.app.url, ctx.seeded.token, ctx.chat_payload(paced_id),
                              keep_tokens=True))
    if len(served) != tokens or len(direct) != tokens:
        raise RuntimeError(f"expected {tokens} tokens, read {len(direct)} direct and {len(served)} through the app")
    added = {q: (percentile(served, q) - percentile(direct, q)) * 1000 for q in (50, 99)}

    def rate(read) -> float:
        return statistics.median(tokens / read().total for _ in range(ctx.sizes.relay_runs))

    direct_rate = rate(lambda: read_direct(ctx.client, ctx.upstream.base_url, unpaced))
    served_rate = rate(lambda: read_app(ctx.client, ctx.app.url, ctx.seeded.token, ctx.chat_payload(unpaced_id)))

    figure = "3. Relay cost"
    interval = ctx.sizes.relay_interval_ms
    rows = [
        Row(figure, f"Added delay per token, {tokens:,} tokens paced at {interval} ms: p50 / p99",
            f"{fmt(added[50], 2)} / {fmt(added[99], 2)} ms",
            f"direct p50 {fmt(percentile(direct, 50) * 1000, 2)} / p99 {fmt(percentile(direct, 99) * 1000, 2)} ms"),
        Row(figure, f"Tokens per second, {tokens:,} tokens unpaced (median of {ctx.sizes.relay_runs})",
            f"{fmt(served_rate)} tok/s", f"direct {fmt(direct_rate)} tok/s", fmt_ratio(ratio(served_rate, direct_rate))),
    ]
    floor, healthy = ctx.shared.get("floor"), ctx.shared.get("healthy")
    if floor and healthy:
        rows.append(Row(figure, "TTFT added by the app on the healthy path (medians)",
                        f"{fmt((healthy.median - floor.median) * 1000, 2)} ms", f"floor {floor.ms()}",
                        fmt_ratio(ratio(healthy.median, floor.median))))
    ctx.report.add(*rows)
    layer_section(ctx)


def _cpu_per_token(run, tokens: int) -> float:
    """CPU microseconds this process spends per token (the upstream runs in another process).

    Thread CPU is counted too: process_time covers every thread of the process."""
    started = time.process_time()
    got = run()
    if got != tokens:
        raise RuntimeError(f"read {got} of {tokens} tokens")
    return (time.process_time() - started) / tokens * 1e6


def read_raw(client: httpx.Client, url: httpx.URL, body: dict, headers: dict) -> int:
    """Stream one chat's answer as raw bytes; return the tokens in it."""
    with client.stream("POST", url, json=body, headers=headers) as response:
        return sum(chunk.count(b'"content":"') for chunk in response.iter_raw()) - 1  # minus the role chunk


def layer_costs(ctx: Context, model: str, tokens: int) -> tuple[list[tuple[str, float]], float]:
    """Peel the path a token takes through the app, one layer at a time, in this process.

    Also returns the HTTP-client layer's read through httpx's stock transport (httpcore's own
    connection, which parses every chunk with h11), the baseline for the app's own connection.
    """
    client, stock = build_http_client(), bench_client()  # bench_client: httpx as it comes
    base_urls = {p: ctx.upstream.base_url for p in ("openai", "openrouter", "anthropic")}
    target = ChatTarget(1, "relay", "openai", model, Credential("openai", BENCH_KEY))
    provider = provider_for(target.credential, base_urls=base_urls, allow_private=True, client=client)
    body = provider.chat_body(target, HELLO)
    headers = provider.auth_headers(target.credential)
    url = httpx.URL(ctx.upstream.base_url + "/chat/completions")
    request = request_bytes(url.raw_path.decode(), body, headers)

    def socket_only():
        # The floor under any HTTP client: the same request, its answer read off the socket and
        # nothing parsed (the tokens are counted once, after the upstream has hung up).
        chunks = []
        with socket.create_connection((url.host, url.port)) as sock:
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
        # One piece of SSE text may carry several events (the relay writes what is waiting at once).
        return sum(text.count("event: token\n")
                   for text in relay(lambda cancelled: chat.stream([target], HELLO, cancelled), lambda e: None))

    layers = [("Socket read only (no HTTP parsing)", socket_only), ("+ the HTTP client (httpx, raw bytes)", raw),
              ("+ SSE parsing and the adapter (stream_chat)", adapter),
              ("+ the fallback engine", engine), ("+ the relay (worker thread, mailbox, SSE text)", relayed)]

    def median_cost(run) -> float:
        return statistics.median(_cpu_per_token(run, tokens) for _ in range(3))

    try:
        costs = [(name, median_cost(run)) for name, run in layers]
        return costs, median_cost(lambda: read_raw(stock, url, body, headers))
    finally:
        client.close()
        stock.close()


def added_per_layer(costs: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """What each layer adds to the one before it (the first layer adds all of its cost)."""
    previous = [0.0] + [cost for _, cost in costs]
    return [(name, cost - before) for (name, cost), before in zip(costs, previous)]


def layer_section(ctx: Context) -> None:
    tokens, interval = min(ctx.sizes.relay_tokens, 2000), ctx.sizes.relay_interval_ms
    model = f"ok-{tokens}-{interval}"
    costs, stock = layer_costs(ctx, model, tokens)
    rows = [(name, fmt(cost), fmt(added)) for (name, cost), (_, added) in zip(costs, added_per_layer(costs))]
    ctx.shared["layer_costs"] = costs
    ctx.report.section(
        "Where a relayed token's CPU goes",
        f"In one process, {tokens:,} tokens paced at {interval} ms (so each token arrives in a read of its own, "
        "as it does under load), median of 3 runs; each row adds one layer of the path a token takes "
        "through the app. The served app adds Flask/werkzeug and gunicorn's chunked write on top.\n\n"
        + markdown_table(("Layers", "CPU per token (µs)", "Added by this layer (µs)"), rows)
        + f"\n\nThe second row's read through httpx's stock transport instead (httpcore's own connection, which "
        f"parses every chunk with h11 in Python) costs {fmt(stock)} µs per token in the same run; the app's "
        f"connection (llmcfg/providers/connection.py) leaves finding each chunk to http.client's buffered reader.",
    )
