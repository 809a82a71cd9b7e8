"""A time limit on a block of a test: a hang fails that test instead of stalling the suite."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def bounded(seconds: int, what: str) -> Iterator[None]:
    """Raise ``TimeoutError`` naming ``what`` when the block runs past ``seconds``
    (SIGALRM: the main thread only)."""

    def expire(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
