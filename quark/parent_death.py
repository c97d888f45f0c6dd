"""A worker process of ``quark serve --workers N`` ends when its master does.

uvicorn's supervisor stops its workers when it is stopped, but a master killed
outright (SIGKILL, the OOM killer) runs no code: its workers would go on serving
the shared socket as orphans, unsupervised and invisible to whatever restarts the
master. On Linux the kernel can signal a process when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); a worker asks for SIGTERM (a graceful stop) as it
starts, and stops itself if the parent is already gone by then.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """In a process spawned by ``multiprocessing`` (uvicorn's workers), have ``sig``
    sent to it when its parent dies. No-op (False) in a top-level process, so a
    single-process ``quark serve`` does not die with its shell, and off Linux."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    if os.getppid() != parent.pid:  # the parent died before prctl: nothing will signal us
        os.kill(os.getpid(), sig)
    return True
