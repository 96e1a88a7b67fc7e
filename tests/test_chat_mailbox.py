"""The hand-off between the engine's worker and the response, and the heartbeat timer behind it."""

import multiprocessing
import threading
import time

from llmcfg.chat.mailbox import PING, HeartbeatTimer, Mailbox
from llmcfg.chat.relay import relay
from llmcfg.fallback import ChatEvent


def test_items_come_out_in_order_and_in_batches_of_at_most_the_asked_size():
    mailbox = Mailbox(heartbeat=60)
    for i in range(5):
        mailbox.put(i)
    assert mailbox.take(3) == [0, 1, 2]
    assert mailbox.take(3) == [3, 4]  # the rest is still there, no wait


def test_take_waits_for_an_item_put_by_another_thread():
    mailbox = Mailbox(heartbeat=60)
    threading.Timer(0.05, mailbox.put, args=("late",)).start()
    assert mailbox.take(8) == ["late"]


def test_an_idle_mailbox_gets_a_ping_and_a_busy_one_does_not():
    idle, busy = Mailbox(heartbeat=0.05), Mailbox(heartbeat=0.05)
    timer = HeartbeatTimer()
    timer.add(idle)
    timer.add(busy)
    stop, taken = threading.Event(), []

    def produce():  # an event every 10 ms: never silent for a heartbeat
        while not stop.wait(0.01):
            busy.put("token")

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        assert idle.take(8) == [PING]
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:  # the response side, waiting between events
            taken.extend(busy.take(64))
            busy.sent()
    finally:
        stop.set()
        producer.join(5)
        timer.discard(idle)
        timer.discard(busy)
    assert taken and PING not in taken


def test_heartbeats_flow_in_a_forked_worker_too():
    """gunicorn forks its workers: the timer thread of the parent does not exist in the child."""
    relay_gen = relay(lambda cancelled: iter(()), lambda e: None, heartbeat=0.01)
    assert "internal error" in "".join(relay_gen)  # the timer has started in this process

    def child(results):
        release = threading.Event()

        def produce(cancelled):
            release.wait(5)
            yield ChatEvent("done", {})

        gen = relay(produce, lambda e: None, heartbeat=0.02)
        first, second = next(gen), next(gen)
        release.set()
        results.put([first, second, "".join(gen)])

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=child, args=(results,))
    process.start()
    first, second, rest = results.get(timeout=10)
    process.join(10)
    assert first == ": connected\n\n" and second == ": ping\n\n" and "event: done" in rest
