"""The agent console: where agents and supervisors sign in and, later, take over conversations.

Served by the web app under ``/console`` (``web.console.setup.setup_console``). Accounts
live in SQL (``models``, ``accounts``), sessions in Redis (``sessions``); every route goes
through one guard (``guard``), which also checks the CSRF token of every write.
"""
