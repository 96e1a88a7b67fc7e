"""What every command shares: one-line errors, --json output, lookups, and secret input.

Bad input stops with one line on stderr (a ClickException) after rolling back, so nothing changes.
"""

import json
import re
import sys

import click
import sqlalchemy as sa

from ..db import db
from ..listing import serialize
from ..models import LLMConfig, Organization

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MIN_PASSWORD_LENGTH = 8

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def one_of(choices):
    """Validate a choice with a one-line error (click's own choice errors print the usage too)."""

    def check(ctx, param, value):
        if value is not None and value not in choices:
            raise click.ClickException(f"{param.opts[0]} must be one of {', '.join(choices)} (got {value!r}).")
        return value

    return check


def fail(message: str):
    db.session.rollback()
    raise click.ClickException(message)


def emit(obj, as_json: bool, **extra) -> None:
    if as_json:
        click.echo(json.dumps({**serialize(obj), **extra}, ensure_ascii=False))
    else:
        click.echo(obj.id)


def commit(*objects) -> None:
    db.session.add_all(objects)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        fail("That conflicts with an existing row (duplicate name, slug or email?); nothing was changed.")


def org_by_slug(slug: str) -> Organization:
    org = db.session.scalar(sa.select(Organization).where(Organization.slug == slug))
    if org is None:
        fail(f'No organization with slug "{slug}".')
    return org


def config_by_id(config_id) -> LLMConfig:
    config = db.session.get(LLMConfig, config_id)
    if config is None:
        fail(f"No config with id {config_id}.")
    return config


def optional_id(value: str, what: str) -> int | None:
    """Parse an id argument that may also be the word "none"."""
    if value.strip().lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        fail(f'{what} must be a number or "none" (got {value!r}).')


def read_secret(prompt: str) -> str:
    """Prompt hidden (twice) on a terminal; read one line from stdin when it is piped."""
    if sys.stdin is not None and sys.stdin.isatty():
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    else:
        value = (sys.stdin.readline() if sys.stdin is not None else "").rstrip("\r\n")
    if not value.strip():
        fail(f"No {prompt.lower()} given (type it at the prompt or pipe it on stdin).")
    return value
