"""Run the benchmarks, print one table, and rewrite docs/benchmarks.md.

    python -m bench                      # the full run (make bench)
    python -m bench --size tiny --doc /tmp/b.md   # seconds: what the smoke test runs
    python -m bench --only failover,queries --reps 40
"""

import argparse
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

from .catalog import figure_catalog
from .client import bench_client
from .context import CANDIDATES, PRODUCTION, SIZES, Context, sized
from .failover import figure_cooldown, figure_failover
from .queries import figure_queries
from .relay_cost import figure_relay
from .report import Report, Row, command_line, printed, write
from .seed import app_env, seed
from .served import ROOT, ServedApp
from .streams import figure_streams
from .upstream import UpstreamProcess, raise_open_files_limit

# In run order; the concurrency sweep goes last because it starts servers of its own.
FIGURES = {
    "failover": figure_failover,
    "cooldown": figure_cooldown,
    "relay": figure_relay,
    "catalog": figure_catalog,
    "queries": figure_queries,
    "streams": figure_streams,
}
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="preset sizes (default: full)")
    parser.add_argument("--only", help=f"comma-separated figures to run, of: {', '.join(FIGURES)}")
    parser.add_argument("--reps", type=int, help="timed repetitions per timing (the full run uses 30)")
    parser.add_argument("--levels", help="concurrent chats to try, e.g. 50,100,200,500,1000")
    parser.add_argument("--candidates", help=f"serve configurations to compare, of: {PRODUCTION!r}, "
                        + ", ".join(repr(c) for c in CANDIDATES) + " (comma-separated)")
    parser.add_argument("--without-peer", action="store_true", help="skip the LiteLLM peer even if it is installed")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="where to write the report (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (databases, server logs)")
    return parser.parse_args(argv)


def build_sizes(args):
    levels = tuple(int(n) for n in args.levels.split(",")) if args.levels else None
    candidates = tuple(c.strip() for c in args.candidates.split(",")) if args.candidates else None
    for name in candidates or ():
        if name != PRODUCTION and name not in CANDIDATES:
            raise SystemExit(f"unknown candidate {name!r}")
    return sized(args.size, reps=args.reps, stream_levels=levels, candidates=candidates)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    sizes = build_sizes(args)
    chosen = [f.strip() for f in args.only.split(",")] if args.only else list(FIGURES)
    unknown = set(chosen) - set(FIGURES)
    if unknown:
        raise SystemExit(f"unknown figure(s): {', '.join(sorted(unknown))}")
    raise_open_files_limit()
    report = Report(size=sizes.name, command=command_line(argv))
    workdir = Path(tempfile.mkdtemp(prefix="llmcfg-bench-"))
    failed = []
    try:
        with UpstreamProcess() as upstream:
            env = app_env(workdir, upstream.base_url)
            relay_paced, relay_unpaced = f"ok-{sizes.relay_tokens}-{sizes.relay_interval_ms}", f"ok-{sizes.relay_tokens}-0"
            seeded = seed(env, workdir, failover_configs=sizes.reps + sizes.warmup, backup_tokens=sizes.backup_tokens,
                          stream_models=[f"ok-{sizes.stream_tokens}-{sizes.stream_interval_ms}", relay_paced, relay_unpaced,
                                         Context.START_MODEL],
                          catalog_credentials=2)
            app = ServedApp(env, workdir)
            with bench_client() as client:
                ctx = Context(sizes, report, workdir, upstream, env, seeded, app, client, with_peer=not args.without_peer)
                for name in chosen:
                    if name == "streams":
                        app.stop()  # the sweep starts its own servers; an idle one would only take memory
                    elif app.process is None:
                        app.start()
                    print(f"… {name}", file=sys.stderr, flush=True)
                    try:
                        FIGURES[name](ctx)
                    except Exception as exc:  # one broken figure must not hide the others
                        traceback.print_exc()
                        failed.append(name)
                        report.add(Row(name, "failed", f"{type(exc).__name__}: {exc}"[:200]))
                app.stop()
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(printed(report))
    if failed:
        print(f"\nFailed: {', '.join(failed)}; {args.doc} was not rewritten.", file=sys.stderr)
        return 1
    write(report, args.doc)
    print(f"\nWrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
