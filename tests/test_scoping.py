"""Tenant isolation: a user of organization B gets 404 on every object of A, on every route.

The routes are discovered from the app's url_map, so a route added later is covered by itself.
A route argument this file does not know makes the test fail and says what to add.
"""

import re
import tempfile

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from llmcfg import create_app
from llmcfg.auth.tokens import issue_token
from llmcfg.db import db
from llmcfg.models import FallbackEvent
from llmcfg.scoping import scoped_get
from tests.clitools import TABLES
from tests.fixtures import csrf_token, login

# Route argument → which of organization A's objects to put there.
ID_ARGS = {
    "config_id": "config",
    "credential_id": "credential",
    "course_id": "course",
    "homework_id": "homework",
    "token_id": "token",
    "event_id": "event",
    "user_id": "user",
}
# Route arguments that name no object (a sample value is enough).
VALUE_ARGS = {"provider": "openai", "filename": "style.css"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
UNREACHABLE = "http://127.0.0.1:9/v1"  # a route that leaks must not reach any real provider either


def _discover_routes():
    """Every (rule, method) whose URL holds something other than a plain value."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"TESTING": True, "INSTANCE_PATH": instance, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                          "LLMCFG_ENCRYPTION_KEY": Fernet.generate_key().decode()})
        rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    cases = []
    for rule in rules:
        if not rule.arguments or rule.arguments <= VALUE_ARGS.keys():
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            cases.append(pytest.param(rule.rule, method, id=f"{method} {rule.rule}"))
    return cases


ROUTES = _discover_routes()


@pytest.fixture
def app(app):
    app.config["LLMCFG_BASE_URLS"] = {p: UNREACHABLE for p in app.config["LLMCFG_BASE_URLS"]}
    return app


@pytest.fixture
def ids_of_a(orgs):
    """Ids of one object of every kind that belongs to organization A."""
    a, _ = orgs
    token, _ = issue_token(a.admin, "a's token")
    event = FallbackEvent(organization_id=a.org.id, from_config_id=a.config.id, reason="rate_limited", status_code=429)
    db.session.add(event)
    db.session.commit()
    return {"config": a.config.id, "credential": a.credential.id, "course": a.course.id,
            "homework": a.homework.id, "token": token.id, "event": event.id, "user": a.instructor.id}


def url_with_ids_of_a(rule: str, ids: dict) -> str:
    def fill(match):
        name = match.group(1)
        if name in ID_ARGS:
            return str(ids[ID_ARGS[name]])
        if name in VALUE_ARGS:
            return VALUE_ARGS[name]
        pytest.fail(
            f"Route {rule} takes <{name}>, which tests/test_scoping.py does not know. If it names an object, "
            f"add it to ID_ARGS (mapped to organization A's object of that kind, adding the object to the "
            f"ids_of_a fixture if needed); if not, add a sample value to VALUE_ARGS."
        )

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", fill, rule)


def snapshot() -> dict:
    """Every row of every table; last_used_at is left out (B's own token records its use)."""
    db.session.expire_all()
    rows = {}
    for table in TABLES:
        result = db.session.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).mappings()
        rows[table] = [{k: v for k, v in row.items() if k != "last_used_at"} for row in result]
    return rows


def request_as(client, method: str, url: str, csrf: str | None, bearer: str | None = None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {"X-CSRFToken": csrf}
    if method not in MUTATING:
        return client.open(url, method=method, headers=headers)
    if bearer:
        return client.open(url, method=method, headers=headers, json={})
    return client.open(url, method=method, headers=headers, data={"csrf_token": csrf})


def test_discovery_finds_the_routes_with_ids():
    found = {p.values for p in ROUTES}
    assert ("/tokens/<int:token_id>/delete", "POST") in found
    assert ("/users/<int:user_id>/delete", "POST") in found


def test_an_unknown_route_argument_fails_with_instructions():
    with pytest.raises(pytest.fail.Exception, match="add it to ID_ARGS"):
        url_with_ids_of_a("/widgets/<int:widget_id>", {})


@pytest.mark.parametrize("rule, method", [p for p in ROUTES if p.values[1] == "GET"])
def test_the_owner_reaches_the_same_pages(app, client, orgs, ids_of_a, rule, method):
    """Control: the URLs name real objects, so B's 404 below means "not yours", not "no such page"."""
    a, _ = orgs
    login(client, a.admin.email)
    url = url_with_ids_of_a(rule, ids_of_a)

    assert client.get(url).status_code != 404, f"GET {url} answered 404 to its own organization"


@pytest.mark.parametrize("rule, method", ROUTES)
def test_another_organizations_object_is_404_in_the_browser(app, client, orgs, ids_of_a, rule, method):
    _, b = orgs
    url = url_with_ids_of_a(rule, ids_of_a)
    login(client, b.admin.email)  # an admin: a 403 for lack of rights cannot hide a leak
    csrf = csrf_token(client, "/tokens")
    before = snapshot()

    response = request_as(client, method, url, csrf)

    assert response.status_code == 404, f"{method} {url} by another organization answered {response.status_code}"
    assert snapshot() == before, f"{method} {url} by another organization changed data"


@pytest.mark.parametrize("rule, method", [p for p in ROUTES if p.values[0].startswith("/api/")])
def test_another_organizations_object_is_404_with_a_bearer_token(app, orgs, ids_of_a, rule, method):
    _, b = orgs
    url = url_with_ids_of_a(rule, ids_of_a)
    _, secret = issue_token(b.admin, "b's token")
    before = snapshot()

    response = request_as(app.test_client(), method, url, None, bearer=secret)

    assert response.status_code == 404, f"{method} {url} by another organization answered {response.status_code}"
    assert response.is_json
    assert snapshot() == before


# Routes that take an object id in the query string, which url_map cannot show.
QUERY_ID_CASES = [
    ("GET", "/api/admin/llm-providers/openai/models?credential_id={credential}"),
]


@pytest.mark.parametrize("method, template", QUERY_ID_CASES)
@pytest.mark.parametrize("as_bearer", [False, True], ids=["session", "bearer"])
def test_another_organizations_id_in_the_query_is_404(app, orgs, ids_of_a, method, template, as_bearer):
    url = template.format(**ids_of_a)
    try:
        app.url_map.bind("localhost").match(url.split("?")[0], method=method)
    except Exception:
        pytest.skip(f"{method} {url.split('?')[0]} is not in this build")
    _, b = orgs
    client = app.test_client()
    if as_bearer:
        _, secret = issue_token(b.admin, "b's token")
        response = request_as(client, method, url, None, bearer=secret)
    else:
        login(client, b.admin.email)
        response = request_as(client, method, url, csrf_token(client, "/tokens"))
    assert response.status_code == 404


@pytest.mark.parametrize("field", ["config_id", "course_id", "homework_id"])
def test_chat_stream_refuses_another_organizations_target(app, orgs, ids_of_a, field):
    if "/api/chat/stream" not in {r.rule for r in app.url_map.iter_rules()}:
        pytest.skip("no chat endpoint in this build")
    _, b = orgs
    _, secret = issue_token(b.admin, "b's token")
    before = snapshot()

    response = app.test_client().post(
        "/api/chat/stream", headers={"Authorization": f"Bearer {secret}"},
        json={field: ids_of_a[field.removesuffix("_id")], "messages": [{"role": "user", "content": "hi"}]},
    )

    assert response.status_code == 404 and response.is_json
    assert snapshot() == before


def test_scoped_get_treats_foreign_and_missing_alike(orgs):
    a, b = orgs
    from llmcfg.models import Course, LLMConfig

    assert scoped_get(LLMConfig, a.config.id, org_id=a.org.id) == a.config
    assert scoped_get(LLMConfig, a.config.id, org_id=b.org.id) is None
    assert scoped_get(LLMConfig, 424242, org_id=b.org.id) is None
    assert scoped_get(Course, "not a number", org_id=a.org.id) is None
