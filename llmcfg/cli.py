"""The `flask llmcfg …` command group. Feature modules add their commands to `llmcfg_cli`."""

from flask.cli import AppGroup

llmcfg_cli = AppGroup("llmcfg", help="Manage organizations, credentials, LLM configs and chats.")


def init_app(app):
    from . import commands  # noqa: F401  (foundation commands)
    from .providers import cli as providers_cli  # noqa: F401  (models, test-connection)
    from .chat import cli as chat_cli  # noqa: F401

    app.cli.add_command(llmcfg_cli)
