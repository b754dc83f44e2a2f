"""supervisord's configuration, rendered from the programs the stack runs.

Only supervisor's ini format lives here; what runs, with which arguments, is decided in
``scripts/stack.py`` from the environment. Every program is restarted whenever it exits;
supervisord is controlled through a unix socket only its owner can open (no TCP port).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Program:
    """One supervised process; a lower priority starts first and stops last."""

    name: str
    command: tuple[str, ...]
    priority: int


def socket_path(run_dir: Path) -> Path:
    """supervisord's control socket (``supervisorctl``, the XML-RPC interface)."""
    return run_dir / "supervisor.sock"


def _value(text: str | Path) -> str:
    """A value safe in supervisor's ini file, which expands ``%(name)s``."""
    return str(text).replace("%", "%%")


def _program(program: Program, directory: Path, log_dir: Path) -> str:
    return f"""
[program:{program.name}]
command={_value(shlex.join(program.command))}
directory={_value(directory)}
priority={program.priority}
autostart=true
autorestart=true
startsecs=1
startretries=5
stopsignal=TERM
stopwaitsecs=15
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={_value(log_dir / f"{program.name}.log")}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=5
"""


def render(programs: Sequence[Program], *, directory: Path, log_dir: Path, run_dir: Path) -> str:
    """The configuration for ``supervisord -n -c``: the programs run in ``directory``, one log
    each in ``log_dir``, pid file and control socket in ``run_dir``.

    No secret belongs here: programs inherit supervisord's own environment.
    """
    header = f"""[supervisord]
nodaemon=true
logfile={_value(log_dir / "supervisord.log")}
logfile_maxbytes=5MB
logfile_backups=2
pidfile={_value(run_dir / "supervisord.pid")}
childlogdir={_value(log_dir)}
minfds=256
minprocs=64

[unix_http_server]
file={_value(socket_path(run_dir))}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{_value(socket_path(run_dir))}
"""
    return header + "".join(_program(program, directory, log_dir) for program in programs)
