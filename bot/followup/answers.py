"""What a survey answer does: recorded once, and the ticket reopened, escalated or closed.

The chat side (:mod:`bot.actions.survey`) hands over who answered, what a button carried
or what they typed, and says back the response this module names; every sentence is in
domain.yml. The rules (issue 13):

- a rating of 1 or 2, or "not solved": the ticket is reopened one priority step higher and
  escalated, so it is in front of a person (``escalated`` is the state the hand-off
  console lists);
- 3 to 5: "was your problem really solved?"; yes closes the ticket, and after a 3 the bot
  asks what would have made it better (the comment is recorded);
- anything else ("7", "meh"), a question answered twice, a survey that is not open, or an
  answer about a ticket whose survey went to another conversation: a clear reply and no
  change. An answer for someone else's ticket gets the same reply as one for a ticket
  that does not exist, so the reply reveals nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.errors import InvalidTransition
from bot.followup.messages import SurveyValue
from bot.followup.store import Followup, FollowupStore, SurveyAnswer
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)

UNHAPPY_RATINGS = frozenset({1, 2})
COMMENT_RATINGS = frozenset({3})
_RATING = re.compile(r"\s*([0-9]+)\s*[.!]?\s*\Z")
_YES = frozenset({"yes", "y", "yep", "yeah", "it was", "solved"})
_NO = frozenset({"no", "n", "nope", "it wasn't", "it was not", "not solved"})
ESCALATION_ACTOR = "bot"


@dataclass(frozen=True)
class Reply:
    """What the chat says back: a domain.yml response, its values, and the next question if any.

    ``ask`` is "solved" (the yes/no question, with buttons) or "comment" (the chat opens
    the comment form); None when the survey is over for now.
    """

    response: str
    ticket_number: str | None = None
    ask: str | None = None
    changed: bool = False
    values: dict[str, str] = field(default_factory=dict)


def parse_rating(answer: str) -> int | None:
    """1-5 from "4", " 4 ", "4."; None for anything else ("7", "meh", "four stars")."""
    match = _RATING.match(answer)
    if match is None:
        return None
    rating = int(match.group(1))
    return rating if 1 <= rating <= 5 else None


def parse_solved(answer: str) -> bool | None:
    """True for yes, False for no, None when it is neither."""
    words = answer.strip().lower().rstrip(".!")
    if words in _YES:
        return True
    if words in _NO:
        return False
    return None


class SurveyAnswers:
    """Applies survey answers; ``clock`` is injectable like everywhere else."""

    def __init__(self, followups: FollowupStore, tickets: TicketStore, clock: Callable[[], datetime]) -> None:
        self._followups = followups
        self._tickets = tickets
        self._clock = clock

    def answer(self, sender_id: str, value: SurveyValue | None, typed: str | None = None) -> Reply:
        """Apply a button's ``value``, or text the customer ``typed`` while their survey is open."""
        if value is None:
            return self._typed(sender_id, typed or "")
        followup = self._followups.for_ticket(value.ticket_number)
        if followup is None or followup.sender_id != sender_id:
            logger.warning("survey answer for a ticket this conversation was not surveyed about",
                           extra={"ticket_number": value.ticket_number})
            return Reply("utter_survey_not_yours")
        if value.question == "rating":
            return self._rating(followup, value.answer)
        return self._solved(followup, value.answer)

    def comment(self, sender_id: str, text: str) -> Reply:
        """Record what would have made it better, on this conversation's latest survey."""
        followup = self._followups.latest_for_sender(sender_id)
        if followup is None or not text.strip():
            return Reply("utter_survey_not_yours")
        _, recorded = self._followups.record_answer(followup.key, self._clock(), comment=text.strip())
        if not recorded:
            return Reply("utter_survey_already_answered", followup.ticket_number)
        return Reply("utter_survey_comment_thanks", followup.ticket_number, changed=True)

    def _typed(self, sender_id: str, text: str) -> Reply:
        followup = self._followups.latest_for_sender(sender_id)
        if followup is None:
            return Reply("utter_survey_not_yours")
        answer = self._followups.answer(followup.key)
        if answer is not None and answer.rating is not None and answer.solved is None:
            return self._solved(followup, text)
        return self._rating(followup, text)

    def _rating(self, followup: Followup, text: str) -> Reply:
        number = followup.ticket_number
        rating = parse_rating(text)
        if rating is None:
            return Reply("utter_survey_bad_answer", number)
        if followup.state not in ("sent", "reminded", "answered"):
            return Reply("utter_survey_not_open", number)
        answer, recorded = self._followups.record_answer(followup.key, self._clock(), rating=rating)
        if not recorded:
            return Reply("utter_survey_already_answered", number)
        logger.info("survey rated", extra={"ticket_number": number, "rating": rating})
        if rating in UNHAPPY_RATINGS:
            self._reopen(number, f"survey: rated {rating} of 5")
            return Reply("utter_survey_reopened", number, changed=True)
        return Reply("utter_survey_solved", number, ask="solved", changed=True)

    def _solved(self, followup: Followup, text: str) -> Reply:
        number = followup.ticket_number
        solved = parse_solved(text)
        if solved is None:
            return Reply("utter_survey_bad_solved", number, ask="solved")
        answer = self._followups.answer(followup.key)
        if answer is None or answer.rating is None:
            return Reply("utter_survey_not_open", number)
        if answer.rating in UNHAPPY_RATINGS:
            return Reply("utter_survey_already_answered", number)
        answer, recorded = self._followups.record_answer(followup.key, self._clock(), solved=solved)
        if not recorded:
            return Reply("utter_survey_already_answered", number)
        if not solved:
            self._reopen(number, "survey: the problem was not solved")
            return Reply("utter_survey_reopened", number, changed=True)
        self._close(number, answer)
        if answer.rating in COMMENT_RATINGS:
            return Reply("utter_ask_survey_comment", number, ask="comment", changed=True)
        return Reply("utter_survey_thanks", number, changed=True)

    def _reopen(self, number: str, note: str) -> None:
        """Reopened one priority step higher, then escalated: a person takes it on."""
        now = self._clock()
        try:
            self._tickets.transition(number, "reopened", actor="customer", now=now, note=note, more_urgent=True)
            self._tickets.transition(number, "escalated", actor=ESCALATION_ACTOR, now=now, note=note)
        except InvalidTransition:
            logger.info("ticket already moved on; survey answer kept without a status change",
                        extra={"ticket_number": number})

    def _close(self, number: str, answer: SurveyAnswer) -> None:
        try:
            self._tickets.transition(
                number, "closed", actor="customer", now=self._clock(), note=f"survey: rated {answer.rating} of 5, solved"
            )
        except InvalidTransition:
            logger.info("ticket already moved on; survey answer kept without a status change",
                        extra={"ticket_number": number})
