"""Settings read from the environment (every one optional; README lists the defaults)."""

import math
import os
import secrets
import tempfile
from pathlib import Path

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
}


class SettingsError(ValueError):
    """A LLMCFG_* setting the app cannot start with; the message names it and says what it needs."""


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


def _seconds(name: str, default: str, *, integer: bool = False, zero_allowed: bool = False) -> int | float:
    """A number of seconds from the environment, or a SettingsError that names the setting."""
    raw = os.environ.get(name, "").strip() or default
    wanted = "a whole number of seconds" if integer else "a number of seconds"
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {wanted}, not {raw!r}.") from None
    if not (math.isfinite(value) and (value > 0 or (zero_allowed and value == 0))):
        bound = "0 or more" if zero_allowed else "more than 0"
        raise SettingsError(f"{name} must be {wanted}, {bound}, not {raw!r}.")
    return value


MOVE_INSTANCE = "set LLMCFG_INSTANCE_PATH to a folder this user may write to."


def _usable_folder(instance: Path) -> None:
    """Create the instance folder, or stop with one line that names it and the setting that moves it."""
    try:
        instance.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"The instance folder {instance} cannot be created ({reason}); {MOVE_INSTANCE}") from None
    if not os.access(instance, os.W_OK | os.X_OK):
        # It holds the generated secrets, the SQLite database, cooldowns and cached catalogs.
        raise SettingsError(f"The instance folder {instance} is not writable by this user; {MOVE_INSTANCE}")


def settings_from_env(instance_path: str) -> dict:
    """Build the Flask config mapping from LLMCFG_* environment variables."""
    instance = Path(instance_path)
    _usable_folder(instance)
    env = os.environ
    return {
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": env.get("LLMCFG_DATABASE_URL")
        or f"sqlite:///{instance / 'llmcfg.sqlite'}",
        "LLMCFG_ENCRYPTION_KEY": env.get("LLMCFG_ENCRYPTION_KEY"),
        "LLMCFG_CATALOG_TTL": _seconds("LLMCFG_CATALOG_TTL", "600", integer=True, zero_allowed=True),
        "LLMCFG_BASE_URLS": {
            provider: env.get(f"LLMCFG_{provider.upper()}_BASE_URL", default).rstrip("/")
            for provider, default in DEFAULT_BASE_URLS.items()
        },
        "LLMCFG_ALLOW_PRIVATE_BASE_URLS": _flag(env.get("LLMCFG_ALLOW_PRIVATE_BASE_URLS")),
        "LLMCFG_REDIS_URL": env.get("LLMCFG_REDIS_URL"),
        "LLMCFG_REDIS_PREFIX": env.get("LLMCFG_REDIS_PREFIX", "llmcfg"),  # two deployments, one Redis
        # Upstream timeouts (seconds): a stalled provider must become a fallback, not a hung worker.
        "LLMCFG_CONNECT_TIMEOUT": _seconds("LLMCFG_CONNECT_TIMEOUT", "5"),
        "LLMCFG_READ_TIMEOUT": _seconds("LLMCFG_READ_TIMEOUT", "30"),
    }
