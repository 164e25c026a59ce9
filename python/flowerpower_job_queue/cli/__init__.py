"""``flowerpower queue ...`` and ``flowerpower-queue ...``: the queue's Typer command line.

The twin of the engine's ``fpq`` command (docs/cli.md): the same commands, flags, exit
codes and ``--json`` output, with rich tables for people, ``--help`` with an example for
every command, and Typer's shell completion. Every decision is the engine's: values are
read by its parsers, jobs and schedules are checked and stored by it, JSON is in its
forms, and the long-running commands (``worker start``, ``scheduler``) are its worker and
scheduler.

This module assembles the commands, all in one place; each lives in the module of its
topic (:mod:`.jobs`, :mod:`.workers`, :mod:`.schedules`), which know nothing of this one.
``app`` is registered in the entry-point group ``flowerpower.cli_extensions`` under the
name ``queue``; the start-up hook this package installs adds it to FlowerPower's own
``flowerpower`` command. ``main`` is the ``flowerpower-queue`` script.

Importing this package costs Typer and the engine's extension, not FlowerPower: commands
import what they need when they run.

Example:
    $ id=$(flowerpower queue enqueue hello --inputs '{"name": "Ada"}')
    $ flowerpower queue worker start --burst
    $ flowerpower queue result id=$id
    {
      "greeting": "Hello, Ada!"
    }
"""

from __future__ import annotations

from typing import Any

import typer

from . import jobs, schedules, workers
from .common import EXIT_CODES, HELP, Group, command_help, examples

__all__ = ["app", "main"]

_SETTINGS: dict[str, Any] = {"cls": Group, "no_args_is_help": True, "rich_markup_mode": "rich",
                             "context_settings": {"help_option_names": ["-h", "--help"]}}

app = typer.Typer(name="queue", help=HELP[""]["summary"] + "\n\n" + EXIT_CODES,
                  epilog=examples(
                      "id=$(flowerpower queue enqueue hello --inputs '{\"name\": \"Ada\"}')",
                      "flowerpower queue worker start --burst",
                      "flowerpower queue result id=$id"), **_SETTINGS)
worker_app = typer.Typer(name="worker", help=HELP["worker"]["summary"], **_SETTINGS)
schedules_app = typer.Typer(name="schedules", help=HELP["schedules"]["summary"], **_SETTINGS)
app.add_typer(worker_app, name="worker")
app.add_typer(schedules_app, name="schedules")

# Every command, its help from the fpq commands' table (cli/help.c).
for _group, _name, _function in (
        (app, "enqueue", jobs.enqueue),
        (app, "status", jobs.status),
        (app, "result", jobs.result),
        (app, "cancel", jobs.cancel),
        (app, "requeue", jobs.requeue),
        (app, "metrics", jobs.metrics),
        (app, "prune", jobs.prune),
        (app, "logs", jobs.logs),
        (worker_app, "worker start", workers.worker_start),
        (worker_app, "worker stop", workers.worker_stop),
        (worker_app, "worker list", workers.worker_list),
        (app, "schedule", schedules.schedule),
        (schedules_app, "schedules list", schedules.schedules_list),
        (schedules_app, "schedules remove", schedules.simple_command("remove")),
        (schedules_app, "schedules pause", schedules.simple_command("pause")),
        (schedules_app, "schedules resume", schedules.simple_command("resume")),
        (schedules_app, "schedules next", schedules.schedules_next),
        (app, "scheduler", schedules.scheduler)):
    _group.command(_name.split()[-1], **command_help(_name))(_function)


def main() -> None:
    """The ``flowerpower-queue`` script.

    Example:
        $ flowerpower-queue status --json
    """
    app(prog_name="flowerpower-queue")
