"""The SLA clock: stage deadlines judged when they fall, escalation before the resolve deadline,
and the customer told when their ticket is being worked on or resolved.

``watch`` decides (see its docstring for the protocol: SQL rows, jobs keyed
``sla:<ticket>:<check>``, the sweep, exactly-once breaches), ``models`` is its table,
``notices`` announces status changes through the outbound path, ``jobs`` is what the
worker runs, ``settings`` its knobs. No Rasa import here.
"""
