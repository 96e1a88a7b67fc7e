"""Production serve settings for `make serve` (gunicorn). Why these values: docs/benchmarks.md.

Chats are long-lived streams, so each worker holds many connections at once: gevent workers, one
per core of the 2-core machine the concurrent-streams benchmark ran on. `make bench` measures this
file as committed beside the other configurations it compares.
"""

import resource

worker_class = "gevent"  # the gevent worker monkeypatches threading/queue, so the relay's thread is a greenlet
workers = 2
worker_connections = 1000  # open chats per worker
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
