"""Shared by the catalog tests: many requests for a cold catalog at the same moment."""

import threading


def fetch_concurrently(caches, adapter, credential, count: int) -> list:
    """Ask for the catalog `count` times at once, spread over `caches` (one per worker); return the results."""
    results, barrier = [], threading.Barrier(count)

    def fetch(cache):
        barrier.wait()
        results.append(cache.get(adapter, credential))

    threads = [threading.Thread(target=fetch, args=(caches[i % len(caches)],)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
