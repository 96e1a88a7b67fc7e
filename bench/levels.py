"""One level of the concurrency figure: N people chatting at once, measured through the served app, the
bench upstream directly, or the bare relay (bench.bare_relay)."""

import math
import statistics
import time
from dataclasses import dataclass

from .bare_relay import BareRelay
from .context import Context
from .load import LoadResult, run_load
from .served import PeakMemory, tree_cpu
from .stats import fmt

MIB = 1024 * 1024


@dataclass
class Level:
    clients: int
    load: LoadResult
    peak_rss: int
    cpu_seconds: float  # the server's process tree, over this level

    def cpu_per_token_us(self) -> float:
        tokens = sum(r.tokens for r in self.load.results)
        return self.cpu_seconds / tokens * 1e6 if tokens else math.nan

    ttft_bar_ms: float = 1000.0
    run: int = 1  # the target level is measured more than once (Sizes.target_runs)

    def keeps_pace(self, target_ms: float) -> bool:
        """The issue's bar: every chat completed and p99 added inter-token delay under the target."""
        return self.load.completed == self.load.chats and self.load.p99_added_gap() * 1000 < target_ms

    def degraded(self, target_ms: float) -> bool:
        # The bench's bar adds TTFT: a server that keeps its open streams on pace by leaving new
        # chats waiting at the listening socket for seconds has not carried them.
        return not self.keeps_pace(target_ms) or not self.load.p99_ttft() * 1000 < self.ttft_bar_ms

    def summary(self) -> str:
        return (f"{self.load.completed}/{self.load.chats} chats completed; p99 added ITL {fmt(self.load.p99_added_gap() * 1000)} ms; "
                f"p99 TTFT {fmt(self.load.p99_ttft() * 1000)} ms; peak RSS {fmt(self.peak_rss / MIB)} MiB; "
                f"server CPU {fmt(self.cpu_per_token_us())} µs/token")


def measure_level(ctx: Context, app, clients: int, run: int, load_args: dict | None = None) -> Level:
    """N people chatting through `app` (anything with a port and a pid): the served app's chats unless
    load_args says otherwise."""
    sizes = ctx.sizes
    time.sleep(1.0)  # let the last streams' sockets close before the next level
    cpu_before = tree_cpu(app.pid)
    with PeakMemory(app.pid) as memory:
        load = run_load(app.port, clients, ramp=sizes.chat_seconds, chats=sizes.stream_chats,
                        **(load_args or ctx.app_stream_load()))
    return Level(clients, load, memory.peak, tree_cpu(app.pid) - cpu_before, sizes.ttft_bar_ms, run)


def direct_baseline(ctx: Context, clients: int) -> LoadResult:
    """The same load read straight from the upstream: what the load generator and upstream add."""
    sizes = ctx.sizes
    upstream_cpu = tree_cpu(ctx.upstream.pid)
    load = run_load(ctx.upstream.port, clients, ramp=sizes.chat_seconds, chats=sizes.stream_chats,
                    **ctx.direct_stream_load())
    load.upstream_cpu = tree_cpu(ctx.upstream.pid) - upstream_cpu
    return load


def median_cpu_us(levels: list[Level]) -> float:
    """The median of the runs' server CPU per token."""
    return statistics.median(level.cpu_per_token_us() for level in levels)


def runs_within(levels: list[Level], target_ms: float) -> int:
    """How many of the runs kept the issue's bar (Level.keeps_pace)."""
    return sum(level.keeps_pace(target_ms) for level in levels)


def run_suffix(level: Level, levels: list[Level]) -> str:
    """", run 2 of 3" for a level measured more than once, else nothing."""
    runs = len(runs_at(levels, level.clients))
    return f", run {level.run} of {runs}" if runs > 1 else ""


def runs_at(levels: list[Level], clients: int) -> list[Level]:
    """Every run measured with this many chats (none if the level was not measured)."""
    return [lv for lv in levels if lv.clients == clients]


def floor_runs(ctx: Context, clients: int, parse: bool = False) -> list[Level]:
    """`clients` people chatting through a bare relay (copying, or parsing into the app's events), as many
    runs as the target level gets."""
    # The upstream's own request either way; the parsing relay answers with the app's events.
    load_args = {**ctx.direct_stream_load(), "direct": not parse}
    with BareRelay(ctx.upstream.port, parse) as relay:
        run_load(relay.port, 16, ramp=0.5, **load_args)  # warm every worker
        return [measure_level(ctx, relay, clients, run, load_args) for run in range(1, ctx.sizes.target_runs + 1)]
