"""Personal API tokens: shown once, stored only as a SHA-256 hash."""

import hashlib
import secrets

import sqlalchemy as sa

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


def user_for_token(token: str) -> User | None:
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        return None
    row.last_used_at = utcnow()
    db.session.commit()
    return row.user
