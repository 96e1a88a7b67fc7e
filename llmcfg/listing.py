"""Plain-data views of the model for the CLI: JSON-ready dicts and a text report of an organization.

Credentials appear with their hint only; the ciphertext and the key never leave the database.
"""

from dataclasses import dataclass

from .models import ApiToken, Course, Homework, LLMConfig, Organization, OrganizationCredential, User
from .rules import EffectiveConfig, NoConfigError, describe_chain, effective_config, fallback_chain
from .scoping import scoped_all


def _when(value):
    return value.isoformat() if value else None


def serialize(obj) -> dict:
    """Return the public fields of a model object as a JSON-ready dict (always with "id")."""
    if isinstance(obj, Organization):
        return {"id": obj.id, "name": obj.name, "slug": obj.slug, "default_llm_config_id": obj.default_llm_config_id}
    if isinstance(obj, User):
        return {"id": obj.id, "email": obj.email, "role": obj.role, "organization_id": obj.organization_id}
    if isinstance(obj, OrganizationCredential):
        return {
            "id": obj.id, "organization_id": obj.organization_id, "provider": obj.provider, "label": obj.label,
            "hint": obj.secret_hint, "base_url": obj.base_url, "created_at": _when(obj.created_at),
        }
    if isinstance(obj, LLMConfig):
        chain = fallback_chain(obj)
        return {
            "id": obj.id, "organization_id": obj.organization_id, "name": obj.name, "provider": obj.provider,
            "model": obj.model, "credential_id": obj.credential_id, "params": obj.params or {},
            "fallback_llm_config_id": obj.fallback_llm_config_id,
            "chain": [c.id for c in chain], "chain_text": describe_chain(chain),
        }
    if isinstance(obj, Course):
        return {"id": obj.id, "organization_id": obj.organization_id, "name": obj.name, "llm_config_id": obj.llm_config_id}
    if isinstance(obj, Homework):
        return {"id": obj.id, "course_id": obj.course_id, "title": obj.title, "llm_config_id": obj.llm_config_id}
    if isinstance(obj, ApiToken):
        return {"id": obj.id, "name": obj.name, "user_id": obj.user_id, "created_at": _when(obj.created_at)}
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def _effective(**where) -> EffectiveConfig | None:
    try:
        return effective_config(**where)
    except NoConfigError:
        return None


def _effective_dict(eff: EffectiveConfig | None) -> dict | None:
    if eff is None:
        return None
    return {"config_id": eff.config.id, "name": eff.config.name, "source": eff.source, "source_name": eff.source_name}


def _effective_text(eff: EffectiveConfig | None) -> str:
    return eff.description if eff else "none (nothing configured)"


@dataclass
class OrganizationReport:
    organization: Organization
    credentials: list[OrganizationCredential]
    configs: list[LLMConfig]
    courses: list[tuple[Course, EffectiveConfig | None, list[tuple[Homework, EffectiveConfig | None]]]]

    def as_dict(self) -> dict:
        return {
            "organization": serialize(self.organization),
            "credentials": [serialize(c) for c in self.credentials],
            "configs": [serialize(c) for c in self.configs],
            "courses": [
                {**serialize(course), "effective": _effective_dict(eff),
                 "homework": [{**serialize(hw), "effective": _effective_dict(heff)} for hw, heff in homework]}
                for course, eff, homework in self.courses
            ],
        }

    def as_text(self) -> str:
        org = self.organization
        lines = [f"{org.name} ({org.slug})", "", "Credentials:"]
        lines += [f"  #{c.id} {c.label} [{c.provider}] {c.masked_hint}" + (f" {c.base_url}" if c.base_url else "")
                  for c in self.credentials] or ["  (none)"]
        lines += ["", "Configs (fallback chain):"]
        for c in self.configs:
            default = " [organization default]" if org.default_llm_config_id == c.id else ""
            lines.append(f"  #{c.id} {c.name}: {c.label}, credential #{c.credential_id}{default}")
            lines.append(f"      chain: {describe_chain(fallback_chain(c))}")
        if not self.configs:
            lines.append("  (none)")
        lines += ["", "Courses and homework (effective config):"]
        for course, eff, homework in self.courses:
            lines.append(f"  course #{course.id} {course.name}: {_effective_text(eff)}")
            lines += [f"    homework #{hw.id} {hw.title}: {_effective_text(heff)}" for hw, heff in homework]
        if not self.courses:
            lines.append("  (none)")
        return "\n".join(lines)


def describe_organization(org: Organization) -> OrganizationReport:
    """Collect an organization's credentials, configs with chains, and effective configs."""
    homework_by_course: dict[int, list[Homework]] = {}
    for hw in scoped_all(Homework, org_id=org.id):
        homework_by_course.setdefault(hw.course_id, []).append(hw)
    courses = [
        (course, _effective(course=course),
         [(hw, _effective(homework=hw)) for hw in homework_by_course.get(course.id, [])])
        for course in scoped_all(Course, org_id=org.id)
    ]
    return OrganizationReport(
        organization=org,
        credentials=scoped_all(OrganizationCredential, org_id=org.id),
        configs=scoped_all(LLMConfig, org_id=org.id),
        courses=courses,
    )
