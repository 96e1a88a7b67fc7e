"""Run the production serve command (gunicorn with gunicorn.conf.py) as a child process on loopback.

`make serve` runs `gunicorn --config gunicorn.conf.py --bind HOST:PORT app:app`; so does this,
with the settings pointed at a benchmark database and the bench upstream. Extra gunicorn
arguments (worker class, workers, threads) override the config file, which is how the
concurrency figure compares candidate configurations.
"""

import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / "gunicorn.conf.py"


def serve_settings() -> dict:
    """What gunicorn.conf.py sets (read from the file, so the report never drifts from it)."""
    conf = runpy.run_path(str(CONFIG_FILE))
    return {k: v for k, v in conf.items() if not k.startswith("_") and isinstance(v, int | float | str)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command() -> list[str]:
    script = Path(sys.executable).parent / "gunicorn"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                # The command name may hold spaces and parentheses: split after the last ')'.
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _tree(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants."""
    total = 0.0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_rss(root: int) -> int:
    """Resident memory (bytes) of a process and all its descendants, summed."""
    total = 0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class PeakMemory:
    """Sample a process tree's RSS in the background; remember the peak."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.every)

    def __enter__(self):
        self.peak = tree_rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


class ServedApp:
    """`with ServedApp(env, log_dir) as app:` … app.url; the server is stopped on exit."""

    def __init__(self, env: dict, log_dir: Path, overrides: list[str] = (), name: str = "production"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.log_path = Path(log_dir) / f"gunicorn-{name.replace(' ', '_').replace('/', '_')}.log"
        self.command = [*gunicorn_command(), "--config", str(CONFIG_FILE), "--bind", f"127.0.0.1:{self.port}",
                        *overrides, "app:app"]
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "ServedApp":
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start; see {self.log_path}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/login", timeout=2).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s; see {self.log_path}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process is None:
            return
        family = _tree(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
            try:
                # gunicorn itself kills workers that have not quit after graceful_timeout (30 s).
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in family[1:]:  # a worker orphaned by a killed master must not outlive the run
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
