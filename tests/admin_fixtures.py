"""Fixtures for the admin pages: a logged-in client that checks every page it receives for keys.

Keys are write-only (design §7), so `admin` records every response body and, when the test ends,
fails if any of them contains a stored key.
"""

from html import unescape
import re

import pytest

from tests.fixtures import login

ALPHA_KEY = "sk-alpha-secret-key-1111aaaa"
BETA_KEY = "sk-beta-secret-key-2222bbbb"


class AdminClient:
    """The Flask test client, logged in, with the CSRF token added to every form post."""

    def __init__(self, client, secrets: set[str]):
        self.client = client
        self.secrets = secrets  # every key the test stored; add the ones a test types
        self.bodies: list[tuple[str, str]] = []
        self.token = None

    def _record(self, path, response):
        self.bodies.append((path, response.get_data(as_text=True)))
        return response

    def get(self, path, **kwargs):
        return self._record(path, self.client.get(path, **kwargs))

    def post(self, path, data=None, htmx=False, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers["HX-Request"] = "true"
        return self._record(path, self.client.post(path, data=data, headers=headers, **kwargs))

    def page(self, path) -> str:
        response = self.get(path)
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    def follow(self, response) -> str:
        """Follow a post's redirect the way a browser without JavaScript does; return the page."""
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return self.page(response.headers["Location"])

    def leaked(self) -> list[str]:
        return [path for path, body in self.bodies for key in self.secrets if key in body]


@pytest.fixture
def admin(fake_app, client, orgs):
    """Return an AdminClient logged in as organization A's admin; fails the test if a key leaks.

    The app talks to the fake upstream (`fake_app`): an editor page may list models at any time.
    """
    a, _ = orgs
    helper = AdminClient(client, {ALPHA_KEY, BETA_KEY})
    helper.token = login(client, a.admin.email)
    yield helper
    assert helper.leaked() == [], "a stored key appeared in a response"


def field_errors(html: str, field_id: str) -> list[str]:
    """Return the error texts shown right after the input with this id (in its .field block)."""
    match = re.search(rf'id="{re.escape(field_id)}".*?(?=<div class="field|</section>|</fieldset>|$)', html, re.S)
    assert match, f"no field {field_id}"
    return [unescape(e) for e in re.findall(r'<p class="error">([^<]*)</p>', match.group(0))]
