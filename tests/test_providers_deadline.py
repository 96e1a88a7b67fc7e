"""Under gevent (the production workers) an answer's body is read with one timer per answer, not one
per read: a read that waits the whole read timeout still fails with ReadTimeout, a slow but steady
stream does not, time spent by the reader between reads never counts, and nothing is left armed
once the answer is read."""

import json
import subprocess
import sys

import pytest

# One loopback server and one client in a process patched by gevent, as gunicorn's gevent worker
# patches it. The server sends a chunk after each gap of GAPS (seconds) and ends the answer; the
# client reads with READ_TIMEOUT, pausing BUSY seconds after each chunk, then AFTER seconds, then
# asks again on the kept connection (unless AFTER is None). With HAND_OVER, the read runs the relay's
# hand-over before it waits (waiting.before_body_read), and waits for the socket there. Prints what
# happened as JSON.
SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, socket, sys, threading, time
import gevent, gevent.timeout, httpx
from llmcfg.providers.transport import UpstreamTransport
from llmcfg.providers.waiting import before_body_read

GAPS, READ_TIMEOUT, BUSY, AFTER, HAND_OVER = json.loads(sys.argv[1])
hand_overs = []
if HAND_OVER:
    before_body_read.set(lambda: hand_overs.append(time.monotonic()))
listener = socket.create_server(("127.0.0.1", 0))
connections = []

def serve():
    while True:
        conn, _ = listener.accept()
        connections.append(conn)
        threading.Thread(target=answer, args=(conn,), daemon=True).start()

def answer(conn):
    try:
        play(conn)
    except OSError:
        pass  # the client hung up (it timed out)

def play(conn):
    while conn.recv(65536):
        conn.sendall(b"HTTP/1.1 200 OK\\r\\ntransfer-encoding: chunked\\r\\n\\r\\n")
        for number, gap in enumerate(GAPS):
            time.sleep(gap)
            conn.sendall(b"%x\\r\\n%d\\r\\n" % (len(str(number)), number))
        conn.sendall(b"0\\r\\n\\r\\n")

threading.Thread(target=serve, daemon=True).start()
timers = []
start_new = gevent.timeout.Timeout._start_new_or_dummy
def counted(*args, **kwargs):
    timers.append(args[0])
    return start_new(*args, **kwargs)

client = httpx.Client(timeout=httpx.Timeout(5.0, read=READ_TIMEOUT), transport=UpstreamTransport(httpx.Limits()))
url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
got, outcome, started = [], "complete", time.monotonic()
with client.stream("GET", url) as response:
    gevent.timeout.Timeout._start_new_or_dummy = staticmethod(counted)
    try:
        for part in response.iter_raw():
            got.append(part.decode())
            started = time.monotonic()
            gevent.sleep(BUSY)
    except httpx.ReadTimeout:
        outcome = "timed out"
    waited = time.monotonic() - started
    gevent.timeout.Timeout._start_new_or_dummy = staticmethod(start_new)
again = None
if AFTER is not None:
    gevent.sleep(AFTER)
    again = client.get(url, timeout=5.0).text
print(json.dumps({"got": got, "outcome": outcome, "waited": waited, "read_timers": len(timers),
                  "again": again, "connections": len(connections), "hand_overs": len(hand_overs)}))
"""


def run(gaps, read_timeout, busy=0.0, after=None, hand_over=False) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([gaps, read_timeout, busy, after, hand_over])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("hand_over", [False, True])
def test_a_read_that_waits_the_whole_timeout_fails_and_arms_no_timer_per_read(hand_over):
    found = run([0.0, 0.0, 5.0], read_timeout=0.3, hand_over=hand_over)
    assert "".join(found["got"]) == "01" and found["outcome"] == "timed out"
    assert 0.3 <= found["waited"] < 1.5
    assert found["read_timers"] == 0  # gevent's per-read timeout was never armed


@pytest.mark.parametrize("hand_over", [False, True])
def test_a_slow_steady_stream_outlasts_its_read_timeout_without_timing_out(hand_over):
    found = run([0.15] * 8, read_timeout=0.4, hand_over=hand_over)  # 1.2 s in all, never 0.4 s of silence
    assert found["outcome"] == "complete" and "".join(found["got"]) == "01234567"
    if hand_over:
        assert found["hand_overs"] >= 8  # each read after a gap handed over, then waited for the socket


def test_time_the_reader_spends_between_reads_never_counts():
    found = run([0.0] * 3, read_timeout=0.2, busy=0.5)
    assert found["outcome"] == "complete" and "".join(found["got"]) == "012"


@pytest.mark.parametrize("after", [0.0, 0.8])
def test_nothing_stays_armed_once_the_answer_is_read(after):
    """The connection is kept for the next request; idle for longer than the timeout, it still serves."""
    found = run([0.0, 0.05], read_timeout=0.2, after=after)
    assert found["outcome"] == "complete" and found["again"] == "01"
    assert found["connections"] == 1
