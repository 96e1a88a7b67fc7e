"""Accounts: sessions (Flask-Login), first-run setup, personal API tokens, and the CSRF gate."""

from flask import Blueprint, abort, current_app, g, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from ..db import db
from ..models import User
from .tokens import user_for_token

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
csrf = CSRFProtect()


@login_manager.user_loader
def _load_user(user_id: str):
    return db.session.get(User, int(user_id))


@login_manager.unauthorized_handler
def _unauthorized():
    from flask import redirect, url_for

    from ..errors import wants_json

    if wants_json():
        abort(401, "Log in, or send Authorization: Bearer <api token>.")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _authenticate_and_check_csrf():
    """Let a valid bearer token stand in for the session on /api/*; everything else needs CSRF."""
    # Flask-Login caches the user in g, Flask-WTF the CSRF token; when requests share an app
    # context (tests pushing one around a client) those caches would carry one request's user
    # and token into the next.
    for cached in ("_login_user", current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), "csrf_valid"):
        g.pop(cached, None)
    token = bearer_token() if request.path.startswith("/api/") else None
    if token is not None:
        user = user_for_token(token)
        if user is None:
            abort(401, "That API token is not valid (it may have been revoked).")
        g._login_user = user  # Flask-Login's per-request slot: the session is not consulted
        return
    if request.path.startswith("/api/") and not current_user.is_authenticated:
        return  # nothing to forge without a session; the view answers 401
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        csrf.protect()


def init_app(app):
    login_manager.init_app(app)
    csrf.init_app(app)
    app.before_request(_authenticate_and_check_csrf)
    from . import routes  # noqa: F401  (registers the views on bp)

    app.register_blueprint(bp)
