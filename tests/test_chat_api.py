"""POST /api/chat/stream input handling: everything wrong is answered before a stream starts."""

import pytest

from llmcfg.auth.tokens import issue_token
from llmcfg.db import db
from llmcfg.models import Course, Homework, Organization
from tests.fixtures import csrf_token, login

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def bearer(app, orgs):
    a, _ = orgs
    with app.app_context():
        _, secret = issue_token(db.session.merge(a.admin), "test")
    return {"Authorization": f"Bearer {secret}"}


def post(client, payload, headers):
    return client.post("/api/chat/stream", json=payload, headers=headers)


def test_anonymous_request_gets_401_json(client, orgs):
    response = post(client, {"config_id": 1, "messages": HELLO}, {})
    assert response.status_code == 401 and response.is_json


def test_invalid_bearer_token_gets_401(client, orgs):
    response = post(client, {"config_id": 1, "messages": HELLO}, {"Authorization": "Bearer nope"})
    assert response.status_code == 401 and "not valid" in response.get_json()["error"]


def test_session_request_without_csrf_is_refused(client, orgs):
    a, _ = orgs
    login(client, a.admin.email)
    response = post(client, {"config_id": a.config.id, "messages": HELLO}, {})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "payload,status,words",
    [
        ({"messages": HELLO}, 400, "exactly one"),
        ({"config_id": 1, "course_id": 1, "messages": HELLO}, 400, "exactly one"),
        ({"config_id": "x", "messages": HELLO}, 400, "whole number"),
        ({"config_id": "{a}", "messages": []}, 400, "non-empty list"),
        ({"config_id": "{a}", "messages": [{"role": "user", "content": "  "}]}, 400, "non-empty text"),
        ({"config_id": "{a}", "messages": [{"role": "wizard", "content": "hi"}]}, 400, "role"),
        ({"config_id": "{a}", "messages": [{"role": "user", "content": "x" * 200_001}]}, 413, "too long"),
        ({"config_id": 999, "messages": HELLO}, 404, "No config"),
        ({"config_id": "{b}", "messages": HELLO}, 404, "No config"),
        ({"homework_id": "{bhw}", "messages": HELLO}, 404, "No homework"),
        ({"course_id": "{bcourse}", "messages": HELLO}, 404, "No course"),
    ],
)
def test_bad_input_is_a_json_4xx_before_streaming(client, orgs, bearer, payload, status, words):
    a, b = orgs
    ids = {"{a}": a.config.id, "{b}": b.config.id, "{bhw}": b.homework.id, "{bcourse}": b.course.id}
    payload = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    response = post(client, payload, bearer)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert words in response.get_json()["error"]


def test_homework_with_nothing_configured_gets_a_clear_error(app, client, orgs, bearer):
    a, _ = orgs
    with app.app_context():
        course = Course(organization_id=a.org.id, name="Empty course")
        homework = Homework(course=course, title="Lonely homework")
        db.session.add_all([course, homework])
        db.session.commit()
        hw_id = homework.id
    response = post(client, {"homework_id": hw_id, "messages": HELLO}, bearer)
    assert response.status_code == 422
    assert 'No LLM config is set for homework "Lonely homework"' in response.get_json()["error"]


def test_not_json_is_rejected(client, orgs, bearer):
    response = client.post("/api/chat/stream", data="hello", headers=bearer)
    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]
