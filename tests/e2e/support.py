"""Helpers the end-to-end tests share."""

from __future__ import annotations

import asyncio

import aiohttp

from scripted.driver import ConversationResult, run_scripted_conversation
from scripts.stack import Stack


def converse(stack: Stack, url: str, sender_id: str, customer: dict) -> ConversationResult:
    """Play one scripted customer against ``url`` to the end, with the stack's tokens."""
    async def go() -> ConversationResult:
        async with aiohttp.ClientSession() as session:
            return await run_scripted_conversation(session, url, sender_id, customer, stack.api_token, stack.channel_token)

    return asyncio.run(go())
