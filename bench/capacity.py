"""The words under the concurrency figure: why gunicorn.conf.py is what it is (SERVE_RATIONALE) and, when
the target level is missed, CPU per token against the budget (capacity_note)."""

import os
from typing import TYPE_CHECKING

from .bare_relay import COPYING, PARSING
from .context import Context
from .layers import added_per_layer
from .levels import median_cpu_us, runs_at, runs_within
from .stats import fmt

if TYPE_CHECKING:
    from .levels import Level


def runs_summary(runs: list["Level"]) -> str:
    """Each run's completed chats, p99 added ITL and p99 TTFT, side by side."""
    def each(value) -> str:
        return " / ".join(value(run) for run in runs)

    return (f"chats completed {each(lambda r: f'{r.load.completed}/{r.load.chats}')}; "
            f"p99 added ITL {each(lambda r: fmt(r.load.p99_added_gap() * 1000))} ms; "
            f"p99 TTFT {each(lambda r: fmt(r.load.p99_ttft() * 1000))} ms")


def capacity_note(ctx: Context, production: list["Level"], at_target: list["Level"]) -> str:
    """Why the target level is not carried: the CPU a token costs against the CPU the server got.

    at_target holds every run measured at the target level (none if it was not measured).
    """
    sizes = ctx.sizes
    # The busiest level: per token, fewer chats cost more (a worker's fixed work is spread thinner).
    # Measured more than once, its runs' median, as the rows beside the floors give it.
    top = max(production, key=lambda lv: lv.clients)
    busiest = runs_at(production, top.clients)
    cpu = median_cpu_us(busiest)
    rate = 1000.0 / sizes.stream_interval_ms
    tokens_per_s = sizes.stream_target * rate  # what the target level needs
    cores = tokens_per_s * cpu / 1e6
    kept = [run for run in at_target if run.keeps_pace(sizes.itl_target_ms)]
    if at_target and len(kept) == len(at_target):
        # The bar held in every run: what failed is the p99 TTFT this benchmark adds to it.
        note = (f"Why {sizes.stream_target} concurrent chats are not carried within this benchmark's bar here, "
                f"which adds p99 TTFT under {fmt(sizes.ttft_bar_ms)} ms to the issue's. ")
    else:
        note = f"Why {sizes.stream_target} concurrent chats are not carried here. "
    if at_target:
        runs = f"{len(kept)} of {len(at_target)} runs" if len(at_target) > 1 else ("this run" if kept else "no run")
        note += (f"Judged by the issue's bar alone, {sizes.stream_target} chats held in {runs} "
                 f"({runs_summary(at_target)}). ")
        if kept and any(run.degraded(sizes.itl_target_ms) for run in kept):
            note += ("Where the open streams kept their pace and new chats waited for their first token, each "
                     "worker takes a set number of waiting connections per loop turn (`accept_per_turn`), so "
                     "when CPU runs short the queue at the listening socket absorbs it. ")
    median = f", the median of its {len(busiest)} runs" if len(busiest) > 1 else ""
    note += (f"At its busiest level above ({top.clients} chats{median}) the served app spent {fmt(cpu)} µs of CPU per "
             f"relayed token; {sizes.stream_target} chats at {fmt(rate)} tokens/s each would need {cores:.1f} cores "
             f"for the relay alone, on a machine with {os.cpu_count()} that also runs this benchmark's upstream and "
             "clients.")
    harness = ctx.shared.get("harness_us")
    if harness:
        note += (f" Those take {fmt(harness)} µs of CPU per token themselves (the same load read straight from the "
                 f"upstream): {tokens_per_s * harness / 1e6:.2f} cores at {fmt(tokens_per_s)} tokens/s.")
    note += " Choosing a worker class does not change that; the cost per token has to come down in the runtime."
    floor = ctx.shared.get("bare_relay")
    # A floor's CPU under the clock's tick (a small run) gives no ratio to speak of.
    if floor and median_cpu_us(floor) > 0:
        note += " " + floor_sentence(floor, cpu, sizes.itl_target_ms)
    parsing = ctx.shared.get("parsing_relay")
    if parsing and median_cpu_us(parsing) > 0:
        note += " " + parsing_sentence(parsing, cpu, sizes.itl_target_ms)
    profile = ctx.shared.get("served_profile")
    costs, streams = ctx.shared.get("layer_costs") or [], ctx.shared.get("layer_streams")
    if profile is not None:
        name, share = profile.largest()
        note += (f" In the served app under {profile.clients} chats, the largest layer is “{name}”, "
                 f"{100 * share:.0f}% of the workers' samples (see “Where the served app's CPU goes under load”).")
        # What the server actually got with the machine full; more chats kept at pace would also
        # cost the benchmark's upstream and clients more, so this is the most the server could have.
        budget = profile.cores() / tokens_per_s * 1e6
        note += (f" While {profile.clients} people chatted, the server's processes got {profile.cores():.2f} cores; "
                 f"spread over the {fmt(tokens_per_s)} tokens/s that {sizes.stream_target} chats need, "
                 f"that is at most {fmt(budget)} µs per token for everything a chat costs, its start and the write "
                 "to the client included.")
        start_ms = ctx.shared.get("start_cpu_ms")
        start_us = start_ms * 1000 / sizes.stream_tokens if start_ms else 0.0
        if start_ms:
            note += (f" Of that, starting and ending each chat takes {fmt(start_us)} µs per token ({fmt(start_ms, 2)} ms "
                     f"of server CPU per one-token chat, over a {sizes.stream_tokens}-token chat).")
        if len(costs) > 1:
            floor, with_http, path = costs[0][1], costs[1][1], costs[-1][1]
            note += (f" In one process under gevent with {streams} streams open, reading a token off the socket "
                     f"with no HTTP parsing costs {fmt(floor)} µs, with the HTTP client's parsing {fmt(with_http)} µs, "
                     f"and through every layer up to the relay's SSE text {fmt(path)} µs, before the "
                     "chat's start and the write to the client (“Where a relayed token's CPU goes”).")
            if start_ms:
                left = budget - start_us
                verdict = "already more than that" if path > left else "within it, which leaves the write to the client"
                note += (f" With the start taken out, {fmt(left)} µs per token remain for the token's own path; "
                         f"that path in one process costs {fmt(path)} µs, {verdict}.")
    if len(costs) > 1:
        # The socket read is the floor every layer stands on, not a layer to cut: name the largest above it.
        name, added = max(added_per_layer(costs)[1:], key=lambda item: item[1])
        note += (f" Above the socket read, the largest layer in “Where a relayed token's CPU goes” under gevent is "
                 f"“{name.lstrip('+ ')}” ({fmt(added)} µs per token with {streams} streams).")
    return note


