"""What a run prints that is not the user's: Hamilton's lines that reach a worker's log
but say nothing about the job.

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

import logging

__all__ = ["quiet_hamilton"]

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
