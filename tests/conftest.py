"""Shared fixtures: an app on a fresh SQLite file, its client and CLI runner, and seeded data."""

import pytest
from cryptography.fernet import Fernet

from llmcfg import create_app
from llmcfg.db import db

pytest_plugins = ["tests.fixtures", "tests.admin_fixtures", "tests.fakes.plugin", "tests.redis_server"]


@pytest.fixture
def app(tmp_path):
    instance = tmp_path / "instance"
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'test.sqlite'}",
            "LLMCFG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "LLMCFG_ALLOW_PRIVATE_BASE_URLS": True,
            # Nothing listens on port 9: a test that forgets `fake_app` fails fast, never reaches out.
            "LLMCFG_BASE_URLS": {p: f"http://127.0.0.1:9/{p}/v1" for p in ("openai", "anthropic", "openrouter")},
        }
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    client = app.extensions.get("llmcfg_http")
    if client is not None:
        client.close()  # pooled upstream connections would otherwise stay open, one fake thread each


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
