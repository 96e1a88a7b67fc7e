from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from ..auth.routes import setup_needed
from ..models import Course, Homework, LLMConfig, OrganizationCredential
from ..rules import NoConfigError, effective_config, fallback_chain
from ..scoping import scoped_all
from . import bp


def _effective_or_none(**where):
    try:
        return effective_config(**where)
    except NoConfigError:
        return None


@bp.route("/")
def overview():
    """Show the organization: credentials, configs with their chains, courses and homework."""
    if setup_needed():
        return redirect(url_for("auth.setup"))
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return _render_overview()


@login_required
def _render_overview():
    org = current_user.organization
    configs = scoped_all(LLMConfig)
    courses = scoped_all(Course)
    return render_template(
        "admin/overview.html",
        org=org,
        credentials=scoped_all(OrganizationCredential),
        configs=configs,
        chains={c.id: fallback_chain(c) for c in configs},
        courses=courses,
        course_effective={c.id: _effective_or_none(course=c) for c in courses},
        homework_effective={h.id: _effective_or_none(homework=h) for h in scoped_all(Homework)},
    )
