"""Graceful stop on SIGINT / SIGTERM: finish the update in flight, checkpoint, exit."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any, Optional

log = logging.getLogger(__name__)


class GracefulStop:
    """Context manager: the first SIGINT/SIGTERM sets :attr:`requested`; a second one aborts.

    ``requested`` is the signal's name (``"SIGTERM"``) once one arrived, else None. A second signal
    raises ``KeyboardInterrupt`` (the user insists: no final checkpoint). Outside the main thread
    (a notebook, a test running the driver in a thread) ``signal.signal`` is not allowed and the
    default handlers stay.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: Optional[str] = None
        self._old: dict[Any, Any] = {}

    def __enter__(self) -> "GracefulStop":
        if sys.platform != "win32" and threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.getsignal(sig)
                signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        log.warning("%s: finishing the update in flight, then checkpoint and exit (send again to abort)",
                    self.requested)
