"""Clean stops: SIGINT/SIGTERM become a stop request the training loop checks between steps."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

logger = logging.getLogger("ageshift.training.trainer")


@dataclass
class StopRequest:
    """Why the run should stop after this step (None: keep going), set by a signal handler."""

    reason: str | None = None
    #: a checkpoint is being written: a second SIGINT waits for the write instead of stopping at once.
    writing: bool = False

    @contextlib.contextmanager
    def finishing_writes(self) -> Iterator[None]:
        """Within the block a second Ctrl-C no longer aborts: the write completes, then the run stops."""
        self.writing = True
        try:
            yield
        finally:
            self.writing = False


@contextlib.contextmanager
def stop_on_signals(enabled: bool) -> Iterator[StopRequest]:
    """Turn SIGINT/SIGTERM into a stop request checked between steps; a second SIGINT stops at once (but not
    during a checkpoint write, which always completes)."""
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(number: int, _frame: object) -> None:
        name = signal.Signals(number).name
        if request.reason is not None and number == signal.SIGINT:
            if request.writing:
                logger.warning("SIGINT received again: finishing the checkpoint write, then stopping")
                return
            raise KeyboardInterrupt
        request.reason = name
        logger.warning("%s received: saving a checkpoint after this step", name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
