"""A command's child processes end with it, even when it is killed with SIGKILL.

A parser or reader process forked by ``costlog import`` would otherwise be adopted by PID 1 and
keep running (or wait forever on its full queue) after ``kill -9`` of the import.
"""

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

#: prctl(2)'s option that asks for a signal when the parent ends (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: How often a child without prctl looks whether its parent is still there.
PARENT_POLL_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """Call first in a child process whose parent is ``parent``: the child is then killed when
    the parent ends. On Linux by the parent-death signal (sent when the thread that forked the
    child ends: fork from the main thread); elsewhere, or where prctl fails, a thread looks at
    ``getppid`` every PARENT_POLL_SECONDS."""
    if not _parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), name="costlog-parent-watch",
                         daemon=True).start()
    # A parent that ended before the signal was asked for sends none: already orphaned.
    if os.getppid() != parent:
        os._exit(1)


def _parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0
    return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
