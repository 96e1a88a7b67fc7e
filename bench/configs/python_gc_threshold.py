"""gunicorn.conf.py as committed, but with Python's own threshold for full garbage collections (10).

The concurrency figure serves this file beside the committed one, so the reason for gunicorn.conf.py's
`full_collection_after` is measured in the same run: a full collection pauses every stream of its
worker for tens of milliseconds, and with Python's threshold one ran every few seconds under load.
"""

from pathlib import Path

exec((Path(__file__).resolve().parents[2] / "gunicorn.conf.py").read_text())
full_collection_after = 10
