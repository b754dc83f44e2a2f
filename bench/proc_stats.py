"""Resident memory of a process tree, read from /proc (Linux only, no psutil needed).

Why trees: ``make run`` records only supervisord's PID (``var/run/supervisord.pid``);
the Rasa servers and the action server are its children, and they may fork workers of
their own (Sanic, multiprocessing). Memory the product costs is the sum over the recorded
PIDs and every descendant, each counted once.

Run as a script to print the figure for our processes: ``python bench/proc_stats.py``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PID_DIR = PROJECT_ROOT / "var" / "run"
PROC = Path("/proc")


def read_pid_files(pid_dir: Path = PID_DIR) -> list[int]:
    """PIDs written by the run script; unreadable or non-numeric files are skipped with a warning."""
    pids: list[int] = []
    for path in sorted(pid_dir.glob("*.pid")):
        try:
            pids.append(int(path.read_text().strip()))
        except (OSError, ValueError):
            log.warning("ignoring unreadable pid file %s", path)
    return pids


def parent_map(proc: Path = PROC) -> dict[int, int]:
    """pid -> parent pid for every process visible now."""
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # Field 2 (comm) may contain spaces and parentheses; fields after the last ')' are safe.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def with_descendants(roots: Iterable[int], parents: Mapping[int, int]) -> set[int]:
    """The roots that still exist plus all their descendants, each PID once."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [pid for pid in roots if pid in parents]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def rss_bytes(pid: int, proc: Path = PROC) -> int:
    """Resident set size of one process (0 if it is gone or has no memory, e.g. a zombie)."""
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    except OSError:
        pass
    return 0


def tree_rss_bytes(roots: Iterable[int], proc: Path = PROC) -> tuple[int, int]:
    """(total RSS in bytes, number of processes) over the roots and their descendants.

    Shared pages (e.g. after fork) are counted in every process, so this is an upper
    bound on physical memory; it is the figure ``ps`` and most monitors show.
    """
    pids = with_descendants(roots, parent_map(proc))
    return sum(rss_bytes(pid, proc) for pid in pids), len(pids)


def ours_rss_bytes(pid_dir: Path = PID_DIR) -> tuple[int, int] | None:
    """RSS of our running product, or None when no pid files exist (bot not started by the run script)."""
    roots = read_pid_files(pid_dir)
    if not roots:
        return None
    return tree_rss_bytes(roots)


def main() -> int:
    """Print our processes' total RSS."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    figure = ours_rss_bytes()
    if figure is None:
        print(f"no pid files in {PID_DIR}; is the bot running?")
        return 1
    total, count = figure
    print(f"ours: {total / 2**20:.1f} MiB RSS over {count} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
