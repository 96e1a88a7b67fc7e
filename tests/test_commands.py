"""`flask llmcfg …`: every command's happy path, its --json form, and refused input."""

import pytest
import sqlalchemy as sa

from llmcfg.auth.tokens import hash_token
from llmcfg.crypto import vault
from llmcfg.db import db
from llmcfg.models import ApiToken, Course, Homework, LLMConfig, Organization, OrganizationCredential, User
from tests.clitools import fails_cleanly, llmcfg, ok, ok_json

ALPHA_KEY = "sk-alpha-secret-key-1111aaaa"
COMMANDS = ["create-org", "create-user", "add-credential", "add-config", "set-fallback", "assign",
            "create-course", "create-homework", "create-token", "list-configs", "rotate-encryption-key"]


def test_every_command_is_listed_with_help(runner):
    result = ok(runner, "--help")
    for name in COMMANDS:
        assert name in result.stdout
        assert ok(runner, name, "--help").stdout.startswith("Usage:")


# create-org

def test_create_org_prints_its_id_and_derives_the_slug(app, runner):
    with app.app_context():
        org_id = int(ok(runner, "create-org", "Northside High School").stdout)
        org = db.session.get(Organization, org_id)
        assert (org.name, org.slug) == ("Northside High School", "northside-high-school")


def test_create_org_json(app, runner):
    with app.app_context():
        data = ok_json(runner, "create-org", "Lab", "--slug", "lab-1")
        assert data == {"id": data["id"], "name": "Lab", "slug": "lab-1", "default_llm_config_id": None}


@pytest.mark.parametrize("args, message", [
    (["Alpha again", "--slug", "alpha"], 'An organization with slug "alpha" already exists.'),
    (["Bad", "--slug", "Not A Slug"], "is not valid"),
    (["  "], "needs a name"),
])
def test_create_org_refuses_bad_input(orgs, runner, args, message):
    assert message in fails_cleanly(runner, "create-org", *args)


# create-user

def test_create_user_reads_the_password_from_stdin(orgs, runner):
    a, _ = orgs
    result = ok(runner, "create-user", "New.Teacher@Alpha.edu", "--org", "alpha", "--role", "instructor",
                input="a long password\n")
    assert "a long password" not in result.stdout + result.stderr
    user = db.session.get(User, int(result.stdout))
    assert (user.email, user.role, user.organization_id) == ("new.teacher@alpha.edu", "instructor", a.org.id)
    assert user.check_password("a long password")


def test_create_user_json(orgs, runner):
    data = ok_json(runner, "create-user", "boss@alpha.edu", "--org", "alpha", "--role", "admin", input="password99\n")
    assert data["email"] == "boss@alpha.edu" and data["role"] == "admin" and "password_hash" not in data


@pytest.mark.parametrize("args, stdin, message", [
    (["x@alpha.edu", "--org", "nowhere", "--role", "admin"], "password99\n", 'No organization with slug "nowhere".'),
    (["x@alpha.edu", "--org", "alpha", "--role", "owner"], "password99\n", "--role must be one of admin, instructor"),
    (["ADMIN@alpha.edu", "--org", "beta", "--role", "admin"], "password99\n", "already exists"),
    (["not-an-email", "--org", "alpha", "--role", "admin"], "password99\n", "not a valid email"),
    (["x@alpha.edu", "--org", "alpha", "--role", "admin"], "short\n", "at least 8 characters"),
    (["x@alpha.edu", "--org", "alpha", "--role", "admin"], "", "No password given"),
])
def test_create_user_refuses_bad_input(orgs, runner, args, stdin, message):
    assert message in fails_cleanly(runner, "create-user", *args, input=stdin)


# add-credential

