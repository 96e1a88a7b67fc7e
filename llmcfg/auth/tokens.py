"""Personal API tokens: shown once, stored only as a SHA-256 hash."""

import functools
import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from ..db import db
from ..models import ApiToken, User, utcnow

TOKEN_PREFIX = "llmcfg_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token row; return it with the secret, which is never stored or shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name.strip() or "token", token_hash=hash_token(secret))
    db.session.add(row)
    db.session.commit()
    return row, secret


# last_used_at is for people ("used today?"); writing it on every request would make each API
# call a database write, which many concurrent chat streams on SQLite would queue behind.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@functools.cache
def _token_statement() -> sa.Select:
    """One statement for token and user, built once: this runs before every API request, and
    building the SELECT cost about as much as running it."""
    return (
        sa.select(ApiToken)
        .where(ApiToken.token_hash == sa.bindparam("token_hash", type_=sa.String))
        .options(so.joinedload(ApiToken.user))
    )


def user_for_token(token: str) -> User | None:
    """Return the user a token belongs to, or None for an unknown or revoked token."""
    row = db.session.scalar(_token_statement(), {"token_hash": hash_token(token)})
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        db.session.commit()
    return row.user
