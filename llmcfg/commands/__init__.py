"""Foundation commands on the `flask llmcfg` group: organizations, users, credentials, configs, tokens.

Every command that creates something prints the new id (or, with --json, the object). Bad input
stops with one line on stderr before anything is written. No output ever contains a stored key.
"""

from . import accounts, configs, events  # noqa: F401  (importing registers the commands)
