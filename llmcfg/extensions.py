"""One lazily built, per-app object (an HTTP client, a cache) stored in `app.extensions`."""

import threading
from collections.abc import Callable

_lock = threading.Lock()


def app_extension(key: str, build: Callable, app=None):
    """Return app.extensions[key], building it once with build(app) on first use (thread-safe)."""
    from flask import current_app

    app = app or current_app._get_current_object()
    value = app.extensions.get(key)
    if value is None:
        with _lock:
            value = app.extensions.get(key)
            if value is None:
                value = app.extensions[key] = build(app)
    return value
