"""The data model on SQLite: foreign keys really enforced, deletes null what pointed at a config."""

import pytest
import sqlalchemy as sa

from llmcfg.db import db
from llmcfg.models import Course, FallbackEvent, Homework, LLMConfig, OrganizationCredential, User


def add_config(org, name: str, **fields) -> LLMConfig:
    config = LLMConfig(organization=org.org, name=name, provider="openai", model="gpt-4o",
                       credential=org.credential, params={}, **fields)
    db.session.add(config)
    db.session.commit()
    return config


def test_sqlite_connections_enforce_foreign_keys(app):
    with app.app_context():
        assert db.session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_deleting_a_config_nulls_the_fallback_of_configs_backed_by_it(app, orgs):
    a, _ = orgs
    backup = add_config(a, "backup")
    first = add_config(a, "first", fallback=backup)
    second = add_config(a, "second", fallback=backup)
    ids = first.id, second.id

    db.session.delete(backup)
    db.session.commit()

    rows = db.session.execute(
        sa.text("SELECT id, fallback_llm_config_id FROM llm_configs WHERE id IN (:a, :b) ORDER BY id"),
        {"a": ids[0], "b": ids[1]},
    ).all()
    assert rows == [(ids[0], None), (ids[1], None)]


def test_deleting_a_config_with_sql_alone_still_nulls_fallbacks(app, orgs):
    """The database does it (the pragma), not the ORM: a plain DELETE gives the same result."""
    a, _ = orgs
    backup = add_config(a, "backup")
    first = add_config(a, "first", fallback=backup)
    first_id, backup_id = first.id, backup.id

    db.session.execute(sa.text("DELETE FROM llm_configs WHERE id = :id"), {"id": backup_id})
    db.session.commit()

    assert db.session.execute(
        sa.text("SELECT fallback_llm_config_id FROM llm_configs WHERE id = :id"), {"id": first_id}
    ).scalar_one() is None


def test_deleting_a_config_unassigns_courses_homework_and_the_default_but_keeps_them(app, orgs):
    a, b = orgs
    a.org.default_llm_config = a.config
    a.course.llm_config = a.config
    a.homework.llm_config = a.config
    other_course = Course(organization=a.org, name="kept assignment", llm_config=add_config(a, "other"))
    db.session.add(other_course)
    db.session.add(FallbackEvent(organization_id=a.org.id, from_config=a.config, to_config=None,
                                 reason="rate_limited", status_code=429))
    db.session.commit()
    course_id, homework_id, other_course_id = a.course.id, a.homework.id, other_course.id

    db.session.delete(a.config)
    db.session.commit()
    db.session.expire_all()

    course = db.session.get(Course, course_id)
    homework = db.session.get(Homework, homework_id)
    assert course is not None and course.llm_config_id is None
    assert homework is not None and homework.llm_config_id is None
    assert a.org.default_llm_config_id is None
    assert db.session.get(Course, other_course_id).llm_config_id is not None
    event = db.session.scalar(sa.select(FallbackEvent))
    assert event is not None and event.from_config_id is None
    assert db.session.get(LLMConfig, b.config.id) is not None


def test_a_credential_in_use_cannot_be_deleted(app, orgs):
    a, _ = orgs

    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.delete(OrganizationCredential).where(OrganizationCredential.id == a.credential.id))
        db.session.commit()
    db.session.rollback()
    assert db.session.get(OrganizationCredential, a.credential.id) is not None


def test_emails_are_stored_lower_case_and_unique_regardless_of_case(app, orgs):
    a, _ = orgs
    user = User(email="  Mixed.Case@Alpha.EDU ", organization=a.org, role="instructor")
    user.set_password("long enough")
    db.session.add(user)
    db.session.commit()
    assert user.email == "mixed.case@alpha.edu"

    twin = User(email="MIXED.case@alpha.edu", organization=a.org, role="admin")
    twin.set_password("long enough")
    db.session.add(twin)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_passwords_are_hashed(app, orgs):
    a, _ = orgs
    assert "correct horse" not in a.admin.password_hash
    assert a.admin.check_password("correct horse battery")
    assert not a.admin.check_password("wrong")