def test_add_credential_encrypts_the_piped_key_and_never_prints_it(orgs, runner):
    result = ok(runner, "add-credential", "--org", "alpha", "--provider", "anthropic", "--label", "Claude key",
                input="sk-ant-piped-key-9f3a\n")
    assert "sk-ant-piped" not in result.stdout + result.stderr
    cred = db.session.get(OrganizationCredential, int(result.stdout))
    assert (cred.provider, cred.label, cred.secret_hint, cred.base_url) == ("anthropic", "Claude key", "9f3a", None)
    assert "sk-ant-piped" not in cred.secret_ciphertext
    assert vault().decrypt(cred.secret_ciphertext) == "sk-ant-piped-key-9f3a"


def test_add_credential_json_for_an_openai_compatible_server(orgs, runner):
    data = ok_json(runner, "add-credential", "--org", "alpha", "--provider", "openai_compatible", "--label", "Ollama",
                   "--base-url", "http://127.0.0.1:11434/v1/", input="local-key-abcd\n")
    assert data["base_url"] == "http://127.0.0.1:11434/v1"
    assert data["hint"] == "abcd"
    assert "local-key" not in str(data) and not any("cipher" in k for k in data)


@pytest.mark.parametrize("args, message", [
    (["--org", "alpha", "--provider", "gemini", "--label", "x"], "--provider must be one of"),
    (["--org", "alpha", "--provider", "openai_compatible", "--label", "x"], "needs --base-url"),
    (["--org", "alpha", "--provider", "openai", "--label", "x", "--base-url", "http://h/v1"], "only for openai_compatible"),
    (["--org", "alpha", "--provider", "openai_compatible", "--label", "x", "--base-url", "ftp://h"], "must start with http"),
    (["--org", "nowhere", "--provider", "openai", "--label", "x"], "No organization"),
    (["--org", "alpha", "--provider", "openai", "--label", " "], "needs a label"),
])
def test_add_credential_refuses_bad_input(orgs, runner, args, message):
    line = fails_cleanly(runner, "add-credential", *args, input="sk-should-not-be-stored\n")
    assert message in line and "sk-should" not in line


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434/v1", "http://10.1.2.3/v1", "http://169.254.169.254/v1"])
def test_add_credential_refuses_private_servers_unless_allowed(app, orgs, runner, url):
    app.config["LLMCFG_ALLOW_PRIVATE_BASE_URLS"] = False
    line = fails_cleanly(runner, "add-credential", "--org", "alpha", "--provider", "openai_compatible",
                         "--label", "x", "--base-url", url, input="sk-local-1234\n")
    assert url in line


@pytest.mark.parametrize("key", ["sk-wrapped half two", "sk-copied\u200bkey", "sk-tab\tkey"])
def test_add_credential_refuses_a_key_no_header_can_carry(orgs, runner, key):
    stored = db.session.scalar(sa.select(sa.func.count()).select_from(OrganizationCredential))
    line = fails_cleanly(runner, "add-credential", "--org", "alpha", "--provider", "openai", "--label", "x",
                         input=key + "\n")
    assert "paste the key again" in line
    assert "half two" not in line and "copied" not in line and "tab" not in line
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OrganizationCredential)) == stored


def test_add_credential_refuses_an_empty_key(orgs, runner):
    assert "No api key given" in fails_cleanly(
        runner, "add-credential", "--org", "alpha", "--provider", "openai", "--label", "x", input="\n")


# add-config

def test_add_config_takes_the_provider_from_the_credential(orgs, runner):
    a, _ = orgs
    cred = OrganizationCredential(organization=a.org, provider="openrouter", label="OR",
                                  secret_ciphertext=vault().encrypt("sk-or-1234"), secret_hint="1234")
    db.session.add(cred)
    db.session.commit()

    data = ok_json(runner, "add-config", "--org", "alpha", "--name", "Free tier", "--credential", cred.id,
                   "--model", "meta-llama/llama-3.1-8b-instruct:free", "--fallback", a.config.id)
    assert data["provider"] == "openrouter"
    assert data["fallback_llm_config_id"] == a.config.id
    assert data["chain_text"] == "Free tier → alpha primary → none"
    assert int(ok(runner, "add-config", "--org", "alpha", "--name", "Plain", "--credential", cred.id,
                  "--model", "x").stdout) == data["id"] + 1


