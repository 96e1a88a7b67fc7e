"""The one place that reads organization-owned rows: every view and command goes through here.

Another organization's object answers exactly like a missing one (404), so ids reveal nothing.
"""

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from .db import db
from .models import ApiToken, Course, FallbackEvent, Homework, LLMConfig, OrganizationCredential, User

_DIRECT = (Course, LLMConfig, OrganizationCredential, FallbackEvent, User)


def current_org_id() -> int:
    if not current_user.is_authenticated:
        abort(401)
    return current_user.organization_id


def scoped_select(model, org_id: int | None = None) -> sa.Select:
    """Return a SELECT of model limited to one organization (the current user's by default)."""
    org_id = current_org_id() if org_id is None else org_id
    if model is Homework:
        return sa.select(Homework).join(Homework.course).where(Course.organization_id == org_id)
    if model is ApiToken:
        return sa.select(ApiToken).join(ApiToken.user).where(User.organization_id == org_id)
    if model in _DIRECT:
        return sa.select(model).where(model.organization_id == org_id)
    raise TypeError(f"{model.__name__} is not scoped to an organization")


def scoped_all(model, org_id: int | None = None, order_by=None) -> list:
    stmt = scoped_select(model, org_id)
    stmt = stmt.order_by(order_by if order_by is not None else model.id)
    return list(db.session.scalars(stmt))


def scoped_get(model, ident, org_id: int | None = None):
    """Return the object with this id in the organization, or None (missing and foreign look the same)."""
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(scoped_select(model, org_id).where(model.id == ident))


def scoped_get_or_404(model, ident, org_id: int | None = None):
    obj = scoped_get(model, ident, org_id)
    if obj is None:
        abort(404)
    return obj
