"""`flask llmcfg chat`: stream an answer in the terminal."""

import sys

import click
import sqlalchemy as sa

from ..cli import llmcfg_cli
from ..db import db
from ..models import Course, Homework, LLMConfig
from .service import ChatInputError, build_engine, plan_chat, validate_messages


def _organization_of(config_id, homework_id, course_id) -> int:
    if config_id is not None:
        stmt = sa.select(LLMConfig.organization_id).where(LLMConfig.id == config_id)
        what = f"config {config_id}"
    elif homework_id is not None:
        stmt = sa.select(Course.organization_id).join(Homework.course).where(Homework.id == homework_id)
        what = f"homework {homework_id}"
    else:
        stmt = sa.select(Course.organization_id).where(Course.id == course_id)
        what = f"course {course_id}"
    org_id = db.session.scalar(stmt)
    if org_id is None:
        raise click.ClickException(f"There is no {what}.")
    return org_id


def _split_words(words: tuple[str, ...]) -> tuple[int | None, str]:
    """Read `[CONFIG_ID] MESSAGE`: an optional id (a click argument cannot precede a required one)."""
    if len(words) == 1:
        return None, words[0]
    if len(words) == 2 and words[0].isdigit():
        return int(words[0]), words[1]
    raise click.UsageError('Give CONFIG_ID and one MESSAGE (quote a message with spaces: "…").')


@llmcfg_cli.command("chat")
@click.argument("words", nargs=-1, required=True, metavar="[CONFIG_ID] MESSAGE")
@click.option("--homework", "homework_id", type=int, help="Chat with the model this homework uses.")
@click.option("--course", "course_id", type=int, help="Chat with the model this course uses.")
@click.option("--system", default=None, help="A system prompt to send first.")
def chat_command(words, homework_id, course_id, system):
    """Send MESSAGE to a config (CONFIG_ID), a homework or a course and stream the answer.

    The answer goes to stdout; fallback notices and errors go to stderr. Exits 0 when the
    answer finished, 1 when it ended in an error.

    \b
    Examples:
      flask llmcfg chat 3 "Explain Newton's second law"
      flask llmcfg chat --homework 7 "Give me a hint"
    """
    config_id, message = _split_words(words)
    chosen = [v for v in (config_id, homework_id, course_id) if v is not None]
    if len(chosen) != 1:
        raise click.UsageError("Give exactly one of CONFIG_ID, --homework ID or --course ID.")
    org_id = _organization_of(config_id, homework_id, course_id)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": message}]
    try:
        messages = validate_messages(messages)
        plan = plan_chat({"config_id": config_id, "homework_id": homework_id, "course_id": course_id}, org_id)
    except ChatInputError as exc:
        raise click.ClickException(str(exc)) from None
    engine, engagements = build_engine(org_id)
    ok = False
    try:
        for event in engine.stream(plan.targets, messages):
            if event.event == "token":
                click.echo(event.data["text"], nl=False)
                sys.stdout.flush()
            elif event.event == "fallback":
                if event.data.get("restart"):
                    click.echo("")
                click.echo(f"[{event.data['message']}: {event.data['reason']}"
                           f"{' ' + str(event.data['status']) if event.data['status'] else ''}]", err=True)
            elif event.event == "done":
                click.echo("")
                ok = True
            elif event.event == "error":
                click.echo(f"Error: {event.data['message']}", err=True)
    finally:
        engagements.flush()
    sys.exit(0 if ok else 1)
