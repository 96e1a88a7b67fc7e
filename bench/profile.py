"""Where the served app's CPU goes under load: sample the gunicorn workers with py-spy, sum by layer.

Each sampled stack is put in the layer of its innermost frame that belongs to one (standard
library and gevent frames are skipped on the way out, so a socket read counts for the HTTP client
that made it, and JSON encoding for the relay that asked for it). Also here: the CPU one
short chat costs the production server, which is what starting and ending any chat costs.
"""

import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .context import Context
from .load import run_load
from .report import markdown_table
from .served import ServedApp, _tree, tree_cpu
from .stats import fmt

# (layer, path fragments of its frames); the first layer whose fragment a frame holds wins.
LAYERS = [
    ("Database (SQLAlchemy, SQLite): token check and chain", ("sqlalchemy/",)),
    # Before the adapters: the upstream connection's own modules live beside them.
    ("Upstream HTTP (httpx, httpcore's pool, http.client, socket reads)",
     ("httpx/", "httpcore/", "h11/", "/http/client.py", "llmcfg/providers/connection.py",
      "llmcfg/providers/chunked.py", "llmcfg/providers/waiting.py",
      "llmcfg/providers/transport.py")),
    ("SSE parsing and the adapters", ("httpx_sse/", "llmcfg/providers/")),
    ("Fallback engine", ("llmcfg/fallback.py", "llmcfg/cooldown")),
    ("Relay (SSE text for the response)",
     ("llmcfg/chat/relay.py", "llmcfg/chat/mailbox.py", "llmcfg/chat/inline.py")),
    ("Key decryption", ("cryptography/", "llmcfg/crypto.py")),
    ("Other app code (auth, resolve, routes)", ("llmcfg/",)),
    ("Flask and werkzeug (request, response iteration)", ("flask/", "werkzeug/", "flask_login/", "flask_wtf/")),
    ("gunicorn (request parsing, chunked writes, socket sends)", ("gunicorn/",)),
]
EVENT_LOOP = "gevent's event loop and greenlet switches"
OTHER = "Other"


def _generic(frame: str) -> bool:
    """gevent, greenlet and the standard library: plumbing, not a layer of the app's own."""
    return "gevent/" in frame or "greenlet" in frame or ("site-packages" not in frame and "llmcfg/" not in frame)


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def layer_of(stack: list[str]) -> str:
    """The layer of one sampled stack (frames listed outermost first, as py-spy writes them)."""
    generic_only = True
    for frame in reversed(stack):
        for layer, fragments in LAYERS:
            if any(fragment in frame for fragment in fragments):
                return layer
        if not _generic(frame):
            generic_only = False
    return EVENT_LOOP if generic_only and any("gevent/" in frame for frame in stack) else OTHER


def read_samples(path: Path) -> Counter:
    """py-spy's raw format: one line per distinct stack, frames joined by ';', then the count."""
    layers: Counter = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            layers[layer_of(stack.split(";"))] += int(count)
    return layers


def sample(pids: list[int], seconds: float, workdir: Path, rate: int = 100) -> tuple[Counter, str]:
    """Record every pid with py-spy for `seconds` at once; return the samples by layer and any error."""
    tool = py_spy()
    if tool is None:
        return Counter(), "py-spy is not installed (it comes with the bench extra)"
    runs = []
    for pid in pids:
        out = Path(workdir) / f"py-spy-{pid}.txt"
        command = [tool, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
                   "--nonblocking", "--format", "raw", "--output", str(out)]
        runs.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out))
    layers, error = Counter(), ""
    for process, out in runs:
        _, stderr = process.communicate(timeout=seconds + 60)
        if process.returncode != 0 or not out.exists():
            # py-spy needs ptrace rights over the workers; without them the section says so.
            error = (stderr.decode(errors="replace").strip().splitlines() or ["py-spy failed"])[-1][:200]
            continue
        layers += read_samples(out)
    return layers, error or ("" if layers else "py-spy recorded no samples")


@dataclass
class ServedProfile:
    clients: int
    seconds: float
    workers: int
    cpu_seconds: float  # the server's process tree, over the sampled window
    layers: Counter
    error: str = ""

    def cores(self) -> float:
        return self.cpu_seconds / self.seconds

    def largest(self) -> tuple[str, float]:
        """The layer with most samples, and its share of them."""
        layer, count = self.layers.most_common(1)[0]
        return layer, count / sum(self.layers.values())


def profile_served(ctx: Context, clients: int) -> ServedProfile:
    """Sample the production server's workers with py-spy while `clients` people chat."""
    sizes, load_args = ctx.sizes, ctx.app_stream_load()
    with ServedApp(ctx.env, ctx.workdir, name="profiled") as app:
        run_load(app.port, 16, ramp=0.5, **load_args)  # warm every worker
        workers = _tree(app.pid)[1:]
        runner = threading.Thread(target=run_load, args=(app.port, clients),
                                  kwargs=dict(ramp=sizes.chat_seconds, chats=sizes.stream_chats, **load_args))
        runner.start()
        time.sleep(sizes.chat_seconds)  # sample the steady state: every chat open
        cpu_before = tree_cpu(app.pid)
        layers, error = sample(workers, sizes.profile_seconds, ctx.workdir)
        cpu = tree_cpu(app.pid) - cpu_before
        runner.join()
    return ServedProfile(clients, sizes.profile_seconds, len(workers), cpu, layers, error)


def chat_start_cpu(ctx: Context, people: int = 20) -> float:
    """Milliseconds of the production server's CPU per one-token chat: what starting and ending a chat costs.

    The token check, resolving the chain, the upstream request, the response's head and its last
    write; the one token is a rounding error beside them.
    """
    load_args = ctx.app_stream_load()
    load_args.update(tokens=1, interval_ms=0,
                     payload={**load_args["payload"], "config_id": ctx.seeded.configs[ctx.START_MODEL]})
    with ServedApp(ctx.env, ctx.workdir, name="chat-start") as app:
        run_load(app.port, people, ramp=0.2, **load_args)  # warm every worker
        cpu_before = tree_cpu(app.pid)
        load = run_load(app.port, people, ramp=0.2, chats=max(1, ctx.sizes.start_chats // people), **load_args)
        cpu = tree_cpu(app.pid) - cpu_before
    if load.completed != load.chats:
        raise RuntimeError(f"one-token chats: {load.completed} of {load.chats} completed ({load.errors[:3]})")
    return cpu / load.chats * 1000


def profile_section(ctx: Context, profile: ServedProfile) -> None:
    title = "Where the served app's CPU goes under load"
    if profile.error:
        ctx.report.section(title, f"Not measured in this run: {profile.error}.")
        return
    total = sum(profile.layers.values())
    rows = [(layer, f"{100 * count / total:.1f}%", f"{profile.cores() * count / total:.2f}")
            for layer, count in profile.layers.most_common()]
    ctx.report.section(title, (
        f"py-spy sampled the {profile.workers} gunicorn workers (production config) for {fmt(profile.seconds)} s "
        f"while {profile.clients} people chatted, once every chat was open; {total:,} samples. Each sample goes "
        "to the layer of its innermost frame that belongs to one (a socket read counts for the HTTP client that "
        f"made it). The server's processes used {profile.cores():.2f} cores in that window; the last column "
        "splits them by layer. Starting chats (token check, chain, upstream request) is part of the mix, as "
        "it is under real load.\n\n"
        + markdown_table(("Layer", "Share of samples", "Cores"), rows)))
