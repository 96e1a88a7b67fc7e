"""Error pages that answer as the request wants: JSON for API clients, a partial for htmx, else a page."""

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException


def wants_json() -> bool:
    if request.path.startswith("/api/") and not request.headers.get("HX-Request"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _handle(error: HTTPException):
    message = error.description or error.name
    if wants_json():
        return jsonify(error=message, status=error.code), error.code
    if request.headers.get("HX-Request"):
        return render_template("_error.html", error=error, message=message), error.code
    return render_template("error.html", error=error, message=message), error.code


def _internal(error):
    from .db import db

    db.session.rollback()
    return _handle(_InternalError())


class _InternalError(HTTPException):
    code = 500
    description = "Something went wrong on our side. The error was logged; please try again."


def init_app(app):
    app.register_error_handler(HTTPException, _handle)
    if not app.testing:
        app.register_error_handler(Exception, _internal)
