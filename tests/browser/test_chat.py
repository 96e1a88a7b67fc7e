"""The chat playground in a real browser: a rate-limited primary hands over to its backup."""

from playwright.sync_api import expect

from llmcfg.crypto import secret_hint, vault
from llmcfg.db import db
from llmcfg.models import LLMConfig, OrganizationCredential
from tests.fakes.plugin import KEYS, Behavior

BACKUP_MODEL = "claude-3-5-haiku-20241022"


def _primary_with_anthropic_backup(live) -> int:
    key = KEYS["anthropic"]
    live.secrets.add(key)
    with live.app.app_context():
        primary = db.session.scalar(db.select(LLMConfig).filter_by(name="alpha primary"))
        cred = OrganizationCredential(organization_id=primary.organization_id, provider="anthropic",
                                      label="Anthropic", secret_ciphertext=vault().encrypt(key),
                                      secret_hint=secret_hint(key))
        backup = LLMConfig(organization_id=primary.organization_id, name="Claude backup", provider="anthropic",
                           model=BACKUP_MODEL, credential=cred, params={})
        db.session.add_all([cred, backup])
        db.session.flush()
        primary.fallback_llm_config_id = backup.id
        db.session.commit()
        return primary.id


def test_a_rate_limited_primary_switches_to_the_backup(page, live, shots):
    config_id = _primary_with_anthropic_backup(live)
    live.fake.script("openai", "gpt-4o-mini", Behavior.http(429, retry_after="30"))
    page.goto(live.url + "/chat")
    page.select_option("#target", f"config:{config_id}")
    page.fill("#message", "What is inertia?")
    if page.javascript:
        page.click("#send")
    else:
        with page.expect_navigation():
            page.click("#send")
    notice = page.locator(".chat-notice")
    expect(notice).to_contain_text("Switched to backup model")
    expect(notice).to_contain_text(f"anthropic/{BACKUP_MODEL}")
    expect(page.locator(".msg.assistant .text")).to_have_text(f"Hello from {BACKUP_MODEL}.")
    expect(page.locator(".chat-error")).to_have_count(0)
    if page.javascript:
        expect(page.locator("#send")).to_be_enabled()
        page.screenshot(path=str(shots / "chat-fallback.png"), full_page=True)

    # The admin sees the switch and the primary's cooldown on the overview.
    page.goto(live.url + "/")
    activity = page.locator("#activity")
    expect(activity.locator("table.events")).to_contain_text("alpha primary")
    expect(activity.locator("table.events")).to_contain_text("rate-limited (429)")
    expect(activity.locator(".cooling")).to_contain_text("alpha primary")
    if page.javascript:
        activity.screenshot(path=str(shots / "fallback-activity.png"))
