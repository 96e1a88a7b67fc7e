"""Figure 5: the 350-entry catalog through the served app — cold, cached, filtered, and a cold stampede."""

import threading

import httpx

from .context import Context
from .report import Row
from .served import serve_settings
from .stats import Summary, fmt_ratio, ratio, repeat

PATH = "/api/admin/llm-providers/openrouter/models"
FILTER = "free"


def _get(ctx: Context, client: httpx.Client, credential_id: int, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ctx.seeded.token}"}
    if params.pop("partial", False):
        headers["HX-Request"] = "true"
    response = client.get(ctx.app.url + PATH, params={"credential_id": credential_id, **params}, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"catalog answered {response.status_code}: {response.text[:200]}")
    return response


def stampede(ctx: Context, credential_id: int, clients: int) -> tuple[int, int]:
    """`clients` requests for a never-fetched catalog at once; return (upstream calls, failures)."""
    before = ctx.upstream.stats()["models"]
    barrier = threading.Barrier(clients)
    failures = []

    def one():
        with httpx.Client(timeout=30) as client:
            barrier.wait(timeout=30)
            try:
                _get(ctx, client, credential_id)
            except (RuntimeError, httpx.HTTPError) as exc:
                failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return ctx.upstream.stats()["models"] - before, len(failures)


def figure_catalog(ctx: Context) -> None:
    warm, cold = ctx.seeded.catalog_credentials[0], ctx.seeded.catalog_credentials[1]
    client, reps, warmup = ctx.client, ctx.sizes.catalog_reps, ctx.sizes.warmup
    floor = Summary.of(repeat(lambda: client.get(ctx.upstream.base_url + "/models").raise_for_status(),
                              reps, warmup))
    fetch = Summary.of(repeat(lambda: _get(ctx, client, warm, refresh=1), reps, warmup))
    entries = _get(ctx, client, warm).json()["total"]
    cached = Summary.of(repeat(lambda: _get(ctx, client, warm, partial=True), reps, warmup))
    filtered = Summary.of(repeat(lambda: _get(ctx, client, warm, partial=True, q=FILTER), reps, warmup))
    calls, failures = stampede(ctx, cold, ctx.sizes.catalog_concurrency)
    figure = "5. Catalog"
    base = f"upstream read {floor.ms()}"
    ctx.report.add(
        Row(figure, f"Cold fetch ({entries} entries, refresh=1, JSON)", fetch.ms(), base,
            fmt_ratio(ratio(fetch.median, floor.median))),
        Row(figure, "Cached partial render (htmx)", cached.ms(), base, fmt_ratio(ratio(cached.median, floor.median))),
        Row(figure, f"Filtered partial render (q={FILTER})", filtered.ms(), base,
            fmt_ratio(ratio(filtered.median, floor.median))),
        Row(figure, f"{ctx.sizes.catalog_concurrency} concurrent cold requests → upstream calls"
            + (f" ({failures} failed)" if failures else ""), str(calls), target="1", met=calls == 1 and not failures),
    )
    if calls > 1:
        workers = serve_settings().get("workers", 1)
        ctx.report.section("Why the cold catalog was fetched more than once", (
            f"gunicorn.conf.py runs {workers} worker process(es). They are meant to share one fetch per cold entry "
            "through a file lock in the instance folder (`FileLock` in `llmcfg/shared_store.py`, taken by "
            "`llmcfg/catalog.py`), or a Redis lock with `LLMCFG_REDIS_URL`; more than one upstream call means a "
            "request fetched without waiting on that lock, so look there first."))

