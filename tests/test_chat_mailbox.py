"""The hand-off between the engine's worker and the response, and the heartbeat timer behind it."""

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from llmcfg.chat.mailbox import PING, HeartbeatTimer, Mailbox

ROOT = Path(__file__).resolve().parent.parent


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
    """gunicorn forks its workers: the timer thread of the parent does not exist in the child.

    The fork happens in a fresh interpreter: forking the test process, with its servers' threads
    and sockets, would leave the child holding copies of those sockets.
    """
    script = textwrap.dedent("""
        import os, sys, threading
        from llmcfg.chat.relay import relay
        from llmcfg.fallback import ChatEvent

        assert "internal error" in "".join(relay(lambda cancelled: iter(()), lambda e: None, heartbeat=0.01))
        pid = os.fork()  # the parent's timer thread is running now
        if pid:
            sys.exit(os.waitpid(pid, 0)[1] >> 8)
        release = threading.Event()

        def produce(cancelled):
            release.wait(5)
            yield ChatEvent("done", {})

        gen = relay(produce, lambda e: None, heartbeat=0.02)
        first, second = next(gen), next(gen)
        release.set()
        ok = first == ": connected\\n\\n" and second == ": ping\\n\\n" and "event: done" in "".join(gen)
        os._exit(0 if ok else 3)
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr[-2000:]
