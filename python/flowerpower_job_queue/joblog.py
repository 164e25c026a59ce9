"""A job's own log, and what a run prints that is not the user's.

:func:`capture` takes what a run writes to file descriptors 1 and 2 (its prints, its
stderr, FlowerPower's loguru lines, warnings) into a temporary file instead of the
worker's log, and hands back its first and last part for the job's record: the engine
keeps at most 64 KiB of it with a marker (``FPQ_LOG_MAX``, ``fpq_finish``); this side
only bounds what crosses the channel (``SEND_HEAD`` + ``SEND_TAIL``) and says how many
bytes it left out between them, so a 50 MB print costs a file on disk, not memory.

Hamilton's noise:

- ``disable_telemetry will be deprecated ...``: FlowerPower calls Hamilton's
  ``disable_telemetry`` once per process, and Hamilton (>= 1.89) logs a deprecation
  warning for it: once per executor, in every worker's log.
- ``Oh no an error! Need help with Hamilton? Join our slack ...``: logged by Hamilton's
  driver on every failed run, before the error itself, which the worker reports and
  stores with the job anyway.

Both are dropped by a filter on the loggers that emit them (stdlib ``logging``; a filter
on a logger sees only that logger's own records), so any other line of those loggers
still reaches the log. The executor installs it once, before FlowerPower is imported.

Example:
    >>> quiet_hamilton()
    >>> import logging
    >>> logging.getLogger("hamilton.driver").filter(logging.makeLogRecord(
    ...     {"msg": "Oh no an error! Need help with Hamilton?"}))
    False
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Captured", "capture", "prepare", "quiet_hamilton"]

# What crosses the channel at most; the engine cuts further to FPQ_LOG_MAX. The head is
# larger than the engine keeps and the tail larger than its 4 KiB tail, so the part the
# engine cuts always contains the place where bytes were left out here.
SEND_HEAD = 256 * 1024
SEND_TAIL = 64 * 1024


@dataclass
class Captured:
    """What a run wrote: ``text`` (head and tail, decoded leniently) and ``omitted``,
    the bytes left out between them."""

    text: str = ""
    omitted: int = 0


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()


# Emptied once it holds more than this: small outputs of many jobs share the file, and
# most jobs skip the truncate. On ext4 the blocks a truncate frees and the next job's
# first write allocates again cost about a quarter of a no-op job's capture.
SPOOL_KEEP = 64 * 1024


class _Spool:
    """This process's spool file. Invariant between jobs: bytes before ``start`` are
    earlier jobs' output, already handed over, and no more than ``SPOOL_KEEP`` of them
    stay on disk; what a job writes lands at the end (``O_APPEND``), from ``start``."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - kept open
        self.fd = self.file.fileno()
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags | os.O_APPEND)
        self.start = 0

    def take(self, out: Captured) -> None:
        """Fill ``out`` with what was written since ``start``; empty the file if it holds
        more than ``SPOOL_KEEP``."""
        size = os.fstat(self.fd).st_size
        if size < self.start:  # the job truncated its own output (opened /dev/stdout "w")
            self.start = 0
        n = size - self.start
        if n <= SEND_HEAD + SEND_TAIL:
            data = os.pread(self.fd, n, self.start)
        else:
            data = os.pread(self.fd, SEND_HEAD, self.start) + os.pread(
                self.fd, SEND_TAIL, size - SEND_TAIL)
            out.omitted = n - SEND_HEAD - SEND_TAIL
        out.text = data.decode("utf-8", "replace").replace("\x00", "\ufffd")
        self.start = size
        if size > SPOOL_KEEP:
            os.ftruncate(self.fd, 0)
            self.start = 0


# One spool per process, reused by every job it runs: opening a temporary file cost about
# a fifth of a no-op job's time in the executor. Keyed by pid: a forked job process opens
# its own rather than share the parent's. A process a job left running keeps writing
# into it, past ``start``, so its output shows in a later job's log instead of being lost.
_spool: _Spool | None = None


def _spool_file() -> _Spool:
    global _spool
    if _spool is None or _spool.pid != os.getpid():
        _spool = _Spool()
    return _spool


def prepare() -> None:
    """Opens this process's spool now rather than in the first job's ``capture`` (a
    forked job process does it while it waits for its job). Idempotent; a process that
    cannot open one captures nothing, as ``capture`` says."""
    with contextlib.suppress(OSError):
        _spool_file()


def _drop_spool() -> None:
    global _spool
    if _spool is not None and _spool.pid == os.getpid():
        with contextlib.suppress(OSError):
            _spool.file.close()
    _spool = None


@contextlib.contextmanager
def capture() -> Iterator[Captured]:
    """Sends fds 1 and 2 to this process's spool file for the ``with`` block, then fills
    the yielded :class:`Captured` with the first ``SEND_HEAD`` and last ``SEND_TAIL``
    bytes the block wrote.

    Example:
        >>> with capture() as out:
        ...     print("hello", flush=True)
        >>> out.text
        'hello\\n'
    """
    out = Captured()
    _flush()
    try:
        spool = _spool_file()
    except OSError:  # no temporary directory: the output goes to the worker's log
        yield out
        return
    saved = (os.dup(1), os.dup(2))
    try:
        os.dup2(spool.fd, 1)
        os.dup2(spool.fd, 2)
        yield out
    finally:
        _flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        try:
            spool.take(out)
        except OSError:  # a spool we cannot read or empty is replaced
            _drop_spool()


# Texts that mark the two lines; matched as substrings of the formatted message.
_NOISE = (
    "Oh no an error! Need help with Hamilton?",
    "Telemetry has been removed from Hamilton",
)
_LOGGERS = ("hamilton.driver", "hamilton.async_driver", "hamilton.dev_utils.deprecation")


class _DropHamiltonNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record we cannot format is not ours to drop
            return True
        return not any(marker in text for marker in _NOISE)


def quiet_hamilton() -> None:
    """Drop Hamilton's telemetry deprecation line and its "Oh no an error!" banner from
    this process's logs. Idempotent."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropHamiltonNoise) for f in logger.filters):
            logger.addFilter(_DropHamiltonNoise())
