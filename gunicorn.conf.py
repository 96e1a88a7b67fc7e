"""Production serve settings for `make serve` (gunicorn). Why these values: docs/benchmarks.md.

Chats are long-lived streams, so each worker holds many connections at once: gevent workers, one
per core of the 2-core machine the concurrent-streams benchmark ran on. `make bench` measures this
file as committed beside the other configurations it compares.
"""

import resource

worker_class = "gevent"  # each chat's engine then writes from its response's greenlet (llmcfg/chat/inline.py)
workers = 2
worker_connections = 1000  # open chats per worker
# gevent runs the greenlets woken by other greenlets for at most one switch interval per loop turn
# before it polls sockets again; with Python's 5 ms, a busy worker (with the relay's earlier
# hand-off through a thread and a mailbox) kept polling upstream sockets while woken responses
# queued behind, and new chats waited seconds for their first token. Set in each worker
# (post_worker_init); docs/benchmarks.md measures it against Python's 5 ms.
switch_interval = 0.05
# With more than one worker, gunicorn's gevent worker lets each accept one waiting connection per
# loop turn, so that no worker takes them all. Under hundreds of open chats a loop turn takes tens
# of milliseconds, so one per turn let in fewer new chats than the open ones need (a chat of 200
# tokens at 20 ms ends every 4 s and the next one starts): new chats waited seconds at the listening
# socket. Two per turn kept up; four let in more than the CPU could then stream at pace.
accept_per_turn = 2
# A full collection of the garbage collector pauses every stream of its worker while it scans every
# tracked object, tens of milliseconds with hundreds of chats open; with what the worker loaded at
# start frozen (post_worker_init), Python's threshold ran one every few seconds under load. Full
# collections wait for this many collections of the middle generation (Python's own: 10); cyclic
# garbage old enough to reach the oldest generation waits for them.
full_collection_after = 100
# A stream may be silent for a while between heartbeats; only a wedged worker should be killed.
timeout = 60
graceful_timeout = 30
keepalive = 5


def on_starting(server):
    """Each chat holds two sockets (client and upstream): lift the open-files soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def post_worker_init(worker):
    """Freeze what the worker has loaded out of the garbage collector's way; set the switch interval
    and, for a gevent worker, the connections it accepts per loop turn.

    A full collection pauses every stream the worker holds for as long as it takes to scan every
    tracked object; frozen objects (the modules, routes and mappers loaded at start) are skipped.
    """
    import gc
    import sys

    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, full_collection_after)
    sys.setswitchinterval(switch_interval)
    ggevent = sys.modules.get("gunicorn.workers.ggevent")
    if ggevent is not None and isinstance(worker, ggevent.GeventWorker):
        # The worker builds its server after this hook, from this module's StreamServer.
        ggevent.StreamServer = accepting_server(ggevent.StreamServer, accept_per_turn)
        import gunicorn.util

        gunicorn.util.write = send_first  # looked up at each call by gunicorn's response


def accepting_server(server_class, per_turn: int):
    """A subclass of server_class whose max_accept (connections accepted per loop turn) is at least per_turn.

    gunicorn sets max_accept to 1 on the server it builds when there is more than one worker.
    """

    class AcceptingServer(server_class):
        @property
        def max_accept(self):
            return self.__dict__.get("_max_accept", per_turn)

        @max_accept.setter
        def max_accept(self, value):
            self._max_accept = max(value, per_turn)

    return AcceptingServer


def send_first(sock, data, chunked=False):
    """gunicorn.util.write (one body write, framed as a chunk when chunked), sent with send() first.

    gevent's sendall asks the kernel for the socket's send buffer size before every write: one
    more system call per write, and a chat writes once per token. What the buffer has room for at
    once (for a token, all of it) goes in one send(); sendall writes any rest.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if chunked:
        data = b"%X\r\n%s\r\n" % (len(data), data)
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])
