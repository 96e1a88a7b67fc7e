"""Figure 3: what the app adds to a long stream — per-token delay, tokens per second, and TTFT."""

import statistics

from .client import read_app, read_direct
from .context import Context
from .layers import RUNS, added_per_layer, layer_costs, layer_costs_under_gevent
from .report import Row, markdown_table
from .served import serve_settings
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


def layer_section(ctx: Context) -> None:
    sizes = ctx.sizes
    tokens, interval = min(sizes.relay_tokens, 2000), sizes.relay_interval_ms
    alone, alone_stock = layer_costs(ctx.upstream.base_url, f"ok-{tokens}-{interval}", tokens)
    workers = int(serve_settings().get("workers", 1))
    streams, chat_model = sizes.layer_streams or sizes.stream_target // workers, ctx.stream_model()
    loaded, loaded_stock = layer_costs_under_gevent(ctx.upstream.base_url, chat_model, sizes.stream_tokens, streams)
    ctx.shared["layer_costs"] = loaded  # what a production worker pays
    ctx.shared["layer_streams"] = streams
    share = ("" if sizes.layer_streams
             else f" ({streams} is one worker's share of {sizes.stream_target} chats on {workers} workers)")
    rows = [(name, fmt(one), fmt(one_added), fmt(many), fmt(many_added))
            for (name, one), (_, one_added), (_, many), (_, many_added)
            in zip(alone, added_per_layer(alone), loaded, added_per_layer(loaded))]
    ctx.report.section(
        "Where a relayed token's CPU goes",
        f"Each row adds one layer of the path a token takes through the app; CPU per token, median of {RUNS} "
        f"runs, the upstream in another process. One stream: {tokens:,} tokens paced at {interval} ms (so each "
        "token arrives in a read of its own, as it does under load), the relay's worker an OS thread, as with a "
        f"threaded server. Under gevent: {streams} streams at once, each a chat of {sizes.stream_tokens} tokens "
        f"at {sizes.stream_interval_ms} ms, starting spread over one token interval, in one process patched "
        f"by gevent as gunicorn.conf.py's workers are{share}. The served app adds Flask/werkzeug, starting each chat and "
        "gunicorn's chunked write on top.\n\n"
        + markdown_table(("Layers", "One stream, OS threads (µs/token)", "Added (µs)",
                          f"{streams} streams, gevent (µs/token)", "Added (µs)"), rows)
        + f"\n\nThe second row's read through httpx's stock transport instead (httpcore's own connection, which "
        f"parses every chunk with h11 in Python) costs {fmt(alone_stock)} µs per token with one stream and "
        f"{fmt(loaded_stock)} µs with {streams} under gevent, in the same run; the app's connection "
        "(llmcfg/providers/connection.py) reads the head with http.client's buffered reader and hands a chunked body "
        "over a read at a time, every chunk that read brought at once (llmcfg/providers/chunked.py).",
    )
