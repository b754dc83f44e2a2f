"""``rasa run`` with the HTTP API token taken from the environment.

Rasa reads its API token only from ``--auth-token`` on the command line, and a command
line is readable by every user of the machine (``ps``, ``/proc/<pid>/cmdline``). This
entrypoint adds ``--auth-token $RASA_AUTH_TOKEN`` inside the process, so the token
never appears in a process listing or in the process manager's configuration.

Usage: ``python -m connectors.rasa_server run --enable-api -i 127.0.0.1 --port 5005 ...``
(every argument is Rasa's own).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bot.settings import SettingsError, service_token


def rasa_arguments(arguments: Sequence[str], token: str) -> list[str]:
    """Rasa's command line with the API token added; a token given on it is refused.

    ``--auth-token=<token>`` in one piece, since a token may begin with "-".
    """
    if any(arg in ("--auth-token", "-t") or arg.startswith("--auth-token=") for arg in arguments):
        raise SettingsError("pass the API token as RASA_AUTH_TOKEN in the environment, not on the command line")
    return ["rasa", *arguments, f"--auth-token={token}"]


def main() -> int:
    """Run Rasa's own command-line entrypoint with the token added."""
    try:
        sys.argv = rasa_arguments(sys.argv[1:], service_token("RASA_AUTH_TOKEN"))
    except SettingsError as exc:
        print(f"rasa server: {exc}", file=sys.stderr)
        return 2
    from rasa.__main__ import main as rasa_main

    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
