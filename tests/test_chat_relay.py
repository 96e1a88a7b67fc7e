"""The SSE relay: heartbeats, a guaranteed terminal event, and cancellation when the client goes."""

import threading

from llmcfg.chat.relay import relay
from llmcfg.fallback import ChatEvent


def collect(gen):
    return "".join(gen)


def test_events_are_framed_as_sse_after_an_immediate_comment():
    def produce(cancelled):
        yield ChatEvent("start", {"config_id": 1})
        yield ChatEvent("token", {"text": "héllo"})
        yield ChatEvent("done", {"config_id": 1})

    text = collect(relay(produce, lambda e: None))
    assert text.startswith(": connected\n\n")
    assert 'event: token\ndata: {"text": "héllo"}\n\n' in text
    assert text.endswith('event: done\ndata: {"config_id": 1}\n\n')


def test_engine_that_stops_without_terminal_event_still_ends_with_error():
    def produce(cancelled):
        yield ChatEvent("start", {})

    seen = []
    text = collect(relay(produce, seen.append))
    assert text.count("event: error") == 1 and "internal error" in text
    assert [e.event for e in seen] == ["start", "error"]


def test_engine_crash_ends_with_error_not_silence():
    def produce(cancelled):
        yield ChatEvent("start", {})
        raise RuntimeError("boom")

    text = collect(relay(produce, lambda e: None))
    assert text.rstrip().endswith("}") and text.count("event: error") == 1


def test_heartbeat_comment_while_upstream_is_silent():
    release = threading.Event()

    def produce(cancelled):
        release.wait(5)
        yield ChatEvent("done", {})

    gen = relay(produce, lambda e: None, heartbeat=0.01)
    assert next(gen) == ": connected\n\n"
    assert next(gen) == ": ping\n\n"
    release.set()
    rest = collect(gen)
    assert "event: done" in rest


def test_closing_the_response_cancels_the_engine():
    observed = threading.Event()
    proceed = threading.Event()

    def produce(cancelled):
        yield ChatEvent("token", {"text": "a"})
        proceed.wait(5)
        if cancelled():
            observed.set()
        yield ChatEvent("token", {"text": "b"})

    gen = relay(produce, lambda e: None)
    next(gen)
    assert "event: token" in next(gen)
    gen.close()  # what the WSGI server does when the client disconnects
    proceed.set()
    assert observed.wait(5)


def test_events_waiting_together_keep_their_order_and_one_terminal_event():
    release = threading.Event()

    def produce(cancelled):
        release.wait(5)
        for i in range(5):
            yield ChatEvent("token", {"text": str(i)})
        yield ChatEvent("done", {})

    gen = relay(produce, lambda e: None)
    assert next(gen) == ": connected\n\n"
    release.set()
    writes = list(gen)
    text = "".join(writes)
    assert [text.index(f'"text": "{i}"') for i in range(5)] == sorted(text.index(f'"text": "{i}"') for i in range(5))
    assert text.endswith("event: done\ndata: {}\n\n") and text.count("event: done") == 1