@pytest.mark.parametrize("which", ["another organization's credential", "unknown credential", "unknown org"])
def test_add_config_refuses_what_is_not_the_organizations(orgs, runner, which):
    _, b = orgs
    org, cred = {"another organization's credential": ("alpha", b.credential.id),
                 "unknown credential": ("alpha", 424242), "unknown org": ("nowhere", b.credential.id)}[which]
    line = fails_cleanly(runner, "add-config", "--org", org, "--name", "x", "--credential", cred, "--model", "m")
    assert line.startswith("Error: No ")


# set-fallback (the rule matrix itself is in test_rules.py)

def test_set_fallback_json_and_none(orgs, runner):
    a, _ = orgs
    backup = ok_json(runner, "add-config", "--org", "alpha", "--name", "Backup", "--credential", a.credential.id,
                     "--model", "m")
    data = ok_json(runner, "set-fallback", a.config.id, backup["id"])
    assert data["chain"] == [a.config.id, backup["id"]]
    assert ok(runner, "set-fallback", a.config.id, "none").stdout.strip() == "alpha primary → none"


@pytest.mark.parametrize("args, message", [
    (["424242", "none"], "No config with id 424242."),
    (["1", "banana"], 'must be a number or "none"'),
])
def test_set_fallback_refuses_bad_input(orgs, runner, args, message):
    assert message in fails_cleanly(runner, "set-fallback", *args)


# assign

def test_assign_to_org_course_homework_and_clear(orgs, runner):
    a, _ = orgs
    cfg = a.config.id
    assert ok_json(runner, "assign", cfg, "--org-default")["default_llm_config_id"] == cfg
    assert ok_json(runner, "assign", cfg, "--course", a.course.id)["llm_config_id"] == cfg
    assert ok(runner, "assign", cfg, "--homework", a.homework.id).stdout.strip() == f"homework {a.homework.id}: alpha primary"
    db.session.expire_all()
    assert (a.org.default_llm_config_id, a.course.llm_config_id, a.homework.llm_config_id) == (cfg, cfg, cfg)

    ok(runner, "assign", "none", "--homework", a.homework.id)
    ok(runner, "assign", "none", "--org-default", "--org", "alpha")
    db.session.expire_all()
    assert (a.org.default_llm_config_id, a.course.llm_config_id, a.homework.llm_config_id) == (None, cfg, None)


@pytest.mark.parametrize("build, message", [
    (lambda a, b: [a.config.id], "exactly one of"),
    (lambda a, b: [a.config.id, "--org-default", "--course", a.course.id], "exactly one of"),
    (lambda a, b: [a.config.id, "--course", b.course.id], "No course with id"),
    (lambda a, b: [a.config.id, "--homework", b.homework.id], "No homework with id"),
    (lambda a, b: [a.config.id, "--org-default", "--org", "beta"], "No config with id"),
    (lambda a, b: [424242, "--org-default"], "No config with id 424242."),
    (lambda a, b: ["none", "--org-default"], "needs --org"),
])
def test_assign_refuses_bad_input(orgs, runner, build, message):
    assert message in fails_cleanly(runner, "assign", *build(*orgs))


# create-course, create-homework

def test_create_course_and_homework(orgs, runner):
    a, _ = orgs
    course = ok_json(runner, "create-course", "--org", "alpha", "--name", "Chemistry")
    assert course["organization_id"] == a.org.id and course["name"] == "Chemistry"
    homework_id = int(ok(runner, "create-homework", "--course", course["id"], "--title", "Titration").stdout)
    assert db.session.get(Homework, homework_id).course_id == course["id"]
    assert ok_json(runner, "create-homework", "--course", course["id"], "--title", "Salts")["title"] == "Salts"
    assert db.session.get(Course, course["id"]) is not None


