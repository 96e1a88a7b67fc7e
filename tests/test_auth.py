"""Accounts: first-run setup, login/logout, safe redirects, CSRF, API tokens, and roles."""

import pytest
import sqlalchemy as sa
from flask import jsonify
from flask_login import current_user, login_required

from llmcfg.db import db
from llmcfg.models import ApiToken, Organization, User
from tests.fixtures import PASSWORD, csrf_token, login

SETUP = {"org_name": "Northside", "org_slug": "northside", "email": "Head@Northside.edu",
         "password": "a good password", "confirm": "a good password"}


@pytest.fixture
def app(app):
    """The app plus two tiny views that tell who the request is authenticated as."""

    @login_required
    def whoami():
        return jsonify(email=current_user.email)

    app.add_url_rule("/api/_whoami", "api_whoami", whoami, methods=["GET", "POST"])
    app.add_url_rule("/_whoami", "page_whoami", whoami, methods=["GET", "POST"])
    return app


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# first-run setup

def test_setup_creates_the_organization_and_admin_then_closes(app, client):
    with app.app_context():
        assert client.get("/").headers["Location"] == "/setup"
        assert client.get("/login").headers["Location"] == "/setup"

        response = client.post("/setup", data={**SETUP, "csrf_token": csrf_token(client, "/setup")})

        assert response.status_code == 302
        user = db.session.scalar(sa.select(User))
        assert (user.email, user.role, user.organization.slug) == ("head@northside.edu", "admin", "northside")
        assert "Northside" in client.get("/").get_data(as_text=True)  # logged in right away
        assert client.get("/setup").status_code == 404
        token = csrf_token(client, "/tokens")
        assert client.post("/setup", data={**SETUP, "org_slug": "again", "csrf_token": token}).status_code == 404
        assert count(Organization) == 1


def test_setup_shows_errors_and_creates_nothing(app, client):
    with app.app_context():
        token = csrf_token(client, "/setup")
        page = client.post("/setup", data={**SETUP, "confirm": "different", "csrf_token": token}).get_data(as_text=True)
        assert "The passwords differ." in page
        db.session.add(Organization(name="Made by the CLI", slug="northside"))
        db.session.commit()
        page = client.post("/setup", data={**SETUP, "csrf_token": token}).get_data(as_text=True)
        assert "already exists" in page
        assert count(User) == 0


# login and logout

def test_login_and_logout(client, orgs):
    a, _ = orgs
    login(client, "ADMIN@Alpha.edu")  # e-mail case does not matter
    assert a.admin.email in client.get("/").get_data(as_text=True)

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})

    assert response.headers["Location"] == "/login"
    assert client.get("/tokens").headers["Location"].startswith("/login")


@pytest.mark.parametrize("email, password", [("admin@alpha.edu", "wrong password"), ("nobody@alpha.edu", PASSWORD)])
def test_wrong_credentials_get_one_message(client, orgs, email, password):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/tokens").status_code == 302


