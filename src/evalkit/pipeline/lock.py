"""One ``evalkit run`` at a time on an outputs folder: an advisory lock on ``outputs/.evalkit-run.lock``.

The lock is the operating system's (``fcntl.flock``), so it is released when
the process ends however it ends: a crashed run never leaves a stale lock. The
file records who holds it, for the message the second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from evalkit.errors import EvalkitError

logger = logging.getLogger(__name__)

LOCK_NAME = ".evalkit-run.lock"
POLL_SECONDS = 0.5


class BusyError(EvalkitError):
    """Another run holds the outputs folder."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another evalkit run"
    return f"another evalkit run (process {info.get('pid', '?')}, started {info.get('started', '?')})"


@contextlib.contextmanager
def outputs_lock(outputs: Path, *, wait: bool = False, timeout: float | None = None) -> Iterator[Path]:
    """Hold the outputs lock for the ``with`` block.

    Busy and ``wait`` false: :class:`BusyError` at once. ``wait`` true: wait (up to ``timeout`` seconds).
    """
    outputs = Path(outputs)
    outputs.mkdir(parents=True, exist_ok=True)
    path = outputs / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if not wait:
                    raise BusyError(f"{outputs} is in use by {holder}. Two runs on the same outputs would "
                                    "interleave their files: wait for it to finish, or pass --wait to queue "
                                    "behind it.") from None
                if deadline is not None and time.monotonic() > deadline:
                    raise BusyError(f"{outputs} is still in use by {holder} after {timeout:.0f} s.") from None
                if not announced:
                    logger.warning("waiting for %s to release %s", holder, outputs)
                    announced = True
                time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        handle.flush()
        yield path
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


__all__ = ["BusyError", "LOCK_NAME", "outputs_lock"]
