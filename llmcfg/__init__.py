"""llmcfg: configure LLM providers, models and fallbacks for an organization, its courses and homework."""

import os
from pathlib import Path

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_path(configured: str | None = None) -> str | None:
    """The instance folder: test_config's INSTANCE_PATH, else LLMCFG_INSTANCE_PATH, else Flask's default.

    Several deployments (or a benchmark) on one machine each need their own: it holds the
    generated secrets, the SQLite database and the files the workers share (cooldowns, catalogs).
    """
    chosen = configured or os.environ.get("LLMCFG_INSTANCE_PATH")
    return str(Path(chosen).expanduser().resolve()) if chosen else None  # Flask wants it absolute


def create_app(test_config=None):
    """Create and configure the app (settings from LLMCFG_* env, overridden by test_config)."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=instance_path((test_config or {}).get("INSTANCE_PATH")),
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    from .config import settings_from_env

    app.config.from_mapping(
        settings_from_env(app.instance_path),
        MIGRATIONS_DIR=str(PROJECT_ROOT / "migrations"),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in auth.before_request, skipped for bearer tokens only
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if test_config is not None:
        app.config.from_mapping(test_config)

    from . import cli, cooldown, crypto, db, errors
    from .auth import init_app as init_auth

    db.init_app(app)
    crypto.init_app(app)
    cooldown.init_app(app)
    init_auth(app)
    errors.init_app(app)
    cli.init_app(app)

    from .admin import bp as admin_bp

    app.register_blueprint(admin_bp)
    from .providers.views import bp as providers_bp

    app.register_blueprint(providers_bp)
    from .chat import bp as chat_bp

    app.register_blueprint(chat_bp)
    return app
