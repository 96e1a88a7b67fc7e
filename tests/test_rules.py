"""Fallback rules (design §4) through the domain function and the CLI; effective-config inheritance."""

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from llmcfg.db import db
from llmcfg.models import LLMConfig
from llmcfg.rules import (
    MAX_FALLBACK_HOPS, FallbackRuleError, NoConfigError, assign_config, check_fallback, effective_config,
    fallback_chain, set_fallback,
)
from tests.clitools import fails_cleanly, ok


@pytest.fixture
def chain(app, orgs):
    """Five unlinked configs P, Q, R, S, T in organization A (plus B's config for cross-org cases)."""
    a, b = orgs
    configs = {}
    for name in "PQRST":
        configs[name] = LLMConfig(organization=a.org, name=name, provider="openai", model=f"m-{name}",
                                  credential=a.credential, params={})
    db.session.add_all(configs.values())
    db.session.commit()
    return SimpleNamespace(**configs, a=a, b=b)


def link(*configs):
    """Store fallback links c0 → c1 → … directly (the rules are what is under test, not this)."""
    for upper, lower in zip(configs, configs[1:]):
        upper.fallback = lower
    db.session.commit()


def fallback_of(config_id):
    return db.session.execute(
        sa.text("SELECT fallback_llm_config_id FROM llm_configs WHERE id = :id"), {"id": config_id}
    ).scalar_one()


# (name, links stored first, config to change, its new fallback, expected message or None when allowed)
MATRIX = [
    ("self", [], "P", "P", "A config cannot fall back to itself: P → P."),
    ("2-cycle", ["QP"], "P", "Q", "That would make a cycle: P → Q → P."),
    ("3-cycle", ["QRP"], "P", "Q", "That would make a cycle: P → Q → R → P."),
    ("4th hop below", ["QRST"], "P", "Q",
     "That chain would have 4 fallbacks; at most 3 are allowed: P → Q → R → S → T."),
    ("4th hop above", ["PQRS"], "S", "T",
     "That chain would have 4 fallbacks; at most 3 are allowed: P → Q → R → S → T."),
    ("4th hop through the middle", ["PQ", "RST"], "Q", "R",
     "That chain would have 4 fallbacks; at most 3 are allowed: P → Q → R → S → T."),
    ("3 hops", ["QRS"], "P", "Q", None),
    ("3 hops, changed config already backs others", ["PQ", "RS"], "Q", "R", None),
    ("replace a fallback", ["PQ"], "P", "R", None),
    ("none", ["PQ"], "P", None, None),
]


def prepare(chain, links):
    for names in links:
        link(*(getattr(chain, n) for n in names))


@pytest.mark.parametrize("case", MATRIX, ids=[m[0] for m in MATRIX])
def test_fallback_rule_matrix_in_the_domain(chain, case):
    _, links, config_name, fallback_name, message = case
    prepare(chain, links)
    config = getattr(chain, config_name)
    fallback_id = getattr(chain, fallback_name).id if fallback_name else None

    if message is None:
        set_fallback(config, fallback_id)
        db.session.commit()
        assert fallback_of(config.id) == fallback_id
        assert len(fallback_chain(config)) <= MAX_FALLBACK_HOPS + 1
    else:
        before = fallback_of(config.id)
        with pytest.raises(FallbackRuleError) as excinfo:
            set_fallback(config, fallback_id)
        assert str(excinfo.value) == message
        db.session.rollback()
        assert fallback_of(config.id) == before


@pytest.mark.parametrize("case", MATRIX, ids=[m[0] for m in MATRIX])
def test_fallback_rule_matrix_through_set_fallback_command(chain, runner, case):
    _, links, config_name, fallback_name, message = case
    prepare(chain, links)
    config_id = getattr(chain, config_name).id
    fallback_arg = getattr(chain, fallback_name).id if fallback_name else "none"

    if message is None:
        result = ok(runner, "set-fallback", config_id, fallback_arg)
        assert result.stdout.strip().endswith("→ none")
        assert fallback_of(config_id) == (None if fallback_arg == "none" else fallback_arg)
    else:
        assert fails_cleanly(runner, "set-fallback", config_id, fallback_arg) == f"Error: {message}"


@pytest.mark.parametrize("which", ["another organization's", "unknown"])
def test_foreign_or_unknown_fallback_is_refused_with_the_same_words(chain, runner, which):
    fallback_id = chain.b.config.id if which == "another organization's" else 999_999
    message = f"No config with id {fallback_id} in this organization."

    with pytest.raises(FallbackRuleError, match=f"^{message}$"):
        check_fallback(chain.P, fallback_id)
    db.session.rollback()
    assert fails_cleanly(runner, "set-fallback", chain.P.id, fallback_id) == f"Error: {message}"
    assert fails_cleanly(
        runner, "add-config", "--org", "alpha", "--name", "new", "--credential", chain.a.credential.id,
        "--model", "m", "--fallback", fallback_id,
    ) == f"Error: {message}"


