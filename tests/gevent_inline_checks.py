"""The chat stream under gevent (llmcfg/chat/inline.py): the engine runs in the response's greenlet
and writes as it goes. test_chat_inline.py runs this file with gevent's patches in place, as
gunicorn's gevent workers have them.

Not collected on its own: without the patches the stream uses relay.py's worker thread instead.
"""

import re

import gevent
import pytest
from gevent.event import Event

from llmcfg.chat.inline import InlineStream
from llmcfg.fallback import ChatEvent
from llmcfg.providers.waiting import before_body_read

pytestmark = pytest.mark.skipif(not __import__("gevent.monkey").monkey.is_module_patched("threading"),
                                reason="runs under gevent's patches (test_chat_inline.py)")

CONNECTED = ": connected\n\n"
DONE = "event: done\ndata: {}\n\n"


def tokens(n, start=0):
    return [ChatEvent("token", {"text": str(i)}) for i in range(start, start + n)]


def token_text(*numbers):
    return "".join(f'event: token\ndata: {{"text": "{i}"}}\n\n' for i in numbers)


class Client:
    """The WSGI write callable: what reached the client, one entry per write; `leave()` makes writes fail."""

    def __init__(self):
        self.writes: list[str] = []
        self.left = False

    def write(self, data: bytes) -> None:
        if self.left:
            raise BrokenPipeError(32, "Broken pipe")
        self.writes.append(data.decode())

    def leave(self) -> None:
        self.left = True

    @property
    def text(self) -> str:
        return "".join(self.writes)


def stream(produce, heartbeat=15.0, after_event=None):
    client = Client()
    InlineStream(client.write, after_event or (lambda e: None), heartbeat).run(produce)
    return client


def test_tokens_parsed_from_one_read_go_out_in_one_write_before_the_next_read_waits():
    writes_at_second_read = []

    def produce(cancelled):
        read = before_body_read.get()  # what the upstream connection runs before a read that would wait
        read()
        yield ChatEvent("start", {})
        yield from tokens(5)  # all arrived together
        read()
        writes_at_second_read.extend(client.writes)  # the read would wait now: they are out already
        yield ChatEvent("done", {})

    client = Client()
    InlineStream(client.write, lambda e: None, 15.0).run(produce)
    assert client.writes == [CONNECTED, "event: start\ndata: {}\n\n", token_text(0, 1, 2, 3, 4), DONE]
    assert writes_at_second_read == client.writes[:3]


def test_each_token_is_written_before_the_engine_waits_for_the_next():
    seen = []

    def produce(cancelled):
        read = before_body_read.get()
        for event in tokens(3):
            read()
            seen.append(len(client.writes))
            yield event
        read()
        yield ChatEvent("done", {})

    client = Client()
    InlineStream(client.write, lambda e: None, 15.0).run(produce)
    assert client.writes == [CONNECTED, token_text(0), token_text(1), token_text(2), DONE]
    assert seen == [1, 2, 3]  # when the engine waits for a token, the one before it is out


def test_a_stream_without_batching_writes_each_event_at_once_and_after_event_follows_each_write():
    order = []
    client = Client()

    def produce(cancelled):
        yield from tokens(2)
        yield ChatEvent("done", {})

    def after_event(event):
        order.append((event.event, len(client.writes)))

    InlineStream(client.write, after_event, 15.0).run(produce)
    assert client.text == CONNECTED + token_text(0, 1) + DONE
    assert order == [("token", 2), ("token", 3), ("done", 4)]


def test_a_failure_to_record_the_last_event_is_logged_and_the_stream_still_ends_once(caplog):
    def produce(cancelled):
        yield ChatEvent("token", {"text": "a"})
        yield ChatEvent("done", {})

    def after_event(event):
        if event.terminal:
            raise RuntimeError("database is locked")  # writing the fallback rows failed

    text = stream(produce, after_event=after_event).text
    assert text == CONNECTED + token_text("a") + DONE
    assert any("recording a chat's done event failed" in r.getMessage() for r in caplog.records)


