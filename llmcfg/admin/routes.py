"""The organization overview and the assignments made from it (default, course, homework)."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth.routes import safe_next, setup_needed
from ..db import db
from ..models import Course, Homework, LLMConfig, OrganizationCredential
from ..rules import NoConfigError, assign_config, effective_config, fallback_chain
from ..scoping import scoped_all, scoped_get, scoped_get_or_404
from . import bp
from .activity import cooling_configs, recent_events
from .forms import NONE, AssignForm, CourseForm


def effective_or_none(**where):
    try:
        return effective_config(**where)
    except NoConfigError:
        return None


def config_choices(inherit_label: str) -> list[tuple[str, str]]:
    return [(NONE, inherit_label), *((str(c.id), f"{c.name} ({c.label})") for c in scoped_all(LLMConfig))]


def assign_form(current: LLMConfig | None, inherit_label: str) -> AssignForm:
    """Return a select of the organization's configs with current picked (one per row)."""
    form = AssignForm(formdata=None, config=str(current.id) if current else NONE)
    form.config.choices = config_choices(inherit_label)
    return form


@bp.route("/")
def overview():
    """Show the organization: its configs and chains, assignments, courses and fallback activity."""
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
    homework = scoped_all(Homework)
    course_form = CourseForm(formdata=None)
    course_form.config.choices = config_choices("Use the organization default")
    effective = {("course", c.id): effective_or_none(course=c) for c in courses}
    effective |= {("homework", h.id): effective_or_none(homework=h) for h in homework}
    return render_template(
        "admin/overview.html",
        org=org,
        credentials=scoped_all(OrganizationCredential),
        configs=configs,
        chains={c.id: fallback_chain(c) for c in configs},
        courses=courses,
        effective=effective,
        default_form=assign_form(org.default_llm_config, "No default"),
        course_forms={c.id: assign_form(c.llm_config, "Use the organization default") for c in courses},
        homework_forms={h.id: assign_form(h.llm_config, "Use the course's config") for h in homework},
        course_form=course_form,
        cooling=cooling_configs(),
        events=recent_events(),
    )


def _picked_config() -> LLMConfig | None:
    """Return the config chosen in an AssignForm ("" = none/inherit); a foreign id is a 404."""
    form = AssignForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    if form.config.data == NONE:
        return None
    config = scoped_get(LLMConfig, form.config.data)
    if config is None:
        abort(404)
    return config


def _back(default_endpoint: str = "admin.overview", **values):
    target = request.form.get("next")
    return redirect(safe_next(target) if target else url_for(default_endpoint, **values))


@bp.route("/assign/default", methods=["POST"])
@login_required
def assign_default():
    """Set (or clear) the organization's default config."""
    config = _picked_config()
    assign_config(config, organization=current_user.organization)
    db.session.commit()
    flash(f"Organization default: {config.name if config else 'none'}.")
    return _back()


@bp.route("/courses/<int:course_id>/assign", methods=["POST"])
@login_required
def assign_course(course_id: int):
    """Set a course's config, or let it inherit the organization default."""
    course = scoped_get_or_404(Course, course_id)
    config = _picked_config()
    assign_config(config, course=course)
    db.session.commit()
    flash(f'"{course.name}" now uses {config.name if config else "the organization default"}.')
    return _back()


@bp.route("/homework/<int:homework_id>/assign", methods=["POST"])
@login_required
def assign_homework(homework_id: int):
    """Set a homework's config, or let it inherit its course's."""
    homework = scoped_get_or_404(Homework, homework_id)
    config = _picked_config()
    assign_config(config, homework=homework)
    db.session.commit()
    flash(f'"{homework.title}" now uses {config.name if config else "its course config"}.')
    return _back()
