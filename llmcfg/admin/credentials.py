"""Credential management: list, add, rename, replace the key, delete when unused."""

from flask import flash, redirect, render_template, url_for
from flask_login import login_required

from ..db import db
from ..models import OrganizationCredential
from ..scoping import scoped_all, scoped_get_or_404
from . import bp
from .forms import CredentialEditForm, CredentialForm
from .keys import add_credential, checked_base_url, configs_using, set_key
from .upstream import provider_choices


@bp.route("/credentials", methods=["GET", "POST"])
@login_required
def credentials():
    """List the organization's provider keys and add one."""
    form = CredentialForm()
    form.provider.choices = provider_choices()
    if form.validate_on_submit():
        base_url = _base_url_or_error(form, form.provider.data)
        if not (form.api_key.data or "").strip():
            form.api_key.errors.append("Enter the API key.")
        elif base_url is not False:
            cred = add_credential(form.provider.data, form.label.data, form.api_key.data, base_url)
            db.session.commit()
            flash(f'Credential "{cred.label}" saved ({cred.masked_hint}).')
            return redirect(url_for("admin.credentials"))
    rows = scoped_all(OrganizationCredential)
    return render_template("admin/credentials.html", form=form, credentials=rows,
                           usage={c.id: configs_using(c) for c in rows})


@bp.route("/credentials/<int:credential_id>/edit", methods=["GET", "POST"])
@login_required
def edit_credential(credential_id: int):
    """Rename a credential, change its base URL, or replace its key (an empty key keeps it)."""
    cred = scoped_get_or_404(OrganizationCredential, credential_id)
    form = CredentialEditForm(obj=cred)
    if form.validate_on_submit():
        new_key = (form.api_key.data or "").strip()
        base_url = _base_url_or_error(form, cred.provider)
        if form.replace_key.data and not new_key:
            form.api_key.errors.append("Enter the new key, or untick “Replace the stored key”.")
        elif base_url is not False:
            cred.label = form.label.data.strip()
            cred.base_url = base_url
            if form.replace_key.data:
                set_key(cred, new_key)
            db.session.commit()
            flash(f'Credential "{cred.label}" saved ({cred.masked_hint}).')
            return redirect(url_for("admin.credentials"))
    return render_template("admin/credential_edit.html", form=form, cred=cred, used_by=configs_using(cred))


@bp.route("/credentials/<int:credential_id>/delete", methods=["POST"])
@login_required
def delete_credential(credential_id: int):
    """Delete a credential that no config uses."""
    cred = scoped_get_or_404(OrganizationCredential, credential_id)
    used_by = configs_using(cred)
    if used_by:
        names = ", ".join(c.name for c in used_by)
        flash(f'"{cred.label}" is still used by {names}; pick another credential there first.')
    else:
        db.session.delete(cred)
        db.session.commit()
        flash(f'Credential "{cred.label}" deleted.')
    return redirect(url_for("admin.credentials"))


def _base_url_or_error(form, provider: str):
    """Return the checked base URL (None when the provider takes none), or False after noting an error."""
    try:
        return checked_base_url(provider, form.base_url.data)
    except ValueError as error:
        form.base_url.errors.append(str(error))
        return False
