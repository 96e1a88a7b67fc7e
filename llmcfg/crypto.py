"""Encrypt provider keys at rest with Fernet; MultiFernet lets an old key keep decrypting during rotation."""

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .config import write_private_file

KEY_FILE_NAME = "encryption.key"


class KeyUnavailable(RuntimeError):
    """A stored key cannot be decrypted with the configured encryption keys."""


class Vault:
    """Encrypt and decrypt credential secrets; the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

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
        return self._fernet.rotate(token.encode()).decode()


def split_keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def key_file(instance_path: str) -> Path:
    return Path(instance_path) / KEY_FILE_NAME


def load_vault(app) -> Vault:
    """Build the vault from LLMCFG_ENCRYPTION_KEY, else from the instance key file (created 0600 on first run)."""
    configured = app.config.get("LLMCFG_ENCRYPTION_KEY")
    if configured:
        return Vault(split_keys(configured))
    path = key_file(app.instance_path)
    if not path.exists():
        write_private_file(path, Fernet.generate_key().decode() + "\n")
    return Vault(split_keys(path.read_text()))


def secret_hint(secret: str) -> str:
    """Return the last 4 characters, the only part of a key a page ever shows."""
    return secret.strip()[-4:]


def init_app(app):
    app.extensions["llmcfg_vault"] = load_vault(app)


def vault(app=None) -> Vault:
    from flask import current_app

    return (app or current_app).extensions["llmcfg_vault"]


def generate_key() -> str:
    return Fernet.generate_key().decode()


