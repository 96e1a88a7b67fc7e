"""Commands for organizations, users, API tokens, provider credentials and the encryption key.

Passwords and keys are prompted (hidden) or piped on stdin, never arguments, and never printed.
"""

import json
import re

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from ..auth.tokens import issue_token
from ..cli import llmcfg_cli
from ..crypto import KeyUnavailable, rotate_encryption_key, secret_hint, vault
from ..db import db
from ..listing import serialize
from ..models import PROVIDERS, ROLES, Organization, OrganizationCredential, User
from ..providers.base import key_problem
from ..providers.ssrf import validate_base_url
from .common import MIN_PASSWORD_LENGTH, SLUG_PATTERN, commit, emit, fail, json_option, one_of, org_by_slug, read_secret


@llmcfg_cli.command("create-org")
@click.argument("name")
@click.option("--slug", help="Short name for URLs and the CLI (default: derived from NAME).")
@json_option
def create_org(name, slug, as_json):
    """Create an organization and print its id."""
    name = name.strip()
    slug = (slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")).strip()
    if not name:
        fail("The organization needs a name.")
    if not SLUG_PATTERN.match(slug) or len(slug) > 64:
        fail(f'Slug "{slug}" is not valid: use lower-case letters, digits and dashes (at most 64).')
    if db.session.scalar(sa.select(Organization.id).where(Organization.slug == slug)):
        fail(f'An organization with slug "{slug}" already exists.')
    org = Organization(name=name, slug=slug)
    commit(org)
    emit(org, as_json)


@llmcfg_cli.command("create-user")
@click.argument("email")
@click.option("--org", "org_slug", required=True, help="Slug of the user's organization.")
@click.option("--role", required=True, callback=one_of(ROLES), metavar="admin|instructor",
              help="admin manages users too; instructor manages credentials, configs, courses, homework.")
@json_option
def create_user(email, org_slug, role, as_json):
    """Create a user; the password is prompted (hidden), or read from stdin when piped.

    \b
    Examples:
      flask llmcfg create-user ada@school.edu --org physics-dept --role instructor
      printf '%s\\n' "$PASSWORD" | flask llmcfg create-user ada@school.edu --org physics-dept --role admin
    """
    org = org_by_slug(org_slug)
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        fail(f"{email!r} is not a valid email address: {exc}")
    email = User.normalize_email(email)
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        fail(f"A user with email {email} already exists.")
    password = read_secret("Password")
    if len(password) < MIN_PASSWORD_LENGTH:
        fail(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    user = User(email=email, organization=org, role=role)
    user.set_password(password)
    commit(user)
    emit(user, as_json)


@llmcfg_cli.command("create-token")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for, e.g. 'grading script'.")
@json_option
def create_token(email, name, as_json):
    """Create a personal API token for a user; print its id and the token, which is shown only once."""
    user = db.session.scalar(sa.select(User).where(User.email == User.normalize_email(email)))
    if user is None:
        fail(f"No user with email {email}.")
    if not name.strip():
        fail("The token needs a name.")
    row, secret = issue_token(user, name)
    if as_json:
        click.echo(json.dumps({**serialize(row), "token": secret}))
    else:
        click.echo(row.id)
        click.echo(secret)


def _check_base_url(provider: str, base_url: str | None) -> str | None:
    if provider != "openai_compatible":
        if base_url:
            fail(f"--base-url is only for openai_compatible; {provider} uses its configured base URL.")
        return None
    if not base_url:
        fail("openai_compatible needs --base-url (e.g. http://localhost:11434/v1).")
    try:
        return validate_base_url(base_url, current_app.config["LLMCFG_ALLOW_PRIVATE_BASE_URLS"])
    except ValueError as exc:  # not http(s), no host, or an address llmcfg must not call
        fail(f"--base-url {base_url}: {exc}")


@llmcfg_cli.command("add-credential")
@click.option("--org", "org_slug", required=True, help="Slug of the organization that owns the key.")
@click.option("--provider", required=True, callback=one_of(PROVIDERS), metavar="|".join(PROVIDERS),
              help="Which provider the key is for.")
@click.option("--label", required=True, help="A name people recognize, e.g. 'School OpenAI key'.")
@click.option("--base-url", help="Server URL including /v1 (openai_compatible only).")
@json_option
def add_credential(org_slug, provider, label, base_url, as_json):
    """Store a provider API key, encrypted; the key is prompted (hidden), or read from stdin when piped.

    The key is never an argument (it would land in the shell history) and is never printed again:
    only its last 4 characters are kept in clear as a hint.

    \b
    Examples:
      flask llmcfg add-credential --org physics-dept --provider openrouter --label "School key"
      flask llmcfg add-credential --org physics-dept --provider openai_compatible \\
          --label "Lab Ollama" --base-url http://10.0.0.5:11434/v1
    """
    org = org_by_slug(org_slug)
    if not label.strip():
        fail("The credential needs a label.")
    base_url = _check_base_url(provider, base_url)
    key = read_secret("API key").strip()
    if problem := key_problem(key):
        fail(problem)
    credential = OrganizationCredential(
        organization=org, provider=provider, label=label.strip(), base_url=base_url,
        secret_ciphertext=vault().encrypt(key), secret_hint=secret_hint(key),
    )
    commit(credential)
    emit(credential, as_json)


@llmcfg_cli.command("rotate-encryption-key")
def rotate_encryption_key_command():
    """Re-encrypt every stored API key under a new encryption key.

    With the key file in the instance folder: a new key is generated and the file keeps the old
    key beside it until every credential is re-encrypted, so no step can lose a key. With
    LLMCFG_ENCRYPTION_KEY: first put a new key in front (LLMCFG_ENCRYPTION_KEY=<new>,<old>), run
    this, then remove the old key from the setting. Restart the server after a setting change.
    """
    from flask import current_app

    try:
        rotation = rotate_encryption_key(current_app)
    except (KeyUnavailable, ValueError) as exc:
        fail(str(exc))
    click.echo(f"Re-encrypted {rotation.count} credential(s) under the new key.")
    if rotation.source == "env":
        click.echo("You can now remove the old key(s) from LLMCFG_ENCRYPTION_KEY, keeping only the first.")
