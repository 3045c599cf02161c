"""Ctrl-C and SIGTERM as a request to stop: training loops finish the step in progress, save
and exit cleanly; a second signal stops at once (the last saved checkpoint stays intact)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType, TracebackType


class StopOnSignal:
    """``with StopOnSignal(minutes=M) as stop: ... if stop.why(): break``.  ``on_request``
    is called too when the first signal arrives."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(
        self, on_request: Callable[[], None] | None = None, minutes: float | None = None
    ) -> None:
        self.requested = False
        self.on_request = on_request
        self.deadline = None if minutes is None else time.monotonic() + 60 * minutes
        self._previous: dict[int, object] = {}

    def why(self) -> str | None:
        """ "interrupted" after a signal, "time" past the ``minutes`` budget, else None."""
        if self.requested:
            return "interrupted"
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "time"
        return None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.on_request is not None:
            self.on_request()
        signal.signal(signum, signal.default_int_handler)

    def __enter__(self) -> StopOnSignal:
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
