"""Settings read from the environment (every one optional; README lists the defaults)."""

import os
import secrets
import tempfile
from pathlib import Path

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
}


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance_path: Path) -> str:
    """Return a stable session secret: the env setting, else one generated into the instance folder."""
    if os.environ.get("LLMCFG_SECRET_KEY"):
        return os.environ["LLMCFG_SECRET_KEY"]
    path = instance_path / "secret_key"
    if not path.exists():
        write_private_file(path, secrets.token_hex(32), exclusive=True)
    return path.read_text().strip()


def write_private_file(path: Path, text: str, *, exclusive: bool = False) -> bool:
    """Write a file only its owner can read (mode 0600 from the start, never world-readable).

    The text goes to a unique temporary file, is flushed to disk, then moved into place, so a
    crash leaves either the old file or the new one. With exclusive=True an existing file wins
    (several workers starting at once agree on one secret); return whether this call wrote it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic create-if-absent
            return True
        except FileExistsError:
            return False
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def settings_from_env(instance_path: str) -> dict:
    """Build the Flask config mapping from LLMCFG_* environment variables."""
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    env = os.environ
    return {
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": env.get("LLMCFG_DATABASE_URL")
        or f"sqlite:///{instance / 'llmcfg.sqlite'}",
        "LLMCFG_ENCRYPTION_KEY": env.get("LLMCFG_ENCRYPTION_KEY"),
        "LLMCFG_CATALOG_TTL": int(env.get("LLMCFG_CATALOG_TTL", "600")),
        "LLMCFG_BASE_URLS": {
            provider: env.get(f"LLMCFG_{provider.upper()}_BASE_URL", default).rstrip("/")
            for provider, default in DEFAULT_BASE_URLS.items()
        },
        "LLMCFG_ALLOW_PRIVATE_BASE_URLS": _flag(env.get("LLMCFG_ALLOW_PRIVATE_BASE_URLS")),
        "LLMCFG_REDIS_URL": env.get("LLMCFG_REDIS_URL"),
        "LLMCFG_REDIS_PREFIX": env.get("LLMCFG_REDIS_PREFIX", "llmcfg"),  # two deployments, one Redis
        # Upstream timeouts (seconds): a stalled provider must become a fallback, not a hung worker.
        "LLMCFG_CONNECT_TIMEOUT": float(env.get("LLMCFG_CONNECT_TIMEOUT", "5")),
        "LLMCFG_READ_TIMEOUT": float(env.get("LLMCFG_READ_TIMEOUT", "30")),
    }
