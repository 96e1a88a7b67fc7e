"""Figures 1 and 2: time to the first token when the primary answers 429, and the cooldown after it."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from llmcfg.cooldown import MemoryCooldowns
from llmcfg.fallback import FallbackEngine
from llmcfg.providers import build_http_client, provider_for
from llmcfg.providers.base import ChatTarget, Credential

from . import peers
from .client import HELLO, read_app, read_direct
from .context import Context
from .report import Row
from .seed import BENCH_KEY, backup_model
from .served import serve_settings
from .stats import Summary, fmt, fmt_ratio, ratio, repeat, repeat_in_turns


def engine_ttft(engine: FallbackEngine, chain: list[ChatTarget]) -> float:
    started = time.perf_counter()
    ttft = None
    for event in engine.stream(chain, HELLO):
        if event.event == "token" and ttft is None:
            ttft = time.perf_counter() - started
        if event.event == "error":
            raise RuntimeError(f"the engine ended with an error: {event.data['message']}")
    return ttft


def rate_limited_round_trip(ctx: Context) -> None:
    """One request to the 429 primary, read to its end (what the engine's first attempt costs)."""
    response = ctx.client.post(ctx.upstream.base_url + "/chat/completions", headers={"Authorization": "Bearer sk"},
                               json={"model": "rl", "messages": HELLO, "stream": True})
    if response.status_code != 429:
        raise RuntimeError(f"expected 429, got {response.status_code}")


def app_ttft(ctx: Context, client: httpx.Client, config) -> float:
    """Time to the first token of one chat through the served app; a chat without one is a failed run."""
    timed = read_app(client, ctx.app.url, ctx.seeded.token, ctx.chat_payload(config))
    if timed.ttft is None:
        raise RuntimeError(f"the served app sent no token: {timed.events[:6]}")
    return timed.ttft


@contextmanager
def in_process_engine(ctx: Context) -> Iterator[Callable[[], float]]:
    """llmcfg's engine alone (no Flask, no HTTP in front): yields one timed failover, each with a
    fresh cooldown store, so every request finds the primary untried."""
    client = build_http_client()
    base_urls = {p: ctx.upstream.base_url for p in ("openai", "openrouter", "anthropic")}
    credential = Credential("openai", BENCH_KEY)
    chain = [ChatTarget(1, "Rate-limited primary", "openai", "rl", credential),
             ChatTarget(2, "Backup", "openai", backup_model(ctx.sizes.backup_tokens), credential)]

    def adapter(target):
        return provider_for(target.credential, base_urls=base_urls, allow_private=True, client=client)

    try:
        yield lambda: engine_ttft(FallbackEngine(adapter, MemoryCooldowns()), chain)
    finally:
        client.close()


def served_failover(ctx: Context) -> Summary:
    """Through the served app; each request names a primary that has not been rate-limited yet."""
    fresh = iter(ctx.seeded.failover)

    def once():
        timed = read_app(ctx.client, ctx.app.url, ctx.seeded.token, ctx.chat_payload(next(fresh)))
        if timed.terminal != "done" or "fallback" not in timed.events:
            raise RuntimeError(f"expected a fallback then done, got {timed.events[:6]}")
        return timed.ttft

    return Summary.of(repeat(once, ctx.sizes.reps, ctx.sizes.warmup))


def peer_rows(ctx: Context, floor: Summary, served: Summary) -> list[Row]:
    litellm = peers.load_litellm() if ctx.with_peer else None
    if litellm is None:
        why = peers.PEER_SKIPPED or "the peer was turned off (--without-peer)"
        ctx.report.skip(f"Peer (LiteLLM Router): {why}.")
        return [Row("1. Failover TTFT", "Peer: LiteLLM Router in-process", f"skipped: {why}")]
    backup = backup_model(ctx.sizes.backup_tokens)
    rows = []
    for label, options in (("defaults", {}), ("num_retries=0", {"num_retries": 0})):
        router = peers.litellm_router(litellm, ctx.upstream.base_url, "rl", backup, **options)
        before = ctx.upstream.chat_calls("rl")
        timed = Summary.of(repeat(lambda: peers.litellm_ttft(router), ctx.sizes.peer_reps, ctx.sizes.peer_warmup))
        calls = (ctx.upstream.chat_calls("rl") - before) / (ctx.sizes.peer_reps + ctx.sizes.peer_warmup)
        rows.append(Row("1. Failover TTFT", f"Peer: LiteLLM Router in-process ({label}; {fmt(calls)} calls to the "
                        f"429 primary per request)", timed.ms(), f"floor {floor.ms()}",
                        fmt_ratio(ratio(timed.median, floor.median))))
        if label == "defaults":
            met = served.median < timed.median
            rows.append(Row("1. Failover TTFT", "Served app end to end vs the peer's in-process figure",
                            served.ms(), f"peer {timed.ms()}", fmt_ratio(ratio(served.median, timed.median)),
                            "< 1× (faster than the peer)", met))
    return rows


def figure_failover(ctx: Context) -> None:
    backup = backup_model(ctx.sizes.backup_tokens)
    with in_process_engine(ctx) as failover:
        # The engine's target is a ratio to the floor, and its failover is the floor plus a 429:
        # all three take turns, so each faces the same moments of the machine.
        timed = repeat_in_turns({"floor": lambda: read_direct(ctx.client, ctx.upstream.base_url, backup).ttft,
                                 "429": lambda: rate_limited_round_trip(ctx), "engine": failover},
                                ctx.sizes.reps, ctx.sizes.warmup)
    floor, rejected, engine = (Summary.of(timed[name]) for name in ("floor", "429", "engine"))
    healthy = Summary.of(repeat(lambda: app_ttft(ctx, ctx.client, ctx.seeded.healthy), ctx.sizes.reps, ctx.sizes.warmup))
    ctx.shared.update(floor=floor, healthy=healthy)
    served = served_failover(ctx)
    figure = "1. Failover TTFT"
    ctx.report.add(
        Row(figure, "Floor: backup read straight from the upstream (httpx)", floor.ms()),
        Row(figure, "The 429 primary alone, read straight from the upstream (httpx), in turns with the floor",
            rejected.ms(), f"floor {floor.ms()}", fmt_ratio(ratio(rejected.median, floor.median))),
        Row(figure, "llmcfg engine in-process, primary 429 → backup, in turns with the floor", engine.ms(),
            f"floor {floor.ms()}", fmt_ratio(ratio(engine.median, floor.median)), "≤ 2× floor",
            engine.median <= 2 * floor.median),
        Row(figure, "Served app, healthy primary", healthy.ms(), f"floor {floor.ms()}",
            fmt_ratio(ratio(healthy.median, floor.median))),
        Row(figure, "Served app, primary 429 → backup", served.ms(), f"floor {floor.ms()}",
            fmt_ratio(ratio(served.median, floor.median))),
    )
    ctx.report.add(*peer_rows(ctx, floor, served))
    if engine.median > 2 * floor.median:
        ctx.report.section("Why the engine's failover is not within 2× the floor", (
            f"A failover is two upstream round trips, not one: the primary's 429 alone took {rejected.ms()} "
            f"read straight with httpx, so floor plus that 429 is {fmt((floor.median + rejected.median) * 1000, 2)} ms "
            f"of the engine's {fmt(engine.median * 1000, 2)} ms; the engine's own work is the rest. The three took "
            "turns, so they faced the same moments of the machine. On loopback a round trip is so short that the "
            "target sits at the bare cost of the extra request."))
    gives_up = Summary.of(repeat(lambda: peers.sdk_gives_up(ctx.upstream.base_url, "rl"), ctx.sizes.sdk_reps, 0))
    ctx.report.add(Row(figure, "Retry-then-fail: openai SDK, max_retries=2, no backup (time until it gives up)",
                       gives_up.ms(), f"llmcfg served {served.ms()}", fmt_ratio(ratio(gives_up.median, served.median))))


def figure_cooldown(ctx: Context) -> None:
    """One 429 with Retry-After, then N requests: primary calls (target 0) and TTFT vs the healthy path."""
    # A new connection per request, as from different people: gunicorn then spreads them over its workers.
    client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0), limits=httpx.Limits(max_keepalive_connections=0))
    try:
        _cooldown(ctx, client)
    finally:
        client.close()


