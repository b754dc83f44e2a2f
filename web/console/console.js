// The console's live behaviour: queue updates, claims, chat, notes, the ticket's state, call backs,
// hand-back, and the supervisors' view (reloaded on queue notices; reassigning).
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

  function hideError(id) {
    const box = document.getElementById(id);
    if (box) { box.hidden = true; }
  }

  function takenText(result) {
    if (result.data.error === "taken") {
      return result.data.agent ? "Already taken by " + result.data.agent + "." : "No longer waiting (" + result.data.state + ").";
    }
    if (result.data.error === "claim_first") { return "Claim the conversation first."; }
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

  function link(id, text) {
    const anchor = document.createElement("a");
    anchor.href = "/console/handoffs/" + id;
    anchor.textContent = text;
    return anchor;
  }

  async function refreshQueue() {
    const answer = await fetch("/console/api/handoffs", { credentials: "same-origin" });
    if (!answer.ok) { return; }
    const rows = document.getElementById("queue-rows");
    const data = await answer.json();
    const handoffs = data.handoffs;
    rows.replaceChildren();
    for (const h of handoffs) {
      const row = document.createElement("tr");
      row.dataset.handoff = String(h.id);
      if (h.queue === "supervisors") { row.className = "for-supervisors"; }
      const priority = document.createElement("span");
      priority.textContent = h.priority;
      if (h.queue === "supervisors") {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "unclaimed: supervisors";
        priority.append(" ", badge);
      }
      const cells = [link(h.id, h.ticket_number), priority, h.reasons.join("; "), h.category || "",
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
    const mine = document.getElementById("mine-list");
    mine.replaceChildren();
    for (const h of data.mine) {
      const item = document.createElement("li");
      item.dataset.handoff = String(h.id);
      const left = h.sla_left_min === undefined ? "" : " · " + h.sla_left_min + " min to the resolve deadline";
      item.append(link(h.id, h.ticket_number), " · " + h.priority + " · " + (h.category || "") + left);
      mine.append(item);
    }
    document.getElementById("mine-empty").hidden = data.mine.length !== 0;
  }

  // The supervisors' view is rendered by the server; a notice reloads it and swaps it in (it holds
  // no customer words, and the server escaped what it holds). Not while a choice is being made.
  let reloadWaiting = false;
  async function refreshSupervisors() {
    const view = document.getElementById("supervisors-view");
    if (view.contains(document.activeElement) && document.activeElement.tagName === "SELECT") {
      if (!reloadWaiting) { reloadWaiting = true; setTimeout(function () { reloadWaiting = false; refreshSupervisors(); }, 2000); }
      return;
    }
    const answer = await fetch("/console/supervisors", { credentials: "same-origin" });
    if (!answer.ok) { return; }
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById("supervisors-view");
    if (fresh) { view.replaceWith(document.importNode(fresh, true)); }
  }

  async function assign(id) {
    const choice = document.getElementById("assign-to-" + id);
    hideError("supervisors-error");
    const result = await post("/console/api/handoffs/" + id + "/assign", { to: choice.value });
    if (result.ok) { refreshSupervisors(); } else { showError("supervisors-error", takenText(result)); }
  }

  async function claim(id, errorBox) {
    const result = await post("/console/api/handoffs/" + id + "/claim");
    if (result.ok) { window.location.href = "/console/handoffs/" + id; } else { showError(errorBox, takenText(result)); }
  }

  function showStatus(ticket) {
    document.getElementById("ticket-status").textContent = ticket.status;
    document.getElementById("status-now").textContent = ticket.status;
    const select = document.getElementById("status-to");
    select.replaceChildren();
    for (const state of ticket.allowed) {
      const option = document.createElement("option");
      option.value = state;
      option.textContent = state.replace("_", " ");
      select.append(option);
    }
  }

  async function loadSlots() {
    hideError("callback-error");
    const answer = await fetch("/console/api/handoffs/" + handoffId + "/callback-slots", { credentials: "same-origin" });
    if (!answer.ok) { showError("callback-error", "The free times could not be read (" + answer.status + ")."); return; }
    showSlots((await answer.json()).slots);
  }

  function showSlots(slots) {
    const box = document.getElementById("callback-slots");
    box.replaceChildren();
    slots.forEach(function (slot, index) {
      const id = "callback-slot-" + index;
      const input = document.createElement("input");
      input.type = "radio"; input.name = "slot"; input.id = id; input.value = slot.start; input.required = true;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = slot.label + " (" + slot.customer_label + ")";
      const line = document.createElement("div");
      line.append(input, " ", label);
      box.append(line);
    });
    if (slots.length === 0) { showError("callback-error", "No free time in the booking horizon."); }
    document.getElementById("callback-form").hidden = slots.length === 0;
  }

  document.addEventListener("click", function (event) {
    const target = event.target;
    if (!(target instanceof HTMLElement)) { return; }
    if (target.classList.contains("claim")) {
      claim(target.dataset.handoff, conv ? "conversation-error" : "queue-error");
    } else if (target.classList.contains("assign")) {
      assign(target.dataset.handoff);
    } else if (target.id === "callback-load") {
      loadSlots();
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
    document.getElementById("status-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      hideError("status-error");
      const note = document.getElementById("status-note");
      const result = await post("/console/api/handoffs/" + handoffId + "/status",
        { to: document.getElementById("status-to").value, note: note.value });
      if (result.ok) { showStatus(result.data.ticket); note.value = ""; return; }
      if (result.data.error === "transition_not_allowed") {
        const allowed = result.data.allowed.length ? result.data.allowed.join(", ").replace(/_/g, " ") : "nothing: the state is final";
        showError("status-error", "Not allowed: the ticket is " + result.data.status.replace("_", " ") + " and may only go to " + allowed + ".");
        showStatus({ status: result.data.status, allowed: result.data.allowed });
      } else { showError("status-error", takenText(result)); }
    });
    document.getElementById("callback-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      hideError("callback-error");
      const chosen = document.querySelector("#callback-slots input[name=slot]:checked");
      if (!chosen) { showError("callback-error", "Choose a time first."); return; }
      const result = await post("/console/api/handoffs/" + handoffId + "/callback", { slot: chosen.value });
      if (result.ok) {
        const booked = result.data.callback;
        document.getElementById("callback-booked").textContent =
          "Booked for " + booked.label + " (the customer's time: " + booked.customer_label + ").";
        document.getElementById("callback-form").hidden = true;
      } else if (result.data.error === "slot_full") {
        showError("callback-error", "That time has just been taken. Here are the next free times.");
        showSlots(result.data.slots);
      } else if (result.data.error === "slot_unavailable") {
        showError("callback-error", "That time can no longer be booked. Show the free times again.");
      } else { showError("callback-error", takenText(result)); }
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
    } else if (message.type === "queue" && document.getElementById("supervisors-view")) {
      refreshSupervisors();
    } else if (message.type === "queue" && conv && message.notice.handoff_id === handoffId) {
      document.getElementById("handoff-state").textContent = message.notice.state;
    } else if (message.type === "chat") {
      const n = message.notice;
      addLine(n.sender, n.sender === "agent" ? n.agent_name : n.sender, n.text);
    }
  });
})();
