"""The admin forms. Choices that depend on the organization are filled in by the views."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import DecimalField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from ..providers.base import key_problem

NEW = "new"  # the choice value meaning "add a new one here"
NONE = ""  # the choice value meaning "no fallback" / "inherit"


class KeyField(PasswordField):
    """A write-only key input: never pre-filled, never echoed back, never remembered by the browser."""

    def __init__(self, label="API key", **kwargs):
        render_kw = {"autocomplete": "off", "spellcheck": "false", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators=[Optional(), Length(max=500), sendable], render_kw=render_kw, **kwargs)


def sendable(form, field) -> None:
    """Refuse a key no HTTP header can carry, with words that say why (the key is never echoed)."""
    problem = key_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


class LastValueField(HiddenField):
    """A hidden field that the catalog's radios (same name, later in the page) override when picked."""

    def process_formdata(self, valuelist):
        picked = [v for v in valuelist if v.strip()]
        self.data = picked[-1].strip() if picked else ""


class NewCredentialFields(Form):
    """The inline "add a new key" part of a credential choice."""

    # Not "label"/"name": a FormField's own attributes of those names would hide them.
    key_label = StringField("Label for the new key", validators=[Optional(), Length(max=120)])
    api_key = KeyField()
    base_url = StringField(
        "Base URL (OpenAI-compatible servers only)",
        validators=[Optional(), Length(max=500)],
        render_kw={"placeholder": "https://llm.example.edu/v1"},
    )


class NewFallbackForm(Form):
    """A fallback config created together with the config it backs up."""

    backup_name = StringField("Backup name", validators=[Optional(), Length(max=120)])
    provider = SelectField("Backup provider", choices=[], validate_choice=False)  # checked when used
    credential = SelectField("Backup credential", choices=[], validate_choice=False)
    new_credential = FormField(NewCredentialFields, separator="-")
    model = StringField("Backup model id", validators=[Optional(), Length(max=200)],
                        render_kw={"placeholder": "e.g. claude-3-5-haiku-latest"})


class ConfigForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)],
                       render_kw={"placeholder": "e.g. Physics tutor"})
    provider = SelectField("Provider", choices=[])
    credential = SelectField("Credential", choices=[], validate_choice=False)
    new_credential = FormField(NewCredentialFields, separator="-")
    replace_key = BooleanField("Replace the stored key of this credential")
    replacement_key = KeyField("New key (leave empty to keep the stored key)")
    model = LastValueField()
    model_other = StringField("Or type a model id", validators=[Optional(), Length(max=200)])
    temperature = DecimalField("Temperature", places=None, validators=[Optional(), NumberRange(0, 2)],
                               render_kw={"step": "0.1", "placeholder": "provider default"})
    max_tokens = IntegerField("Max tokens", validators=[Optional(), NumberRange(1, 200_000)],
                              render_kw={"placeholder": "provider default"})
    system_prompt = TextAreaField("System prompt", validators=[Optional(), Length(max=8000)],
                                  render_kw={"rows": 3})
    fallback = SelectField("Fallback", choices=[], validate_choice=False)
    new_fallback = FormField(NewFallbackForm, separator="-")
    deep = BooleanField("Also send a one-token test message (catches a model that is rate-limited now)")

    @property
    def chosen_model(self) -> str:
        return (self.model_other.data or "").strip() or (self.model.data or "").strip()


class CredentialForm(FlaskForm):
    provider = SelectField("Provider", choices=[])
    label = StringField("Label", validators=[DataRequired(), Length(max=120)],
                        render_kw={"placeholder": "e.g. School OpenRouter key"})
    api_key = KeyField()
    base_url = NewCredentialFields.base_url


class CredentialEditForm(FlaskForm):
    label = StringField("Label", validators=[DataRequired(), Length(max=120)])
    replace_key = BooleanField("Replace the stored key")
    api_key = KeyField("New key (leave empty to keep the stored key)")
    base_url = NewCredentialFields.base_url


class AssignForm(FlaskForm):
    config = SelectField("Config", choices=[], validate_choice=False)


class CourseForm(FlaskForm):
    name = StringField("Course name", validators=[DataRequired(), Length(max=200)])
    config = SelectField("Config", choices=[], validate_choice=False)


class HomeworkForm(FlaskForm):
    title = StringField("Homework title", validators=[DataRequired(), Length(max=200)])
    config = SelectField("Config", choices=[], validate_choice=False)
