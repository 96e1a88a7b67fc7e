"""The relay under gevent, as gunicorn's gevent workers run it: the engine is a greenlet there
(llmcfg/chat/switchboard.py), so the relay's tests run again in a process gevent has patched,
with the checks only that setting has (gevent_relay_checks.py)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNDER_GEVENT = (
    "from gevent import monkey; monkey.patch_all()\n"
    "import sys, pytest\n"
    "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-W', 'error::pytest.PytestUnhandledThreadExceptionWarning',"
    " 'tests/test_chat_relay.py', 'tests/gevent_relay_checks.py']))\n"
)


def test_the_relay_keeps_its_promises_under_gevent():
    done = subprocess.run([sys.executable, "-c", UNDER_GEVENT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary
