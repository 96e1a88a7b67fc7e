"""The instructor-facing pages: the organization overview and the editors behind it."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from . import routes  # noqa: E402,F401
