"""Entry point: `flask --app app run` (and `gunicorn app:app`) find the app here."""

from llmcfg import create_app
from llmcfg.config import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    # A setting the app cannot start with: one line that names it, not a traceback.
    raise SystemExit(f"llmcfg cannot start: {exc}") from None
