"""Resolve what a chat request names into a chain of targets, and build the engine for it.

Shared by the streaming endpoint, the no-JavaScript chat page and the CLI. Loading is a fixed
number of queries: the homework or course with its parents, then the config that fires with the
configs its fallback links reach and their credentials; the chain is then walked in memory
(design: queries do not grow with chain length, inheritance depth or the organization's size).
"""

import functools
import threading
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from ..cooldown import cooldowns
from ..db import db
from ..fallback import Engagement, FallbackEngine
from ..models import Course, FallbackEvent, Homework, LLMConfig
from ..providers.base import ChatTarget
from ..rules import MAX_FALLBACK_HOPS, EffectiveConfig, NoConfigError, effective_config, fallback_chain
from ..scoping import scoped_select

ROLES = {"user", "assistant", "system"}
MAX_MESSAGES = 200
MAX_CHARS = 200_000


class ChatInputError(ValueError):
    """Bad chat input, answered before any stream starts (status is the HTTP status to use)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def validate_messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise ChatInputError('"messages" must be a non-empty list of {"role", "content"} objects.')
    if len(messages) > MAX_MESSAGES:
        raise ChatInputError(f"At most {MAX_MESSAGES} messages per request.", 413)
    clean, total = [], 0
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ChatInputError(f'Message {i + 1} needs a "role" of user, assistant or system.')
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ChatInputError(f'Message {i + 1} needs non-empty text in "content".')
        total += len(content)
        clean.append({"role": message["role"], "content": content})
    if total > MAX_CHARS:
        raise ChatInputError(f"The conversation is too long (over {MAX_CHARS} characters).", 413)
    if clean[-1]["role"] != "user":
        raise ChatInputError("The last message must be the user's.")
    return clean


def _as_id(payload: dict, key: str) -> int:
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ChatInputError(f'"{key}" must be a whole number.')
    return int(value)


@dataclass(frozen=True)
class ChatPlan:
    chosen: EffectiveConfig
    targets: list[ChatTarget]  # the config that fires, then its fallbacks


def plan_chat(payload: dict, org_id: int) -> ChatPlan:
    """Resolve what the request names and build its chain of targets (one query, two for a homework or course)."""
    # `loaded` stays referenced while the chain is walked: the session holds loaded rows only
    # weakly, and a dropped row would be lazy-loaded again, one query per hop.
    chosen, loaded = resolve(payload, org_id)  # noqa: F841
    return ChatPlan(chosen, chain_targets(chosen.config))


@functools.cache
def _chain_statement() -> sa.Select:
    """The chain query, built once: constructing a recursive SELECT costs more than running it."""
    org_id = sa.bindparam("org_id", type_=sa.Integer)
    hops = (
        sa.select(LLMConfig.id, LLMConfig.fallback_llm_config_id, sa.literal(0).label("depth"))
        .where(LLMConfig.id == sa.bindparam("start_id", type_=sa.Integer), LLMConfig.organization_id == org_id)
        .cte("chain", recursive=True)
    )
    link = so.aliased(LLMConfig)
    hops = hops.union(
        sa.select(link.id, link.fallback_llm_config_id, hops.c.depth + 1)
        .join(hops, link.id == hops.c.fallback_llm_config_id)
        .where(link.organization_id == org_id, hops.c.depth < MAX_FALLBACK_HOPS)
    )
    return (
        scoped_select(LLMConfig, org_id)
        .where(LLMConfig.id.in_(sa.select(hops.c.id)))
        .options(so.joinedload(LLMConfig.credential))
    )


@functools.cache
def _statement_by_id(model) -> sa.Select:
    """A homework or course of one organization, with the parents it inherits from (built once, as the chain's)."""
    parents = (so.contains_eager(Homework.course).joinedload(Course.organization) if model is Homework
               else so.joinedload(Course.organization))
    return (
        scoped_select(model, sa.bindparam("org_id", type_=sa.Integer))
        .where(model.id == sa.bindparam("ident", type_=sa.Integer))
        .options(parents)
    )


def load_chain(start_id: int | None, org_id: int) -> dict[int, LLMConfig]:
    """Load a config and the configs its fallback links reach, with credentials, in one query.

    A recursive query follows the links inside the organization for as many hops as a chain may
    have, so the rows read do not grow with the organization's size, and walking the chain in
    memory afterwards costs no further queries.
    """
    if start_id is None:
        return {}
    rows = db.session.scalars(_chain_statement(), {"start_id": start_id, "org_id": org_id}).unique()
    return {c.id: c for c in rows}


def resolve(payload: dict, org_id: int) -> tuple[EffectiveConfig, dict[int, LLMConfig]]:
    """Find the config that fires for config_id, homework_id or course_id within one organization.

    Returns it with the rows of its chain, loaded at once (see load_chain); the caller keeps them
    referenced while it walks the chain.
    """
    given = [k for k in ("config_id", "homework_id", "course_id") if payload.get(k) not in (None, "")]
    if len(given) != 1:
        raise ChatInputError('Name exactly one of "config_id", "homework_id" or "course_id".')
    key = given[0]
    ident = _as_id(payload, key)
    if key == "config_id":
        configs = load_chain(ident, org_id)
        if ident not in configs:
            raise ChatInputError(f"No config with id {ident} in your organization.", 404)
        return EffectiveConfig(configs[ident], "config", configs[ident].name), configs
    if key == "homework_id":
        homework = db.session.scalar(_statement_by_id(Homework), {"ident": ident, "org_id": org_id})
        if homework is None:
            raise ChatInputError(f"No homework with id {ident} in your organization.", 404)
        where, course = {"homework": homework}, homework.course
        first = homework.llm_config_id
    else:
        course = db.session.scalar(_statement_by_id(Course), {"ident": ident, "org_id": org_id})
        if course is None:
            raise ChatInputError(f"No course with id {ident} in your organization.", 404)
        where, first = {"course": course}, None
    # The config that fires is the first one set along Homework → Course → Organization; with its
    # chain loaded first, effective_config finds it in the session without another query.
    start = first or course.llm_config_id or course.organization.default_llm_config_id
    configs = load_chain(start, org_id)
    try:
        chosen = effective_config(**where)
    except NoConfigError as exc:
        raise ChatInputError(str(exc), 422) from None
    if chosen.config.id not in configs:
        # Only a row edited outside the app can point into another organization: never use it.
        raise ChatInputError(f"The {chosen.source} “{chosen.source_name}” names a config outside your organization.", 422)
    return chosen, configs


def chain_targets(config: LLMConfig) -> list[ChatTarget]:
    from ..providers import target_from_config

    return [target_from_config(c) for c in fallback_chain(config)]


class EngagementLog:
    """Collect engagements from the engine's thread; write them as fallback_events rows later."""

    def __init__(self, organization_id: int):
        self.organization_id = organization_id
        self._pending: list[Engagement] = []
        self._lock = threading.Lock()

    def __call__(self, engagement: Engagement) -> None:
        with self._lock:
            self._pending.append(engagement)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        db.session.add_all(
            FallbackEvent(
                organization_id=self.organization_id, from_config_id=e.from_config_id, to_config_id=e.to_config_id,
                reason=e.reason, status_code=e.status, elapsed_ms=e.elapsed_ms,
            )
            for e in pending
        )
        db.session.commit()


def build_engine(organization_id: int, app=None) -> tuple[FallbackEngine, EngagementLog]:
    """Return an engine bound to this app's settings, HTTP client and cooldown store."""
    from ..providers import http_client, provider_for

    app = app or current_app._get_current_object()
    base_urls = dict(app.config["LLMCFG_BASE_URLS"])
    allow_private = bool(app.config["LLMCFG_ALLOW_PRIVATE_BASE_URLS"])
    client = http_client(app)
    from .relay import install

    install(client)

    def adapter(target: ChatTarget):
        return provider_for(target.credential, base_urls=base_urls, allow_private=allow_private, client=client)

    log = EngagementLog(organization_id)
    return FallbackEngine(adapter, cooldowns(app), log), log
