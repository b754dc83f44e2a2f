"""The customer-facing web chat: our own aiohttp app (page, widget, API, WebSocket, push)."""
