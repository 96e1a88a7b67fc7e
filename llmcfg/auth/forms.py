"""Forms of the account pages (every one carries a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])


class SetupForm(FlaskForm):
    org_name = StringField("Organization name", validators=[DataRequired(), Length(max=120)])
    org_slug = StringField(
        "Short name (used in URLs and the CLI)",
        validators=[DataRequired(), Length(max=64), Regexp(r"^[a-z0-9][a-z0-9-]*$", message="Use lower-case letters, digits and dashes.")],
    )
    email = EmailField("Your email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, message="Use at least 8 characters.")])
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", message="The passwords differ.")])


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=120)])


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("instructor", "Instructor (credentials, configs, courses, homework)"),
            SelectChoice("admin", "Admin (also manages users)"),
        ],
        default="instructor",
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, message="Use at least 8 characters.")])
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", message="The passwords differ.")])
