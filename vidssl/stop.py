"""Stopping on request: SIGTERM, as torchrun and job schedulers send it, ends a training loop
cleanly (checkpoint written, how to resume said) instead of killing it mid-step."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

from vidssl.errors import VidsslError


class Stopped(VidsslError):
    """A run stopped on SIGTERM after writing its checkpoint; the CLI exits with 128 + 15."""

    exit_code = 143


@contextlib.contextmanager
def sigterm_requests_stop() -> Iterator[Callable[[], bool]]:
    """Within the block SIGTERM sets a flag (read with the yielded function) instead of killing.

    The loop checks the flag after each step, so it stops within one step. A second SIGTERM
    kills at once, as usual. Outside the main thread (no signal handlers there) the flag
    stays False.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    got: list[int] = []

    def handler(signum, frame) -> None:
        if got:  # asked twice: stop now
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        got.append(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield lambda: bool(got)
    finally:
        signal.signal(signal.SIGTERM, old)
