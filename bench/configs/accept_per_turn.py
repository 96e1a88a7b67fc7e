"""gunicorn.conf.py as committed, but each gevent worker accepts up to 4 waiting connections per loop turn.

The concurrency figure serves this file beside the committed one, so the reason for
gunicorn.conf.py's `accept_per_turn` is measured in the same run: more chats admitted at once,
each taking CPU from the streams already open.
"""

from pathlib import Path

exec((Path(__file__).resolve().parents[2] / "gunicorn.conf.py").read_text())
accept_per_turn = 4
