"""gunicorn.conf.py as committed, but with Python's default switch interval (5 ms).

The concurrency figure serves with this file beside the committed one, so the reason for
gunicorn.conf.py's `switch_interval` is measured in the same run.
"""

from pathlib import Path

exec((Path(__file__).resolve().parents[2] / "gunicorn.conf.py").read_text())
switch_interval = 0.005
