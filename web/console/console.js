// The console's live behaviour: queue updates, claims, chat, notes, hand-back.
// Everything anyone typed is put in the page with textContent, never as HTML.
"use strict";
(function () {
  let csrf = null;
  const conv = document.getElementById("conversation");
  const handoffId = conv ? Number(conv.dataset.handoff) : null;

  async function token() {
    if (csrf === null) {
      const answer = await fetch("/console/api/me", { credentials: "same-origin" });
      csrf = (await answer.json()).csrf_token;
    }
    return csrf;
  }

  async function post(path, body) {
    const answer = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": await token() },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await answer.json(); } catch (e) { data = {}; }
    return { ok: answer.ok, status: answer.status, data: data };
  }

  function showError(id, text) {
    const box = document.getElementById(id);
    if (box) { box.textContent = text; box.hidden = false; }
  }

  function takenText(result) {
    if (result.data.error === "taken") {
      return result.data.agent ? "Already taken by " + result.data.agent + "." : "No longer waiting (" + result.data.state + ").";
    }
    return "That did not work (" + result.status + ").";
  }

  function addLine(sender, who, text) {
    const list = document.getElementById("transcript");
    const item = document.createElement("li");
    item.className = "line " + (sender === "agent" ? "agent" : sender === "customer" ? "customer" : "bot");
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(name, " ", body);
    list.append(item);
    list.scrollTop = list.scrollHeight;
  }

  async function refreshQueue() {
    const answer = await fetch("/console/api/handoffs", { credentials: "same-origin" });
    if (!answer.ok) { return; }
    const rows = document.getElementById("queue-rows");
    const handoffs = (await answer.json()).handoffs;
    rows.replaceChildren();
    for (const h of handoffs) {
      const row = document.createElement("tr");
      row.dataset.handoff = String(h.id);
      const link = document.createElement("a");
      link.href = "/console/handoffs/" + h.id;
      link.textContent = h.ticket_number;
      const cells = [link, h.priority, h.reasons.join("; "), h.category || "",
        (h.emotion === undefined ? "" : h.emotion + " " + h.emotion_trend), h.channel,
        (h.sla_left_min === undefined ? "" : h.sla_left_min + " min")];
      for (const value of cells) {
        const cell = document.createElement("td");
        if (typeof value === "string" || typeof value === "number") { cell.textContent = String(value); } else { cell.append(value); }
        row.append(cell);
      }
      const claimCell = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button"; button.className = "claim"; button.dataset.handoff = String(h.id);
      button.textContent = "Claim";
      claimCell.append(button);
      row.append(claimCell);
      rows.append(row);
    }
    document.getElementById("queue-table").hidden = handoffs.length === 0;
    document.getElementById("queue-empty").hidden = handoffs.length !== 0;
  }

  async function claim(id, errorBox) {
    const result = await post("/console/api/handoffs/" + id + "/claim");
    if (result.ok) { window.location.href = "/console/handoffs/" + id; } else { showError(errorBox, takenText(result)); }
  }

  document.addEventListener("click", function (event) {
    const target = event.target;
    if (!(target instanceof HTMLElement)) { return; }
    if (target.classList.contains("claim")) {
      claim(target.dataset.handoff, conv ? "conversation-error" : "queue-error");
    } else if (target.id === "hand-back-button" || target.id === "resolve-button") {
      const path = target.id === "hand-back-button" ? "/hand-back" : "/resolve";
      post("/console/api/handoffs/" + handoffId + path).then(function (result) {
        if (result.ok) { document.getElementById("handoff-state").textContent = result.data.handoff.state; }
        else { showError("conversation-error", takenText(result)); }
      });
    }
  });

  if (conv) {
    document.getElementById("reply-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const field = document.getElementById("reply");
      const result = await post("/console/api/handoffs/" + handoffId + "/messages", { text: field.value });
      if (result.ok) { field.value = ""; document.getElementById("handoff-state").textContent = result.data.handoff.state; }
      else { showError("conversation-error", takenText(result)); }
    });
    document.getElementById("note-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const field = document.getElementById("note");
      const result = await post("/console/api/handoffs/" + handoffId + "/notes", { text: field.value });
      if (result.ok) {
        const item = document.createElement("li");
        item.textContent = result.data.note.text;
        document.getElementById("notes").append(item);
        field.value = "";
      } else { showError("conversation-error", takenText(result)); }
    });
  }

  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + window.location.host + "/console/ws");
  socket.addEventListener("open", function () {
    if (conv) { socket.send(JSON.stringify({ type: "watch", handoff_id: handoffId })); }
  });
  socket.addEventListener("message", function (event) {
    const message = JSON.parse(event.data);
    if (message.type === "queue" && document.getElementById("queue-rows")) {
      refreshQueue();
    } else if (message.type === "queue" && conv && message.notice.handoff_id === handoffId) {
      document.getElementById("handoff-state").textContent = message.notice.state;
    } else if (message.type === "chat") {
      const n = message.notice;
      addLine(n.sender, n.sender === "agent" ? n.agent_name : n.sender, n.text);
    }
  });
})();
