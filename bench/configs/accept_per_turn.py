"""gunicorn.conf.py as committed, but each worker accepts up to 4 waiting connections per loop turn.

With more than one worker, gunicorn's gevent worker sets its server's `max_accept` to 1, so that
one worker does not take every waiting connection. When the workers are saturated, a new chat then
waits at the listening socket until some worker's loop comes round. The concurrency figure serves
this file beside the committed one to measure the other side of that trade in the same run: more
chats admitted at once, each taking CPU from the streams already open.
"""

from pathlib import Path

exec((Path(__file__).resolve().parents[2] / "gunicorn.conf.py").read_text())
ACCEPT_PER_TURN = 4
_committed_post_worker_init = post_worker_init  # noqa: F821 (defined by the file executed above)


def post_worker_init(worker):
    """The committed hook, then a StreamServer whose max_accept never drops below ACCEPT_PER_TURN."""
    _committed_post_worker_init(worker)
    import gunicorn.workers.ggevent as ggevent

    class AcceptingServer(ggevent.StreamServer):
        @property
        def max_accept(self):
            return self.__dict__.get("_max_accept", ACCEPT_PER_TURN)

        @max_accept.setter
        def max_accept(self, value):
            self._max_accept = max(value, ACCEPT_PER_TURN)

    ggevent.StreamServer = AcceptingServer  # the worker builds its server after this hook
