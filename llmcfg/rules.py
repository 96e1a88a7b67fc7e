"""Domain rules: which config may back up which (design §4), and which config fires (design §3)."""

from dataclasses import dataclass

import sqlalchemy as sa

from .db import db
from .models import Course, Homework, LLMConfig, Organization

MAX_FALLBACK_HOPS = 3


class FallbackRuleError(ValueError):
    """A fallback choice breaks a rule; the message names the chain for a person to read."""


class NoConfigError(LookupError):
    """Nothing is configured for a homework, course or organization."""


def describe_chain(configs: list[LLMConfig], tail: str | None = "none") -> str:
    names = [c.name for c in configs]
    if tail:
        names.append(tail)
    return " → ".join(names)


def fallback_chain(config: LLMConfig, max_hops: int = MAX_FALLBACK_HOPS) -> list[LLMConfig]:
    """Return config and its fallbacks in order, stopping at a repeat or after max_hops.

    Rows can be edited outside the app, so this guards against cycles and long chains again.
    """
    chain, seen = [config], {config.id}
    current = config
    while len(chain) <= max_hops:
        nxt = current.fallback
        if nxt is None or nxt.id in seen or nxt.organization_id != config.organization_id:
            break
        chain.append(nxt)
        seen.add(nxt.id)
        current = nxt
    return chain


def _longest_path_to(config: LLMConfig) -> list[LLMConfig]:
    """Return the longest chain of configs that ends at config (who falls back to it, transitively)."""
    rows = db.session.scalars(
        sa.select(LLMConfig).where(
            LLMConfig.organization_id == config.organization_id,
            LLMConfig.fallback_llm_config_id.is_not(None),
        )
    ).all()
    backers = {}
    for row in rows:
        backers.setdefault(row.fallback_llm_config_id, []).append(row)

    best: list[LLMConfig] = [config]

    def walk(path: list[LLMConfig]) -> None:
        nonlocal best
        if len(path) > len(best):
            best = path
        if len(path) > MAX_FALLBACK_HOPS + 2:
            return
        for row in backers.get(path[0].id, []):
            if all(row.id != p.id for p in path):
                walk([row, *path])

    walk([config])
    return best


def check_fallback(config: LLMConfig, fallback_id: int | None) -> LLMConfig | None:
    """Answer "may config fall back to fallback_id?": return the fallback, or raise FallbackRuleError.

    fallback_id None means "no fallback" and is always allowed. config may be unsaved (no id yet);
    its organization_id must be set.
    """
    if fallback_id is None:
        return None
    if config.id is not None and fallback_id == config.id:
        raise FallbackRuleError(
            f"A config cannot fall back to itself: {describe_chain([config, config], tail=None)}."
        )
    fallback = db.session.get(LLMConfig, fallback_id)
    if fallback is None or fallback.organization_id != config.organization_id:
        # Same words for "missing" and "another organization's": no existence oracle.
        raise FallbackRuleError(f"No config with id {fallback_id} in this organization.")
    downstream = fallback_chain(fallback, max_hops=MAX_FALLBACK_HOPS + 1)
    ids = [c.id for c in downstream]
    if config.id is not None and config.id in ids:
        cut = downstream[: ids.index(config.id)]
        raise FallbackRuleError(
            "That would make a cycle: " + describe_chain([config, *cut, config], tail=None) + "."
        )
    tail = downstream[-1].fallback
    if tail is not None and tail.id in ids:
        # Rows edited outside the app already loop; joining that loop is refused too.
        loop = downstream[ids.index(tail.id):]
        raise FallbackRuleError(
            f"{fallback.name} is part of a cycle: " + describe_chain([*loop, tail], tail=None) + "."
        )
    upstream = _longest_path_to(config) if config.id is not None else [config]
    chain = [*upstream, *downstream]
    if len(chain) - 1 > MAX_FALLBACK_HOPS:
        raise FallbackRuleError(
            f"That chain would have {len(chain) - 1} fallbacks; at most {MAX_FALLBACK_HOPS} are allowed: "
            + describe_chain(chain, tail=None)
            + "."
        )
    return fallback


def set_fallback(config: LLMConfig, fallback_id: int | None) -> None:
    """Validate and apply a fallback choice (the caller commits)."""
    fallback = check_fallback(config, fallback_id)
    # Both the relationship and the column, so a chain walked before the commit sees the change.
    config.fallback = fallback
    config.fallback_llm_config_id = fallback_id


@dataclass(frozen=True)
class EffectiveConfig:
    config: LLMConfig
    source: str  # "homework", "course" or "organization"
    source_name: str

    @property
    def description(self) -> str:
        return f"{self.config.name} (from {self.source} {self.source_name})"


def effective_config(
    *, homework: Homework | None = None, course: Course | None = None, organization: Organization | None = None
) -> EffectiveConfig:
    """Resolve Homework → Course → Organization default; raise NoConfigError when nothing is set."""
    if homework is not None:
        if homework.llm_config is not None:
            return EffectiveConfig(homework.llm_config, "homework", homework.title)
        course = homework.course
    if course is not None:
        if course.llm_config is not None:
            return EffectiveConfig(course.llm_config, "course", course.name)
        organization = course.organization
    if organization is not None and organization.default_llm_config is not None:
        return EffectiveConfig(organization.default_llm_config, "organization", organization.name)
    what = (
        f'homework "{homework.title}"' if homework is not None
        else f'course "{course.name}"' if course is not None
        else "this organization"
    )
    raise NoConfigError(
        f"No LLM config is set for {what}, its course or the organization default. "
        "An instructor can assign one on the organization page."
    )


def assign_config(config: LLMConfig | None, *, organization: Organization | None = None,
                  course: Course | None = None, homework: Homework | None = None) -> None:
    """Make config the organization default, or a course's or homework's config (None clears it).

    The caller has already scoped every object to one organization; this refuses a mix anyway.
    """
    targets = [t for t in (organization, course, homework) if t is not None]
    if len(targets) != 1:
        raise ValueError("assign to exactly one of organization, course or homework")
    target = targets[0]
    org_id = target.course.organization_id if isinstance(target, Homework) else (
        target.id if isinstance(target, Organization) else target.organization_id)
    if config is not None and config.organization_id != org_id:
        raise FallbackRuleError(f"No config with id {config.id} in this organization.")
    if isinstance(target, Organization):
        target.default_llm_config = config
    else:
        target.llm_config = config
