"""A real worker process (``python -m tests.followup.crash_worker``) that kills itself with
SIGKILL at one step of the send protocol, once.

``CRASH_AT`` names the step (see :data:`STEPS`); ``CRASH_MARKER`` is a file written just
before the kill, so the restarted worker, given the same environment, runs cleanly. The
worker is the product's (``worker.main.worker_settings``, settings from the environment,
the real web chat transport); only the kill is added, by wrapping the step's function.
``WORKER_JOB_TIMEOUT_S`` shortens arq's job timeout, so a killed job is picked up again
after that many seconds plus arq's 10 s grace instead of five minutes.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import signal
from pathlib import Path
from typing import Any

from arq.worker import Worker

from bot.followup.store import FollowupStore
from bot.outbound.delivery import Outbound
from bot.outbound.settings import load_outbound_settings, rasa_auth_token
from bot.outbound.store import OutboundStore
from bot.outbound.webchat import WebChatTransport
from bot.settings import load_settings
from worker.main import worker_settings

STEPS = {
    "after_claim": (FollowupStore, "claim_due"),  # the follow-ups' steps claimed, nothing recorded
    "after_record": (Outbound, "deliver_many"),  # the surveys recorded and their send queued, follow-ups not advanced
    "after_send": (WebChatTransport, "send"),  # the customer has it, the message is not marked sent
    "after_mark_sent": (OutboundStore, "mark_sent"),  # marked sent, transcript not appended
    "after_advance": (FollowupStore, "advance"),  # the follow-ups moved on
}


def _die_once(marker: Path) -> None:
    if marker.exists():
        return
    marker.write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner: type, name: str, marker: Path) -> None:
    original = getattr(owner, name)

    def after(result: Any) -> Any:
        if name != "claim_due" or result:  # a claim that claimed nothing is not the step
            _die_once(marker)
        return result

    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            return after(await original(*args, **kwargs))
    else:
        @functools.wraps(original)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return after(original(*args, **kwargs))
    setattr(owner, name, wrapped)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    crash_at = os.environ.get("CRASH_AT", "")
    if crash_at:
        owner, name = STEPS[crash_at]
        _wrap(owner, name, Path(os.environ["CRASH_MARKER"]))
    settings = worker_settings(
        load_outbound_settings(), database_url=load_settings().database_url, rasa_token=rasa_auth_token(),
        transport_modules=("bot.outbound.webchat",),
    )
    timeout = float(os.environ.get("WORKER_JOB_TIMEOUT_S", "300"))
    worker = Worker(**settings, job_timeout=timeout, poll_delay=0.05)
    worker.run()


if __name__ == "__main__":
    main()
