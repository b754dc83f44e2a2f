"""``python -m web.console.accounts``: the command that makes the first supervisor, run as a
person runs it, the password piped in or typed at a terminal (never on the command line)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time

from argon2 import PasswordHasher
from sqlalchemy import select as sql_select
from sqlalchemy.orm import sessionmaker

from bot.settings import PROJECT_ROOT as ROOT
from tests.console.conftest import PASSWORD
from web.console.accounts import AccountStore
from web.console.models import ConsoleAccountRow

NEW_PASSWORD = "a brand new passphrase"


def _env(db_url: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ) | {"DATABASE_URL": db_url, "PYTHONPATH": path}


def _run(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "web.console.accounts", *args], input=stdin, capture_output=True,
                          text=True, env=_env(db_url), cwd=ROOT, timeout=120)


def _rows(sessions: sessionmaker) -> list[ConsoleAccountRow]:
    with sessions() as session:
        return list(session.execute(sql_select(ConsoleAccountRow).order_by(ConsoleAccountRow.name)).scalars())


def test_create_makes_the_first_supervisor_from_a_piped_password(app_env: str, db_sessions: sessionmaker) -> None:
    done = _run(app_env, "create", "--role", "supervisor", "--name", "Boss", "--display-name", "The Boss",
                stdin=PASSWORD + "\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "created supervisor 'boss'\n", "")
    [row] = _rows(db_sessions)
    assert (row.name, row.display_name, row.role, row.disabled_at, row.last_sign_in_at) == (
        "boss", "The Boss", "supervisor", None, None)
    assert row.created_at == row.password_changed_at
    assert row.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(row.password_hash, PASSWORD)


def test_an_agent_gets_its_name_as_display_name(app_env: str, db_sessions: sessionmaker) -> None:
    done = _run(app_env, "create", "--role", "agent", "--name", "alex", stdin=PASSWORD + "\n")
    assert done.returncode == 0
    assert [(r.name, r.display_name, r.role) for r in _rows(db_sessions)] == [("alex", "alex", "agent")]


def test_a_taken_name_a_short_password_and_a_bad_name_are_refused(app_env: str, db_sessions: sessionmaker) -> None:
    assert _run(app_env, "create", "--role", "agent", "--name", "alex", stdin=PASSWORD + "\n").returncode == 0
    again = _run(app_env, "create", "--role", "supervisor", "--name", "ALEX", stdin=PASSWORD + "\n")
    short = _run(app_env, "create", "--role", "agent", "--name", "kim", stdin="short\n")
    bad = _run(app_env, "create", "--role", "agent", "--name", "two words", stdin=PASSWORD + "\n")
    assert (again.returncode, again.stdout, again.stderr) == (1, "", "refused: an account named 'alex' exists already\n")
    assert (short.returncode, short.stderr) == (1, "refused: a password needs at least 12 characters\n")
    assert (bad.returncode, bad.stderr) == (
        1, "refused: a name has 2 to 64 of a-z, 0-9 and . _ @ - (starting with a letter or digit)\n")
    assert [(r.name, r.role) for r in _rows(db_sessions)] == [("alex", "agent")]
    assert "short" not in short.stdout + short.stderr.replace("refused: a password needs", "")


def test_a_password_is_never_taken_from_the_command_line(app_env: str, db_sessions: sessionmaker) -> None:
    done = _run(app_env, "create", "--role", "agent", "--name", "alex", "--password", PASSWORD)
    assert done.returncode == 2
    assert "unrecognized arguments: --password" in done.stderr
    assert _rows(db_sessions) == []


def test_set_password_replaces_the_password(app_env: str, accounts: AccountStore, db_sessions: sessionmaker) -> None:
    assert _run(app_env, "create", "--role", "agent", "--name", "alex", stdin=PASSWORD + "\n").returncode == 0
    done = _run(app_env, "set-password", "--name", "Alex", stdin=NEW_PASSWORD + "\n")
    assert (done.returncode, done.stdout) == (0, "new password set for 'alex'\n")
    [row] = _rows(db_sessions)
    assert PasswordHasher().verify(row.password_hash, NEW_PASSWORD)
    missing = _run(app_env, "set-password", "--name", "nobody", stdin=NEW_PASSWORD + "\n")
    assert (missing.returncode, missing.stderr) == (1, "refused: there is no account with that name\n")


def test_at_a_terminal_the_password_is_asked_twice_without_echo(app_env: str, db_sessions: sessionmaker) -> None:
    transcript, code = _at_terminal(app_env, ["create", "--role", "supervisor", "--name", "boss"], [PASSWORD, PASSWORD])
    assert code == 0
    assert transcript.count("Password") == 2 and "Password again: " in transcript
    assert PASSWORD not in transcript
    assert "created supervisor 'boss'" in transcript
    assert PasswordHasher().verify(_rows(db_sessions)[0].password_hash, PASSWORD)


def test_at_a_terminal_two_different_passwords_are_refused(app_env: str, db_sessions: sessionmaker) -> None:
    transcript, code = _at_terminal(app_env, ["create", "--role", "supervisor", "--name", "boss"], [PASSWORD, NEW_PASSWORD])
    assert code == 1
    assert "refused: the two passwords differ" in transcript
    assert _rows(db_sessions) == []


def _at_terminal(db_url: str, args: list[str], typed: list[str]) -> tuple[str, int]:
    """Run the command with a pseudo-terminal as its controlling terminal, type each line after
    its prompt, and return what the terminal showed and the exit code."""
    leader, follower = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen([sys.executable, "-m", "web.console.accounts", *args], stdin=follower, stdout=follower,
                               stderr=follower, env=_env(db_url), cwd=ROOT, preexec_fn=own_terminal)
    os.close(follower)
    shown, pending = "", list(typed)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096).decode(errors="replace")
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
            if pending and shown.count("Password") > len(typed) - len(pending):
                os.write(leader, (pending.pop(0) + "\n").encode())
        elif process.poll() is not None:
            break
    os.close(leader)
    return shown, process.wait(timeout=30)
