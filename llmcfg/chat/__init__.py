"""Chat: the streaming endpoint (design §5), the chat page, and `flask llmcfg chat`."""

from flask import Blueprint

bp = Blueprint("chat", __name__)

from . import routes  # noqa: E402,F401
