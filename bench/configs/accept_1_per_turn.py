"""gunicorn.conf.py as committed, but each gevent worker accepts one waiting connection per loop turn.

That is what gunicorn's gevent worker does on its own when there is more than one worker. The
concurrency figure serves this file beside the committed one, so the reason for gunicorn.conf.py's
`accept_per_turn` is measured in the same run: when the workers are busy, new chats wait at the
listening socket while the open streams keep their pace.
"""

from pathlib import Path

exec((Path(__file__).resolve().parents[2] / "gunicorn.conf.py").read_text())
accept_per_turn = 1
