"""Child processes that never outlive their parent.

``paperboy serve`` runs the worker beside it and a digest run delivers from a second process; if
the parent is killed (SIGKILL, an OOM kill, a supervisor's hard stop) the child must not carry on
alone, holding leases and sending mail for a site that is down. Linux can signal a child when its
parent dies (prctl PR_SET_PDEATHSIG); elsewhere this does nothing.
"""

from __future__ import annotations

import os
import signal

__all__ = ["die_with_parent"]


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (call it in the child:
    first thing in a spawned process, or as a ``preexec_fn``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os._exit(1)