def test_heartbeats_go_out_while_the_upstream_is_silent_and_the_answer_goes_on_after():
    def produce(cancelled):
        yield ChatEvent("token", {"text": "a"})
        gevent.sleep(0.12)  # silence: several heartbeat intervals
        yield ChatEvent("token", {"text": "b"})
        yield ChatEvent("done", {})

    client = stream(produce, heartbeat=0.02)
    assert client.text.count(": ping\n\n") >= 2
    assert re.findall(r'"text": "(\w)"', client.text) == ["a", "b"]
    assert client.writes[-1] == DONE and ": ping" not in client.writes[-1]


def test_a_client_leaving_while_the_upstream_is_silent_ends_the_engine_within_a_heartbeat():
    stopped, never = Event(), Event()

    def produce(cancelled):
        try:
            yield ChatEvent("token", {"text": "a"})
            client.leave()
            never.wait(30)  # an upstream gone silent
            yield ChatEvent("token", {"text": "b"})
        finally:
            stopped.set()

    client = Client()
    started = gevent.get_hub().loop.now()
    InlineStream(client.write, lambda e: None, 0.02).run(produce)  # returns: the failed ping ended the engine
    assert stopped.is_set() and gevent.get_hub().loop.now() - started < 5
    assert client.text == CONNECTED + token_text("a")  # nothing more, not even an error


def test_a_client_leaving_mid_answer_ends_the_engine_at_its_next_write_without_an_error_logged(caplog):
    stopped = Event()
    engine_saw = []

    def produce(cancelled):
        try:
            yield ChatEvent("token", {"text": "a"})
            client.leave()
            yield ChatEvent("token", {"text": "b"})
            engine_saw.append("went on")
            yield ChatEvent("done", {})
        finally:
            engine_saw.append(cancelled())
            stopped.set()

    client = Client()
    InlineStream(client.write, lambda e: None, 15.0).run(produce)
    assert stopped.is_set() and engine_saw == [True]
    assert client.text == CONNECTED + token_text("a")
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_client_leaving_while_tokens_are_handed_over_in_a_read_ends_the_engine_there():
    stopped = Event()

    def produce(cancelled):
        read = before_body_read.get()
        try:
            read()
            yield from tokens(2)
            client.leave()
            read()  # the write of the two tokens fails inside the upstream read
            yield ChatEvent("done", {})
        finally:
            stopped.set()

    client = Client()
    InlineStream(client.write, lambda e: None, 15.0).run(produce)
    assert stopped.is_set() and client.writes == [CONNECTED]


def test_an_engine_that_fails_or_ends_early_still_ends_the_stream_with_an_error():
    def failing(cancelled):
        yield ChatEvent("token", {"text": "a"})
        raise RuntimeError("bug")

    def silent(cancelled):
        yield from ()

    for produce in (failing, silent):
        text = stream(produce).text
        assert text.count("event: error") == 1 and "internal error" in text and text.endswith("\n\n")


def test_a_stream_over_writes_nothing_more_and_leaves_the_greenlet_as_it_found_it():
    def produce(cancelled):
        yield ChatEvent("done", {})

    client = Client()
    inline = InlineStream(client.write, lambda e: None, 0.01)
    inline.run(produce)
    assert before_body_read.get() is None  # the worker's greenlet serves the connection's next request
    inline.last_sent = 0.0
    inline.ping_if_idle(1e9)  # a heartbeat timer that looked just before the end
    gevent.sleep(0.05)
    assert client.writes == [CONNECTED, DONE]


def test_many_streams_at_once_each_get_their_own_events():
    def produce_for(name):
        def produce(cancelled):
            for i in range(20):
                gevent.sleep(0.001)  # the other streams run meanwhile
                before_body_read.get()()  # this stream's own hook, as its upstream connection finds it
                yield ChatEvent("token", {"text": f"{name}-{i}"})
            before_body_read.get()()
            yield ChatEvent("done", {})
        return produce

    streams = [gevent.spawn(stream, produce_for(f"s{n}"), 0.005) for n in range(50)]
    gevent.joinall(streams, raise_error=True)
    for n, done in enumerate(streams):
        text = done.value.text
        assert re.findall(r'"text": "([^"]*)"', text) == [f"s{n}-{i}" for i in range(20)]
        assert text.count("event: done") == 1
