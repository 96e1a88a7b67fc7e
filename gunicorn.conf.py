"""Production serve settings for `make serve` (gunicorn). Why these values: docs/benchmarks.md.

Chats are long-lived streams, so a worker must hold many connections at once; the numbers here
were picked from the concurrent-streams measurements of `make bench` on a 2-core machine.
"""

import resource

worker_class = "gthread"
workers = 2
threads = 500
worker_connections = 1000
# A stream may sit silent between heartbeats; only a wedged worker should be killed.
timeout = 60
graceful_timeout = 30
keepalive = 5


def on_starting(server):
    """Each chat holds two sockets (client and upstream): lift the open-files soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