@pytest.mark.parametrize("target, expected", [
    ("/tokens", "/tokens"),
    ("/tokens?x=1", "/tokens?x=1"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
])
def test_next_only_redirects_within_the_site(client, orgs, target, expected):
    token = csrf_token(client, "/login")
    response = client.post("/login", query_string={"next": target},
                           data={"email": "admin@alpha.edu", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


# CSRF

@pytest.mark.parametrize("path, data", [
    ("/login", {"email": "admin@alpha.edu", "password": PASSWORD}),
    ("/logout", {}),
    ("/tokens", {"name": "sneaky"}),
    ("/users", {"email": "new@alpha.edu", "role": "admin", "password": "password99", "confirm": "password99"}),
    ("/tokens/1/delete", {}),
    ("/users/2/delete", {}),
])
def test_a_form_post_without_the_csrf_token_is_refused(client, orgs, path, data):
    if path != "/login":
        login(client, "admin@alpha.edu")
    before = (count(User), count(ApiToken))
    if path == "/tokens/1/delete":
        client.post("/tokens", data={"name": "keep me", "csrf_token": csrf_token(client, "/tokens")})
        before = (count(User), count(ApiToken))

    response = client.post(path, data=data)

    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert (count(User), count(ApiToken)) == before
    if path == "/logout":
        assert client.get("/tokens").status_code == 200  # still logged in


def test_a_form_post_with_a_foreign_csrf_token_is_refused(app, orgs):
    other, mine = app.test_client(), app.test_client()
    token_of_other = csrf_token(other, "/login")
    response = mine.post("/login", data={"email": "admin@alpha.edu", "password": PASSWORD, "csrf_token": token_of_other})
    assert response.status_code == 400


def test_setup_post_without_csrf_is_refused(app, client):
    with app.app_context():
        assert client.post("/setup", data=SETUP).status_code == 400
        assert count(User) == 0


# API tokens

def create_token_in_browser(client, name="script") -> str:
    page = client.post("/tokens", data={"name": name, "csrf_token": csrf_token(client, "/tokens")}).get_data(as_text=True)
    start = page.index('id="new-token">') + len('id="new-token">')
    return page[start:page.index("<", start)]


def test_token_is_shown_once_and_stored_only_as_a_hash(client, orgs):
    login(client, "teacher@alpha.edu")
    secret = create_token_in_browser(client)

    assert secret.startswith("llmcfg_")
    assert secret not in client.get("/tokens").get_data(as_text=True)
    dump = str(db.session.execute(sa.text("SELECT * FROM api_tokens")).all())
    assert secret not in dump and secret[7:] not in dump


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_bearer_token_works_on_the_api_only(client, orgs, app):
    login(client, "teacher@alpha.edu")
    secret = create_token_in_browser(client)
    anonymous = app.test_client()

    response = anonymous.get("/api/_whoami", headers=bearer(secret))
    assert response.status_code == 200 and response.get_json() == {"email": "teacher@alpha.edu"}
    assert anonymous.post("/api/_whoami", headers=bearer(secret)).status_code == 200  # no CSRF for bearer requests
    assert db.session.scalar(sa.select(ApiToken.last_used_at)) is not None

    assert anonymous.get("/_whoami", headers=bearer(secret)).status_code == 302  # pages want a session
    assert anonymous.post("/_whoami", headers=bearer(secret)).status_code == 400  # …and CSRF


def test_session_requests_to_the_api_still_need_csrf(client, orgs):
    login(client, "teacher@alpha.edu")
    assert client.get("/api/_whoami").status_code == 200
    assert client.post("/api/_whoami").status_code == 400
    token = csrf_token(client, "/tokens")
    assert client.post("/api/_whoami", headers={"X-CSRFToken": token}).status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer llmcfg_not-a-real-token", "Bearer "])
def test_missing_or_invalid_token_gets_401_json(client, orgs, header):
    response = client.get("/api/_whoami", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.is_json and response.get_json()["status"] == 401


def test_a_revoked_token_gets_401(client, orgs, app):
    login(client, "teacher@alpha.edu")
    secret = create_token_in_browser(client)
    token_id = db.session.scalar(sa.select(ApiToken.id))

    client.post(f"/tokens/{token_id}/delete", data={"csrf_token": csrf_token(client, "/tokens")})

    response = app.test_client().get("/api/_whoami", headers=bearer(secret))
    assert response.status_code == 401 and "revoked" in response.get_json()["error"]


def test_someone_elses_token_cannot_be_revoked(client, orgs):
    login(client, "admin@alpha.edu")
    create_token_in_browser(client)
    token_id = db.session.scalar(sa.select(ApiToken.id))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "teacher@alpha.edu")

    assert client.post(f"/tokens/{token_id}/delete", data={"csrf_token": csrf_token(client, "/tokens")}).status_code == 404
    assert count(ApiToken) == 1


# roles and the users page

def test_instructors_cannot_manage_users(client, orgs):
    login(client, "teacher@alpha.edu")
    assert client.get("/users").status_code == 403
    assert "/users" not in client.get("/").get_data(as_text=True)
    data = {"email": "x@alpha.edu", "role": "admin", "password": "password99", "confirm": "password99",
            "csrf_token": csrf_token(client, "/tokens")}
    assert client.post("/users", data=data).status_code == 403
    assert client.post("/users/1/delete", data={"csrf_token": data["csrf_token"]}).status_code == 403
    assert count(User) == 4


def test_admin_lists_and_adds_users_of_their_organization(client, orgs):
    a, b = orgs
    login(client, "admin@alpha.edu")
    page = client.get("/users").get_data(as_text=True)
    assert a.instructor.email in page and b.admin.email not in page
    assert 'href="/users"' in client.get("/").get_data(as_text=True)

    data = {"email": "New@Alpha.edu", "role": "instructor", "password": "password99", "confirm": "password99",
            "csrf_token": csrf_token(client, "/users")}
    assert client.post("/users", data=data).status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "new@alpha.edu"))
    assert (user.organization_id, user.role) == (a.org.id, "instructor") and user.check_password("password99")

    page = client.post("/users", data={**data, "email": b.admin.email}).get_data(as_text=True)
    assert "already exists" in page
    page = client.post("/users", data={**data, "email": "y@alpha.edu", "role": "owner"}).get_data(as_text=True)
    assert "Not a valid choice" in page
    assert count(User) == 5


def test_admin_removes_a_user_and_their_tokens_but_not_themselves(client, orgs, app):
    a, _ = orgs
    teacher = app.test_client()
    login(teacher, "teacher@alpha.edu")
    secret = create_token_in_browser(teacher)
    login(client, "admin@alpha.edu")
    token = csrf_token(client, "/users")

    assert client.post(f"/users/{a.admin.id}/delete", data={"csrf_token": token}).status_code == 400
    assert client.post(f"/users/{a.instructor.id}/delete", data={"csrf_token": token}).status_code == 302

    assert db.session.scalar(sa.select(User).where(User.email == "teacher@alpha.edu")) is None
    assert count(ApiToken) == 0
    assert app.test_client().get("/api/_whoami", headers=bearer(secret)).status_code == 401
