"""The chat stream under gevent, as gunicorn's gevent workers run it: the engine runs in the
response's greenlet there (llmcfg/chat/inline.py), so these tests run in a process gevent has
patched: the inline stream's own checks (gevent_inline_checks.py), the chat endpoint and a client
leaving mid-answer end to end through it, and relay.py's promises, whose worker thread is a
greenlet there."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNDER_GEVENT = (
    "from gevent import monkey; monkey.patch_all()\n"
    "import sys, pytest\n"
    "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-W', 'error::pytest.PytestUnhandledThreadExceptionWarning',"
    " 'tests/gevent_inline_checks.py', 'tests/test_chat_stream.py', 'tests/test_chat_disconnect.py',"
    " 'tests/test_chat_relay.py']))\n"
)


def test_the_chat_stream_keeps_its_promises_under_gevent():
    done = subprocess.run([sys.executable, "-c", UNDER_GEVENT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary
