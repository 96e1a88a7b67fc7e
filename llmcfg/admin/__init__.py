"""The instructor-facing pages: the organization overview and the editors behind it."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

# Links in the top navigation (base.html reads LLMCFG_NAV); added once, when the app registers bp.
NAV_LINKS = [("admin.credentials", "Keys")]


@bp.record_once
def _add_nav_links(state):
    nav = state.app.config.setdefault("LLMCFG_NAV", [])
    nav.extend(link for link in NAV_LINKS if link not in nav)


from . import configs, courses, credentials, routes  # noqa: E402,F401
from .activity import reason_words  # noqa: E402

bp.add_app_template_global(reason_words)


@bp.context_processor
def _step_titles():
    from ..providers.checks import STEP_TITLES

    return {"titles": STEP_TITLES}  # what the connection-check partials call each step
