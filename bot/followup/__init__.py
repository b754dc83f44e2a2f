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
(``unanswered_after_h`` after the reminder), or answered / cancelled. Due work is cut
into windows of ``FOLLOWUP_WINDOW_S`` (half a second); each window holding a pending step is
an arq job named after the window (``followups-due:<end in ms>:0``), deferred to its end.
The worker's sweep (start-up, then every minute) queues every window due within the
look-ahead; arq refuses an id it already holds, so after Redis lost its queue the next
sweep restores every job. The jobs of several workers share the work: a window's job
claims a batch (``FOLLOWUP_BATCH``) and, when the batch is full, first queues the
window's next part, which any worker may take.

The send protocol: at least once, exactly once in effect
--------------------------------------------------------
A window's job (:meth:`bot.followup.runner.FollowupRunner.run_due`) does, in order:

1. **claim**: one transaction takes up to a batch of the follow-ups with a step due now
   (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's one writer), counts an
   attempt on each and moves their ``due_at`` a lease ahead (``FOLLOWUP_CLAIM_LEASE_S``),
   so no other job takes them while this one works and they are due again if it dies;
2. **record**: ``Outbound.deliver_many`` writes each message's ``outbound_messages`` row
   under ``<business key>:survey`` (or ``:reminder``) in one statement (a key seen
   before keeps its row and records nothing new) and queues one send job for the batch;
3. **advance**: the follow-ups move to their next state only if they are still in the
   one claimed (``sent`` with the reminder due, ...), one statement per next due time.

The send job of the outbound path (:mod:`bot.outbound.delivery`) then does, for the
whole batch, **claim attempts → transport sends → mark sent → transcript**, each claim
leased the same way. A worker killed anywhere leaves SQL saying what is still owed, and
the work runs again (arq retries a job whose worker vanished; the sweeps queue again
what is due once the lease has passed):

- killed after claim, before record: the follow-ups are due again when the lease ends;
  the rerun records the messages.
- killed after record, before advance: the send job still sends; the rerun finds the
  messages' keys already recorded (no second message) and advances.
- killed after the transport sent, before the message was marked sent: the send job runs
  again and sends the same key again; every transport treats a repeated key as a no-op
  for the customer (the web chat mailbox keeps each key once, Telegram remembers sent keys).
- killed after advance: nothing is owed; a rerun finds no step due.

So the customer sees each survey and each reminder once. Two jobs at the same time (several
workers, a re-queue racing a slow job) never claim the same row while its lease runs, and
meet the same unique message key and the same state check if a lease ran out, so only one
of them changes anything.
"""

from bot.followup.policy import FollowupPolicy, followup_policy
from bot.followup.store import Followup, FollowupStore, SurveyAnswer, followup_key

__all__ = ["Followup", "FollowupPolicy", "FollowupStore", "SurveyAnswer", "followup_key", "followup_policy"]
