"""What the relay does only under gevent (switchboard.py); test_chat_switchboard.py runs this file
with gevent's patches in place, as gunicorn's gevent workers have them.

Not collected on its own: without the patches the relay uses its worker thread instead.
"""

import re

import gevent
import pytest
from gevent.event import Event

from llmcfg.chat.relay import relay
from llmcfg.fallback import ChatEvent
from llmcfg.providers.waiting import before_body_read

pytestmark = pytest.mark.skipif(not __import__("gevent.monkey").monkey.is_module_patched("threading"),
                                reason="runs under gevent's patches (test_chat_switchboard.py)")


def tokens(n):
    return [ChatEvent("token", {"text": str(i)}) for i in range(n)]


def test_tokens_parsed_from_one_read_go_out_in_one_write_before_the_next_read_waits():
    second_read_over = Event()

    def produce(cancelled):
        read = before_body_read.get()  # what the upstream connection runs before a read that would wait
        read()
        yield ChatEvent("start", {})
        yield from tokens(5)  # all arrived together
        read()
        gevent.sleep(0.2)  # the next read waits for the upstream
        second_read_over.set()
        yield ChatEvent("done", {})

    gen = relay(produce, lambda e: None)
    assert next(gen) == ": connected\n\n"
    assert next(gen) == "event: start\ndata: {}\n\n"  # not a token: it goes at once
    batch = next(gen)
    assert not second_read_over.is_set()
    assert batch == "".join(f'event: token\ndata: {{"text": "{i}"}}\n\n' for i in range(5))
    assert list(gen) == ["event: done\ndata: {}\n\n"]


def test_each_token_goes_out_as_soon_as_the_engine_waits_for_the_next():
    def produce(cancelled):
        for event in tokens(3):
            yield event
            gevent.sleep(0.05)  # the upstream is slow: what was handed must not wait for more
        yield ChatEvent("done", {})

    gen = relay(produce, lambda e: None)
    assert next(gen) == ": connected\n\n"
    for i in range(3):
        assert next(gen) == f'event: token\ndata: {{"text": "{i}"}}\n\n'
    assert "event: done" in "".join(gen)


def test_the_engine_waits_while_the_response_is_busy_and_nothing_is_lost():
    release = Event()

    def produce(cancelled):
        release.wait(5)
        yield ChatEvent("token", {"text": "late"})
        yield ChatEvent("done", {})

    gen = relay(produce, lambda e: None, heartbeat=0.02)
    assert next(gen) == ": connected\n\n"
    assert next(gen) == ": ping\n\n"
    release.set()
    gevent.sleep(0.05)  # the response is still "writing" the ping when the engine has its token
    rest = "".join(gen)
    assert rest.count("event: token") == 1 and "late" in rest and rest.endswith("event: done\ndata: {}\n\n")


def test_closing_the_response_ends_the_engine_at_once_even_while_it_waits():
    stopped, never = Event(), Event()

    def produce(cancelled):
        try:
            yield ChatEvent("token", {"text": "a"})
            never.wait(30)  # an upstream gone silent
            yield ChatEvent("token", {"text": "b"})
        finally:
            stopped.set()

    gen = relay(produce, lambda e: None)
    next(gen)
    assert "event: token" in next(gen)
    gen.close()
    assert stopped.is_set()  # no heartbeat to wait for: the engine's greenlet is ended on the spot


def test_many_streams_at_once_each_get_their_own_events():
    def produce_for(name):
        def produce(cancelled):
            for i in range(20):
                gevent.sleep(0.001)
                yield ChatEvent("token", {"text": f"{name}-{i}"})
            yield ChatEvent("done", {})
        return produce

    def read(name):
        return "".join(relay(produce_for(name), lambda e: None, heartbeat=0.005))

    streams = [gevent.spawn(read, f"s{n}") for n in range(50)]
    gevent.joinall(streams, raise_error=True)
    for n, stream in enumerate(streams):
        assert re.findall(r'"text": "([^"]*)"', stream.value) == [f"s{n}-{i}" for i in range(20)]
        assert stream.value.count("event: done") == 1
