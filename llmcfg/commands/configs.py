"""Commands for LLM configs, their fallbacks, courses, homework, and which config each one uses."""

import json

import click

from ..cli import llmcfg_cli
from ..db import db
from ..listing import describe_organization, serialize
from ..models import Course, Homework, LLMConfig, Organization, OrganizationCredential
from ..rules import FallbackRuleError, assign_config, describe_chain, fallback_chain, set_fallback
from ..scoping import scoped_get
from .common import commit, config_by_id, emit, fail, json_option, optional_id, org_by_slug


@llmcfg_cli.command("add-config")
@click.option("--org", "org_slug", required=True, help="Slug of the organization.")
@click.option("--name", required=True, help="Name shown in chains, e.g. 'Physics primary'.")
@click.option("--credential", "credential_id", required=True, type=int, help="Id of the organization's credential.")
@click.option("--model", required=True, help="Model id as the provider names it, e.g. gpt-4o-mini.")
@click.option("--fallback", "fallback_id", help='Id of the config that takes over when this one fails, or "none".')
@json_option
def add_config(org_slug, name, credential_id, model, fallback_id, as_json):
    """Create an LLM config (provider taken from the credential) and print its id."""
    org = org_by_slug(org_slug)
    credential = scoped_get(OrganizationCredential, credential_id, org_id=org.id)
    if credential is None:
        fail(f"No credential with id {credential_id} in organization {org.slug}.")
    if not name.strip() or not model.strip():
        fail("The config needs a name and a model.")
    config = LLMConfig(organization_id=org.id, name=name.strip(), provider=credential.provider,
                       model=model.strip(), credential_id=credential.id, params={})
    try:
        set_fallback(config, optional_id(fallback_id, "--fallback") if fallback_id else None)
    except FallbackRuleError as exc:
        fail(str(exc))
    commit(config)
    emit(config, as_json)


@llmcfg_cli.command("set-fallback")
@click.argument("config_id", type=int)
@click.argument("fallback")
@json_option
def set_fallback_command(config_id, fallback, as_json):
    """Make FALLBACK (a config id, or "none") take over when CONFIG_ID fails; print the chain.

    A config never falls back to itself, chains never loop, and at most 3 fallbacks follow a
    config; a refused choice names the chain it would have made.
    """
    config = config_by_id(config_id)
    try:
        set_fallback(config, optional_id(fallback, "FALLBACK"))
    except FallbackRuleError as exc:
        fail(str(exc))
    commit(config)
    if as_json:
        click.echo(json.dumps(serialize(config), ensure_ascii=False))
    else:
        click.echo(describe_chain(fallback_chain(config)))


@llmcfg_cli.command("assign")
@click.argument("config")
@click.option("--org-default", is_flag=True, help="Make it the organization's default.")
@click.option("--course", "course_id", type=int, help="Make it this course's config.")
@click.option("--homework", "homework_id", type=int, help="Make it this homework's config.")
@click.option("--org", "org_slug", help='Organization slug (needed for "none --org-default").')
@json_option
def assign(config, org_default, course_id, homework_id, org_slug, as_json):
    """Assign CONFIG (an id, or "none" to clear) as org default, or to a course or homework.

    \b
    Examples:
      flask llmcfg assign 3 --org-default
      flask llmcfg assign 5 --course 2
      flask llmcfg assign none --homework 7    (the homework inherits its course's config again)
    """
    if sum([org_default, course_id is not None, homework_id is not None]) != 1:
        fail("Give exactly one of --org-default, --course ID, --homework ID.")
    config_id = optional_id(config, "CONFIG")
    cfg = config_by_id(config_id) if config_id is not None else None
    if org_slug:
        org_id = org_by_slug(org_slug).id
        if cfg is not None and cfg.organization_id != org_id:
            fail(f"No config with id {config_id} in organization {org_slug}.")
    elif cfg is not None:
        org_id = cfg.organization_id
    elif org_default:
        fail('Clearing the organization default needs --org SLUG.')
    else:
        org_id = None
    if org_default:
        target = {"organization": db.session.get(Organization, org_id)}
    elif course_id is not None:
        course = scoped_get(Course, course_id, org_id=org_id) if org_id else db.session.get(Course, course_id)
        if course is None:
            fail(f"No course with id {course_id} in that organization.")
        target = {"course": course}
    else:
        homework = scoped_get(Homework, homework_id, org_id=org_id) if org_id else db.session.get(Homework, homework_id)
        if homework is None:
            fail(f"No homework with id {homework_id} in that organization.")
        target = {"homework": homework}
    try:
        assign_config(cfg, **target)
    except FallbackRuleError as exc:
        fail(str(exc))
    commit(*target.values())
    obj = next(iter(target.values()))
    if as_json:
        click.echo(json.dumps(serialize(obj), ensure_ascii=False))
    else:
        what = next(iter(target))
        click.echo(f"{what} {obj.id}: {cfg.name if cfg else 'none'}")


@llmcfg_cli.command("create-course")
@click.option("--org", "org_slug", required=True, help="Slug of the organization.")
@click.option("--name", required=True, help="Course name.")
@json_option
def create_course(org_slug, name, as_json):
    """Create a course and print its id."""
    org = org_by_slug(org_slug)
    if not name.strip():
        fail("The course needs a name.")
    course = Course(organization=org, name=name.strip())
    commit(course)
    emit(course, as_json)


@llmcfg_cli.command("create-homework")
@click.option("--course", "course_id", required=True, type=int, help="Id of the course.")
@click.option("--title", required=True, help="Homework title.")
@json_option
def create_homework(course_id, title, as_json):
    """Create a homework in a course and print its id."""
    course = db.session.get(Course, course_id)
    if course is None:
        fail(f"No course with id {course_id}.")
    if not title.strip():
        fail("The homework needs a title.")
    homework = Homework(course=course, title=title.strip())
    commit(homework)
    emit(homework, as_json)


@llmcfg_cli.command("list-configs")
@click.option("--org", "org_slug", required=True, help="Slug of the organization.")
@json_option
def list_configs(org_slug, as_json):
    """List credentials, configs with their fallback chains, and each course's and homework's effective config."""
    org = org_by_slug(org_slug)
    report = describe_organization(org)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        click.echo(report.as_text())
