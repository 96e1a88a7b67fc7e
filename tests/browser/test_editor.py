"""The config editor in a real browser, with JavaScript (htmx) and without it (form posts)."""

from playwright.sync_api import expect

from llmcfg.db import db
from llmcfg.models import LLMConfig
from tests.fakes.plugin import KEYS, Behavior

OR_KEY, ANTHROPIC_KEY = KEYS["openrouter"], KEYS["anthropic"]
FREE_MODEL = "meta-llama/llama-3.3-70b-instruct:free"
BACKUP_MODEL = "claude-3-5-haiku-20241022"


def act(page, selector: str) -> None:
    """Press a button: with JavaScript htmx swaps a part; without it the form posts and reloads."""
    if page.javascript:
        page.click(selector)
    else:
        with page.expect_navigation():
            page.click(selector)


def option_value(page, select: str, text: str) -> str:
    return page.locator(f"{select} option", has_text=text).first.get_attribute("value")


def add_openrouter_key(page, live) -> None:
    live.secrets.add(OR_KEY)
    page.goto(live.url + "/credentials")
    page.select_option("#provider", "openrouter")
    page.fill("#label", "School OpenRouter")
    page.fill("#api_key", OR_KEY)
    with page.expect_navigation():
        page.click("text=Save key")
    expect(page.locator("table")).to_contain_text("School OpenRouter")
    expect(page.locator("table")).to_contain_text("•••• 0003")


def test_build_a_config_with_a_cross_provider_fallback(page, live, shots):
    add_openrouter_key(page, live)
    page.goto(live.url + "/configs/new")
    page.fill("#name", "Physics")
    page.select_option("#provider", "openrouter")
    if not page.javascript:  # with JavaScript the only OpenRouter key is picked by itself
        page.select_option("#credential", option_value(page, "#credential", "School OpenRouter"))
        act(page, "button[value=load_models]")

    catalog = page.locator("#model-catalog")
    expect(catalog.locator(f'input[value="{FREE_MODEL}"]')).to_have_count(1)
    assert catalog.locator("input[name=model]").count() >= 300

    page.fill("input[name=q]", "llama 3.3 free")
    if not page.javascript:
        act(page, "button[value=load_models]")
    expect(catalog).to_contain_text("matching “llama 3.3 free”")
    shown = catalog.locator("input[name=model]").evaluate_all("els => els.map(e => e.value)") \
        if page.javascript else [e.get_attribute("value") for e in catalog.locator("input[name=model]").all()]
    assert FREE_MODEL in shown and all("llama" in m and m.endswith(":free") for m in shown)
    page.check(f'input[name=model][value="{FREE_MODEL}"]')
    if page.javascript:  # the list's own refresh button asks the provider again, keeping filter and pick
        before = live.fake.count("openrouter", "/models")
        with page.expect_response(lambda r: r.url.endswith("/configs/models")) as answer:
            page.click("#model-catalog .refresh-catalog")
        assert answer.value.ok and live.fake.count("openrouter", "/models") == before + 1
        expect(catalog.locator(f'input[value="{FREE_MODEL}"]')).to_be_checked()
        expect(catalog).to_contain_text("matching “llama 3.3 free”")

    act(page, "button[value=test]")
    expect(page.locator("#connection-check")).to_contain_text("✓ Connection works.")
    expect(page.locator("#connection-check")).to_contain_text(" ms")
    expect(page.locator("#chain-preview")).to_contain_text("Free models are heavily rate-limited")

    live.fake.script("openrouter", FREE_MODEL, Behavior.http(429, retry_after="30"))
    page.check("#deep")
    act(page, "button[value=test]")
    expect(page.locator("#connection-check")).to_contain_text("✗ Connection failed.")
    expect(page.locator("#connection-check")).to_contain_text("rate-limited")

    live.secrets.add(ANTHROPIC_KEY)
    page.select_option("#fallback", "new")
    page.fill("#new_fallback-backup_name", "Claude backup")
    page.select_option("#new_fallback-provider", "anthropic")
    page.select_option("#new_fallback-credential", "new")
    page.fill("#new_fallback-new_credential-api_key", ANTHROPIC_KEY)
    page.fill("#new_fallback-model", BACKUP_MODEL)
    act(page, "button[value=test_chain]")
    chain_check = page.locator("#chain-check li")
    expect(chain_check).to_have_count(2)
    expect(chain_check.nth(0)).to_contain_text("Physics")
    expect(chain_check.nth(0)).to_contain_text("rate-limited")
    expect(chain_check.nth(1)).to_contain_text("Claude backup")
    expect(chain_check.nth(1)).to_contain_text("✓ works")
    chain = f"Physics → Claude backup (anthropic/{BACKUP_MODEL}) → none"
    expect(page.locator("#chain-preview")).to_contain_text(chain)
    expect(page.locator("#chain-preview")).not_to_contain_text("Free models")
    if page.javascript:
        page.screenshot(path=str(shots / "editor.png"), full_page=True)

    with page.expect_navigation():
        page.click(".actions button[value=save]")
    expect(page.locator(".flash")).to_contain_text('Config "Physics" saved.')
    expect(page.locator("#configs")).to_contain_text(chain)
    if page.javascript:
        page.screenshot(path=str(shots / "overview.png"), full_page=True)
    with live.app.app_context():
        physics = db.session.scalar(db.select(LLMConfig).filter_by(name="Physics"))
        assert (physics.provider, physics.model) == ("openrouter", FREE_MODEL)
        assert (physics.fallback.provider, physics.fallback.model) == ("anthropic", BACKUP_MODEL)
        assert physics.fallback.credential.secret_hint == ANTHROPIC_KEY[-4:]


def _seed_backup_of_primary(live) -> tuple[int, int]:
    """Add "Backup", which falls back to the seeded "alpha primary"; return both ids."""
    with live.app.app_context():
        primary = db.session.scalar(db.select(LLMConfig).filter_by(name="alpha primary"))
        backup = LLMConfig(organization_id=primary.organization_id, name="Backup", provider="openai",
                           model="gpt-4.1", credential_id=primary.credential_id, params={},
                           fallback_llm_config_id=primary.id)
        db.session.add(backup)
        db.session.commit()
        return primary.id, backup.id


def test_a_cycle_is_refused_inline(page, live, shots):
    primary_id, backup_id = _seed_backup_of_primary(live)
    page.goto(f"{live.url}/configs/{primary_id}/edit")
    page.select_option("#fallback", str(backup_id))
    message = "That would make a cycle: alpha primary → Backup → alpha primary."
    if page.javascript:  # refused as you pick, before saving
        expect(page.locator("#chain-preview .error")).to_have_text(message)
        page.locator("#fallback-section").screenshot(path=str(shots / "editor-cycle.png"))
    with page.expect_navigation():
        page.click(".actions button[value=save]")
    expect(page.locator("#chain-preview .error")).to_have_text(message)
    with live.app.app_context():
        assert db.session.get(LLMConfig, primary_id).fallback_llm_config_id is None


def test_assign_a_course_config(page, live):
    page.goto(live.url + "/")
    page.select_option("#assign-default", option_value(page, "#assign-default", "alpha primary"))
    if not page.javascript:
        with page.expect_navigation():
            page.click("#assignments form.assign:has(#assign-default) button")
    expect(page.locator("#courses")).to_contain_text("alpha primary from organization default")

