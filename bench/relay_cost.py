"""Figure 3: what the app adds to a long stream — per-token delay, tokens per second, and TTFT."""

import statistics

from .client import read_app, read_direct
from .context import Context
from .report import Row
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
