"""Assignments, courses and fallback activity, as a browser without JavaScript uses them."""

import re

from llmcfg.cooldown import MemoryCooldowns, cooldowns
from llmcfg.db import db
from llmcfg.models import Course, FallbackEvent, Homework, LLMConfig
from tests.admin_fixtures import field_errors


def _row(page: str, text: str) -> str:
    """Return the table row that mentions text."""
    return next(row for row in re.findall(r"<tr.*?</tr>", page, re.S) if text in row)


def _backup(org, name="Backup", model="gpt-4.1") -> LLMConfig:
    config = LLMConfig(organization=org.org, name=name, provider="openai", model=model,
                       credential=org.credential, params={})
    db.session.add(config)
    db.session.commit()
    return config


def test_nothing_configured_is_said_plainly(admin):
    row = _row(admin.page("/"), "alpha physics")
    assert "nothing configured" in row


def test_org_default_is_inherited_by_courses_and_homework(admin, orgs):
    a, _ = orgs
    page = admin.follow(admin.post("/assign/default", {"config": str(a.config.id)}))
    assert "from organization default" in _row(page, "alpha physics")
    assert "from organization default" in _row(page, "alpha homework 1")
    assert db.session.get(LLMConfig, a.config.id) is a.org.default_llm_config


def test_course_and_homework_configs_override_and_show_their_chain(admin, orgs):
    a, _ = orgs
    backup = _backup(a)
    a.config.fallback = backup
    db.session.commit()
    admin.post("/assign/default", {"config": str(backup.id)})
    page = admin.follow(admin.post(f"/courses/{a.course.id}/assign", {"config": str(a.config.id)}))
    course_row = _row(page, "alpha physics")
    assert "from course “alpha physics”" in course_row
    assert re.search(r"alpha primary.*→.*Backup.*openai/gpt-4\.1.*→.*none", course_row, re.S)
    assert "from course" in _row(page, "alpha homework 1")
    page = admin.follow(admin.post(f"/homework/{a.homework.id}/assign", {"config": str(backup.id)}))
    assert "from homework “alpha homework 1”" in _row(page, "alpha homework 1")
    page = admin.follow(admin.post(f"/homework/{a.homework.id}/assign", {"config": ""}))
    assert "from course" in _row(page, "alpha homework 1")


def test_assigning_from_the_course_page_returns_there(admin, orgs):
    a, _ = orgs
    response = admin.post(f"/courses/{a.course.id}/assign",
                          {"config": str(a.config.id), "next": f"/courses/{a.course.id}"})
    assert response.headers["Location"].endswith(f"/courses/{a.course.id}")
    response = admin.post(f"/courses/{a.course.id}/assign", {"config": "", "next": "//evil.example/x"})
    assert "evil" not in response.headers["Location"]


def test_another_organizations_objects_cannot_be_assigned(admin, orgs):
    a, b = orgs
    assert admin.post(f"/courses/{a.course.id}/assign", {"config": str(b.config.id)}).status_code == 404
    assert admin.post(f"/courses/{b.course.id}/assign", {"config": str(a.config.id)}).status_code == 404
    assert admin.post(f"/homework/{b.homework.id}/assign", {"config": ""}).status_code == 404
    assert admin.post("/assign/default", {"config": str(b.config.id)}).status_code == 404
    assert b.course.llm_config_id is None and a.org.default_llm_config_id is None


def test_create_course_and_homework(admin, orgs):
    a, _ = orgs
    page = admin.post("/courses/new", {"name": "", "config": ""}).get_data(as_text=True)
    assert field_errors(page, "name") == ["This field is required."]
    page = admin.follow(admin.post("/courses/new", {"name": "Chemistry", "config": str(a.config.id)}))
    assert "<h1>Chemistry</h1>" in page and "from course “Chemistry”" in page
    course = db.session.query(Course).filter_by(name="Chemistry").one()
    page = admin.post(f"/courses/{course.id}/homework", {"title": ""}).get_data(as_text=True)
    assert field_errors(page, "title") == ["This field is required."]
    page = admin.follow(admin.post(f"/courses/{course.id}/homework", {"title": "Titration", "config": ""}))
    assert "from course “Chemistry”" in _row(page, "Titration")
    assert "Chemistry" in admin.page("/")


def test_delete_homework_and_course(admin, orgs):
    a, _ = orgs
    admin.follow(admin.post(f"/homework/{a.homework.id}/delete"))
    assert db.session.get(Homework, a.homework.id) is None
    page = admin.follow(admin.post(f"/courses/{a.course.id}/delete"))
    assert "alpha physics" in page  # the flash message, and nowhere else
    assert db.session.get(Course, a.course.id) is None


def test_another_organizations_course_page_is_a_404(admin, orgs):
    _, b = orgs
    assert admin.get(f"/courses/{b.course.id}").status_code == 404
    assert admin.post(f"/courses/{b.course.id}/homework", {"title": "x"}).status_code == 404
    assert admin.post(f"/courses/{b.course.id}/delete").status_code == 404
    assert admin.post(f"/homework/{b.homework.id}/delete").status_code == 404


def _event(org, from_config, to_config, reason="rate_limited", status=429):
    db.session.add(FallbackEvent(organization_id=org.org.id, from_config_id=from_config.id,
                                 to_config_id=to_config.id if to_config else None,
                                 reason=reason, status_code=status, elapsed_ms=12))
    db.session.commit()


def test_overview_shows_the_organizations_fallback_events_and_cooldowns_only(app, admin, orgs):
    a, b = orgs
    backup = _backup(a)
    _event(a, a.config, backup)
    _event(a, backup, None, reason="server_error", status=503)
    _event(b, b.config, None, reason="auth_failed", status=401)
    clock = [1_000.0]
    store = MemoryCooldowns(clock=lambda: clock[0])
    app.extensions["llmcfg_cooldowns"] = store
    store.start(a.config.id, 30, "rate_limited", 429)
    store.start(b.config.id, 30, "overloaded", 529)
    assert cooldowns() is store
    page = admin.page("/")
    activity = page[page.index('id="activity"'):]
    assert "rate-limited (429)" in _row(activity, "alpha primary")
    assert "nothing left" in _row(activity, "upstream server error (503)")
    assert "beta" not in activity and "401" not in activity
    assert re.search(r"alpha primary.*skipped until 00:17:10 UTC \(in 30 s\)", activity, re.S)
    clock[0] += 31
    assert "No config is cooling down." in admin.page("/")


def test_course_page_shows_the_activity_of_its_chain(app, admin, orgs):
    a, _ = orgs
    backup, unrelated = _backup(a), _backup(a, name="Unrelated")
    a.config.fallback = backup
    a.course.llm_config = a.config
    db.session.commit()
    _event(a, backup, None, reason="timeout", status=None)
    _event(a, unrelated, None, reason="auth_failed", status=401)
    store = MemoryCooldowns(clock=lambda: 0.0)
    app.extensions["llmcfg_cooldowns"] = store
    store.start(unrelated.id, 30, "rate_limited", 429)
    page = admin.page(f"/courses/{a.course.id}")
    activity = page[page.index('id="activity"'):]
    assert "timed out" in activity
    assert "Unrelated" not in activity and "401" not in activity
    assert "No config is cooling down." in activity
