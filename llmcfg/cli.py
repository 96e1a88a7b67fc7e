"""The `flask llmcfg …` command group. Feature modules add their commands to `llmcfg_cli`."""

from flask.cli import AppGroup

llmcfg_cli = AppGroup("llmcfg", help="Manage organizations, credentials, LLM configs and chats.")


def init_app(app):
    from . import commands  # noqa: F401  (foundation commands)

    app.cli.add_command(llmcfg_cli)
