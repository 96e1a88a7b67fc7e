"""Figure 6: SQL statements one chat request issues, counted with a before_cursor_execute listener.

The request is the whole POST /api/chat/stream (token check, resolve, chain, stream) through the
app in this process, on its own SQLite database, against the bench upstream.
"""

import re
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

from llmcfg import create_app
from llmcfg.auth.tokens import issue_token
from llmcfg.crypto import secret_hint, vault
from llmcfg.db import db
from llmcfg.models import Course, Homework, LLMConfig, Organization, OrganizationCredential, User

from .client import HELLO
from .context import Context
from .report import Row
from .seed import BENCH_KEY

MODEL = "ok-3-0"


def _org(slug: str, chain_length: int):
    org = Organization(name=slug.title(), slug=slug)
    user = User(email=f"admin@{slug}.example", organization=org, role="admin")
    user.set_password("bench password")
    key = OrganizationCredential(organization=org, provider="openai", label="key",
                                 secret_ciphertext=vault().encrypt(BENCH_KEY), secret_hint=secret_hint(BENCH_KEY))
    configs, fallback = [], None
    for i in reversed(range(chain_length)):  # build from the tail so each row can name its fallback
        fallback = LLMConfig(organization=org, name=f"{slug} config {i}", provider="openai", model=MODEL,
                             credential=key, params={}, fallback=fallback)
        configs.insert(0, fallback)
    course = Course(organization=org, name=f"{slug} course")
    homework = Homework(course=course, title=f"{slug} homework")
    db.session.add_all([org, user, key, *configs, course, homework])
    db.session.flush()
    org.default_llm_config = configs[0]
    return user, configs, course, homework


def _scenarios(app) -> dict[str, tuple[str, dict]]:
    with app.app_context():
        db.create_all()
        deep_user, deep_chain, _, deep_homework = _org("deep", 4)
        flat_user, _, _, flat_homework = _org("flat", 1)
        course = Course(organization_id=deep_user.organization.id, name="course with its own config",
                        llm_config=deep_chain[0])
        db.session.add(course)
        db.session.commit()
        _, deep_token = issue_token(deep_user, "bench")
        _, flat_token = issue_token(flat_user, "bench")
        scenarios = {
            "Homework inheriting the organization default, 3-hop chain": (deep_token, {"homework_id": deep_homework.id}),
            "Homework inheriting the organization default, 1-config chain": (flat_token, {"homework_id": flat_homework.id}),
            "Course-level config, 3-hop chain": (deep_token, {"course_id": course.id}),
            "Config named directly, 3-hop chain": (deep_token, {"config_id": deep_chain[0].id}),
        }
    return scenarios


def count_statements(app, token: str, payload: dict) -> list[str]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    client = app.test_client()
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.post("/api/chat/stream", json={**payload, "messages": HELLO},
                               headers={"Authorization": f"Bearer {token}"})
        body = response.get_data(as_text=True)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    if response.status_code != 200 or "event: done" not in body:
        raise RuntimeError(f"chat failed ({response.status_code}): {body[:300]}")
    return statements


def figure_queries(ctx: Context) -> None:
    instance = Path(ctx.workdir) / "queries-instance"
    base_urls = {p: ctx.upstream.base_url for p in ("openai", "openrouter", "anthropic")}
    app = create_app({
        "INSTANCE_PATH": str(instance), "SECRET_KEY": "bench", "LLMCFG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'queries.sqlite'}", "LLMCFG_BASE_URLS": base_urls,
    })
    scenarios = _scenarios(app)
    counts = {}
    for name, (token, payload) in scenarios.items():
        count_statements(app, token, payload)  # warm: the first request of a process loads more
        counts[name] = count_statements(app, token, payload)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()

    first = next(iter(counts))
    baseline_name = "Homework inheriting the organization default, 1-config chain"
    baseline = len(counts[baseline_name])
    for name, statements in counts.items():
        is_baseline = name == baseline_name
        ctx.report.add(Row(
            "6. Queries per chat", f"SQL statements for one chat: {name}", str(len(statements)),
            "—" if is_baseline else f"1-config chain: {baseline}",
            "—" if is_baseline or not baseline else f"{len(statements) / baseline:.2f}×",
            "—" if is_baseline else "≤ the 1-config chain (no growth with hops or inheritance)",
            None if is_baseline else len(statements) <= baseline))
    listing = "\n".join(f"{i + 1}. `{_short(s)}`" for i, s in enumerate(counts[first]))
    text = (f"Counted with an SQLAlchemy `before_cursor_execute` listener over the whole request (token check, "
            f"resolve, chain, stream), second request of each kind. For “{first}”:\n\n{listing}")
    per_hop = [s for s in counts[first] if PER_HOP in s]
    if len(counts[first]) > baseline and per_hop:
        text += "\n\n" + PER_HOP_CAUSE.format(count=len(per_hop))
    ctx.report.section("Queries per chat: the statements", text)


PER_HOP = "FROM llm_configs WHERE llm_configs.id = ?"
PER_HOP_CAUSE = (
    "Why it grows: {count} of these statements load one config by id, one per fallback hop. "
    "`chat.service.load_chain()` reads the config that fires and every config its links reach in one "
    "recursive query, and `plan_chat()` keeps those rows referenced while it walks the chain; the "
    "session's identity map holds objects only weakly, so a row dropped before the walk is lazy-loaded "
    "again, once per hop."
)


def _short(statement: str) -> str:
    """SELECT's column list elided, so the FROM and WHERE that matter stay readable."""
    statement = re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", statement)
    return statement if len(statement) <= 220 else statement[:220] + "…"
