"""Keys at rest: never in plain text on disk, key file 0600, and rotation that never strands a key."""

import os
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from llmcfg import create_app, crypto
from llmcfg.config import write_private_file
from llmcfg.crypto import KeyUnavailable, Vault, key_file, secret_hint, split_keys, vault
from llmcfg.db import db
from llmcfg.models import OrganizationCredential
from tests.clitools import llmcfg, ok
from tests.fixtures import make_org

MODEL_KEY = "sk-model-written-PLAINTEXT-7b2e"
CLI_KEY = "sk-cli-written-PLAINTEXT-4c9d"


def build_app(instance, encryption_key=None):
    app = create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'llmcfg.sqlite'}",
        "LLMCFG_ENCRYPTION_KEY": encryption_key,
    })
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def file_app(tmp_path):
    """An app whose encryption key lives in the instance folder (no LLMCFG_ENCRYPTION_KEY)."""
    app = build_app(tmp_path / "instance")
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def stored_ciphertexts() -> dict[int, str]:
    return dict(db.session.execute(sa.select(OrganizationCredential.id, OrganizationCredential.secret_ciphertext)).all())


def decrypt_all(with_vault) -> dict[int, str]:
    return {cid: with_vault.decrypt(token) for cid, token in stored_ciphertexts().items()}


def seed_two_keys(app):
    make_org("alpha", key=MODEL_KEY)
    ok(app.test_cli_runner(), "add-credential", "--org", "alpha", "--provider", "openai", "--label", "cli",
       input=CLI_KEY + "\n")


def test_no_file_in_the_instance_folder_holds_a_key_in_plain_text(file_app):
    seed_two_keys(file_app)
    db.session.execute(sa.text("PRAGMA wal_checkpoint(PASSIVE)"))

    files = [p for p in key_file(file_app.instance_path).parent.rglob("*") if p.is_file()]
    assert any(p.name == "llmcfg.sqlite" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (MODEL_KEY, CLI_KEY):
            assert secret.encode() not in data, f"{secret} in plain text in {path.name}"
            assert secret.encode("utf-16-le") not in data
    # The keys are there, just not readable without the vault.
    assert sorted(decrypt_all(vault()).values()) == sorted([MODEL_KEY, CLI_KEY])


def test_key_file_is_created_private_on_first_run(file_app):
    path = key_file(file_app.instance_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent / "secret_key").st_mode) == 0o600
    Fernet(split_keys(path.read_text())[0].encode())  # a real Fernet key


def test_a_second_app_on_the_same_instance_reuses_the_key(file_app, tmp_path):
    seed_two_keys(file_app)
    other = build_app(tmp_path / "instance")
    with other.app_context():
        assert sorted(decrypt_all(vault(other)).values()) == sorted([MODEL_KEY, CLI_KEY])
        db.engine.dispose()


def test_exclusive_private_write_never_replaces_an_existing_file(tmp_path):
    path = tmp_path / "k"
    assert write_private_file(path, "first", exclusive=True) is True
    assert write_private_file(path, "second", exclusive=True) is False
    assert path.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary file left behind


def test_rotation_with_the_key_file(file_app):
    seed_two_keys(file_app)
    path = key_file(file_app.instance_path)
    old_key = path.read_text().strip()

    result = ok(file_app.test_cli_runner(), "rotate-encryption-key")

    assert "Re-encrypted 2 credential(s)" in result.stdout
    keys = split_keys(path.read_text())
    assert len(keys) == 1 and keys[0] != old_key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(decrypt_all(Vault(keys)).values()) == sorted([MODEL_KEY, CLI_KEY])
    with pytest.raises(KeyUnavailable):
        decrypt_all(Vault([old_key]))
    assert MODEL_KEY not in result.stdout + result.stderr


