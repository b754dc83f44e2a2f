"""What a typed message asks of a booked call: to cancel it, to move it, or neither.

The classifier routes "cancel my call" and "can we move the call to Friday at 10" to the
call-back actions (intents ``cancel_callback``, ``reschedule_callback``), but a wish for a
call ("call me back please") shares most of their words. So the words decide: a change is
made only when the message says one, and a message that does not is answered as any
unclear message is, never by cancelling or moving a call. (With no call booked, a message
that does not say cancel is taken as the wish for a call it usually is:
:class:`bot.actions.callbacks.ActionManageCallback`.)
"""

from __future__ import annotations

import re

CANCEL = re.compile(
    r"\b(cancel\w*|cancle\w*|cnacel\w*|scrap|call\s+(it\s+)?off|take\s+(the\s+|my\s+)?call\s+off|"
    r"(don'?t|do\s+not|won'?t)\s+(need|bother|ring|call|phone)|no\s+(longer|need)|not\s+needed|(isn'?t|is\s+not)\s+needed|"
    r"skip|drop|remove|forget)\b",
    re.IGNORECASE,
)
MOVE = re.compile(
    r"\b(move|moved|moving|change|changing|resched\w*|rearrange|postpone|push|bring\s+.*\bforward|instead|"
    r"(different|another|other)\s+time|later|earlier|swap|re-?book|rather)\b",
    re.IGNORECASE,
)
INTENT_CHANGES = {"cancel_callback": "cancel", "reschedule_callback": "reschedule"}


def asked_change(text: str, intent: str | None) -> str | None:
    """"cancel", "reschedule", or None when the words ask for no change to a booked call.

    Words that say both ("cancel the 3pm call and ring me at 5 instead") follow the intent.
    """
    cancel, move = bool(CANCEL.search(text or "")), bool(MOVE.search(text or ""))
    if cancel and move:
        return INTENT_CHANGES.get(intent or "")
    if cancel:
        return "cancel"
    return "reschedule" if move else None
