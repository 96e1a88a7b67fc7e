"""`python -m bench.layers_gevent BASE_URL MODEL TOKENS STREAMS`: bench.layers under gevent, as JSON.

gevent has to patch the standard library before anything imports it, as gunicorn's gevent worker
does, hence a module of its own. The streams start spread over one token interval, so their
tokens arrive at different moments, as those of chats that began at different times do.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402

from .layers import layer_costs  # noqa: E402
from .upstream import raise_open_files_limit  # noqa: E402


def spread_over(interval_s: float):
    def run_streams(read, streams: int) -> int:
        def delayed(index: int) -> int:
            gevent.sleep(interval_s * index / streams)
            return read()

        greenlets = [gevent.spawn(delayed, i) for i in range(streams)]
        gevent.joinall(greenlets, raise_error=True)
        return sum(g.value for g in greenlets)

    return run_streams


def main(argv: list[str]) -> None:
    base_url, model, tokens, streams = argv[0], argv[1], int(argv[2]), int(argv[3])
    interval_ms = int(re.fullmatch(r"ok-\d+-(\d+)", model).group(1))
    raise_open_files_limit()
    costs, stock = layer_costs(base_url, model, tokens, streams, spread_over(interval_ms / 1000))
    print(json.dumps({"costs": costs, "stock": stock}))


if __name__ == "__main__":
    main(sys.argv[1:])
