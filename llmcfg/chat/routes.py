import json

from flask import Response, abort, current_app, jsonify, render_template, request, stream_with_context
from flask_login import current_user, login_required

from ..models import Course, Homework, LLMConfig
from ..scoping import scoped_all
from . import bp
from .relay import HEARTBEAT_S, relay, under_gevent
from .service import ChatInputError, build_engine, plan_chat, validate_messages
from .transcript import Transcript


def _input_error(exc: ChatInputError):
    return jsonify(error=str(exc), status=exc.status), exc.status


@bp.post("/api/chat/stream")
@login_required
def stream():
    """Stream one answer as Server-Sent Events, switching to the backup when the primary fails."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return _input_error(ChatInputError('Send a JSON object with "messages" and a "config_id", "homework_id" or "course_id".'))
    try:
        messages = validate_messages(payload.get("messages"))
        targets = plan_chat(payload, current_user.organization_id).targets
    except ChatInputError as exc:
        return _input_error(exc)
    engine, engagements = build_engine(current_user.organization_id)
    heartbeat = float(current_app.config.get("LLMCFG_HEARTBEAT_SECONDS", HEARTBEAT_S))

    def after_event(event):
        # fallback_events rows are written once the answer has ended, never between tokens.
        if event.terminal:
            engagements.flush()

    def produce(cancelled):
        return engine.stream(targets, messages, cancelled)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if under_gevent():
        from .inline import inline_response

        return inline_response(produce, after_event, heartbeat, engagements.flush, mimetype="text/event-stream",
                               headers=headers)

    def body():
        try:
            yield from relay(produce, after_event, heartbeat)
        finally:
            engagements.flush()

    return Response(stream_with_context(body()), mimetype="text/event-stream", headers=headers)


def _choices():
    return {
        "homeworks": scoped_all(Homework),
        "courses": scoped_all(Course),
        "configs": scoped_all(LLMConfig),
    }


def _selection(form) -> dict:
    kind, _, ident = (form.get("target") or "").partition(":")
    if kind not in ("config", "homework", "course") or not ident:
        return {}
    return {f"{kind}_id": ident}


@bp.route("/chat", methods=["GET", "POST"])
@login_required
def page():
    """Chat with a homework's, course's or config's model (streams with JavaScript, posts without)."""
    transcript, error, history = None, None, []
    target = request.values.get("target", "")
    if request.method == "POST":
        try:
            history = json.loads(request.form.get("history") or "[]")
        except ValueError:
            abort(400, "The conversation history could not be read.")
        message = (request.form.get("message") or "").strip()
        try:
            messages = validate_messages([*history, {"role": "user", "content": message}])
            plan = plan_chat(_selection(request.form), current_user.organization_id)
        except ChatInputError as exc:
            error = str(exc)
        else:
            engine, engagements = build_engine(current_user.organization_id)
            transcript = Transcript.collect(engine.stream(plan.targets, messages))
            engagements.flush()
            history = messages + ([{"role": "assistant", "content": transcript.text}] if transcript.ok else [])
    return render_template(
        "chat/page.html", **_choices(), target=target, transcript=transcript, error=error,
        history=history, history_json=json.dumps(history),
    )
