// Embed the web chat on any page with one tag:
//   <script src="https://chat.example.com/widget.js" defer></script>
// It adds a launcher button and, when opened, an iframe of the chat page from the same origin
// as this script, so the chat keeps its own session cookie and its own page security.
"use strict";
(function () {
  const script = document.currentScript;
  const origin = new URL(script.src).origin;
  const launcher = document.createElement("button");
  const frame = document.createElement("iframe");
  launcher.type = "button";
  launcher.id = "cx-chat-launcher";
  launcher.textContent = "Chat with us";
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "cx-chat-frame");
  launcher.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:2147483647;padding:12px 18px;" +
    "font:600 16px system-ui,sans-serif;color:#fff;background:#0b57d0;border:0;border-radius:24px;cursor:pointer;" +
    "box-shadow:0 2px 8px rgba(0,0,0,.3)";
  frame.id = "cx-chat-frame";
  frame.title = "Customer care chat";
  frame.hidden = true;
  frame.style.cssText = "position:fixed;right:16px;bottom:72px;z-index:2147483647;width:min(380px,calc(100vw - 32px));" +
    "height:min(600px,calc(100vh - 96px));border:1px solid #d0d4da;border-radius:12px;background:#fff;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.25)";
  launcher.addEventListener("click", () => {
    if (!frame.src) frame.src = origin + "/";
    frame.hidden = !frame.hidden;
    launcher.setAttribute("aria-expanded", String(!frame.hidden));
  });
  document.body.appendChild(frame);
  document.body.appendChild(launcher);
})();
