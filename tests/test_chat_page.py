"""The chat page without JavaScript (form post → full answer) and `flask llmcfg chat`."""

import re

from llmcfg.db import db
from tests.chat_helpers import MODELS, make_chain
from tests.fakes.plugin import Behavior
from tests.fixtures import csrf_token, login

BACKUP_TEXT = "Inertia is resistance to change in motion."


def seed(app, orgs, fake, providers=("openrouter", "anthropic")):
    with app.app_context():
        return [c.id for c in make_chain(db.session.merge(orgs[0].org), fake, list(providers))]


def test_page_lists_only_own_homework_courses_and_configs(fake_app, client, orgs):
    a, b = orgs
    login(client, a.instructor.email)
    page = client.get("/chat").get_data(as_text=True)
    assert f'value="homework:{a.homework.id}"' in page and f'value="config:{a.config.id}"' in page
    assert f'value="config:{b.config.id}"' not in page and "beta" not in page
    assert 'src="/static/chat.js"' in page


def test_form_post_shows_notice_and_backup_answer(fake_app, fake_upstream, client, orgs):
    ids = seed(fake_app, orgs, fake_upstream)
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.http(429, retry_after="20"))
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok(BACKUP_TEXT))
    login(client, orgs[0].admin.email)
    response = client.post("/chat", data={
        "csrf_token": csrf_token(client, "/chat"), "target": f"config:{ids[0]}", "message": "What is inertia?", "history": "[]",
    })
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'class="chat-notice">Switched to backup model \(anthropic/claude-haiku-4-5-20251001\)<', page)
    assert BACKUP_TEXT in page and "What is inertia?" in page
    assert "sk-or-v1-fake" not in page


def test_form_post_shows_the_error_in_plain_words(fake_app, fake_upstream, client, orgs):
    ids = seed(fake_app, orgs, fake_upstream, providers=("openai",))
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(503))
    login(client, orgs[0].admin.email)
    page = client.post("/chat", data={
        "csrf_token": csrf_token(client, "/chat"), "target": f"config:{ids[0]}", "message": "Hello?", "history": "[]",
    }).get_data(as_text=True)
    assert 'class="chat-error" role="alert">The configured model is unavailable right now' in page


def test_form_post_without_target_says_what_is_missing(fake_app, client, orgs):
    login(client, orgs[0].admin.email)
    page = client.post("/chat", data={"csrf_token": csrf_token(client, "/chat"), "target": "", "message": "Hi", "history": "[]"}).get_data(as_text=True)
    assert "Name exactly one of" in page


def test_form_post_without_csrf_is_refused(fake_app, client, orgs):
    login(client, orgs[0].admin.email)
    assert client.post("/chat", data={"target": f"config:{orgs[0].config.id}", "message": "Hi"}).status_code == 400


def test_cli_chat_streams_answer_to_stdout_and_notice_to_stderr(fake_app, fake_upstream, orgs):
    ids = seed(fake_app, orgs, fake_upstream)
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.http(429))
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok(BACKUP_TEXT))
    result = fake_app.test_cli_runner().invoke(args=["llmcfg", "chat", str(ids[0]), "What is inertia?"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == BACKUP_TEXT
    assert "Switched to backup model (anthropic/claude-haiku-4-5-20251001): rate_limited 429" in result.stderr


def test_cli_chat_by_homework_uses_the_inherited_config(fake_app, fake_upstream, orgs):
    a, _ = orgs
    ids = seed(fake_app, orgs, fake_upstream, providers=("openai",))
    runner = fake_app.test_cli_runner()
    assert runner.invoke(args=["llmcfg", "assign", str(ids[0]), "--course", str(a.course.id)]).exit_code == 0
    fake_upstream.script("openai", MODELS["openai"], Behavior.ok("From the course config."))
    result = runner.invoke(args=["llmcfg", "chat", "--homework", str(a.homework.id), "Hi"])
    assert result.exit_code == 0 and result.stdout.strip() == "From the course config."


def test_cli_chat_error_exits_non_zero(fake_app, fake_upstream, orgs):
    ids = seed(fake_app, orgs, fake_upstream, providers=("openai",))
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(500))
    result = fake_app.test_cli_runner().invoke(args=["llmcfg", "chat", str(ids[0]), "Hi"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The configured model is unavailable right now")


def test_cli_chat_bad_input(fake_app, orgs):
    runner = fake_app.test_cli_runner()
    result = runner.invoke(args=["llmcfg", "chat", "Hi"])
    assert result.exit_code != 0 and "exactly one" in result.stderr
    result = runner.invoke(args=["llmcfg", "chat", "999", "Hi"])
    assert result.exit_code == 1 and "There is no config 999" in result.stderr
