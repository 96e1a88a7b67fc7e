"""The benchmark harness, at its tiny size, so it never rots (the real run is `make bench`)."""

import importlib.util
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import openai
import pytest

import bench.__main__ as bench_main
from bench.upstream import UpstreamProcess

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("1. Failover TTFT", "2. Cooldown", "3. Relay cost", "4. Concurrent streams", "5. Catalog",
           "6. Queries per chat")


def test_tiny_run_prints_one_table_and_rewrites_the_report(tmp_path):
    doc = tmp_path / "benchmarks.md"
    run = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--doc", str(doc)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert run.stdout.count("Figure ") == 1  # one table, one header
    text = doc.read_text()
    for figure in FIGURES:
        assert figure in run.stdout and f"| {figure} |" in text
    assert f"`python -m bench --size tiny --doc {doc}`" in text
    assert f"{os.cpu_count()} cores" in text and f"Python {platform.python_version()}" in text
    assert datetime.now(timezone.utc).strftime("%Y-%m-%d") in text
    assert "Concurrent streams and the serve configuration" in text
    assert "| 4. Concurrent streams | Server CPU per one-token chat" in text
    # The floor under the app: the same chats through a bare relay, every token of every run read.
    assert re.search(r"\| 4\. Concurrent streams \| 5 concurrent chats through a bare relay: .*\| "
                     r"3 of 3 runs within the issue's bar: chats completed 5/5 / 5/5 / 5/5; .*\| "
                     r"(?:[0-9.]+× \(app / bare relay\)|—) \|", text)  # —: the relay's CPU was under a clock tick
    # ... and through the bare relay that parses each answer into the app's events, every token read as the app's.
    assert re.search(r"\| 4\. Concurrent streams \| 5 concurrent chats through a parsing relay: .*\| "
                     r"3 of 3 runs within the issue's bar: chats completed 5/5 / 5/5 / 5/5; .*\| "
                     r"(?:[0-9.]+× \(app / parsing relay\)|—) \|", text)
    # Beside each level, what the load generator and the upstream cost on the machine they share with the server.
    assert re.search(r"direct: 5/5; .*; harness CPU [0-9.,]+ µs/token \|", text)
    # The layer table has a column measured under gevent, in a child process (bench.layers_gevent).
    assert "| 3 streams, gevent (µs/token) |" in text and "| + the relay (SSE text for the response) |" in text
    if importlib.util.find_spec("litellm") is None:
        assert "LiteLLM is not installed" in run.stdout and "LiteLLM is not installed" in text


def test_a_failed_figure_fails_the_run_and_leaves_the_report_alone(tmp_path, monkeypatch, capsys):
    def broken(ctx):
        raise RuntimeError("upstream went away")

    monkeypatch.setattr(bench_main, "FIGURES", {"queries": broken})
    doc = tmp_path / "benchmarks.md"
    doc.write_text("previous report\n")
    assert bench_main.main(["--size", "tiny", "--only", "queries", "--doc", str(doc)]) == 1
    out, err = capsys.readouterr()
    assert "upstream went away" in out and "Failed: queries" in err
    assert doc.read_text() == "previous report\n"


@pytest.fixture(scope="module")
def upstream():
    with UpstreamProcess() as process:
        yield process


