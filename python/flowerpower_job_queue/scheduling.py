"""Schedules: recurring runs of a pipeline, stored in the backend.

:class:`SchedulingMixin` gives :class:`~flowerpower_job_queue.JobQueueManager` its
``schedule``, ``list_schedules``, ``get_schedule``, ``pause_schedule``,
``resume_schedule``, ``remove_schedule`` and ``next_runs`` methods (the binding puts
the same on ``FlowerPowerProject``). Schedules live in the backend, whichever it is,
Python adapters included. A schedule only
says *when*; a scheduler turns each fire into a job: ``fpq scheduler``, or
``fpq worker start --with-scheduler``. Any number of them may run: one leads, and a fire is
never enqueued twice (see docs/scheduling.md).

Example:
    >>> from flowerpower_job_queue import JobQueueManager
    >>> jq = JobQueueManager("/srv/my-project")                                # doctest: +SKIP
    >>> jq.schedule("etl", schedule="0 2 * * *", timezone="Europe/Berlin")   # doctest: +SKIP
    '2f1c2a9e-4d1b-4c53-9c1e-0f3d2b8a7c11'
    >>> jq.next_runs("2f1c2a9e-4d1b-4c53-9c1e-0f3d2b8a7c11", 1)              # doctest: +SKIP
    [datetime.datetime(2026, 12, 2, 2, 0, tzinfo=zoneinfo.ZoneInfo(key='Europe/Berlin'))]
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo
from typing import TYPE_CHECKING, Any

from .exceptions import InvalidInput
from .runconfig import options_json, run_config_to_dict, run_kwargs_to_dict

if TYPE_CHECKING:
    from . import _native

__all__ = ["DEFAULT_PRIORITY", "DEFAULT_SCHEDULE", "SchedulingMixin"]


class _Default(str):
    """A default argument value that can be told apart from the same text passed on
    purpose: a run config's ``schedule``/``priority`` wins over the default, not over an
    explicit argument. It prints as the plain text in signatures and help."""

    __slots__ = ()


DEFAULT_SCHEDULE = _Default("0 2 * * *")
"""The default trigger of :meth:`SchedulingMixin.schedule`: every night at 02:00."""
DEFAULT_PRIORITY = _Default("medium")


def _aware(t: int | float | None, zone: str) -> dt.datetime | None:
    """Epoch seconds as a datetime in the schedule's zone (UTC if the zone is unknown
    here), or None."""
    if t is None:
        return None
    try:
        tz: dt.tzinfo = dt.UTC if zone in ("", "UTC") else zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    return dt.datetime.fromtimestamp(t, tz=tz)


def _schedule_record(raw: dict[str, Any]) -> dict[str, Any]:
    """The engine's schedule dict as the API returns it: fire times as datetimes in the
    schedule's zone, ``run`` as data, ``state`` spelled out."""
    record = dict(raw)
    zone = str(record["timezone"])
    record["run"] = json.loads(record.pop("run_json") or "{}")
    record["next_fire"] = _aware(record["next_fire"], zone)
    record["last_fire"] = _aware(record["last_fire"], zone)
    record["created_at"] = _aware(record["created_at"], "UTC")
    record["state"] = ("paused" if record["paused"]
                       else "done" if record["next_fire"] is None else "active")
    return record


def _grace_seconds(value: float | dt.timedelta | None) -> float:
    if value is None:
        return 0.0
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
        math.isfinite(seconds) and seconds > 0
    ):
        raise InvalidInput(
            f"misfire_grace {value!r} is not a duration: expected seconds (> 0) or a "
            "datetime.timedelta, or None for no limit"
        )
    return float(seconds)


