"""Helpers for CLI tests: run a `flask llmcfg` command and read the whole database back."""

import json

import sqlalchemy as sa

from llmcfg.db import db

TABLES = ["organizations", "users", "api_tokens", "organization_credentials", "llm_configs",
          "courses", "homeworks", "fallback_events"]


def llmcfg(runner, *args, input=None):
    """Run `flask llmcfg ARGS…`; input feeds stdin (a piped password or key)."""
    return runner.invoke(args=["llmcfg", *map(str, args)], input=input)


def ok(runner, *args, input=None):
    result = llmcfg(runner, *args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def ok_json(runner, *args, input=None) -> dict:
    return json.loads(ok(runner, *args, "--json", input=input).stdout)


def dump_database() -> dict:
    """Every row of every table (raw SQL, so nothing cached in the session hides a change)."""
    db.session.expire_all()
    return {
        table: [tuple(row) for row in db.session.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))]
        for table in TABLES
    }


def fails_cleanly(runner, *args, input=None) -> str:
    """Run a command that must be refused: non-zero exit, one line on stderr, database unchanged.

    Returns that line.
    """
    before = dump_database()
    result = llmcfg(runner, *args, input=input)
    assert result.exit_code != 0, (result.stdout, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert dump_database() == before
    return lines[0]
