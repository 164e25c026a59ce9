"""The exceptions of flowerpower-job-queue.

Every error the queue raises is a :class:`JobQueueError` with a ``code`` naming the
engine's error (``"EINVAL"``, ``"ENOTFOUND"``, ...) and one clear line of message. The
subclasses also derive from the built-in exception a Python caller would expect, so
``except ValueError`` catches bad input and ``except TimeoutError`` a wait that ran out.
The C extension (``_native``) looks these classes up when it is imported and raises them
directly, so C and Python report errors the same way.

Example:
    >>> from flowerpower_job_queue.exceptions import InvalidInput
    >>> try:
    ...     raise InvalidInput("priority 'urgent' is not known: expected high, medium or low")
    ... except ValueError as e:
    ...     print(e.code, "-", e)
    EINVAL - priority 'urgent' is not known: expected high, medium or low
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "InvalidInput",
    "JobFailed",
    "JobNotFound",
    "JobQueueError",
    "JobTimeout",
]


class JobQueueError(Exception):
    """Base class of every error the queue raises.

    Attributes:
        code: the engine's error name, e.g. ``"EBACKEND"``.
        message: the one-line description (also ``str(error)``).
        field: the setting or argument the error is about, when the engine knows it
            (``"backend"``, ``"url"``, ``"project_dir"``, ...), else None.

    Example:
        >>> JobQueueError("disk I/O error", code="EBACKEND").code
        'EBACKEND'
    """

    default_code = "EBACKEND"

    def __init__(self, message: str = "", *, code: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need help to survive copy.copy and deepcopy.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[JobQueueError], message: str, state: dict[str, object]) -> JobQueueError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InvalidInput(JobQueueError, ValueError):
    """Bad input: an unknown priority, a malformed id or pipeline name, run options that
    are not JSON, a bad setting. Nothing was written.

    Example:
        >>> issubclass(InvalidInput, ValueError)
        True
    """

    default_code = "EINVAL"


class JobNotFound(JobQueueError, LookupError):
    """No job (or worker) has that id or name.

    Example:
        >>> JobNotFound("job 'abc' not found").code
        'ENOTFOUND'
    """

    default_code = "ENOTFOUND"


class BackendUnavailable(JobQueueError, ConnectionError):
    """The backend cannot be reached (Redis down, SQLite file locked or unreadable).

    Example:
        >>> issubclass(BackendUnavailable, ConnectionError)
        True
    """

    default_code = "EUNAVAIL"


class JobTimeout(JobQueueError, TimeoutError):
    """A wait for a job ended before the job did.

    Example:
        >>> issubclass(JobTimeout, TimeoutError)
        True
    """

    default_code = "ETIMEDOUT"


class JobFailed(JobQueueError):
    """The job ended without a result: its pipeline raised (after any retries), or it
    was stopped or canceled.

    Attributes:
        job_id: the job's id.
        status: ``"failed"``, ``"stopped"`` or ``"canceled"``.
        error_type: the real exception's type name as the worker reported it (e.g.
            ``"ValueError"``; FlowerPower's ``RuntimeError`` wrapper is unwrapped).
        error_message: that exception's message.
        traceback: the formatted traceback from the worker, or ``""``.

    Example:
        >>> e = JobFailed("job 'j1' failed: ValueError: x must be positive", job_id="j1",
        ...               error_type="ValueError", error_message="x must be positive")
        >>> e.error_type, e.status
        ('ValueError', 'failed')
    """

    default_code = "EFAILED"

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        field: str | None = None,
        job_id: str = "",
        status: str = "failed",
        error_type: str = "",
        error_message: str = "",
        traceback: str = "",
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.job_id = job_id
        self.status = status
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
