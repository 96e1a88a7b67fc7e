"""Courses and their homework: create, assign configs, see the course's fallback activity."""

from flask import flash, redirect, render_template, url_for
from flask_login import login_required

from ..db import db
from ..models import Course, Homework, LLMConfig
from ..rules import assign_config, fallback_chain
from ..scoping import current_org_id, scoped_get, scoped_get_or_404
from . import bp
from .activity import cooling_configs, recent_events
from .forms import NONE, CourseForm, HomeworkForm
from .routes import assign_form, config_choices, effective_or_none


def _config_or_none(form) -> LLMConfig | None:
    """Return the config picked in form.config, or None; note an error when it is not ours."""
    if form.config.data in (None, NONE):
        return None
    config = scoped_get(LLMConfig, form.config.data)
    if config is None:
        form.config.errors.append("Pick one of this organization's configs.")
    return config


@bp.route("/courses/new", methods=["GET", "POST"])
@login_required
def new_course():
    """Create a course, optionally with its own config."""
    form = CourseForm()
    form.config.choices = config_choices("Use the organization default")
    if form.validate_on_submit():
        config = _config_or_none(form)
        if not form.config.errors:
            course = Course(organization_id=current_org_id(), name=form.name.data.strip())
            db.session.add(course)
            assign_config(config, course=course)
            db.session.commit()
            flash(f'Course "{course.name}" created.')
            return redirect(url_for("admin.course", course_id=course.id))
    return render_template("admin/course_new.html", form=form)


@bp.route("/courses/<int:course_id>", methods=["GET"])
@bp.route("/courses/<int:course_id>/homework", methods=["POST"], endpoint="new_homework")
@login_required
def course(course_id: int):
    """Show a course: its config and chain, its homework, and the fallback activity behind it."""
    course = scoped_get_or_404(Course, course_id)
    form = HomeworkForm()
    form.config.choices = config_choices("Use the course's config")
    if form.validate_on_submit():
        config = _config_or_none(form)
        if not form.config.errors:
            homework = Homework(course=course, title=form.title.data.strip())
            db.session.add(homework)
            assign_config(config, homework=homework)
            db.session.commit()
            flash(f'Homework "{homework.title}" added.')
            return redirect(url_for("admin.course", course_id=course.id))
    effective = effective_or_none(course=course)
    chain = fallback_chain(effective.config) if effective else []
    homework_effective = {h.id: effective_or_none(homework=h) for h in course.homeworks}
    homework_chains = {h.id: fallback_chain(e.config) for h in course.homeworks
                       if (e := homework_effective[h.id]) is not None}
    # The course's activity: every config its students can reach, i.e. the chains of the course
    # and of each homework (a homework may use its own config).
    used_ids = {c.id for c in chain} | {c.id for hc in homework_chains.values() for c in hc}
    return render_template(
        "admin/course.html",
        course=course,
        effective=effective,
        chain=chain,
        course_assign=assign_form(course.llm_config, "Use the organization default"),
        homework_forms={h.id: assign_form(h.llm_config, "Use the course's config") for h in course.homeworks},
        homework_effective=homework_effective,
        homework_chains=homework_chains,
        form=form,
        events=recent_events(used_ids),
        cooling=cooling_configs(used_ids),
    )


@bp.route("/courses/<int:course_id>/delete", methods=["POST"])
@login_required
def delete_course(course_id: int):
    """Delete a course and its homework (configs stay)."""
    course = scoped_get_or_404(Course, course_id)
    db.session.delete(course)
    db.session.commit()
    flash(f'Course "{course.name}" deleted.')
    return redirect(url_for("admin.overview"))


@bp.route("/homework/<int:homework_id>/delete", methods=["POST"])
@login_required
def delete_homework(homework_id: int):
    """Delete one homework of a course."""
    homework = scoped_get_or_404(Homework, homework_id)
    course_id = homework.course_id
    db.session.delete(homework)
    db.session.commit()
    flash(f'Homework "{homework.title}" deleted.')
    return redirect(url_for("admin.course", course_id=course_id))
