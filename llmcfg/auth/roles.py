"""Role checks: admins manage users; instructors manage everything else of their organization."""

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def admin_required(view):
    """Let only admins of the organization through (instructors get 403, strangers the login page)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403, "Only an admin of the organization can do this.")
        return view(*args, **kwargs)

    return wrapped
