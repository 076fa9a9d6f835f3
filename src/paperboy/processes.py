"""Child processes that never outlive their parent, and the rest of running ``paperboy serve``.

``paperboy serve`` runs the worker beside it and a digest run delivers from a second process; if
the parent is killed (SIGKILL, an OOM kill, a supervisor's hard stop) the child must not carry on
alone, holding leases and sending mail for a site that is down. Linux can signal a child when its
parent dies (prctl PR_SET_PDEATHSIG); elsewhere this does nothing.

A stopping ``serve`` stops its child the same way every time (:func:`stop_child`), turns SIGTERM
into an exception so that its clean-up runs (:func:`stop_on_sigterm`), and removes the metrics
folder it made for its processes (:func:`metrics_folder`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence

__all__ = ["Terminated", "die_with_parent", "metrics_folder", "start_child", "stop_child", "stop_on_sigterm"]


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


def start_child(command: Sequence[str], *, on_parent_death: int = signal.SIGKILL) -> subprocess.Popen:
    """Start ``command``; the kernel sends it ``on_parent_death`` if this process dies first."""
    return subprocess.Popen(list(command), preexec_fn=lambda: die_with_parent(on_parent_death))


def stop_child(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Ask a child to stop (SIGTERM: it finishes its current step), then insist."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Terminated(Exception):
    """SIGTERM reached the process inside :func:`stop_on_sigterm`."""


def _terminated(*_) -> None:
    raise Terminated


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` from here on, so ``finally`` blocks run and the exit is 0.

    uvicorn answers SIGTERM gracefully (no new connections, requests in flight finish), then raises
    the signal again under the handler that was there before it: this one, so that ``serve``'s
    clean-up (the background worker, the metrics folder) still runs."""
    signal.signal(signal.SIGTERM, _terminated)
    yield


@contextlib.contextmanager
def metrics_folder() -> Iterator[None]:
    """Metrics of every process (web workers, the background worker) go to files in one folder made
    for this run, named before prometheus_client is imported anywhere (see paperboy/metrics.py) and
    removed at the end; a folder the operator named (or metrics already set up) is left alone."""
    from paperboy.config import metrics_dir, set_metrics_dir

    made = None
    if "prometheus_client" not in sys.modules and not metrics_dir():
        made = tempfile.mkdtemp(prefix="paperboy-metrics-")
        set_metrics_dir(made)
    try:
        yield
    finally:
        if made is not None:
            set_metrics_dir(None)
            shutil.rmtree(made, ignore_errors=True)
