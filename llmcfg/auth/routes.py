"""Account pages: first-run setup, login/logout, personal API tokens, and the admins' user list."""

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..db import db
from ..models import ApiToken, Organization, User
from ..scoping import scoped_all, scoped_get_or_404
from . import bp
from .forms import LoginForm, SetupForm, TokenForm, UserForm
from .roles import admin_required
from .tokens import issue_token


def setup_needed() -> bool:
    return db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def safe_next(target: str | None) -> str:
    # Only same-site paths: an absolute, scheme-relative or backslash URL would be an open redirect
    # (browsers read "/\\evil.example" as "//evil.example").
    if target and target.startswith("/") and "\\" not in target and target.isprintable():
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("admin.overview")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the organization and its first admin; closed once any user exists."""
    if not setup_needed():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        slug = form.org_slug.data.strip()
        if db.session.scalar(sa.select(Organization.id).where(Organization.slug == slug)) is not None:
            form.org_slug.errors.append("An organization with this short name already exists.")
        else:
            org = Organization(name=form.org_name.data.strip(), slug=slug)
            user = User(email=form.email.data, organization=org, role="admin")
            user.set_password(form.password.data)
            db.session.add_all([org, user])
            db.session.commit()
            login_user(user)
            flash("Welcome! Add a provider credential to get started.")
            return redirect(url_for("admin.overview"))
    return render_template("auth/setup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with email and password."""
    if setup_needed():
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("admin.overview"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(User.email == User.normalize_email(form.email.data)))
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append("Wrong email or password.")
        else:
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out and return to the login page."""
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """List your API tokens and create one (its secret is shown once)."""
    form = TokenForm()
    secret = None
    if form.validate_on_submit():
        _, secret = issue_token(current_user, form.name.data)
    mine = [t for t in scoped_all(ApiToken) if t.user_id == current_user.id]
    return render_template("auth/tokens.html", form=form, tokens=mine, secret=secret)


@bp.route("/tokens/<int:token_id>/delete", methods=["POST"])
@login_required
def delete_token(token_id: int):
    """Revoke one of your API tokens."""
    token = scoped_get_or_404(ApiToken, token_id)
    if token.user_id != current_user.id:
        abort(404)
    db.session.delete(token)
    db.session.commit()
    flash(f'Token "{token.name}" revoked.')
    return redirect(url_for("auth.tokens"))


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users():
    """List the organization's users and add one."""
    form = UserForm()
    if form.validate_on_submit():
        email = User.normalize_email(form.email.data)
        if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
            form.email.errors.append("A user with this email already exists.")
        else:
            user = User(email=email, organization_id=current_user.organization_id, role=form.role.data)
            user.set_password(form.password.data)
            db.session.add(user)
            db.session.commit()
            flash(f"Added {user.email} as {user.role}.")
            return redirect(url_for("auth.users"))
    return render_template("auth/users.html", form=form, users=scoped_all(User, order_by=User.email))


@bp.route("/users/<int:user_id>/delete", methods=["POST"])
@admin_required
def delete_user(user_id: int):
    """Remove a user of the organization (and their API tokens)."""
    user = scoped_get_or_404(User, user_id)
    if user.id == current_user.id:
        abort(400, "You cannot remove yourself; ask another admin.")
    db.session.delete(user)
    db.session.commit()
    flash(f"Removed {user.email}.")
    return redirect(url_for("auth.users"))
