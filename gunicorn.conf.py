"""Production serve settings for `make serve` (gunicorn). Why these values: docs/benchmarks.md.

Chats are long-lived streams, so each worker holds many connections at once: gevent workers, one
per core of the 2-core machine the concurrent-streams benchmark ran on. `make bench` measures this
file as committed beside the other configurations it compares.
"""

import resource

worker_class = "gevent"  # the gevent worker monkeypatches threading/queue, so the relay's thread is a greenlet
workers = 2
worker_connections = 1000  # open chats per worker
# gevent runs the greenlets woken by other greenlets (the response waiting for its next token) for
# at most one switch interval per loop turn before it polls sockets again; with Python's 5 ms, a
# busy worker kept polling upstream sockets while woken responses queued behind, and new chats
# waited seconds for their first token. Set in each worker (post_worker_init).
switch_interval = 0.05
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
    """Freeze what the worker has loaded out of the garbage collector's way; set the switch interval.

    A full collection pauses every stream the worker holds for as long as it takes to scan every
    tracked object; frozen objects (the modules, routes and mappers loaded at start) are skipped.
    """
    import gc
    import sys

    gc.collect()
    gc.freeze()
    sys.setswitchinterval(switch_interval)
