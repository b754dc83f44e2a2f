"""The job worker (arq on Redis): sends outbound messages and sweeps SQL for lost jobs.

``python -m worker`` runs it; :func:`worker.main.worker_settings` says what it runs.
"""
