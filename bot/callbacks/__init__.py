"""Booked callbacks: slots in business hours, bookings in SQL, reminders and missed-call checks.

No Rasa import here: the action server (``bot/actions/callbacks.py``), the worker and the
ticket API all use this package. The agents' work queue uses :func:`list_callbacks` and
:func:`mark_done`.
"""