def test_the_bench_upstream_speaks_the_wire_format_the_official_sdk_reads(upstream):
    client = openai.OpenAI(base_url=upstream.base_url, api_key="sk-bench", max_retries=0)
    stream = client.chat.completions.create(model="ok-3-0", messages=[{"role": "user", "content": "hi"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) == 3 and all(float(t) > 0 for t in texts)  # each token is its send time
    assert chunks[-1].usage.completion_tokens == 3
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="rl-7", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.response.headers["retry-after"] == "7"
    assert upstream.chat_calls("rl-7") == 1


def test_the_bare_relay_copies_the_upstreams_answer_with_as_many_processes_as_the_serve_config(upstream):
    from bench.bare_relay import BareRelay
    from bench.served import _tree

    with BareRelay(upstream.port) as relay:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{relay.port}/v1", api_key="sk-bench", max_retries=0)
        stream = client.chat.completions.create(model="ok-4-0", messages=[{"role": "user", "content": "hi"}],
                                                stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
        workers = _tree(relay.pid)[1:]
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) == 4 and chunks[-1].usage.completion_tokens == 4
    assert len(workers) == config_settings(ROOT / "gunicorn.conf.py")["workers"]
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # its workers went with it


def test_the_parsing_relay_answers_with_the_apps_events_for_every_token(upstream):
    import httpx
    from httpx_sse import connect_sse

    from bench.bare_relay import BareRelay

    with BareRelay(upstream.port, parse=True) as relay, httpx.Client(timeout=10) as client:
        body = {"model": "ok-5-1", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with connect_sse(client, "POST", f"http://127.0.0.1:{relay.port}/v1/chat/completions", json=body) as source:
            assert source.response.headers["transfer-encoding"] == "chunked"
            events = [(sse.event, sse.json()) for sse in source.iter_sse()]
    assert [name for name, _ in events] == ["token"] * 5 + ["done"]
    sent = [float(data["text"]) for _, data in events[:5]]  # each token's text is when the upstream wrote it
    assert sent == sorted(sent) and len(set(sent)) == 5


def test_the_parsing_relay_ends_a_rate_limited_answer_with_one_error_event(upstream):
    import httpx
    from httpx_sse import connect_sse

    from bench.bare_relay import BareRelay

    with BareRelay(upstream.port, parse=True) as relay, httpx.Client(timeout=10) as client:
        body = {"model": "rl-3", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with connect_sse(client, "POST", f"http://127.0.0.1:{relay.port}/v1/chat/completions", json=body) as source:
            events = [(sse.event, sse.json()) for sse in source.iter_sse()]
    assert [name for name, _ in events] == ["error"]
    assert events[0][1]["reason"] == "rate_limited" and events[0][1]["attempts"][0]["status"] == 429
    assert "429" in events[0][1]["message"]


def test_the_parsing_relay_reads_an_answer_however_its_bytes_are_split():
    from bench.bare_relay import AppEvents
    from bench.upstream import Upstream, chunked

    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              + chunked('data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n')
              + chunked('data: {"choices":[{"delta":{"content":"caf\u00e9 \\"1\\""}}]}\n\n')
              + chunked(Upstream.tail("m", 1, 1, usage=True)) + b"0\r\n\r\n")
    for size in (1, 7, len(answer)):
        events = AppEvents()
        chunks = [events.feed(answer[i:i + size]) for i in range(0, len(answer), size)]
        assert events.finished
        # One chunk per read that completed an event; nothing for the role-only first event or the usage.
        text = b"".join(unchunk(chunk) for chunk in chunks if chunk).decode()
        assert text == 'event: token\ndata: {"text": "caf\u00e9 \\"1\\""}\n\nevent: done\ndata: {"usage": null}\n\n'


def unchunk(chunk: bytes) -> bytes:
    size, _, rest = chunk.partition(b"\r\n")
    assert rest[int(size, 16):] == b"\r\n"
    return rest[:int(size, 16)]


def config_settings(path) -> dict:
    """The plain settings a gunicorn config file ends up with (numbers and strings)."""
    import runpy

    return {k: v for k, v in runpy.run_path(str(path)).items() if isinstance(v, int | float | str)
            and not k.startswith("_")}


def test_the_switch_interval_candidate_is_the_committed_config_but_for_that_one_setting():
    committed = config_settings(ROOT / "gunicorn.conf.py")
    candidate = config_settings(ROOT / "bench" / "configs" / "python_switch_interval.py")
    assert candidate.pop("switch_interval") == 0.005 and committed.pop("switch_interval") > 0.005
    assert candidate == committed


def test_the_gc_threshold_candidate_is_the_committed_config_with_pythons_own_threshold():
    import gc

    committed = config_settings(ROOT / "gunicorn.conf.py")
    candidate = config_settings(ROOT / "bench" / "configs" / "python_gc_threshold.py")
    assert candidate.pop("full_collection_after") == gc.get_threshold()[2] < committed.pop("full_collection_after")
    assert candidate == committed


@pytest.mark.parametrize(("file", "per_turn"), [("accept_1_per_turn.py", 1), ("accept_per_turn.py", 4)])
def test_the_accepting_candidates_are_the_committed_config_but_for_connections_per_turn(file, per_turn):
    committed = config_settings(ROOT / "gunicorn.conf.py")
    candidate = config_settings(ROOT / "bench" / "configs" / file)
    assert candidate.pop("accept_per_turn") == per_turn and committed.pop("accept_per_turn") == 2
    assert candidate == committed


def test_profiled_stacks_count_for_the_innermost_layer_they_pass_through(tmp_path):
    from bench.profile import EVENT_LOOP, layer_of, read_samples

    site = "/venv/lib/python3.11/site-packages"
    recv = [f"run ({site}/gevent/greenlet.py:1)", "stream_chat (/app/llmcfg/providers/adapter.py:9)",
            "__iter__ (/app/llmcfg/providers/connection.py:4)", "read1 (/usr/lib/python3.11/http/client.py:3)",
            f"recv_into ({site}/gevent/_socketcommon.py:5)"]
    chunked = [f"run ({site}/gevent/greenlet.py:1)", "stream_chat (/app/llmcfg/providers/adapter.py:9)",
               "read (/app/llmcfg/providers/chunked.py:4)", f"recv_into ({site}/gevent/_socketcommon.py:5)"]
    encode = ["relay (/app/llmcfg/chat/relay.py:1)", "dumps (/usr/lib/python3.11/json/__init__.py:2)"]
    handed = ["run (/app/llmcfg/chat/inline.py:1)", "format_event (/app/llmcfg/chat/relay.py:2)"]
    idle = [f"run ({site}/gevent/hub.py:1)"]
    assert layer_of(recv).startswith("Upstream HTTP")
    assert layer_of(chunked).startswith("Upstream HTTP")
    assert layer_of(encode).startswith("Relay") and layer_of(handed).startswith("Relay")
    assert layer_of(idle) == EVENT_LOOP
    raw = tmp_path / "raw.txt"
    raw.write_text(f"{';'.join(recv)} 7\n{';'.join(encode)} 2\n{';'.join(idle)} 1\n")
    layers = read_samples(raw)
    assert sum(layers.values()) == 10 and layers[layer_of(recv)] == 7


def _levels(*rows):
    """Levels of one configuration from (chats, p99 added ITL ms, p99 TTFT ms) rows."""
    from bench.load import LoadResult, StreamResult
    from bench.levels import Level

    def level(chats, itl_ms, ttft_ms):
        result = StreamResult(ok=True, ttft=ttft_ms / 1000, tokens=2, added_gaps=[itl_ms / 1000])
        return Level(chats, LoadResult(chats, [result], 1.0), peak_rss=100, cpu_seconds=1.0)

    return [level(*row) for row in rows]


def test_the_serve_verdict_moves_production_only_for_more_chats_within_the_bar():
    from bench.context import PRODUCTION
    from bench.streams import serve_verdict

    committed = _levels((300, 30, 200), (400, 35, 1500))
    sooner = _levels((300, 30, 120), (400, 70, 300))  # as many chats, a lower TTFT at 300
    more = _levels((300, 30, 200), (400, 40, 500), (500, 70, 2000))
    assert "so it stays" in serve_verdict({PRODUCTION: committed, "sooner": sooner}, 50.0)
    assert "**sooner**" in serve_verdict({PRODUCTION: committed, "sooner": sooner}, 50.0)
    assert "the turns below settle" in serve_verdict({PRODUCTION: committed, "more": more}, 50.0)
    assert "gunicorn.conf.py holds" in serve_verdict({PRODUCTION: more, "other": committed}, 50.0)
    assert serve_verdict({PRODUCTION: _levels((50, 80, 100))}, 50.0) is None


def test_taking_turns_reverses_the_order_every_round_and_numbers_the_turns():
    from bench.duel import take_turns

    order = []

    def measure(name, clients, run):
        order.append((name, run))
        level, = _levels((clients, 10, 100))
        level.run = run
        return level

    duel = take_turns(["committed", "candidate"], 400, 3, measure)
    assert order == [("committed", 1), ("candidate", 1), ("candidate", 2), ("committed", 2), ("committed", 3),
                     ("candidate", 3)]
    assert duel.clients == 400 and [lv.run for lv in duel.runs["candidate"]] == [1, 2, 3]


def test_timings_in_turns_alternate_the_order_and_keep_only_the_timed_rounds():
    from bench.stats import repeat_in_turns

    calls = []

    def action(name, seconds):
        def run():
            calls.append(name)
            return seconds  # a measurement of its own, as a time to first token is
        return run

    samples = repeat_in_turns({"floor": action("floor", 0.001), "engine": action("engine", 0.002)}, times=3, warmup=1)
    assert calls == ["floor", "engine", "engine", "floor", "floor", "engine", "engine", "floor"]
    assert samples == {"floor": [0.001] * 3, "engine": [0.002] * 3}


def test_the_turns_move_production_only_for_a_candidate_within_the_bar_more_often():
    from bench.context import PRODUCTION
    from bench.duel import Duel, duel_verdict

    steady, shaky = _levels((400, 40, 300), (400, 45, 400), (400, 44, 500)), _levels((400, 30, 200), (400, 90, 300),
                                                                                    (400, 35, 250))
    kept = duel_verdict(Duel(400, {PRODUCTION: steady, "shaky": shaky}), PRODUCTION, "shaky", 50.0)
    assert "within the bar in 3 of 3 runs and **shaky** in 2 of 3" in kept and "gunicorn.conf.py stays" in kept
    moved = duel_verdict(Duel(400, {PRODUCTION: shaky, "steady": steady}), PRODUCTION, "steady", 50.0)
    assert "move it to gunicorn.conf.py" in moved
    tied = duel_verdict(Duel(400, {PRODUCTION: steady, "same": steady}), PRODUCTION, "same", 50.0)
    assert "gunicorn.conf.py stays" in tied


GIVEN_CLIMBS = """
import sys
from bench import __main__ as bench_main, streams
from bench.context import PRODUCTION
from tests.test_bench_smoke import ACCEPT_4, _levels

climbs = {PRODUCTION: _levels((5, 80, 100)), ACCEPT_4: _levels((5, 10, 100))}
streams.sweep = lambda ctx, name, reach=0: climbs[name]
sys.exit(bench_main.main(sys.argv[1:]))
"""
ACCEPT_4 = "gunicorn.conf.py accepting 4 connections per loop turn"


def test_a_candidate_whose_climb_carried_more_takes_turns_with_the_committed_config(tmp_path):
    from bench.context import PRODUCTION

    accept4 = ACCEPT_4
    # The climbs are given (the committed config's degraded at 5 chats); the turns are measured for real,
    # in a process of its own (the load generator runs an event loop of its own).
    doc = tmp_path / "benchmarks.md"
    args = ["--size", "tiny", "--only", "streams", "--candidates", f"{PRODUCTION},{accept4}", "--doc", str(doc)]
    run = subprocess.run([sys.executable, "-c", GIVEN_CLIMBS, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    text = doc.read_text()
    assert "the turns below settle which carries more" in text and "took turns at 5 chats" in text
    turns = re.findall(r"^\| (gunicorn\.conf\.py [^|]+) \| 1 \| [0-9.]+ \| [0-9.,]+ \| 5/5 \| ", text, re.M)
    assert sorted(turns) == sorted([PRODUCTION, accept4])  # each measured once, every chat completed
    assert re.search(r"gunicorn.conf.py was within the bar in [01] of 1 runs and \*\*" + re.escape(accept4), text)


def test_the_climb_stops_at_the_first_degraded_level_but_still_measures_the_target():
    from bench.streams import carried_chats, climb

    rows = {50: (50, 5, 40), 100: (100, 8, 50), 200: (200, 60, 90), 300: (300, 70, 900), 500: (500, 45, 900),
            1000: (1000, 90, 5000)}
    measured = []

    def measure(clients, run):
        measured.append(clients)
        return _levels(rows[clients])[0]

    levels = climb((50, 100, 200, 300, 500, 1000), measure, 50.0, reach=500)
    assert measured == [50, 100, 200, 500]  # 300 skipped once 200 degraded; nothing past the target
    # A target level within the bar after a degraded one is shown, but not counted as carried.
    assert not levels[-1].degraded(50.0) and carried_chats(levels, 50.0) == 100

    measured.clear()
    climb((50, 100, 200, 300, 500, 1000), measure, 50.0)
    assert measured == [50, 100, 200]  # candidates stop at their first degraded level


def test_the_target_counts_as_carried_only_when_every_run_of_it_is_within_the_bar():
    from bench.streams import carried_chats, climb, top_within_bar

    runs = {1: (500, 44, 800), 2: (500, 57, 1100), 3: (500, 45, 900)}
    measured = []

    def measure(clients, run):
        measured.append((clients, run))
        row = runs[run] if clients == 500 else (clients, 20, 100)
        level, = _levels(row)
        level.run = run
        return level

    levels = climb((300, 400, 500), measure, 50.0, reach=500, reach_runs=3)
    assert measured == [(300, 1), (400, 1), (500, 1), (500, 2), (500, 3)]
    assert carried_chats(levels, 50.0) == 400  # the first run alone was within the bar
    runs[2] = (500, 40, 950)
    levels = climb((300, 400, 500), measure, 50.0, reach=500, reach_runs=3)
    assert carried_chats(levels, 50.0) == 500
    assert top_within_bar(levels, 50.0).run == 2  # the target's worst run by TTFT stands for it


def test_the_issues_bar_leaves_ttft_out_and_the_benchs_bar_counts_it():
    waited, = _levels((500, 45, 3800))
    assert waited.keeps_pace(50.0) and waited.degraded(50.0)
    stuttered, = _levels((500, 55, 200))
    assert not stuttered.keeps_pace(50.0) and stuttered.degraded(50.0)


def test_the_capacity_note_sets_the_cores_the_server_got_against_the_socket_floor():
    from collections import Counter
    from types import SimpleNamespace

    from bench.context import Sizes
    from bench.capacity import capacity_note
    from bench.profile import ServedProfile

    sizes = Sizes("full")  # 500 chats at one token per 20 ms: 25,000 tokens/s
    profile = ServedProfile(500, seconds=8.0, workers=2, cpu_seconds=10.0, layers=Counter({"Relay": 3}))
    costs = [("Socket read only (no HTTP parsing)", 20.0), ("+ the HTTP client (httpx, raw bytes)", 60.0),
             ("+ SSE parsing and the adapter (stream_chat)", 70.0)]
    ctx = SimpleNamespace(sizes=sizes, shared={"served_profile": profile, "layer_costs": costs, "layer_streams": 250,
                                               "start_cpu_ms": 3.0})

    levels = _levels((500, 45, 3800))
    note = capacity_note(ctx, levels, levels)

    assert "got 1.25 cores" in note and "the 25,000 tokens/s that 500 chats need" in note
    assert "at most 50.0 µs per token" in note  # 1.25 cores / 25,000 tokens/s
    assert "starting and ending each chat takes 15.0 µs per token (3.00 ms" in note  # 3 ms over 200 tokens
    assert "with 250 streams open, reading a token off the socket with no HTTP parsing costs 20.0 µs" in note
    assert "with the HTTP client's parsing 60.0 µs, and through every layer up to the relay's SSE text 70.0 µs" in note
    assert "under gevent is “the HTTP client (httpx, raw bytes)” (40.0 µs per token with 250 streams)" in note
    # 50 µs per token, less 15 for the start, leaves 35 for a path that costs 70 in one process.
    assert "35.0 µs per token remain for the token's own path; that path in one process costs 70.0 µs, already" in note
    assert "at most" not in capacity_note(SimpleNamespace(sizes=sizes, shared={}), levels, levels)
    ctx.shared["harness_us"] = 32.0  # the load generator and upstream share the machine: 0.8 of its cores here
    assert "Those take 32.0 µs of CPU per token themselves (the same load read straight from the upstream): " \
           "0.80 cores at 25,000 tokens/s." in capacity_note(ctx, levels, levels)
    del ctx.shared["harness_us"]
    # The socket read is the floor, never named as the layer to cut, even when it adds the most.
    ctx.shared["layer_costs"] = [(costs[0][0], 30.0), (costs[1][0], 40.0), (costs[2][0], 55.0)]
    assert "is “SSE parsing and the adapter (stream_chat)” (15.0 µs" in capacity_note(ctx, levels, levels)
    ctx.shared["layer_costs"] = costs
    assert "500 chats held in this run" in note and "accept_per_turn" in note  # kept pace, but new chats waited
    assert note.startswith("Why 500 concurrent chats are not carried within this benchmark's bar here, which adds "
                           "p99 TTFT under 1,000 ms to the issue's.")

    three = _levels((500, 44, 800), (500, 57, 1100), (500, 45, 900))
    note = capacity_note(ctx, three, three)
    assert "500 chats held in 2 of 3 runs (chats completed 1/1 / 1/1 / 1/1; p99 added ITL 44.0 / 57.0 / 45.0 ms; " \
           "p99 TTFT 800 / 1,100 / 900 ms)" in note
    assert "accept_per_turn" not in note  # the runs that kept pace also started their chats in time
    assert note.startswith("Why 500 concurrent chats are not carried here.")  # one run missed the issue's bar


def test_the_capacity_note_says_whether_a_bare_relay_carries_the_target():
    from dataclasses import replace
    from types import SimpleNamespace

    from bench.capacity import capacity_note
    from bench.context import Sizes

    app = [replace(level, cpu_seconds=0.2) for level in _levels((500, 70, 900), (500, 60, 900))]
    floor = [replace(level, cpu_seconds=0.1) for level in _levels((500, 12, 80), (500, 16, 90))]
    ctx = SimpleNamespace(sizes=Sizes("full"), shared={"bare_relay": floor})

    note = capacity_note(ctx, app, app)
    assert "A bare relay under gevent with as many processes" in note
    assert "held 500 chats within the issue's bar in 2 of 2 runs (chats completed 1/1 / 1/1; p99 added ITL " \
           "12.0 / 16.0 ms; p99 TTFT 80.0 / 90.0 ms), at 50,000 µs of CPU per token" in note
    assert "what is missing is in the app's own path, which costs 2.00 times that." in note

    ctx.shared["bare_relay"] = floor[:1] + [replace(level, cpu_seconds=0.1) for level in _levels((500, 55, 80))]
    note = capacity_note(ctx, app, app)
    assert "in 1 of 2 runs" in note and "not even that carries them here, so this machine" in note
    assert "A bare relay" not in capacity_note(SimpleNamespace(sizes=Sizes("full"), shared={}), app, app)


def test_a_floor_that_took_less_than_a_clock_tick_gets_no_ratio():
    from dataclasses import replace

    from bench.streams import floor_row

    app = [replace(level, cpu_seconds=0.2) for level in _levels((5, 3, 30))]
    floor = [replace(level, cpu_seconds=0.0) for level in _levels((5, 2, 20))]
    row = floor_row("4. Concurrent streams", "parsing_relay", floor, app, 50.0)
    assert row.ratio == "—" and "CPU under the clock's tick" in row.value
    row = floor_row("4. Concurrent streams", "parsing_relay", [replace(floor[0], cpu_seconds=0.1)], app, 50.0)
    assert row.ratio == "2.00× (app / parsing relay)" and "CPU 50,000 µs/token (median)" in row.value


def test_the_capacity_note_says_whether_the_tokens_work_done_flat_carries_the_target():
    from dataclasses import replace
    from types import SimpleNamespace

    from bench.capacity import capacity_note
    from bench.context import Sizes

    app = [replace(level, cpu_seconds=cpu) for level, cpu in zip(_levels((500, 70, 900), (500, 60, 900)), (0.15, 0.25))]
    bare = [replace(level, cpu_seconds=0.05) for level in _levels((500, 12, 80), (500, 16, 90))]
    parsing = [replace(level, cpu_seconds=0.125) for level in _levels((500, 20, 180), (500, 22, 190))]
    ctx = SimpleNamespace(sizes=Sizes("full"), shared={"bare_relay": bare, "parsing_relay": parsing})

    note = capacity_note(ctx, app, app)
    assert "The same relay doing a token's work in one flat loop" in note
    assert "held 500 chats within the issue's bar in 2 of 2 runs (chats completed 1/1 / 1/1; p99 added ITL " \
           "20.0 / 22.0 ms; p99 TTFT 180 / 190 ms), at 62,500 µs of CPU per token: the work a token needs fits " \
           "this machine. What the app adds is the depth of its path, at 1.60 times that CPU" in note
    # The app's runs at that level differ; the note, like the rows, takes their median.
    assert "(500 chats, the median of its 2 runs) the served app spent 100,000 µs of CPU per relayed token" in note

    ctx.shared["parsing_relay"] = parsing[:1] + [replace(level, cpu_seconds=0.125) for level in _levels((500, 51, 80))]
    note = capacity_note(ctx, app, app)
    assert "in 1 of 2 runs" in note and "not even the work alone, done flat, carries them here" in note

    ctx.shared["parsing_relay"] = [replace(level, cpu_seconds=0.0) for level in parsing]  # under a clock tick
    assert "The same relay doing" not in capacity_note(ctx, app, app)
