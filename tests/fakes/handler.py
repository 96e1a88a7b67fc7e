"""The fake upstream's request handler: routing, auth, catalogs and the scripted streams.

HTTP/1.1 with keep-alive; streams use chunked encoding like the real APIs, so a "cut" (closing the
socket before the last chunk) looks to a client exactly like a provider dropping mid-answer.
"""

import json
import select
import socket
import time
from http.server import BaseHTTPRequestHandler

from . import behaviors as b
from .wire_formats import FORMATS, HTML_502

STALL_LIMIT_S = 120.0  # a stalled answer gives up eventually, so threads never pile up forever


class Superseded(Exception):
    """The fake was reset (a new test began) while this answer was still being written."""


class ClientGone(Exception):
    """The client closed its connection while we were answering."""


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-upstream"

    def setup(self):
        super().setup()
        # Each SSE event is its own small write; without this, Nagle's algorithm batches them.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # quiet: tests read counters, not logs
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    # --- routing ------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        from .server import PREFIXES

        self.fake = self.server.fake
        path = self.path.partition("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        provider = next((p for p, prefix in PREFIXES.items() if path.startswith(prefix + "/")), None)
        if provider is None:
            return self._send_json(404, {"error": {"message": f"Unknown path {path}"}})
        sub = path[len(PREFIXES[provider]) :]
        self.provider, self.fmt = provider, FORMATS[provider]
        self.key = self._key()
        try:
            request = json.loads(raw) if raw else {}
        except ValueError:
            request = None
        model = request.get("model") if isinstance(request, dict) else None
        if method == "GET" and sub.startswith(("/models/", "/model/")):
            model = sub.split("/", 2)[2]
        self.fake.record(provider, method, sub, model, self.key, request if isinstance(request, dict) else None,
                         self.client_address[1], self.headers.get("Cookie"))

        scripted = self.fake.take(provider, "path:" + sub)
        if scripted is not None and scripted.kind != b.OK:
            return self._play_plain(scripted)
        if scripted is not None:
            self._pause(scripted.delay)  # Behavior.slow(): answer normally, but late
        if provider == "anthropic" and not self.headers.get("anthropic-version"):
            return self._send_json(400, self.fmt.error(400, "anthropic-version: header is required"))
        public = provider == "openrouter" and sub == "/models"
        if not public and (not self.key or self.key in self.fake.rejected_keys):
            return self._send_json(401, self.fmt.bad_key(self.key))
        if method == "GET" and sub == "/models":
            return self._list_models()
        if method == "GET" and sub.startswith("/models/") and provider != "openrouter":
            return self._one_model(model)
        if method == "GET" and provider == "openrouter" and sub in ("/key", "/auth/key"):
            return self._send_json(200, self.fake.key_info(self.key))
        if method == "POST" and sub == ("/messages" if provider == "anthropic" else "/chat/completions"):
            if not isinstance(request, dict):
                return self._send_json(400, self.fmt.error(400, "The request body is not valid JSON."))
            return self._chat(request)
        return self._send_json(404, self.fmt.error(404, f"Unknown endpoint {method} {sub}"))

    def _key(self) -> str | None:
        if self.provider == "anthropic" and self.headers.get("x-api-key"):
            return self.headers["x-api-key"]
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    # --- catalogs -----------------------------------------------------------------------------
    def _list_models(self) -> None:
        catalog = self.fake.catalog(self.provider, self.key)
        if self.provider == "openrouter":
            return self._send_json(200, {"data": catalog, "total_count": len(catalog), "links": {"next": None}})
        if self.provider != "anthropic":
            return self._send_json(200, {"object": "list", "data": catalog})
        query = self.fake.query(self.path)
        limit = max(1, min(int(query.get("limit", 20)), 1000, self.fake.anthropic_page_cap))
        ids = [m["id"] for m in catalog]
        start = ids.index(query["after_id"]) + 1 if query.get("after_id") in ids else 0
        page = catalog[start : start + limit]
        self._send_json(
            200,
            {
                "data": page,
                "has_more": start + limit < len(catalog),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            },
        )

    def _one_model(self, model_id: str) -> None:
        for entry in self.fake.catalog(self.provider, self.key):
            if entry["id"] == model_id:
                return self._send_json(200, entry)
        self._send_json(*self.fmt.model_not_found(model_id))

    # --- chat ---------------------------------------------------------------------------------
    def _chat(self, request: dict) -> None:
        model = str(request.get("model") or "")
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._send_json(400, self.fmt.error(400, "messages: at least one message is required"))
        if self.provider == "anthropic":
            if not request.get("max_tokens"):
                return self._send_json(400, self.fmt.error(400, "max_tokens: Field required"))
            if any(m.get("role") == "system" for m in messages):
                return self._send_json(400, self.fmt.error(400, 'messages: Unexpected role "system".'))
        behavior = self.fake.take(self.provider, "model:" + model, "model:*")
        if behavior is None:
            if not any(m["id"] == model for m in self.fake.catalog(self.provider, self.key)):
                return self._send_json(*self.fmt.model_not_found(model))
            behavior = b.Behavior.ok()
        self.model = model
        if behavior.kind in (b.HTTP, b.STALL):
            return self._play_plain(behavior)
        if behavior.kind == b.JSON_ERROR:
            return self._send_json(200, self.fmt.error(behavior.status or 429, behavior.message))
        self.fake.stream_opened(+1)
        self.generation = self.fake.generation
        try:
            self._stream(request, behavior)
        except ClientGone:
            self.fake.record_disconnect(self.provider, model, getattr(self, "tokens_sent", 0))
            self.close_connection = True
        except Superseded:
            self.close_connection = True  # a slow answer of an earlier test ends with that test
        finally:
            self.fake.stream_opened(-1)

    def _stream(self, request: dict, behavior: b.Behavior) -> int:
        self.tokens_sent = 0
        self._start_chunked()
        if behavior.kind == b.ZERO_EVENTS:
            return self._end_chunked()
        if behavior.kind == b.KEEPALIVE_ONLY:
            for _ in range(3):
                self._chunk(self.fmt.keepalive)
            return self._end_chunked()
        state = self.fmt.new_stream(self.model, request)
        prompt = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
        state["prompt"] = prompt
        for piece in self.fmt.opening(state):
            self._chunk(piece)
        words = [] if behavior.kind == b.NO_CONTENT else behavior.words(self.model)
        limit = request.get("max_tokens") or request.get("max_completion_tokens")
        finish = "stop"
        if limit and len(words) > int(limit):
            words, finish = words[: int(limit)], "length"
        if behavior.kind in b.AFTER_TOKENS:
            words = words[: behavior.after]
        for word in words:
            self._pause(behavior.delay)
            self._chunk(self.fmt.token(state, word))
            self.tokens_sent += 1
        kind = behavior.kind
        if kind == b.STALL_MID_STREAM:
            return self._stall()
        if kind == b.CUT:
            return self._cut()
        if kind == b.MALFORMED:
            self._chunk(self.fmt.malformed(state))
        elif kind == b.ERROR_EVENT:
            self._chunk(self.fmt.mid_stream_error(self.model, behavior.status, behavior.message))
        elif kind in (b.OK, b.NO_CONTENT, b.OPEN_AFTER_END):
            for piece in self.fmt.closing(state, finish, self.fmt.usage(prompt, len(words))):
                self._chunk(piece)
        if kind == b.OPEN_AFTER_END:
            return self._stall()
        return self._end_chunked()  # TRUNCATED ends here too: a clean end, but no terminator

    def _play_plain(self, behavior: b.Behavior) -> None:
        """Play a behavior on a non-streaming endpoint (or before a stream starts)."""
        self.model = getattr(self, "model", None)
        if behavior.kind == b.STALL:
            self.fake.stream_opened(+1)
            try:
                self._stall()
            except ClientGone:
                self.fake.record_disconnect(self.provider, self.model, 0)
            finally:
                self.fake.stream_opened(-1)
            self.close_connection = True
            return
        if behavior.kind == b.CUT:
            return self._cut()
        status = behavior.status or 500
        headers = {}
        if behavior.retry_after is not None:
            headers["retry-after"] = behavior.retry_after
        if behavior.retry_after_ms is not None:
            headers["retry-after-ms"] = behavior.retry_after_ms
        if behavior.location is not None:
            headers["Location"] = behavior.location
        if status == 502 and not behavior.message:
            return self._send(status, HTML_502.encode(), "text/html", headers)
        self._send_json(status, self.fmt.error(status, behavior.message), headers)

    # --- the socket ---------------------------------------------------------------------------
    def send_response(self, code, message=None):
        super().send_response(code, message)
        # Provider edges set a cookie on API answers too; a client that keeps it sends it back.
        self.send_header("Set-Cookie", f"__edge_session={code}-{time.monotonic_ns()}; Path=/; HttpOnly")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if getattr(self, "provider", None) == "anthropic":
            self.send_header("request-id", "req_fake")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _send_json(self, status: int, payload, headers: dict | None = None) -> None:
        self._send(status, self.fake.dumps(payload), "application/json", headers)

    def _start_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self._check_client()
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except OSError:
            raise ClientGone() from None

    def _end_chunked(self) -> int:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            raise ClientGone() from None
        return self.tokens_sent

    def _cut(self) -> int:
        """Drop the connection without finishing the body (no last chunk, no terminator)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return getattr(self, "tokens_sent", 0)

    def _client_closed(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _check_client(self) -> None:
        if self._client_closed():
            raise ClientGone()

    def _pause(self, seconds: float) -> None:
        """Wait between tokens, noticing at once when the client hangs up."""
        if seconds <= 0:
            return
        try:
            readable, _, _ = select.select([self.connection], [], [], seconds)
        except OSError:
            raise ClientGone() from None
        if readable:
            self._check_client()
        if self.fake.generation != getattr(self, "generation", self.fake.generation):
            raise Superseded()

    def _stall(self) -> int:
        """Say nothing until the client gives up (or the test resets / the server stops)."""
        generation, waited = self.fake.generation, 0.0
        while waited < STALL_LIMIT_S and self.fake.generation == generation and not self.fake.stopping.is_set():
            self._pause(0.05)
            waited += 0.05
        self.close_connection = True
        return getattr(self, "tokens_sent", 0)
