"""Encrypt provider keys at rest with Fernet; MultiFernet lets an old key keep decrypting during rotation."""

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .config import write_private_file

KEY_FILE_NAME = "encryption.key"


class KeyUnavailable(RuntimeError):
    """A stored key cannot be decrypted with the configured encryption keys."""


class Vault:
    """Encrypt and decrypt credential secrets; the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[str]):
        self._use(keys)

    def _use(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        # Build first, then swap, so a concurrent reader never sees half a key set.
        fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        self.keys, self._fernet = list(keys), fernet

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise KeyUnavailable(
                "A stored API key cannot be decrypted with the configured encryption key; "
                "was LLMCFG_ENCRYPTION_KEY or instance/encryption.key changed?"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the first key (it must decrypt under one of the keys)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise KeyUnavailable("A stored API key cannot be decrypted with the configured encryption keys.") from None


class KeyFileVault(Vault):
    """A vault whose keys live in the instance key file, re-read whenever the file changes.

    Several server processes share the file: after `rotate-encryption-key` rewrites it, each
    process picks up the new key on its next use instead of encrypting under a retired one.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp = None
        self._lock = threading.Lock()
        self._refresh()

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            # Keep the keys already loaded: inventing a new key here would orphan every credential.
            if self._stamp is None:
                raise
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        with self._lock:
            self._use(split_keys(self.path.read_text()))
            self._stamp = stamp

    def encrypt(self, secret: str) -> str:
        self._refresh()
        return super().encrypt(secret)

    def decrypt(self, token: str) -> str:
        self._refresh()
        return super().decrypt(token)

    def rotate(self, token: str) -> str:
        self._refresh()
        return super().rotate(token)


def split_keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def key_file(instance_path: str) -> Path:
    return Path(instance_path) / KEY_FILE_NAME


def generate_key() -> str:
    return Fernet.generate_key().decode()


def load_vault(app) -> Vault:
    """Build the vault from LLMCFG_ENCRYPTION_KEY, else from the instance key file (created 0600 on first run)."""
    configured = app.config.get("LLMCFG_ENCRYPTION_KEY")
    if configured:
        return Vault(split_keys(configured))
    path = key_file(app.instance_path)
    if not path.exists():
        # exclusive: when several workers start at once, the first file written wins for all.
        write_private_file(path, generate_key() + "\n", exclusive=True)
    return KeyFileVault(path)


SHORTEST_HINTED_KEY = 12


def secret_hint(secret: str) -> str:
    """Return the last 4 characters, the only part of a key a page ever shows.

    A short key (some local servers take any word) gets no hint: 4 characters would be most of it.
    """
    secret = secret.strip()
    return secret[-4:] if len(secret) >= SHORTEST_HINTED_KEY else ""


def init_app(app):
    app.extensions["llmcfg_vault"] = load_vault(app)


def vault(app=None) -> Vault:
    from flask import current_app

    return (app or current_app).extensions["llmcfg_vault"]


@dataclass(frozen=True)
class Rotation:
    count: int  # credentials re-encrypted
    source: str  # "file" or "env"


def reencrypt_credentials(with_vault: Vault) -> int:
    """Re-encrypt every stored credential under the vault's first key, in one transaction."""
    import sqlalchemy as sa

    from .db import db
    from .models import OrganizationCredential

    try:
        credentials = db.session.scalars(sa.select(OrganizationCredential)).all()
        for credential in credentials:
            credential.secret_ciphertext = with_vault.rotate(credential.secret_ciphertext)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(credentials)


def _check_all_decrypt(with_vault: Vault) -> None:
    import sqlalchemy as sa

    from .db import db
    from .models import OrganizationCredential

    for cred_id, token in db.session.execute(
        sa.select(OrganizationCredential.id, OrganizationCredential.secret_ciphertext)
    ):
        try:
            with_vault.decrypt(token)
        except KeyUnavailable:
            raise KeyUnavailable(
                f"Credential {cred_id} cannot be decrypted with the current encryption key(s); nothing was changed."
            ) from None


def rotate_encryption_key(app) -> Rotation:
    """Move every credential to a new encryption key without a moment where one is unreadable.

    Key file: write "new, old…" (both decrypt), re-encrypt under new and commit, then keep only new.
    A crash before the commit leaves old ciphertexts that the old key (still in the file) reads;
    a crash after it leaves new ciphertexts that the new key (first in the file) reads.
    LLMCFG_ENCRYPTION_KEY: the operator lists the new key first; everything moves to it.
    """
    configured = app.config.get("LLMCFG_ENCRYPTION_KEY")
    if configured:
        keys = split_keys(configured)
        if len(keys) < 2:
            raise ValueError(
                "LLMCFG_ENCRYPTION_KEY holds one key: put a new key first and the current one after it "
                "(LLMCFG_ENCRYPTION_KEY=<new>,<current>), then run this command again."
            )
        env_vault = Vault(keys)
        _check_all_decrypt(env_vault)
        return Rotation(reencrypt_credentials(env_vault), "env")

    path = key_file(app.instance_path)
    old_keys = split_keys(path.read_text())
    _check_all_decrypt(Vault(old_keys))
    new_key = generate_key()
    write_private_file(path, "\n".join([new_key, *old_keys]) + "\n")
    count = reencrypt_credentials(Vault([new_key, *old_keys]))
    write_private_file(path, new_key + "\n")
    app.extensions["llmcfg_vault"] = KeyFileVault(path)
    return Rotation(count, "file")
