"""prometheus-client's multiprocess mode, for ``tenantry serve --workers N``.

Each worker process writes its metrics to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``; a
scrape answered by any worker reads them all. The directory must be set before the workers start
(``prepare_directory``, called by ``tenantry serve``) and emptied at each start, or counters from a
previous run would add to this one's. prometheus-client reads the variable once, when it is
imported: the supervisor, whose workers are forked from it, never imports it (nor does this module
until a worker asks for more than the directory). A worker that exits (or is killed and replaced)
leaves its live gauges behind: ``forget_dead_processes`` drops them, at every worker's start and
every scrape.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID = re.compile(r"_(\d+)\.db$")


def directory() -> Path | None:
    """The multiprocess directory of this process, if it runs in multiprocess mode."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def prepare_directory(path: Path | None = None) -> Path:
    """Make ``path`` (or ``$PROMETHEUS_MULTIPROC_DIR``, or a new temporary folder) an empty metrics
    directory and name it in the environment the worker processes inherit."""
    chosen = path or directory() or Path(tempfile.mkdtemp(prefix="tenantry-metrics-"))
    chosen.mkdir(parents=True, exist_ok=True)
    for stale in chosen.glob("*.db"):
        stale.unlink()
    os.environ[ENV] = str(chosen)
    return chosen


def registry(path: Path) -> CollectorRegistry:
    """A registry reading every process's files in ``path`` (a new one per scrape, as the library asks)."""
    from prometheus_client import CollectorRegistry, multiprocess

    found = CollectorRegistry()
    multiprocess.MultiProcessCollector(found, path=str(path))  # type: ignore[no-untyped-call]
    return found


def forget_dead_processes(path: Path) -> list[int]:
    """Drop the live gauges of processes that no longer run; their counters are kept (they still count)."""
    from prometheus_client import multiprocess

    pids = {int(m.group(1)) for f in path.glob("*.db") if (m := _PID.search(f.name))}
    dead = [pid for pid in sorted(pids) if not _running(pid)]
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
    return dead


def forget_this_process(path: Path) -> None:
    """At a clean exit: this process's live gauges go (connections and sockets it no longer holds)."""
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(os.getpid(), str(path))  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
