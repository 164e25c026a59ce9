"""Adds ``flowerpower queue ...`` (and every other ``flowerpower.cli_extensions`` entry
point) to the unmodified ``flowerpower`` command of FlowerPower.

FlowerPower's command line is the Typer app ``flowerpower.cli.app`` and loads no plugins.
So this package installs two files at the root of site-packages:

* ``flowerpower_job_queue_cli_hook.pth``, whose one line, run at every interpreter
  start-up, imports
* ``_flowerpower_job_queue_cli_hook.py``, a tiny module (``os`` and ``sys`` only, about
  0.2 ms) that puts a finder at the front of ``sys.meta_path``. The finder answers only
  for ``flowerpower.cli``: it lets the other finders find that module, wraps its loader,
  and takes itself off ``sys.meta_path``.

Once FlowerPower's module has run, the wrapped loader calls :func:`extend` (this module,
imported only then), which adds each entry point of the group to ``app`` with
``app.add_typer(ext, name=ep.name)``. Typer builds its command group only when the app is
called, so the commands are all there when ``flowerpower`` parses its arguments.

Nothing here ever breaks start-up or FlowerPower's command: every error of the hook or
of an extension is swallowed, and shown on stderr only with ``FPQ_DEBUG=1``.
``FPQ_DISABLE_CLI_HOOK=1`` turns the hook off.

Example:
    >>> import flowerpower.cli                     # doctest: +SKIP
    >>> extend(flowerpower.cli)                    # doctest: +SKIP
    []
    >>> "queue" in [g.name for g in flowerpower.cli.app.registered_groups]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

__all__ = ["GROUP", "extend"]

GROUP = "flowerpower.cli_extensions"
"""The entry-point group of FlowerPower command-line extensions (Typer apps)."""


def _on(variable: str) -> bool:
    return os.environ.get(variable, "") not in ("", "0")


def debug(what: str, exc: BaseException) -> None:
    """Reports a swallowed error on stderr, only when ``FPQ_DEBUG=1``.

    Example:
        >>> debug("cannot do it", ValueError("no"))   # silent unless FPQ_DEBUG=1
    """
    if _on("FPQ_DEBUG"):
        try:
            sys.stderr.write(f"flowerpower-job-queue: {what}: {type(exc).__name__}: {exc}\n")
        except Exception:  # noqa: BLE001, S110 - reporting must never break the command
            pass


def _taken(app: Any) -> set[str | None]:
    """Names of the app's commands and groups (Typer derives a missing name)."""
    names: set[str | None] = set()
    for info in getattr(app, "registered_commands", ()):
        callback = getattr(info, "callback", None)
        names.add(info.name or (callback.__name__.replace("_", "-") if callback else None))
    for info in getattr(app, "registered_groups", ()):
        sub = getattr(info, "typer_instance", None)
        names.add(info.name or (sub.info.name if sub is not None else None))
    return names


def extend(module: ModuleType) -> list[str]:
    """Adds every ``flowerpower.cli_extensions`` entry point to ``module.app`` and returns
    the names added. An extension that fails to load, is not a ``typer.Typer``, or takes a
    name FlowerPower already has is skipped (reported under ``FPQ_DEBUG=1``).

    Example:
        >>> import flowerpower.cli                  # doctest: +SKIP
        >>> extend(flowerpower.cli)                 # doctest: +SKIP
        ['queue']
    """
    added: list[str] = []
    try:
        if _on("FPQ_DISABLE_CLI_HOOK"):
            return added
        app = module.app
        from importlib.metadata import entry_points

        import typer

        points = sorted(entry_points(group=GROUP), key=lambda ep: ep.name)
        taken = _taken(app)
    except Exception as exc:  # noqa: BLE001 - never break FlowerPower's command
        debug("cannot add the flowerpower command-line extensions", exc)
        return added
    seen: dict[str, str] = {}
    for ep in points:
        try:
            if seen.get(ep.name) == ep.value:
                continue  # the same distribution found twice on sys.path
            if ep.name in taken:
                raise ValueError(f"'{ep.name}' is already a flowerpower command")
            ext = ep.load()
            if not isinstance(ext, typer.Typer):
                raise TypeError(f"{ep.value} is a {type(ext).__name__}, not a typer.Typer")
            app.add_typer(ext, name=ep.name)
            taken.add(ep.name)
            seen[ep.name] = ep.value
            added.append(ep.name)
        except Exception as exc:  # noqa: BLE001 - one broken extension must not stop others
            debug(f"cannot load flowerpower command-line extension {ep.name!r} ({ep.value})",
                  exc)
    return added