@pytest.mark.parametrize("args, message", [
    (["create-course", "--org", "nowhere", "--name", "x"], "No organization"),
    (["create-course", "--org", "alpha", "--name", " "], "needs a name"),
    (["create-homework", "--course", "424242", "--title", "x"], "No course with id 424242."),
])
def test_create_course_and_homework_refuse_bad_input(orgs, runner, args, message):
    assert message in fails_cleanly(runner, *args)


# create-token

def test_create_token_shows_the_secret_once_and_stores_its_hash(orgs, runner):
    data = ok_json(runner, "create-token", "ADMIN@alpha.edu", "--name", "grading script")
    row = db.session.get(ApiToken, data["id"])
    assert row.token_hash == hash_token(data["token"]) and data["token"] not in row.token_hash
    lines = ok(runner, "create-token", "admin@alpha.edu", "--name", "second").stdout.split()
    assert int(lines[0]) == data["id"] + 1 and lines[1].startswith("llmcfg_")


def test_create_token_refuses_an_unknown_user(orgs, runner):
    assert "No user with email" in fails_cleanly(runner, "create-token", "ghost@alpha.edu", "--name", "x")


# list-configs

def test_list_configs_shows_chains_and_where_effective_configs_come_from(orgs, runner):
    a, _ = orgs
    backup = ok_json(runner, "add-config", "--org", "alpha", "--name", "Backup", "--credential", a.credential.id,
                     "--model", "claude")
    ok(runner, "set-fallback", a.config.id, backup["id"])
    ok(runner, "assign", a.config.id, "--org-default")
    ok(runner, "assign", backup["id"], "--homework", a.homework.id)

    text = ok(runner, "list-configs", "--org", "alpha").stdout
    assert "alpha primary → Backup → none" in text
    assert f"course #{a.course.id} alpha physics: alpha primary (from organization Alpha)" in text
    assert f"homework #{a.homework.id} alpha homework 1: Backup (from homework alpha homework 1)" in text
    assert "•••• aaaa" in text
    assert "beta" not in text and ALPHA_KEY not in text

    data = ok_json(runner, "list-configs", "--org", "alpha")
    assert [c["chain_text"] for c in data["configs"]] == ["alpha primary → Backup → none", "Backup → none"]
    course = data["courses"][0]
    assert course["effective"]["source"] == "organization"
    assert course["homework"][0]["effective"] == {
        "config_id": backup["id"], "name": "Backup", "source": "homework", "source_name": "alpha homework 1"}
    assert ALPHA_KEY not in str(data) and a.credential.secret_ciphertext not in str(data)


def test_list_configs_says_when_nothing_is_configured(orgs, runner):
    text = ok(runner, "list-configs", "--org", "beta").stdout
    assert "beta physics: none (nothing configured)" in text


def test_list_configs_refuses_an_unknown_org(orgs, runner):
    assert 'No organization with slug "nowhere".' in fails_cleanly(runner, "list-configs", "--org", "nowhere")


# rotate-encryption-key (both modes in test_crypto.py)

def test_rotation_with_a_single_env_key_explains_what_to_do(orgs, runner):
    line = fails_cleanly(runner, "rotate-encryption-key")
    assert "put a new key first" in line


def test_no_command_output_contains_a_stored_key(orgs, runner):
    outputs = [
        llmcfg(runner, "list-configs", "--org", "alpha"),
        llmcfg(runner, "list-configs", "--org", "alpha", "--json"),
        llmcfg(runner, "set-fallback", "1", "none", "--json"),
        llmcfg(runner, "add-config", "--org", "alpha", "--name", "x", "--credential", "1", "--model", "m", "--json"),
    ]
    for result in outputs:
        assert ALPHA_KEY not in result.stdout + result.stderr
    rows = db.session.scalars(sa.select(LLMConfig)).all()
    assert len(rows) == 3
