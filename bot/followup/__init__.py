"""The 72-hour satisfaction follow-up: scheduled with the resolution, run by the job queue, answered in the chat.

ISO 10002 9.1 asks that complainants be asked, after the complaint is closed, whether
they are satisfied. A ticket that becomes ``resolved`` gets a follow-up row in the same
transaction (:func:`bot.followup.store.on_ticket_status`), due ``followup_after_h``
(settings/sla.yml) later and moved out of the customer's quiet hours
(settings/followup.yml). A ticket reopened, closed or withdrawn before the survey goes
out cancels it; a conversation no channel can push to (REST) gets none. No Rasa import
here; the chat side is :mod:`bot.actions.survey`.

SQL is the record, the queue (arq) only wakes the worker
----------------------------------------------------------
``followups`` holds each follow-up under its business key ``followup:<ticket>:72h``
with ``state`` and ``due_at`` (when its next step is due): scheduled → sent (survey)
→ reminded (one reminder, ``reminder_after_h`` later) → unanswered
(``unanswered_after_h`` after the reminder), or answered / cancelled. Each pending step
is an arq job whose id is the business key (``:remind`` / ``:expire`` suffixed for the
later steps), deferred until ``due_at``. The worker's sweep (start-up, then every
minute) queues every pending step due within the look-ahead; arq refuses an id it
already holds, so after Redis lost its queue the next sweep restores every job.

The send protocol: at least once, exactly once in effect
--------------------------------------------------------
A step's job (:meth:`bot.followup.runner.FollowupRunner.run`) does, in order:

1. **claim**: lock the row, check the step is still due, count an attempt (one transaction);
2. **record**: ``Outbound.deliver(conversation, message, key="<business key>:survey")``
   writes the message's ``outbound_messages`` row under that key (a key seen before
   returns its row and records nothing new) and queues its send job;
3. **advance**: the row moves to its next state only if it is still in the one claimed
   (``sent`` with the reminder due, ...), and the next step's job is queued.

The send job of the outbound path (:mod:`bot.outbound.delivery`) then does
**claim attempt → transport send → mark sent → transcript**. A worker killed anywhere
leaves SQL saying what is still owed, and the job runs again (arq retries a job whose
worker vanished; the sweep re-queues one Redis lost):

- killed after claim, before record: the row is still due; the rerun records the message.
- killed after record, before advance: the rerun finds the message's key already
  recorded (no second message) and advances.
- killed after the transport sent, before the message was marked sent: the send job runs
  again and sends the same key again; every transport treats a repeated key as a no-op
  for the customer (the web chat mailbox keeps each key once, Telegram remembers sent keys).
- killed after advance: nothing is owed; a rerun finds the step no longer due.

So the customer sees each survey and each reminder once. Two jobs for the same step
(several workers, a re-queue racing a slow job) meet the same row lock and the same
unique message key, and only one of them changes anything.
"""

from bot.followup.policy import FollowupPolicy, followup_policy
from bot.followup.store import Followup, FollowupStore, SurveyAnswer, followup_key

__all__ = ["Followup", "FollowupPolicy", "FollowupStore", "SurveyAnswer", "followup_key", "followup_policy"]
