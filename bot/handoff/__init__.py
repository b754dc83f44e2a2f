"""Live hand-off to people: when the assistant brings in a person, the queue, the wait it tells.

No Rasa import here: the action server (``bot/actions/handoff.py``), the Rasa servers
(``connectors/paused_conversations.py``) and the agent console use this package.
``policy`` reads settings/handoff.yml (the rules, each with the reason the agent sees);
``signals`` turns a conversation's events into the facts the rules read; ``store`` is the
queue in SQL; ``estimate`` the wait; ``hours`` who is online; ``notices`` the live Redis
pub/sub for consoles; ``service`` joins them. For the console: ``access`` (who may read a
hand-off), ``desk`` (what agents and supervisors do with one), ``next_steps`` (the suggestions of
settings/next_steps.yml); for the worker: ``jobs`` (unclaimed conversations to the supervisors).
"""