def _cooldown(ctx: Context, client: httpx.Client) -> None:
    first = read_app(client, ctx.app.url, ctx.seeded.token, ctx.chat_payload(ctx.seeded.cooldown))
    if "fallback" not in first.events:
        raise RuntimeError("the primary with Retry-After did not answer 429")
    primary = ctx.seeded.cooldown_model
    calls_before = ctx.upstream.chat_calls(primary)
    # In turns, so drift hits both alike; no warm-up rounds: each of the N requests counts.
    ttfts = repeat_in_turns({"cooled": lambda: app_ttft(ctx, client, ctx.seeded.cooldown),
                             "healthy": lambda: app_ttft(ctx, client, ctx.seeded.healthy)},
                            ctx.sizes.cooldown_requests, warmup=0)
    cooled, healthy = ttfts["cooled"], ttfts["healthy"]
    extra_calls = ctx.upstream.chat_calls(primary) - calls_before
    cooled_s, healthy_s = Summary.of(cooled), Summary.of(healthy)
    figure = "2. Cooldown"
    ctx.report.add(
        Row(figure, f"Upstream calls to the 429 primary in the {len(cooled)} requests after its 429", str(extra_calls),
            target="0", met=extra_calls == 0),
        Row(figure, "TTFT while the primary cools down (served app)", cooled_s.ms(), f"healthy {healthy_s.ms()}",
            fmt_ratio(ratio(cooled_s.median, healthy_s.median)), "≤ 1.1× healthy",
            cooled_s.median <= 1.1 * healthy_s.median),
    )
    if cooled_s.median > 1.1 * healthy_s.median:
        ctx.report.section("Why a cooling primary costs TTFT", (
            "While the primary cools down, each request reads the cooldown store once (`llmcfg/cooldown_file.py`, "
            "or Redis) and sends one more event (the `fallback` that announces the skip); the fallback_events row "
            "is written after the answer ends (`after_event` in `llmcfg/chat/routes.py`). Those are the places to "
            "profile first."))
    if extra_calls:
        workers = serve_settings().get("workers", 1)
        ctx.report.section("Why the cooldown let calls through", (
            f"gunicorn.conf.py runs {workers} worker process(es); they share cooldowns through a file in the "
            "instance folder (`llmcfg/cooldown_file.py`), or Redis with `LLMCFG_REDIS_URL`. A call to the primary "
            "while it cools down means a worker did not find the stored cooldown, so look at that store first."))

