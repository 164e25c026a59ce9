"""The scheduling commands of the Typer CLI: `schedule`, `schedules ...` and `scheduler`.

They take the same options as the engine's `fpq schedule`, `fpq schedules` and
`fpq scheduler` (help and shell completion here) and then become that command (exec), so
their messages, JSON and exit codes are the engine's by construction, and a scheduler
runs as the C process it is. Imported at the end of cli.py, which it adds commands to.

Example:
    $ flowerpower queue schedule etl --schedule '0 2 * * *' --timezone Europe/Berlin
"""

from __future__ import annotations

from typing import Annotated

import typer

from .cli import Backend, Json, Project, Url, _examples, _exec_fpq, _Group, app

ScheduleId = Annotated[str, typer.Argument(metavar="ID", help="The schedule's id.")]


def _project_args(project: str, backend: str | None, url: str | None, json_: bool) -> list[str]:
    args = ["--project", project]
    args += ["--backend", backend] if backend else []
    args += ["--url", url] if url else []
    return args + (["--json"] if json_ else [])


@app.command(epilog=_examples(
    "flowerpower queue schedule etl --schedule '0 2 * * *' --timezone Europe/Berlin",
    "flowerpower queue schedule hello --schedule '*/10 * * * * *' --inputs '{\"x\": 1}'"))
def schedule(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(metavar="PIPELINE", help="The pipeline to run.")],
    schedule: Annotated[str | None, typer.Option(
        "--schedule", metavar="CRON",
        help="When: '0 2 * * *', '*/10 * * * * *' (seconds first), @daily, 'every 15m', "
             "'at 2026-12-01T02:00:00Z'.")] = None,
    timezone: Annotated[str | None, typer.Option(
        metavar="TZ", help="IANA zone the fields are read in (default UTC).")] = None,
    id_: Annotated[str | None, typer.Option("--id", metavar="ID",
                                            help="The schedule's id (default: new).")] = None,
    priority: Annotated[str | None, typer.Option(
        metavar="P", help="high, medium (default) or low.")] = None,
    inputs: Annotated[str | None, typer.Option(metavar="JSON", help="Pipeline inputs.")
                      ] = None,
    run_config: Annotated[str | None, typer.Option(
        "--run-config", metavar="JSON|@FILE", help="FlowerPower RunConfig fields.")] = None,
    misfire_grace: Annotated[str | None, typer.Option(
        "--misfire-grace", metavar="DURATION",
        help="Skip a fire that is more than this late (default: no limit).")] = None,
    no_coalesce: Annotated[bool, typer.Option(
        "--no-coalesce", help="After downtime run every missed fire, not one.")] = False,
    paused: Annotated[bool, typer.Option("--paused", help="Store it paused.")] = False,
    max_retries: Annotated[str | None, typer.Option(
        "--max-retries", metavar="N", help="Retries of each run.")] = None,
    timeout: Annotated[str | None, typer.Option(
        metavar="DURATION", help="Stop a run after this long.")] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """Run PIPELINE on a schedule: store it and print its id.

    A scheduler turns each fire into a job ('scheduler', or 'worker start
    --with-scheduler'); the same --id again replaces the schedule.
    """
    args = ["schedule", pipeline]
    for flag, value in (("--schedule", schedule), ("--timezone", timezone), ("--id", id_),
                        ("--priority", priority), ("--inputs", inputs),
                        ("--run-config", run_config), ("--misfire-grace", misfire_grace),
                        ("--max-retries", max_retries), ("--timeout", timeout)):
        if value is not None:
            args += [flag, value]
    args += [flag for flag, on in (("--no-coalesce", no_coalesce), ("--paused", paused))
             if on]
    _exec_fpq(ctx, args + _project_args(project, backend, url, json_))

schedules_app = typer.Typer(
    name="schedules",
    cls=_Group,
    help="List, pause, resume and remove schedules; show their next fires.",
    no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(schedules_app, name="schedules")

def _simple(verb: str, help_text: str, example: str) -> None:
    @schedules_app.command(verb, help=help_text, epilog=_examples(example))
    def command(ctx: typer.Context, schedule_id: ScheduleId,
                project: Project = ".",
                backend: Backend = None,
                url: Url = None,
                json_: Json = False) -> None:
        _exec_fpq(ctx, ["schedules", verb, schedule_id,
                  *_project_args(project, backend, url, json_)])

_simple("remove", "Delete a schedule (jobs it made stay).",
        "flowerpower queue schedules remove nightly-etl")
_simple("pause", "Stop firing a schedule.", "flowerpower queue schedules pause nightly-etl")
_simple("resume", "Fire a paused schedule again, from now on.",
        "flowerpower queue schedules resume nightly-etl")

@schedules_app.command("list", epilog=_examples(
    "flowerpower queue schedules list --json"))
def schedules_list(ctx: typer.Context, project: Project = ".",
                   backend: Backend = None,
                   url: Url = None,
                   json_: Json = False) -> None:
    """This project's schedules: trigger, state, next and last fire, counts."""
    _exec_fpq(ctx, ["schedules", "list",
              *_project_args(project, backend, url, json_)])

@schedules_app.command("next", epilog=_examples(
    "flowerpower queue schedules next nightly-etl -n 3"))
def schedules_next(ctx: typer.Context, schedule_id: ScheduleId,
                   n: Annotated[str, typer.Option("-n", metavar="N",
                                                  help="How many (default 5).")] = "5",
                   project: Project = ".",
                   backend: Backend = None,
                   url: Url = None,
                   json_: Json = False) -> None:
    """A schedule's next fire times, in its time zone."""
    _exec_fpq(ctx, ["schedules", "next", schedule_id, "-n", n,
              *_project_args(project, backend, url, json_)])

@app.command(epilog=_examples("flowerpower queue scheduler",
                             "flowerpower queue scheduler --once --json"))
def scheduler(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(metavar="NAME",
                                             help="The name it leads under.")] = None,
    tick: Annotated[str | None, typer.Option(
        metavar="DURATION", help="How often it looks for due fires (default 1s).")] = None,
    lease_ttl: Annotated[str | None, typer.Option(
        "--lease-ttl", metavar="DURATION",
        help="How long the leader lease lasts unrenewed (default 10s).")] = None,
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Log only problems.")] = False,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """Fire due schedules until stopped; any number may run (one leads)."""
    args = ["scheduler"]
    for flag, value in (("--name", name), ("--tick", tick), ("--lease-ttl", lease_ttl)):
        if value is not None:
            args += [flag, value]
    args += [flag for flag, on in (("--once", once), ("--quiet", quiet)) if on]
    _exec_fpq(ctx, args + _project_args(project, backend, url, json_))
