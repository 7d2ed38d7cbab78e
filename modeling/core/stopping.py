"""One rule for stopping a training run early, shared by every trainer of the torch core.

SIGTERM (what the platform's cancel and torchrun send) does not kill a run between checkpoints: while
``stop_on_sigterm`` is active it only calls ``request`` (which sets the trainer's stop flag); the
trainer finishes the step in progress, saves a resumable checkpoint and returns, and the CLI exits
143 (``STOPPED_EXIT_STATUS``, what a process killed by SIGTERM reports). The previous handler is
restored afterwards. No Django here.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOPPED_EXIT_STATUS = 128 + signal.SIGTERM  # 143: what a process killed by SIGTERM reports; here it saved first


@contextmanager
def stop_on_sigterm(request: Callable[[], None]) -> Iterator[None]:
    """While the block runs, SIGTERM calls ``request()`` instead of ending the process. Signal handlers
    can only be set from the main thread; elsewhere (a test's thread) the caller's own stop method is the
    way, and this is a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: request())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