def test_add_config_checks_the_chain_it_would_start(chain, runner):
    link(chain.P, chain.Q, chain.R)
    args = ["add-config", "--org", "alpha", "--credential", chain.a.credential.id, "--model", "m"]

    three_hops = int(ok(runner, *args, "--name", "Three", "--fallback", chain.P.id).stdout)
    assert fallback_of(three_hops) == chain.P.id

    link(chain.R, chain.S)  # P → Q → R → S now uses every hop by itself
    line = fails_cleanly(runner, *args, "--name", "New", "--fallback", chain.P.id)
    assert line == "Error: That chain would have 4 fallbacks; at most 3 are allowed: New → P → Q → R → S."

    none_id = int(ok(runner, *args, "--name", "Alone", "--fallback", "none").stdout)
    assert fallback_of(none_id) is None


def test_a_chain_that_loops_already_cannot_be_joined(chain):
    """Rows edited outside the app may loop; pointing a new config into that loop is refused."""
    db.session.execute(sa.text("UPDATE llm_configs SET fallback_llm_config_id = :r WHERE id = :q"),
                       {"q": chain.Q.id, "r": chain.R.id})
    db.session.execute(sa.text("UPDATE llm_configs SET fallback_llm_config_id = :q WHERE id = :r"),
                       {"q": chain.Q.id, "r": chain.R.id})
    db.session.commit()
    db.session.expire_all()

    with pytest.raises(FallbackRuleError, match="Q is part of a cycle: Q → R → Q."):
        check_fallback(chain.P, chain.Q.id)


@pytest.mark.parametrize("links, expected", [
    ({"P": "P"}, "P"),
    ({"P": "Q", "Q": "P"}, "PQ"),
    ({"P": "Q", "Q": "R", "R": "P"}, "PQR"),
    ({"P": "Q", "Q": "R", "R": "S", "S": "T"}, "PQRS"),
    ({"P": "Q", "Q": "R", "R": "S", "S": "P"}, "PQRS"),
    ({"P": "Q", "Q": "R", "R": "Q"}, "PQR"),
])
def test_runtime_guard_stops_on_cycles_and_after_three_hops(chain, links, expected):
    """Cycles and long chains written straight into the database never loop the runtime."""
    for upper, lower in links.items():
        db.session.execute(sa.text("UPDATE llm_configs SET fallback_llm_config_id = :to WHERE id = :id"),
                           {"id": getattr(chain, upper).id, "to": getattr(chain, lower).id})
    db.session.commit()
    db.session.expire_all()

    assert "".join(c.name for c in fallback_chain(chain.P)) == expected


def test_runtime_guard_never_follows_a_link_into_another_organization(chain):
    db.session.execute(sa.text("UPDATE llm_configs SET fallback_llm_config_id = :to WHERE id = :id"),
                       {"id": chain.P.id, "to": chain.b.config.id})
    db.session.commit()
    db.session.expire_all()

    assert fallback_chain(chain.P) == [chain.P]


def test_effective_config_walks_homework_course_organization(app, orgs):
    a, _ = orgs
    course_cfg, homework_cfg = (
        LLMConfig(organization=a.org, name=n, provider="openai", model="m", credential=a.credential, params={})
        for n in ("course cfg", "homework cfg")
    )
    db.session.add_all([course_cfg, homework_cfg])

    with pytest.raises(NoConfigError, match='homework "alpha homework 1"'):
        effective_config(homework=a.homework)
    with pytest.raises(NoConfigError, match='course "alpha physics"'):
        effective_config(course=a.course)
    with pytest.raises(NoConfigError):
        effective_config(organization=a.org)

    assign_config(a.config, organization=a.org)
    found = effective_config(homework=a.homework)
    assert (found.config, found.source, found.source_name) == (a.config, "organization", "Alpha")
    assert effective_config(organization=a.org).config == a.config

    assign_config(course_cfg, course=a.course)
    found = effective_config(homework=a.homework)
    assert (found.config, found.source, found.source_name) == (course_cfg, "course", "alpha physics")

    assign_config(homework_cfg, homework=a.homework)
    found = effective_config(homework=a.homework)
    assert (found.config, found.source) == (homework_cfg, "homework")
    assert found.description == "homework cfg (from homework alpha homework 1)"
    assert effective_config(course=a.course).config == course_cfg

    assign_config(None, homework=a.homework)
    assert effective_config(homework=a.homework).config == course_cfg


def test_assigning_another_organizations_config_is_refused(app, orgs):
    a, b = orgs

    with pytest.raises(FallbackRuleError):
        assign_config(b.config, course=a.course)
    with pytest.raises(FallbackRuleError):
        assign_config(b.config, homework=a.homework)
    with pytest.raises(FallbackRuleError):
        assign_config(b.config, organization=a.org)
    assert a.course.llm_config_id is None and a.homework.llm_config_id is None
