"""Settings come from LLMCFG_* environment variables, each with a documented default."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmcfg import PROJECT_ROOT, create_app, instance_path
from llmcfg.config import SettingsError, settings_from_env

ENV = ["LLMCFG_DATABASE_URL", "LLMCFG_CATALOG_TTL", "LLMCFG_OPENAI_BASE_URL", "LLMCFG_ANTHROPIC_BASE_URL",
       "LLMCFG_OPENROUTER_BASE_URL", "LLMCFG_ALLOW_PRIVATE_BASE_URLS", "LLMCFG_REDIS_URL", "LLMCFG_SECRET_KEY",
       "LLMCFG_CONNECT_TIMEOUT", "LLMCFG_READ_TIMEOUT", "LLMCFG_INSTANCE_PATH"]


def test_defaults(tmp_path, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    settings = settings_from_env(str(tmp_path))
    assert settings["LLMCFG_BASE_URLS"] == {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com/v1",
        "openrouter": "https://openrouter.ai/api/v1",
    }
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'llmcfg.sqlite'}"
    assert settings["LLMCFG_CATALOG_TTL"] == 600
    assert settings["LLMCFG_ALLOW_PRIVATE_BASE_URLS"] is False
    assert settings["LLMCFG_REDIS_URL"] is None
    assert (settings["LLMCFG_CONNECT_TIMEOUT"], settings["LLMCFG_READ_TIMEOUT"]) == (5.0, 30.0)
    # The generated session secret is stable across restarts and private to its owner.
    assert settings_from_env(str(tmp_path))["SECRET_KEY"] == settings["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCFG_OPENAI_BASE_URL", "http://127.0.0.1:8080/v1/")
    monkeypatch.setenv("LLMCFG_ANTHROPIC_BASE_URL", "http://127.0.0.1:8081/v1")
    monkeypatch.setenv("LLMCFG_OPENROUTER_BASE_URL", "http://127.0.0.1:8082/api/v1")
    monkeypatch.setenv("LLMCFG_CATALOG_TTL", "60")
    monkeypatch.setenv("LLMCFG_ALLOW_PRIVATE_BASE_URLS", "1")
    monkeypatch.setenv("LLMCFG_DATABASE_URL", "sqlite:////tmp/elsewhere.sqlite")
    monkeypatch.setenv("LLMCFG_SECRET_KEY", "from-env")
    monkeypatch.setenv("LLMCFG_READ_TIMEOUT", "12.5")
    settings = settings_from_env(str(tmp_path))
    assert settings["LLMCFG_BASE_URLS"]["openai"] == "http://127.0.0.1:8080/v1"  # trailing slash dropped
    assert settings["LLMCFG_BASE_URLS"]["anthropic"] == "http://127.0.0.1:8081/v1"
    assert settings["LLMCFG_BASE_URLS"]["openrouter"] == "http://127.0.0.1:8082/api/v1"
    assert settings["LLMCFG_CATALOG_TTL"] == 60
    assert settings["LLMCFG_ALLOW_PRIVATE_BASE_URLS"] is True
    assert settings["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/elsewhere.sqlite"
    assert settings["SECRET_KEY"] == "from-env" and not (tmp_path / "secret_key").exists()
    assert settings["LLMCFG_READ_TIMEOUT"] == 12.5


def test_the_instance_folder_can_be_moved_with_llmcfg_instance_path(tmp_path, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    assert instance_path() is None  # unset: Flask's default, instance/ beside app.py
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMCFG_INSTANCE_PATH", "deploy-b/instance")  # relative to where the app starts
    app = create_app()
    moved = tmp_path / "deploy-b" / "instance"
    assert app.instance_path == str(moved)
    assert (moved / "secret_key").exists()  # what the app generates goes there
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{moved / 'llmcfg.sqlite'}"
    # A test_config's INSTANCE_PATH still wins over the environment.
    assert create_app({"INSTANCE_PATH": str(tmp_path / "t")}).instance_path == str(tmp_path / "t")


@pytest.mark.parametrize(("name", "value", "wanted"), [
    ("LLMCFG_CATALOG_TTL", "ten minutes", "LLMCFG_CATALOG_TTL must be a whole number of seconds, not 'ten minutes'."),
    ("LLMCFG_CATALOG_TTL", "-1", "LLMCFG_CATALOG_TTL must be a whole number of seconds, 0 or more, not '-1'."),
    ("LLMCFG_CONNECT_TIMEOUT", "5s", "LLMCFG_CONNECT_TIMEOUT must be a number of seconds, not '5s'."),
    ("LLMCFG_READ_TIMEOUT", "0", "LLMCFG_READ_TIMEOUT must be a number of seconds, more than 0, not '0'."),
    ("LLMCFG_READ_TIMEOUT", "nan", "LLMCFG_READ_TIMEOUT must be a number of seconds, more than 0, not 'nan'."),
])
def test_a_number_the_app_cannot_use_stops_it_with_the_settings_name(tmp_path, monkeypatch, name, value, wanted):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        settings_from_env(str(tmp_path))
    assert str(caught.value) == wanted


def test_an_empty_number_setting_means_its_default(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCFG_CATALOG_TTL", "")
    monkeypatch.setenv("LLMCFG_READ_TIMEOUT", " ")
    settings = settings_from_env(str(tmp_path))
    assert (settings["LLMCFG_CATALOG_TTL"], settings["LLMCFG_READ_TIMEOUT"]) == (600, 30.0)


def test_an_instance_folder_that_cannot_be_one_stops_the_app_with_a_line_naming_it(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("not a folder")
    for inside in ("afile", "afile/instance"):  # an existing file; a path under a file
        monkeypatch.setenv("LLMCFG_INSTANCE_PATH", str(tmp_path / inside))
        with pytest.raises(SettingsError) as caught:
            create_app()
        assert str(caught.value).startswith(f"The instance folder {tmp_path / inside} cannot be created (")
        assert "set LLMCFG_INSTANCE_PATH to a folder this user may write to" in str(caught.value)


def test_the_flask_command_stops_with_one_line_not_a_traceback(tmp_path):
    env = {**os.environ, "LLMCFG_READ_TIMEOUT": "soon", "LLMCFG_INSTANCE_PATH": str(tmp_path / "instance")}
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run([str(flask), "--app", "app", "routes"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "llmcfg cannot start: LLMCFG_READ_TIMEOUT must be a number of seconds, not 'soon'."
