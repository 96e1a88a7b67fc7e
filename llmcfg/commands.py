"""Foundation commands: organizations, users, credentials, configs, assignments, tokens."""

from .cli import llmcfg_cli  # noqa: F401
