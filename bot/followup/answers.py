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

Typed answers (:meth:`SurveyAnswers.typed`) are read by the question the survey is
waiting for, which SQL knows (the rating until one is recorded, then "was it really
solved?" after a 3 to 5), not by what the classifier made of the words: "no, it is still
broken" is a complaint to the classifier but a plain "no" to the pending question. The
words are read by :mod:`bot.followup.reading`. A ticket number in the text must be one
whose survey went to this conversation, the rule the buttons follow; a ticket's details
may be shown to another conversation that proves the contact (:mod:`bot.ticket_access`),
but its survey changes the ticket, so only the surveyed conversation answers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.errors import InvalidTransition
from bot.followup.messages import SurveyValue
from bot.followup.reading import mentions_rating, parse_rating, parse_solved
from bot.followup.store import Followup, FollowupStore, SurveyAnswer
from bot.ticket_numbers import find_ticket_number
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)

UNHAPPY_RATINGS = frozenset({1, 2})
COMMENT_RATINGS = frozenset({3})
ESCALATION_ACTOR = "bot"
OPEN_STATES = ("sent", "reminded")
TYPED_NUMBER_WINDOW = timedelta(days=7)
"""How long after its survey a lone number typed outside the survey's question is still
taken as about the survey (a second answer, or one typed before the chat knew the
survey was waiting); later it is just a number."""


@dataclass(frozen=True)
class Reply:
    """What the chat says back: a domain.yml response, its values, and the question still open.

    ``ask`` is the question the survey waits for after this reply: "rating", "solved"
    (asked with its yes/no buttons) or "comment" (the chat opens the comment form); None
    when the survey is over. ``understood`` is False when the words answered nothing
    (the chat asks again, or gives up after a second miss).
    """

    response: str
    ticket_number: str | None = None
    ask: str | None = None
    changed: bool = False
    understood: bool = True
    values: dict[str, str] = field(default_factory=dict)


class SurveyAnswers:
    """Applies survey answers; ``clock`` is injectable like everywhere else."""

    def __init__(self, followups: FollowupStore, tickets: TicketStore, clock: Callable[[], datetime]) -> None:
        self._followups = followups
        self._tickets = tickets
        self._clock = clock

    def answer(self, sender_id: str, value: SurveyValue | None, typed: str | None = None) -> Reply:
        """Apply a button's ``value``, or (without one) the text the customer ``typed``."""
        if value is None:
            return self.typed(sender_id, typed or "")
        followup = self._followups.for_ticket(value.ticket_number)
        if followup is None or followup.sender_id != sender_id:
            logger.warning("survey answer for a ticket this conversation was not surveyed about",
                           extra={"ticket_number": value.ticket_number})
            return Reply("utter_survey_not_yours", ask=self.pending(self._followups.latest_for_sender(sender_id)))
        if value.question == "rating":
            return self._with_pending(followup, self._rating(followup, value.answer))
        return self._with_pending(followup, self._solved(followup, value.answer))

    def typed(self, sender_id: str, text: str) -> Reply:
        """Apply what the customer typed to the question their survey waits for (see the module docstring)."""
        own = self._followups.latest_for_sender(sender_id)
        mentioned = find_ticket_number(text)
        followup = own
        if mentioned is not None and (own is None or mentioned != own.ticket_number):
            followup = self._followups.for_ticket(mentioned)
            if followup is None or followup.sender_id != sender_id:
                logger.warning("typed survey answer names a ticket this conversation was not surveyed about")
                return Reply("utter_survey_not_yours", ask=self.pending(own))
        answers_something = mentions_rating(text) or parse_solved(text) is not None
        if followup is None:
            return Reply("utter_survey_none_pending", understood=answers_something)
        question = self.pending(followup)
        number = followup.ticket_number
        if question == "rating":
            reply = self._rating(followup, text)
        elif question == "solved" and parse_solved(text) is None and parse_rating(text) is not None:
            reply = Reply("utter_survey_rating_given", number)
        elif question == "solved":
            reply = self._solved(followup, text)
        elif not answers_something:
            reply = Reply("utter_survey_none_pending", understood=False)
        elif followup.state in OPEN_STATES + ("answered",):
            reply = Reply("utter_survey_already_answered", number)
        else:
            reply = Reply("utter_survey_not_open", number)
        return self._with_pending(followup, reply)

    def pending(self, followup: Followup | None) -> str | None:
        """The question ``followup``'s survey waits for: "rating", "solved", or None when it waits for nothing."""
        if followup is None:
            return None
        if followup.state in OPEN_STATES:
            return "rating"
        if followup.state != "answered":
            return None
        answer = self._followups.answer(followup.key)
        if answer is not None and answer.rating is not None and answer.rating not in UNHAPPY_RATINGS and answer.solved is None:
            return "solved"
        return None

    def awaits_typed_number(self, sender_id: str, text: str, now: datetime) -> bool:
        """Whether a lone number typed outside the survey's question is about this conversation's
        survey: one was sent within :data:`TYPED_NUMBER_WINDOW`."""
        if not mentions_rating(text):
            return False
        followup = self._followups.latest_for_sender(sender_id)
        return followup is not None and followup.sent_at is not None and now - followup.sent_at <= TYPED_NUMBER_WINDOW

    def _with_pending(self, followup: Followup, reply: Reply) -> Reply:
        """The reply with the question the survey now waits for (the comment form is the chat's own step)."""
        if reply.ask == "comment":
            return reply
        return replace(reply, ask=self.pending(self._followups.get(followup.key)))

    def comment(self, sender_id: str, text: str) -> Reply:
        """Record what would have made it better, on this conversation's latest survey."""
        followup = self._followups.latest_for_sender(sender_id)
        if followup is None or not text.strip():
            return Reply("utter_survey_not_yours")
        _, recorded = self._followups.record_answer(followup.key, self._clock(), comment=text.strip())
        if not recorded:
            return Reply("utter_survey_already_answered", followup.ticket_number)
        return Reply("utter_survey_comment_thanks", followup.ticket_number, changed=True)

    def _rating(self, followup: Followup, text: str) -> Reply:
        number = followup.ticket_number
        rating = parse_rating(text)
        if rating is None:
            return Reply("utter_survey_bad_answer", number, understood=False)
        if followup.state not in ("sent", "reminded", "answered"):
            return Reply("utter_survey_not_open", number)
        answer, recorded = self._followups.record_answer(followup.key, self._clock(), rating=rating)
        if not recorded:
            return Reply("utter_survey_already_answered", number)
        logger.info("survey rated", extra={"ticket_number": number, "rating": rating})
        if rating in UNHAPPY_RATINGS:
            self._reopen(number, f"survey: rated {rating} of 5")
            return Reply("utter_survey_reopened", number, changed=True)
        return Reply("utter_survey_solved", number, changed=True)

    def _solved(self, followup: Followup, text: str) -> Reply:
        number = followup.ticket_number
        solved = parse_solved(text)
        if solved is None:
            return Reply("utter_survey_bad_solved", number, understood=False)
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
