// The web chat page. Talks only to its own origin: the session is the HttpOnly cookie the
// server issued with the page; the client never names a conversation. Messages go over the
// WebSocket (POST /api/messages when it is down); every stored item, ours included, comes
// back as a push, and items are shown once by id.
"use strict";
(function () {
  const log = document.getElementById("log");
  const typing = document.getElementById("typing");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const fileInput = document.getElementById("file");
  const seen = new Set();
  let csrf = "";
  let socket = null;
  let pending = 0;
  let retryMs = 500;

  function setTyping(on) {
    pending = Math.max(0, pending + (on ? 1 : -1));
    typing.hidden = pending === 0;
  }

  function render(item) {
    if (item.id && seen.has(item.id)) return;
    if (item.id) seen.add(item.id);
    const li = document.createElement("li");
    li.className = "msg msg--" + item.from;
    li.dataset.from = item.from;
    if (item.from === "agent") {
      const who = document.createElement("span");
      who.className = "msg__author";
      who.textContent = item.author_name || "Customer care";
      li.appendChild(who);
    }
    const text = document.createElement("span");
    text.className = "msg__text";
    text.textContent = item.text;
    li.appendChild(text);
    if (item.buttons && item.buttons.length) {
      const group = document.createElement("div");
      group.className = "msg__buttons";
      group.setAttribute("role", "group");
      for (const b of item.buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.dataset.payload = b.payload;
        button.addEventListener("click", () => {
          for (const other of group.querySelectorAll("button")) other.disabled = true;
          button.classList.add("chosen");
          button.setAttribute("aria-pressed", "true");
          send(b.payload, b.title);
        });
        group.appendChild(button);
      }
      li.appendChild(group);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function renderAll(items) { for (const item of items || []) render(item); }

  async function api(path, options) {
    const init = Object.assign({ credentials: "same-origin" }, options || {});
    init.headers = Object.assign({ "X-CSRF-Token": csrf }, init.headers || {});
    const response = await fetch(path, init);
    let body = {};
    try { body = await response.json(); } catch (e) { body = {}; }
    return { status: response.status, body: body };
  }

  function notice(text) { render({ from: "system", text: text }); }

  // The browser's IANA time zone (e.g. "Europe/London"), sent with every message so call-back
  // times and the survey's quiet hours are the customer's own; the server checks it.
  function timeZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { return null; }
  }

  async function send(text, title) {
    if (!text.trim()) return;
    setTyping(true);
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "message", text: text, title: title || null, time_zone: timeZone() }));
      return;
    }
    try {
      const { body } = await api("/api/messages", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: text, title: title || null, time_zone: timeZone() }),
      });
      renderAll(body.items);
    } finally {
      setTyping(false);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws");
    socket.addEventListener("open", async () => {
      retryMs = 500;
      document.body.dataset.connected = "true";
      const { body } = await api("/api/history");
      renderAll(body.items);
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "item") render(data.item);
      if (data.type === "done" || data.type === "error") {
        renderAll(data.items);
        if (data.notice) render(data.notice);
        setTyping(false);
      }
    });
    socket.addEventListener("close", () => {
      document.body.dataset.connected = "false";
      pending = 0; typing.hidden = true;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    send(text);
    input.focus();
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (!file) return;
    const data = new FormData();
    data.append("file", file, file.name);
    setTyping(true);
    try {
      const { body } = await api("/api/attachments", { method: "POST", body: data });
      if (body.items) renderAll(body.items);
      else if (body.text) notice(body.text);
    } finally {
      setTyping(false);
      fileInput.value = "";
    }
  });

  async function start() {
    const { status, body } = await api("/api/session");
    if (status !== 200) { location.reload(); return; }
    csrf = body.csrf_token;
    input.maxLength = body.max_message_chars;
    const history = await api("/api/history");
    renderAll(history.body.items);
    connect();
    document.body.dataset.ready = "true";
  }

  start();
})();
