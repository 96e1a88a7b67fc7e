"""The benchmark's database: one organization whose configs point at the bench upstream.

Model names tell the bench upstream what to do (see bench.upstream): `rl` answers 429,
`ok-<tokens>-<ms>` streams. Each timed failover request gets a primary config of its own, so the
cooldown one request starts never spares the next one its 429.
"""

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from llmcfg import create_app
from llmcfg.auth.tokens import issue_token
from llmcfg.crypto import secret_hint, vault
from llmcfg.db import db
from llmcfg.models import LLMConfig, Organization, OrganizationCredential, User

BENCH_KEY = "sk-bench-0000000000000000000000000000"


def backup_model(tokens: int) -> str:
    return f"ok-{tokens}-0"


@dataclass
class Seeded:
    token: str = ""
    healthy: int = 0  # healthy primary → backup
    failover: list[int] = field(default_factory=list)  # 429 primary (no Retry-After) → backup
    cooldown: int = 0  # 429 primary with Retry-After → backup
    cooldown_model: str = ""
    configs: dict[str, int] = field(default_factory=dict)  # model name → a config that fires it alone
    catalog_credentials: list[int] = field(default_factory=list)  # openrouter keys, each never fetched yet


def app_env(workdir: Path, upstream_base_url: str) -> dict:
    """The LLMCFG_* settings the served app and the seeding code share."""
    return {
        # The served app's own instance folder: no cooldowns or catalogs left by an earlier run (or by
        # the developer's app) in the checkout's instance/, and none left there for them.
        "LLMCFG_INSTANCE_PATH": str(workdir / "instance"),
        "LLMCFG_DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite'}",
        "LLMCFG_SECRET_KEY": "bench-only-secret",
        "LLMCFG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LLMCFG_OPENAI_BASE_URL": upstream_base_url,
        "LLMCFG_OPENROUTER_BASE_URL": upstream_base_url,
        "LLMCFG_ANTHROPIC_BASE_URL": upstream_base_url,
    }


def bench_app(env: dict, instance: Path):
    return create_app({
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": env["LLMCFG_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": env["LLMCFG_DATABASE_URL"],
        "LLMCFG_ENCRYPTION_KEY": env["LLMCFG_ENCRYPTION_KEY"],
    })


def seed(env: dict, workdir: Path, *, failover_configs: int, backup_tokens: int, stream_models: list[str],
         catalog_credentials: int, cooldown_retry_after: int = 300) -> Seeded:
    app = bench_app(env, workdir / "seed-instance")
    seeded = Seeded()
    with app.app_context():
        db.create_all()
        org = Organization(name="Bench school", slug="bench")
        admin = User(email="admin@bench.example", organization=org, role="admin")
        admin.set_password("bench password")
        key = OrganizationCredential(organization=org, provider="openai", label="bench key",
                                     secret_ciphertext=vault().encrypt(BENCH_KEY), secret_hint=secret_hint(BENCH_KEY))
        db.session.add_all([org, admin, key])

        def config(name: str, model: str, fallback: LLMConfig | None = None) -> LLMConfig:
            row = LLMConfig(organization=org, name=name, provider="openai", model=model, credential=key,
                            params={}, fallback=fallback)
            db.session.add(row)
            return row

        backup = config("Backup", backup_model(backup_tokens))
        healthy = config("Healthy primary", backup_model(backup_tokens), backup)
        failover = [config(f"Rate-limited primary {i}", "rl", backup) for i in range(failover_configs)]
        cooling = config("Primary with Retry-After", f"rl-{cooldown_retry_after}", backup)
        singles = {model: config(f"Stream {model}", model) for model in stream_models}
        catalogs = [
            OrganizationCredential(organization=org, provider="openrouter", label=f"catalog key {i}",
                                   secret_ciphertext=vault().encrypt(f"{BENCH_KEY}-{i}"), secret_hint=f"{i:04d}")
            for i in range(catalog_credentials)
        ]
        db.session.add_all(catalogs)
        db.session.commit()
        _, seeded.token = issue_token(admin, "bench")
        seeded.healthy, seeded.cooldown, seeded.cooldown_model = healthy.id, cooling.id, cooling.model
        seeded.failover = [row.id for row in failover]
        seeded.configs = {model: row.id for model, row in singles.items()}
        seeded.catalog_credentials = [row.id for row in catalogs]
        db.session.remove()
        db.engine.dispose()
    return seeded
