import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..db import db
from ..models import ApiToken, Organization, User
from ..scoping import scoped_all, scoped_get_or_404
from . import bp
from .forms import LoginForm, SetupForm, TokenForm
from .tokens import issue_token


def setup_needed() -> bool:
    return db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an absolute or scheme-relative URL would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("admin.overview")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the organization and its first admin; closed once any user exists."""
    if not setup_needed():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        org = Organization(name=form.org_name.data.strip(), slug=form.org_slug.data.strip())
        user = User(email=User.normalize_email(form.email.data), organization=org, role="admin")
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
            return redirect(_safe_next(request.args.get("next")))
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