def floor_sentence(floor: list["Level"], app_cpu: float, target_ms: float) -> str:
    """What the bare relay (bench.bare_relay) says about where the limit lies."""
    said = f"A bare relay under gevent with as many processes ({COPYING}) {_held(floor, target_ms)}: "
    if runs_within(floor, target_ms) == len(floor):
        return said + (f"this machine carries them through Python and gevent, so what is missing is in the app's "
                       f"own path, which costs {app_cpu / median_cpu_us(floor):.2f} times that.")
    return said + "not even that carries them here, so this machine, not the app's path, sets the limit."


def parsing_sentence(floor: list["Level"], app_cpu: float, target_ms: float) -> str:
    """What the parsing relay (bench.bare_relay --parse) says about the app's path."""
    said = f"The same relay doing {PARSING} {_held(floor, target_ms)}: "
    if runs_within(floor, target_ms) == len(floor):
        return said + ("the work a token needs fits this machine. What the app adds is the depth of its path, at "
                       f"{app_cpu / median_cpu_us(floor):.2f} times that CPU: each token climbs through httpx's "
                       "stream, httpx-sse, the adapter, the fallback engine and the relay, each a layer of "
                       "generators, and each chat's start (Flask, the token check, the chain) comes on top.")
    return said + "not even the work alone, done flat, carries them here, so this machine sets the limit."


def _held(floor: list["Level"], target_ms: float) -> str:
    return (f"held {floor[0].clients} chats within the issue's bar in {runs_within(floor, target_ms)} of {len(floor)} "
            f"runs ({runs_summary(floor)}), at {fmt(median_cpu_us(floor))} µs of CPU per token")


SERVE_RATIONALE = """\
Why gunicorn.conf.py uses gevent with one worker process per core. A chat holds its connection for
the whole answer, so a worker must hold hundreds at once: gevent's greenlets and gthread's threads
can, sync workers cannot. What limits a 2-core machine is CPU per relayed token, not memory, and
gevent spends less of it: the chat's engine runs in its response's own greenlet and writes the
tokens that arrived together straight to the client (llmcfg/chat/inline.py), where a thread would
be woken once per token. gevent runs greenlets woken by other greenlets for at most one switch
interval per loop turn, then polls sockets again; with Python's 5 ms, a busy worker running the
relay's earlier thread-and-mailbox hand-off kept reading upstream sockets while woken responses
queued behind, so gunicorn.conf.py raises it (the candidate with a
5 ms switch interval above is the same file otherwise). With more than one worker, gunicorn's
gevent worker accepts one waiting connection per loop turn, so that no worker takes them all; under
hundreds of open chats a loop turn takes tens of milliseconds, and one per turn let in fewer new
chats than the open ones need, so new chats waited at the listening socket (that shows as TTFT)
while the open streams kept their pace. gunicorn.conf.py accepts 2 per turn; the candidates
accepting 1 (gunicorn's own) and 4 are the same file otherwise and show both sides of that trade:
the more let in at once, the more CPU the open streams share. Each worker also freezes what it has
loaded out of the garbage collector's scans once it starts (`post_worker_init`), because a full
collection pauses every stream of that worker for as long as it scans, and a worker holding hundreds
of chats still has many objects to scan; so gunicorn.conf.py also lets ten times as many collections
of the middle generation pass between full ones as Python does (the candidate with Python's own
threshold is the same file otherwise). Each worker writes each chunk of a
response with one send() where the socket has room (`send_first`): gevent's sendall asks the kernel
for the socket's buffer size before every write, one more system call per token. A single process, of either
class, can use only one core; more processes than cores add memory without adding CPU. The price
of gevent: a greenlet is never preempted, so one long CPU-bound step in a request (rendering a
large catalog, say) pauses every stream of its process; the p99 added inter-token delay above is
where that would show. Workers share cooldowns and catalog fetches through files in the instance
folder (or Redis with `LLMCFG_REDIS_URL`), so more than one worker costs no extra upstream calls."""