class SchedulingMixin:
    """The schedule methods of :class:`~flowerpower_job_queue.JobQueueManager`."""

    if TYPE_CHECKING:

        def queue(self, backend: str | None = None) -> _native.Queue: ...

    def schedule(
        self,
        pipeline_name: str,
        run_config: Any = None,
        schedule: str = DEFAULT_SCHEDULE,
        timezone: str | None = None,
        priority: str = DEFAULT_PRIORITY,
        schedule_id: str | None = None,
        *,
        backend: str | None = None,
        misfire_grace: float | dt.timedelta | None = None,
        coalesce: bool = True,
        paused: bool = False,
        **run_kwargs: Any,
    ) -> str:
        """Runs a pipeline on a schedule; returns the schedule's id. A scheduler
        (``fpq scheduler`` or ``fpq worker start --with-scheduler``) enqueues one job per
        fire, as :meth:`enqueue` would with the same arguments.

        Args:
            pipeline_name: the pipeline, as ``project.run`` names it.
            run_config: a ``RunConfig``, :class:`QueueRunConfig` or dict; only the fields
                set are stored. Its ``schedule`` is used when ``schedule`` is not given,
                its ``priority`` when ``priority`` is not given, its ``backend`` when
                ``backend`` is not given.
            schedule: cron (``"0 2 * * *"``; six fields with seconds first,
                ``"*/10 * * * * *"``), a macro (``"@hourly"``), an interval
                (``"every 15m"``) or a one-shot (``"at 2026-12-01T02:00:00Z"``).
            timezone: IANA zone the cron fields are read in (default UTC). DST: a time
                skipped by spring-forward fires once right after the gap; a time repeated
                by fall-back fires once.
            priority: ``"high"``, ``"medium"`` or ``"low"``.
            schedule_id: your own id (1-100 of ``A-Z a-z 0-9 _ -``). An existing one is
                replaced, keeping its history; default: a new time-ordered UUID.
            misfire_grace: skip (and count) a fire handled more than this late
                (seconds or timedelta); None: no limit.
            coalesce: after downtime, run once for all missed fires (False: every one).
            paused: store it paused (:meth:`resume_schedule` starts it).
            **run_kwargs: ``project.run`` keyword arguments, e.g. ``inputs={"x": 1}``.

        Raises:
            InvalidInput: a bad expression (the message names the field, e.g. "minute
                field '60': value out of range 0-59"), zone, id or option, or a pipeline
                the project does not have. Nothing is stored.
            BackendUnavailable: the backend cannot be reached.

        Example:
            >>> jq.schedule("etl", schedule="30 2 * * MON-FRI", timezone="Europe/Berlin",
            ...             schedule_id="etl-weekdays", inputs={"full": True})  # doctest: +SKIP
            'etl-weekdays'
        """
        if not isinstance(pipeline_name, str):
            raise InvalidInput(f"pipeline name {pipeline_name!r} is not a string")
        config = run_config_to_dict(run_config)
        config_backend = config.pop("backend", None)
        config_schedule = config.pop("schedule", None)
        trigger = schedule
        if isinstance(schedule, _Default) and config_schedule is not None:
            trigger = config_schedule
        if not isinstance(trigger, str):
            raise InvalidInput(f"schedule {trigger!r} is not a string like '0 2 * * *'")
        if timezone is not None and not isinstance(timezone, str):
            raise InvalidInput(f"timezone {timezone!r} is not an IANA zone name")
        if config_backend is not None and not isinstance(config_backend, str):
            raise InvalidInput(f"run_config backend {config_backend!r} is not a string")
        kwargs = options_json(run_kwargs_to_dict(run_kwargs))
        payload = options_json(config)
        handle = self.queue(backend if backend is not None else config_backend)
        record = handle.schedule_put(
            pipeline_name,
            str(trigger),
            run_config_json=payload,
            run_kwargs_json=kwargs,
            timezone=timezone,
            priority=None if isinstance(priority, _Default) else priority,
            schedule_id=schedule_id,
            misfire_grace=_grace_seconds(misfire_grace),
            coalesce=bool(coalesce),
            paused=bool(paused),
        )
        return str(record["id"])

    def get_schedule(self, schedule_id: str, backend: str | None = None) -> dict[str, Any]:
        """One schedule: ``id``, ``pipeline``, ``project``, ``trigger``, ``timezone``,
        ``state`` (``active``, ``paused`` or ``done``), ``next_fire`` and ``last_fire``
        (datetimes in its zone, or None), ``created_at``, ``fired``, ``skipped``,
        ``priority``, ``run``, ``misfire_grace``, ``coalesce``, ``paused`` and the retry
        fields.

        Raises:
            JobNotFound: no schedule has that id.

        Example:
            >>> jq.get_schedule("etl-weekdays")["state"]   # doctest: +SKIP
            'active'
        """
        return _schedule_record(self.queue(backend).schedule_get(schedule_id))

    def list_schedules(self, backend: str | None = None) -> list[dict[str, Any]]:
        """This project's schedules, by id, each as :meth:`get_schedule` returns it.

        Example:
            >>> [(s["id"], s["trigger"]) for s in jq.list_schedules()]   # doctest: +SKIP
            [('etl-weekdays', '30 2 * * MON-FRI')]
        """
        return [_schedule_record(raw) for raw in self.queue(backend).schedule_list()]

    def pause_schedule(self, schedule_id: str, backend: str | None = None) -> None:
        """Stops a schedule firing until :meth:`resume_schedule`.

        Raises:
            JobNotFound: no schedule has that id.

        Example:
            >>> jq.pause_schedule("etl-weekdays")   # doctest: +SKIP
        """
        self.queue(backend).schedule_pause(schedule_id)

    def resume_schedule(self, schedule_id: str, backend: str | None = None) -> None:
        """Fires a paused schedule again, from now on: fires missed while it was paused
        are not made up.

        Raises:
            JobNotFound: no schedule has that id.

        Example:
            >>> jq.resume_schedule("etl-weekdays")   # doctest: +SKIP
        """
        self.queue(backend).schedule_resume(schedule_id)

    def remove_schedule(self, schedule_id: str, backend: str | None = None) -> None:
        """Deletes a schedule; the jobs it made stay.

        Raises:
            JobNotFound: no schedule has that id.

        Example:
            >>> jq.remove_schedule("etl-weekdays")   # doctest: +SKIP
        """
        self.queue(backend).schedule_remove(schedule_id)

    def next_runs(self, schedule_id: str, n: int = 5,
                  backend: str | None = None) -> list[dt.datetime]:
        """The schedule's next ``n`` fire times, as datetimes in its time zone (fewer
        when it ends; for a paused one, what resuming now would give).

        Raises:
            JobNotFound: no schedule has that id.
            InvalidInput: n is not from 1 to 10000.

        Example:
            >>> [t.isoformat() for t in jq.next_runs("etl-weekdays", 2)]   # doctest: +SKIP
            ['2026-12-01T02:30:00+01:00', '2026-12-02T02:30:00+01:00']
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise InvalidInput(f"n {n!r} is not a whole number")
        handle = self.queue(backend)
        zone = str(handle.schedule_get(schedule_id)["timezone"])
        return [t for t in (_aware(f, zone) for f in handle.schedule_next(schedule_id, n))
                if t is not None]
