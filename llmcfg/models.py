"""The data model (design §2): SQLAlchemy 2 typed models."""

from datetime import datetime, timezone

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from .db import db

PROVIDERS = ("openrouter", "openai", "anthropic", "openai_compatible")
ROLES = ("admin", "instructor")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _config_fk():
    return sa.ForeignKey("llm_configs.id", ondelete="SET NULL", use_alter=True)


class Organization(db.Model):
    __tablename__ = "organizations"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    slug: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    default_llm_config_id: so.Mapped[int | None] = so.mapped_column(_config_fk())

    default_llm_config: so.Mapped["LLMConfig | None"] = so.relationship(
        foreign_keys=[default_llm_config_id], post_update=True
    )

    def __repr__(self) -> str:
        return f"<Organization {self.slug}>"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # Stored lower-cased, so the unique index is case-insensitive in every database.
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(256))
    organization_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    role: so.Mapped[str] = so.mapped_column(sa.String(16), default="instructor")

    organization: so.Mapped[Organization] = so.relationship()

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    @so.validates("email")
    def _store_normalized_email(self, key: str, email: str) -> str:
        return self.normalize_email(email)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_used_at: so.Mapped[datetime | None]

    user: so.Mapped[User] = so.relationship()


class Course(db.Model):
    __tablename__ = "courses"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organization_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    llm_config_id: so.Mapped[int | None] = so.mapped_column(_config_fk())

    organization: so.Mapped[Organization] = so.relationship()
    llm_config: so.Mapped["LLMConfig | None"] = so.relationship(foreign_keys=[llm_config_id])
    homeworks: so.Mapped[list["Homework"]] = so.relationship(
        back_populates="course", order_by="Homework.id", passive_deletes=True
    )


class Homework(db.Model):
    __tablename__ = "homeworks"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    course_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    llm_config_id: so.Mapped[int | None] = so.mapped_column(_config_fk())

    course: so.Mapped[Course] = so.relationship(back_populates="homeworks")
    llm_config: so.Mapped["LLMConfig | None"] = so.relationship(foreign_keys=[llm_config_id])


class OrganizationCredential(db.Model):
    __tablename__ = "organization_credentials"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organization_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    provider: so.Mapped[str] = so.mapped_column(sa.String(32))
    label: so.Mapped[str] = so.mapped_column(sa.String(120))
    # Fernet token; the plain key never touches the database (see llmcfg.crypto).
    secret_ciphertext: so.Mapped[str] = so.mapped_column(sa.Text)
    secret_hint: so.Mapped[str] = so.mapped_column(sa.String(8))
    base_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_verified_at: so.Mapped[datetime | None]

    organization: so.Mapped[Organization] = so.relationship()

    @property
    def masked_hint(self) -> str:
        return f"•••• {self.secret_hint}"

    def __repr__(self) -> str:  # never the ciphertext, let alone the key
        return f"<OrganizationCredential {self.id} {self.provider} {self.masked_hint}>"


class LLMConfig(db.Model):
    __tablename__ = "llm_configs"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organization_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    provider: so.Mapped[str] = so.mapped_column(sa.String(32))
    model: so.Mapped[str] = so.mapped_column(sa.String(200))
    credential_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("organization_credentials.id", ondelete="RESTRICT"), index=True
    )
    params: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    fallback_llm_config_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("llm_configs.id", ondelete="SET NULL"), index=True
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)

    organization: so.Mapped[Organization] = so.relationship(foreign_keys=[organization_id])
    credential: so.Mapped[OrganizationCredential] = so.relationship()
    fallback: so.Mapped["LLMConfig | None"] = so.relationship(
        remote_side=[id], foreign_keys=[fallback_llm_config_id]
    )

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    def __repr__(self) -> str:
        return f"<LLMConfig {self.id} {self.name!r} {self.label}>"


class FallbackEvent(db.Model):
    __tablename__ = "fallback_events"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    organization_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    from_config_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("llm_configs.id", ondelete="SET NULL")
    )
    # NULL when the chain was exhausted and nothing took over.
    to_config_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("llm_configs.id", ondelete="SET NULL"))
    reason: so.Mapped[str] = so.mapped_column(sa.String(64))
    status_code: so.Mapped[int | None]
    elapsed_ms: so.Mapped[int | None]

    from_config: so.Mapped[LLMConfig | None] = so.relationship(foreign_keys=[from_config_id])
    to_config: so.Mapped[LLMConfig | None] = so.relationship(foreign_keys=[to_config_id])
