"""Browser tests: the app served on a loopback port, headless system Chromium, the fake upstream.

They skip (with the reason) when /usr/bin/chromium is missing, unless LLMCFG_REQUIRE_BROWSER=1
(as in CI), where a missing browser is a failure.

Screenshots go to a temporary folder; with LLMCFG_SCREENSHOTS=1 they refresh docs/screenshots
(the README's pictures) instead, so an ordinary test run leaves the work tree alone.
"""

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from llmcfg import PROJECT_ROOT, create_app
from llmcfg.db import db
from tests.fakes.server import FakeUpstream
from tests.fixtures import PASSWORD, make_org

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
STORED_KEY = "sk-alpha-stored-key-5555eeee"  # organization A's saved openai key


def _require_chromium():
    if CHROMIUM.exists():
        return
    if os.environ.get("LLMCFG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"LLMCFG_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing: install Chromium to run the browser tests")


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Live:
    url: str
    app: object
    fake: FakeUpstream
    admin_email: str
    secrets: set[str]  # every key stored during the test: no page may ever contain one


@pytest.fixture
def live(tmp_path, fake_upstream):
    """Serve a fresh app (one seeded organization) on 127.0.0.1 from a thread, pointed at the fake."""
    fake = fake_upstream
    instance = tmp_path / "instance"
    base_urls = {p: u for p, u in fake.base_urls.items() if p != "openai_compatible"}
    app = create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "browser-test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'browser.sqlite'}",
        "LLMCFG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LLMCFG_ALLOW_PRIVATE_BASE_URLS": True,
        "LLMCFG_BASE_URLS": base_urls,
        "LLMCFG_CONNECT_TIMEOUT": 2.0,
        "LLMCFG_READ_TIMEOUT": 5.0,
    })
    with app.app_context():
        db.create_all()
        org = make_org("alpha", key=STORED_KEY, provider="openai")
        email = org.admin.email
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Live(f"http://127.0.0.1:{server.server_port}", app, fake, email, {STORED_KEY})
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def shots(tmp_path) -> Path:
    """Return the folder for screenshots (docs/screenshots when LLMCFG_SCREENSHOTS=1)."""
    if os.environ.get("LLMCFG_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def _context(browser, javascript: bool):
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    return context


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def page(request, browser, live):
    """A logged-in page, with JavaScript on and off; every page it showed is checked for keys."""
    context = _context(browser, request.param)
    tab = context.new_page()
    tab.javascript = request.param
    responses = []
    tab.on("response", lambda response: responses.append(response))  # pages and partials; read at the end
    tab.goto(live.url + "/login")
    tab.fill("input[name=email]", live.admin_email)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(live.url + "/")
    yield tab
    bodies = [tab.content()]
    for response in responses:
        if response.request.resource_type in ("document", "xhr", "fetch"):
            try:
                bodies.append(response.text())
            except Exception:  # a redirect has no body
                pass
    context.close()
    leaks = [key for key in live.secrets for body in bodies if key in body]
    assert leaks == [], "a stored key appeared in a page or partial"
