"""The SSE relay: heartbeats, a guaranteed terminal event, and cancellation when the client goes."""

import json
import threading

import pytest

from llmcfg.chat.relay import format_event, relay
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


def test_a_failure_to_record_an_event_is_logged_and_the_stream_goes_on_to_one_ending(caplog):
    def produce(cancelled):
        yield ChatEvent("fallback", {"to_config_id": 2})
        yield ChatEvent("token", {"text": "a"})
        yield ChatEvent("done", {})

    def after_event(event):
        if event.event in ("fallback", "done"):
            raise RuntimeError("database is locked")  # writing the fallback rows failed

    text = collect(relay(produce, after_event))
    assert 'event: token\ndata: {"text": "a"}' in text
    assert text.endswith("event: done\ndata: {}\n\n") and text.count("event: ") == 3
    failures = [r.getMessage() for r in caplog.records if "recording a chat's" in r.getMessage()]
    assert failures == ["recording a chat's fallback event failed", "recording a chat's done event failed"]


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


def test_closing_the_response_stops_the_engine():
    stopped, proceed = threading.Event(), threading.Event()
    produced = []

    def produce(cancelled):
        try:
            yield ChatEvent("token", {"text": "a"})
            proceed.wait(5)
            if not cancelled():
                produced.append("b")
                yield ChatEvent("token", {"text": "b"})
        finally:
            stopped.set()  # where the engine closes its upstream answer

    gen = relay(produce, lambda e: None)
    next(gen)
    assert "event: token" in next(gen)
    gen.close()  # what the WSGI server does when the client disconnects
    proceed.set()
    assert stopped.wait(5) and produced == []


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


# Every kind of character a token may hold: controls, quotes, backslashes, accents, scripts, line and
# paragraph separators, the last code point before the surrogates, and characters beyond the BMP.
TOKEN_TEXTS = ["", "plain", 'say "hi"', "back\\slash", "tab\tnew\nline\r\b\f", "\x00\x01\x1f\x7f",
               "héllo wörld", "日本語のテキスト", "\u2028\u2029", "\ud7ff\ue000\uffff", "😀 🧪 𝄞", "</script>",
               "".join(chr(c) for c in range(0xD800))]


@pytest.mark.parametrize("text", TOKEN_TEXTS)
def test_a_token_event_reads_as_the_standard_json_rendering_of_its_text(text):
    framed = format_event(ChatEvent("token", {"text": text}))
    assert framed == f"event: token\ndata: {json.dumps({'text': text}, ensure_ascii=False)}\n\n"


def test_a_token_orjson_refuses_still_goes_out_as_before():
    lone = "half an emoji: \ud83d"  # a lone surrogate, as a chunk's "\ud83d" escape reads
    assert format_event(ChatEvent("token", {"text": lone})) == \
        f"event: token\ndata: {json.dumps({'text': lone}, ensure_ascii=False)}\n\n"
    # Events with more than the text are written by the standard library as a whole.
    assert format_event(ChatEvent("token", {"text": "a", "index": 1})) == 'event: token\ndata: {"text": "a", "index": 1}\n\n'
