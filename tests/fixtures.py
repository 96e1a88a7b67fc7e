"""Data fixtures: two organizations, their users, credentials, configs; and a logged-in client."""

from dataclasses import dataclass

import pytest
from werkzeug.security import generate_password_hash

from llmcfg.crypto import secret_hint, vault
from llmcfg.db import db
from llmcfg.models import Course, Homework, LLMConfig, Organization, OrganizationCredential, User

PASSWORD = "correct horse battery"
# A cheap hash of PASSWORD for seeded users: the real default (scrypt) would slow every test.
FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


@dataclass
class Org:
    org: Organization
    admin: User
    instructor: User
    credential: OrganizationCredential
    config: LLMConfig
    course: Course
    homework: Homework


def make_org(slug: str, key: str = "sk-test-0000000000000000abcd", provider: str = "openai") -> Org:
    org = Organization(name=slug.title(), slug=slug)
    admin = User(email=f"admin@{slug}.edu", organization=org, role="admin")
    admin.password_hash = FAST_HASH
    instructor = User(email=f"teacher@{slug}.edu", organization=org, role="instructor")
    instructor.password_hash = FAST_HASH
    cred = OrganizationCredential(
        organization=org, provider=provider, label=f"{slug} key",
        secret_ciphertext=vault().encrypt(key), secret_hint=secret_hint(key),
    )
    config = LLMConfig(organization=org, name=f"{slug} primary", provider=provider, model="gpt-4o-mini", credential=cred, params={})
    course = Course(organization=org, name=f"{slug} physics")
    homework = Homework(course=course, title=f"{slug} homework 1")
    db.session.add_all([org, admin, instructor, cred, config, course, homework])
    db.session.commit()
    return Org(org, admin, instructor, cred, config, course, homework)


@pytest.fixture
def orgs(app):
    """Return two seeded organizations, A and B, each fully populated."""
    with app.app_context():
        a = make_org("alpha", key="sk-alpha-secret-key-1111aaaa")
        b = make_org("beta", key="sk-beta-secret-key-2222bbbb")
        yield a, b


def login(client, email: str, password: str = PASSWORD):
    """Log the test client in through the real form (CSRF token included)."""
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return token


def csrf_token(client, path: str = "/") -> str:
    import re

    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
