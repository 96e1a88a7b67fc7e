"""Migrations: upgrade from empty, match the models, and keep every row and assignment across the delta."""

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet

from llmcfg import create_app
from llmcfg.db import db

INITIAL = "938a11b9159e"
HEAD = "b7f1c2d3e4a5"
TABLES = ["organizations", "users", "api_tokens", "organization_credentials", "llm_configs",
          "courses", "homeworks", "fallback_events"]


@pytest.fixture
def migration_app(tmp_path):
    """An app on an empty SQLite file: the schema comes only from the migrations."""
    instance = tmp_path / "instance"
    app = create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'migrated.sqlite'}",
        "LLMCFG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    })
    app.db_path = instance / "migrated.sqlite"
    yield app
    with app.app_context():
        db.engine.dispose()


def flask_db(app, *args):
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def connect(app) -> sqlite3.Connection:
    conn = sqlite3.connect(app.db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def snapshot(app, drop_columns=("fallback_llm_config_id",)) -> dict:
    """Every row of every table, as dicts; drop_columns are left out so revisions compare."""
    with connect(app) as conn:
        return {
            table: [{k: row[k] for k in row.keys() if k not in drop_columns}
                    for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
            for table in TABLES
        }


def revision(app) -> str:
    with connect(app) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def seed_initial_revision(app) -> None:
    """Rows written as a database at the initial revision holds them: configs assigned everywhere."""
    now = "2026-01-01 00:00:00"
    with connect(app) as conn:
        conn.executescript(f"""
            INSERT INTO organizations (id, name, slug) VALUES (1, 'Alpha', 'alpha'), (2, 'Beta', 'beta');
            INSERT INTO users (id, email, password_hash, organization_id, role)
                VALUES (1, 'a@alpha.edu', 'x', 1, 'admin'), (2, 'b@beta.edu', 'x', 2, 'instructor');
            INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES (1, 1, 'cli', 'h1', '{now}');
            INSERT INTO organization_credentials (id, organization_id, provider, label, secret_ciphertext, secret_hint, created_at)
                VALUES (1, 1, 'openai', 'k', 'ciphertext-1', 'abcd', '{now}'),
                       (2, 2, 'anthropic', 'k2', 'ciphertext-2', 'wxyz', '{now}');
            INSERT INTO llm_configs (id, organization_id, name, provider, model, credential_id, params, created_at, updated_at)
                VALUES (1, 1, 'Primary', 'openai', 'gpt-4o-mini', 1, '{{}}', '{now}', '{now}'),
                       (2, 1, 'Backup', 'openai', 'gpt-4o', 1, '{{"temperature": 0.2}}', '{now}', '{now}'),
                       (3, 2, 'Beta main', 'anthropic', 'claude-3-5-haiku-latest', 2, '{{}}', '{now}', '{now}');
            UPDATE organizations SET default_llm_config_id = 1 WHERE id = 1;
            UPDATE organizations SET default_llm_config_id = 3 WHERE id = 2;
            INSERT INTO courses (id, organization_id, name, llm_config_id)
                VALUES (1, 1, 'Physics', 2), (2, 1, 'Chemistry', 1), (3, 2, 'Biology', 3), (4, 1, 'Art', NULL);
            INSERT INTO homeworks (id, course_id, title, llm_config_id)
                VALUES (1, 1, 'Pendulum', 1), (2, 1, 'Optics', 2), (3, 3, 'Cells', 3), (4, 4, 'Colour', NULL);
            INSERT INTO fallback_events (id, at, organization_id, from_config_id, to_config_id, reason, status_code, elapsed_ms)
                VALUES (1, '{now}', 1, 1, 2, 'rate_limited', 429, 12);
        """)


def foreign_key_problems(app) -> list:
    with connect(app) as conn:
        return conn.execute("PRAGMA foreign_key_check").fetchall()


def test_upgrade_from_empty_creates_the_full_schema(migration_app):
    flask_db(migration_app, "upgrade")

    assert revision(migration_app) == HEAD
    with connect(migration_app) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        config_columns = {r[1] for r in conn.execute("PRAGMA table_info(llm_configs)")}
    assert set(TABLES) <= tables
    assert "fallback_llm_config_id" in config_columns


def test_schema_after_upgrade_matches_the_models(migration_app):
    flask_db(migration_app, "upgrade")

    with migration_app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_fallback_column_is_a_self_key_with_set_null_and_an_index(migration_app):
    flask_db(migration_app, "upgrade")

    with connect(migration_app) as conn:
        keys = [dict(r) for r in conn.execute("PRAGMA foreign_key_list(llm_configs)")]
        indexes = [r["name"] for r in conn.execute("PRAGMA index_list(llm_configs)")]
    fallback_key = next(k for k in keys if k["from"] == "fallback_llm_config_id")
    assert (fallback_key["table"], fallback_key["to"], fallback_key["on_delete"]) == ("llm_configs", "id", "SET NULL")
    assert "ix_llm_configs_fallback_llm_config_id" in indexes


def test_upgrade_from_initial_revision_keeps_every_row_and_assignment(migration_app):
    flask_db(migration_app, "upgrade", INITIAL)
    seed_initial_revision(migration_app)
    before = snapshot(migration_app)

    flask_db(migration_app, "upgrade")

    assert revision(migration_app) == HEAD
    after = snapshot(migration_app)
    assert after == before
    # Spelled out, the values a batch rebuild with foreign keys on would have nulled:
    assert [r["default_llm_config_id"] for r in after["organizations"]] == [1, 3]
    assert [r["llm_config_id"] for r in after["courses"]] == [2, 1, 3, None]
    assert [r["llm_config_id"] for r in after["homeworks"]] == [1, 2, 3, None]
    assert [(r["from_config_id"], r["to_config_id"]) for r in after["fallback_events"]] == [(1, 2)]
    assert foreign_key_problems(migration_app) == []


def test_downgrade_to_initial_revision_keeps_assignments(migration_app):
    flask_db(migration_app, "upgrade", INITIAL)
    seed_initial_revision(migration_app)
    before = snapshot(migration_app)
    flask_db(migration_app, "upgrade")

    flask_db(migration_app, "downgrade", INITIAL)

    assert revision(migration_app) == INITIAL
    assert snapshot(migration_app) == before
    assert foreign_key_problems(migration_app) == []


def test_delta_down_and_up_again_on_a_database_with_rows_loses_nothing(migration_app):
    flask_db(migration_app, "upgrade")
    seed_initial_revision(migration_app)
    with connect(migration_app) as conn:
        conn.execute("UPDATE llm_configs SET fallback_llm_config_id = 2 WHERE id = 1")
    before = snapshot(migration_app)

    flask_db(migration_app, "downgrade", INITIAL)
    flask_db(migration_app, "upgrade")

    assert snapshot(migration_app) == before
    # The fallback link itself lives in the dropped column; everything else survives.
    with connect(migration_app) as conn:
        assert conn.execute("SELECT fallback_llm_config_id FROM llm_configs WHERE id = 1").fetchone()[0] is None
    assert foreign_key_problems(migration_app) == []


def test_migrations_leave_foreign_keys_enforced_for_the_app(migration_app):
    flask_db(migration_app, "upgrade")

    with migration_app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_downgrade_to_base_removes_every_table(migration_app):
    flask_db(migration_app, "upgrade")
    seed_initial_revision(migration_app)

    flask_db(migration_app, "downgrade", "base")

    with connect(migration_app) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables.isdisjoint(TABLES)