def test_rotation_interrupted_before_commit_leaves_every_key_readable(file_app, monkeypatch):
    seed_two_keys(file_app)
    path = key_file(file_app.instance_path)
    old_key = path.read_text().strip()

    def crash(with_vault):
        raise KeyboardInterrupt  # the process dies mid-way

    monkeypatch.setattr(crypto, "reencrypt_credentials", crash)
    with pytest.raises(KeyboardInterrupt):
        crypto.rotate_encryption_key(file_app)

    keys = split_keys(path.read_text())
    assert keys[1:] == [old_key]
    assert sorted(decrypt_all(Vault(keys)).values()) == sorted([MODEL_KEY, CLI_KEY])

    monkeypatch.undo()
    crypto.rotate_encryption_key(file_app)  # running it again finishes the job
    assert sorted(decrypt_all(Vault(split_keys(path.read_text()))).values()) == sorted([MODEL_KEY, CLI_KEY])
    assert len(split_keys(path.read_text())) == 1


def test_rotation_interrupted_after_commit_leaves_every_key_readable(file_app, monkeypatch):
    seed_two_keys(file_app)
    path = key_file(file_app.instance_path)
    old_key = path.read_text().strip()
    writes = []

    def write_then_crash(target, text, **kwargs):
        writes.append(text)
        if len(writes) == 2:  # the final "new key only" write
            raise KeyboardInterrupt
        return write_private_file(target, text, **kwargs)

    monkeypatch.setattr(crypto, "write_private_file", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        crypto.rotate_encryption_key(file_app)

    keys = split_keys(path.read_text())
    assert keys[1:] == [old_key]
    assert sorted(decrypt_all(Vault(keys[:1])).values()) == sorted([MODEL_KEY, CLI_KEY])  # committed under new


def test_running_processes_pick_up_a_rotated_key_file(file_app, tmp_path):
    """Another server process still holding the old key set encrypts under the new key afterwards."""
    seed_two_keys(file_app)
    other = build_app(tmp_path / "instance")
    other_vault = vault(other)
    other_vault.decrypt(next(iter(stored_ciphertexts().values())))

    crypto.rotate_encryption_key(file_app)

    new_only = Vault(split_keys(key_file(file_app.instance_path).read_text()))
    assert new_only.decrypt(other_vault.encrypt("sk-written-after")) == "sk-written-after"
    with other.app_context():
        db.engine.dispose()


def test_rotation_with_the_environment_setting(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = build_app(tmp_path / "instance", encryption_key=old)
    with before.app_context():
        seed_two_keys(before)
        db.session.remove()
        db.engine.dispose()

    app = build_app(tmp_path / "instance", encryption_key=f"{new},{old}")
    with app.app_context():
        result = ok(app.test_cli_runner(), "rotate-encryption-key")
        assert "Re-encrypted 2 credential(s)" in result.stdout
        assert "remove the old key" in result.stdout
        assert sorted(decrypt_all(Vault([new])).values()) == sorted([MODEL_KEY, CLI_KEY])
        with pytest.raises(KeyUnavailable):
            decrypt_all(Vault([old]))
        assert not key_file(app.instance_path).exists()
        db.session.remove()
        db.engine.dispose()


def test_rotation_refuses_when_a_stored_key_is_already_unreadable(tmp_path):
    app = build_app(tmp_path / "instance", encryption_key=f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}")
    with app.app_context():
        make_org("alpha", key=MODEL_KEY)
        foreign = Fernet(Fernet.generate_key()).encrypt(b"sk-other").decode()
        db.session.execute(sa.update(OrganizationCredential).values(secret_ciphertext=foreign))
        db.session.commit()

        result = llmcfg(app.test_cli_runner(), "rotate-encryption-key")

        assert result.exit_code != 0
        assert "cannot be decrypted" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert stored_ciphertexts() == {1: foreign}
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("key, hint", [("sk-proj-abcdefgh9f3a", "9f3a"), (" sk-with-space-1234 \n", "1234"), ("ollama", "")])
def test_the_hint_is_the_last_four_characters_of_a_long_key_only(key, hint):
    assert secret_hint(key) == hint


def test_credential_repr_never_shows_the_key(file_app):
    org = make_org("alpha", key=MODEL_KEY)
    text = repr(org.credential)
    assert MODEL_KEY not in text and org.credential.secret_ciphertext not in text and "7b2e" in text
