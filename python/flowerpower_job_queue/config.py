"""QueueRunConfig: FlowerPower's RunConfig plus what only a queue needs.

A ``QueueRunConfig`` is a ``flowerpower.cfg.pipeline.run.RunConfig`` (a msgspec Struct)
with three more fields: ``priority`` (``"high"``, ``"medium"`` or ``"low"``), ``schedule``
(a cron expression, for the scheduler) and ``backend`` (which queue to use). Because it
*is* a RunConfig, ``project.run(name, run_config=cfg)`` still accepts it (FlowerPower
ignores the extra fields), and the queue reads the retry policy from its ``retry`` block.

Importing this module imports FlowerPower; ``flowerpower_job_queue`` imports it only when
``QueueRunConfig`` is first used.

Example:
    >>> from flowerpower_job_queue import QueueRunConfig
    >>> cfg = QueueRunConfig(inputs={"x": 1}, priority="high", retry={"max_retries": 2})
    >>> cfg.priority, cfg.retry.max_retries
    ('high', 2)
"""

from __future__ import annotations

from typing import Any

from flowerpower.cfg.pipeline.run import RunConfig

from . import _native
from .exceptions import InvalidInput

__all__ = ["PRIORITIES", "QueueRunConfig"]

PRIORITIES: tuple[str, ...] = _native.PRIORITIES
"""Priorities, highest first (the engine's): RQ queues ``high``, ``default``, ``low``."""


class QueueRunConfig(RunConfig, kw_only=True):  # type: ignore[call-arg, misc, unused-ignore]
    """A FlowerPower ``RunConfig`` with the queue's own settings.

    Attributes:
        priority: ``"high"``, ``"medium"`` (default) or ``"low"``.
        schedule: a cron expression for recurring runs (used by ``schedule``, refused by
            ``enqueue``), or None.
        backend: the backend to enqueue to (``"sqlite"``, ``"rq"``, a plugin's name), or
            None for the project's configured one.
        result_ttl: how long the finished job is kept: seconds or text like ``"7d"``;
            ``0`` not at all, ``-1`` forever; None: the project's ``result_ttl``.
        failure_ttl: the same for a failed or stopped job.

    Raises:
        InvalidInput: for an unknown priority (when built directly; ``from_dict`` wraps
            it in ``msgspec.ValidationError`` as it does every validation error).

    Example:
        >>> cfg = QueueRunConfig.from_dict({"priority": "low", "inputs": {"x": 2}})
        >>> cfg.priority, cfg.inputs
        ('low', {'x': 2})
    """

    priority: str = "medium"
    schedule: str | None = None
    backend: str | None = None
    result_ttl: float | str | None = None
    failure_ttl: float | str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.priority not in PRIORITIES:
            raise InvalidInput(
                f"priority {self.priority!r} is not known: expected high, medium or low"
            )

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain data, the queue's included (like ``RunConfig.to_dict``).

        Example:
            >>> QueueRunConfig(priority="high").to_dict()["priority"]
            'high'
        """
        return dict(super().to_dict())
