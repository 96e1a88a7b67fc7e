/*
 * Chat page: stream the answer from POST /api/chat/stream.
 *
 * The endpoint answers with Server-Sent Events (start, token, fallback, done, error). EventSource
 * cannot POST, so this reads the fetch() body and splits it into events itself: blocks end with a
 * blank line, "event:" names the event, "data:" carries JSON, lines starting with ":" are
 * keep-alives. A `fallback` event shows the muted "Switched to backup model" notice; with
 * `restart: true` the partial answer is replaced by the backup's. Input is re-enabled on
 * `done` or `error`. Without JavaScript the form posts and the server renders the whole answer.
 */
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  if (!form || !window.fetch || !window.TextDecoderStream) return;
  var log = document.getElementById("chat-log");
  var csrf = form.querySelector('input[name="csrf_token"]').value;
  var historyField = form.querySelector('input[name="history"]');
  var history = JSON.parse(historyField.value || "[]");
  var sendButton = document.getElementById("send");

  function bubble(role, text) {
    var el = document.createElement("div");
    el.className = "msg " + role;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : "Assistant";
    var body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    el.append(who, body);
    log.append(el);
    return el;
  }

  function note(text, className, before) {
    var p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    if (className === "chat-error") p.setAttribute("role", "alert");
    log.insertBefore(p, before || null);
    return p;
  }

  function parseBlock(block) {
    var name = "message", data = [];
    block.split("\n").forEach(function (line) {
      if (!line || line[0] === ":") return;
      var i = line.indexOf(":");
      var field = i < 0 ? line : line.slice(0, i);
      var value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    });
    if (!data.length) return null;
    return { name: name, data: JSON.parse(data.join("\n")) };
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    form.message.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  form.addEventListener("submit", async function (submitEvent) {
    submitEvent.preventDefault();
    var message = form.message.value.trim();
    var target = form.target.value;
    if (!message || !target) {
      note(!target ? "Choose what to chat as." : "Type a message first.", "chat-error");
      return;
    }
    var parts = target.split(":");
    var payload = { messages: history.concat([{ role: "user", content: message }]) };
    payload[parts[0] + "_id"] = Number(parts[1]);
    bubble("user", message);
    var answer = bubble("assistant", "");
    answer.classList.add("streaming");
    var answerText = answer.querySelector(".text");
    var text = "", finished = false;
    form.message.value = "";
    setBusy(true);

    function handle(event) {
      if (event.name === "token") {
        text += event.data.text;
        answerText.textContent = text;
      } else if (event.name === "fallback") {
        if (event.data.restart) { text = ""; answerText.textContent = ""; }
        note(event.data.message, "chat-notice", answer);
      } else if (event.name === "done") {
        finished = true;
        history = payload.messages.concat([{ role: "assistant", content: text }]);
        historyField.value = JSON.stringify(history);
      } else if (event.name === "error") {
        finished = true;
        if (!text) answer.remove();
        note(event.data.message, "chat-error");
      }
    }

    try {
      var response = await fetch(form.dataset.streamUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream", "X-CSRFToken": csrf },
        body: JSON.stringify(payload),
      });
      if (!response.ok) {
        var problem = await response.json().catch(function () { return {}; });
        answer.remove();
        note(problem.error || "The request failed (" + response.status + ").", "chat-error");
        return;
      }
      var reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      var buffer = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer += chunk.value;
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          var event = parseBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event) handle(event);
        }
      }
      if (!finished) note("The connection closed before the answer finished. Please try again.", "chat-error");
    } catch (err) {
      note("Could not reach the server: " + err.message, "chat-error");
    } finally {
      answer.classList.remove("streaming");
      setBusy(false);
      form.message.focus();
    }
  });
})();
