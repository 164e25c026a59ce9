/* help.c: the help of every fpq command, as one table (help.h says how it is read). The
 * words are the command line's; where the Typer CLI (flowerpower-queue) differs it is in
 * how it lays them out, never in what they say. Add a command here and both command lines
 * have its help. */
#include "help.h"

#include <string.h>

#define END {NULL, NULL, NULL, NULL}

static const cli_help_option common[] = {
    {"--project", NULL, "DIR", "the FlowerPower project (default: the current directory)"},
    {"--backend", NULL, "NAME", "sqlite (default), rq, or a C plugin's or Python adapter's name;\n"
                                "overrides FPQ_BACKEND and the conf"},
    {"--url", NULL, "URL", "sqlite:///abs/queue.db, redis://host:port/db, unix:///sock"},
    {"--json", NULL, NULL, "print JSON on stdout instead of text"},
    {"--help", "-h", NULL, "show this help"},
    END,
};

/* ---- jobs ---- */

static const cli_help_option enqueue_options[] = {
    {"--priority", NULL, "P", "high, medium (default) or low"},
    {"--inputs", NULL, "JSON", "pipeline inputs, e.g. '{\"x\": 1}', or @FILE (merged over\n"
                               "--run-config's)"},
    {"--run-config", NULL, "JSON", "FlowerPower RunConfig fields as JSON, or @FILE to read them"},
    {"--at", NULL, "TIME", "run at an ISO 8601 time, e.g. 2026-12-01T02:00:00Z"},
    {"--in", NULL, "DURATION", "run after a delay, e.g. 90s, 10m, 2h"},
    {"--max-retries", NULL, "N", "retries after a failure (default: the pipeline's run.retry)"},
    {"--retry-delay", NULL, "SECS", "first retry delay; doubles each retry (default: run.retry)"},
    {"--timeout", NULL, "DURATION", "stop the run after this long, e.g. 5m (default: none)"},
    {"--job-id", NULL, "ID", "your own id: 1-128 of A-Z a-z 0-9 _ -"},
    {"--result-ttl", NULL, "TTL", "keep the finished job this long, e.g. 7d; 0: not at all;\n"
                                   "-1: forever (default: the conf's result_ttl, else 7d)"},
    {"--failure-ttl", NULL, "TTL", "keep a failed or stopped job this long (default: the\n"
                                    "conf's failure_ttl, else 7d)"},
    {"--after", NULL, "ID", "wait until job ID has finished (repeat for several)"},
    {"--on-success", NULL, "REF", "callback run once the job finished: package.module:function,\n"
                                  "run by the worker in the project's directory"},
    {"--on-failure", NULL, "REF", "callback run once the job failed for good (after its last\n"
                                  "retry)"},
    {"--on-stopped", NULL, "REF", "callback run once the job was stopped. fpq checks a\n"
                                  "reference's shape only; the Python API and CLI also import it"},
    {"--from-file", NULL, "FILE", "queue a batch instead: one JSON object per line (- for\n"
                                  "stdin) with keys pipeline, inputs, run_config, priority,\n"
                                  "job_id, at, in, timeout, max_retries, retry_delay,\n"
                                  "result_ttl, failure_ttl, after, on_success, on_failure,\n"
                                  "on_stopped; prints the ids one per line"},
    END,
};
static const char *const enqueue_examples[] = {
    "fpq enqueue hello --inputs '{\"name\": \"Ada\"}' --priority high",
    "fpq enqueue etl --run-config @run.json --in 10m",
    "fpq enqueue hello --result-ttl 30d --failure-ttl -1",
    "fpq enqueue etl --max-retries 2 --on-failure hooks:alert",
    "fpq enqueue --from-file jobs.jsonl",
    NULL,
};

static const cli_help_option status_options[] = {
    {"--limit", NULL, "N", "show at most N jobs (default 20)"},
    END,
};
static const char *const status_examples[] = {
    "fpq status",
    "fpq status hello --limit 5",
    "fpq status id=3f1c2a9e-... --json",
    NULL,
};

static const cli_help_option result_options[] = {
    {"--wait", NULL, NULL, "wait until the job finishes or fails"},
    {"--timeout", NULL, "SECS", "with --wait: give up after this long (default: wait forever)"},
    END,
};
static const char *const result_examples[] = {
    "fpq result id=3f1c2a9e-... --wait --timeout 60",
    "fpq result hello --json",
    NULL,
};

static const char *const cancel_examples[] = {"fpq cancel 3f1c2a9e-...", NULL};
static const char *const requeue_examples[] = {"fpq requeue 3f1c2a9e-...", NULL};

/* ---- workers ---- */

static const cli_help_option start_options[] = {
    {"--count", NULL, "N", "slots running jobs at once (default 1)"},
    {"--queues", NULL, "Q1,Q2,...", "exact RQ queue names in strict priority order (default: the project's three)"},
    {"--burst", NULL, NULL, "exit once nothing is left to do"},
    {"--isolation", NULL, "MODE", "fork (default): a fresh child process per job;\n"
                                  "none: run in the executor itself (fastest, least isolated)"},
    {"--name", NULL, "NAME", "worker name (default HOSTNAME.PID.RANDOM); one live worker per name"},
    {"--timeout", NULL, "DURATION", "default time limit for jobs without one (default: none)"},
    {"--lease", NULL, "SECONDS", "a dead worker's jobs are retried after this long (default 15)"},
    {"--kill-grace", NULL, "SECONDS", "between SIGTERM and SIGKILL for a job past its timeout (5)"},
    {"--stop-grace", NULL, "SECONDS",
     "on stop, how long running jobs may finish (default: no limit)"},
    {"--quiet", NULL, NULL, "log only problems"},
    {"--with-scheduler", NULL, NULL, "also fire due schedules (see 'fpq scheduler --help')"},
    {"--metrics-port", NULL, "PORT", "serve Prometheus metrics at http://HOST:PORT/metrics"},
    {"--metrics-host", NULL, "ADDR", "address for --metrics-port (default 127.0.0.1)"},
    END,
};
static const char *const start_examples[] = {
    "fpq worker start --count 4",
    "fpq worker start --burst --isolation none",
    "fpq worker start --with-scheduler",
    NULL,
};

static const cli_help_option stop_options[] = {
    {"--name", NULL, "NAME", "the worker to stop (see 'fpq worker list')"},
    {"--all", NULL, NULL, "every live worker of this backend (also what no option does)"},
    {"--now", NULL, NULL, "do not let running jobs finish"},
    {"--wait", NULL, NULL, "wait until they have exited (up to 120 s)"},
    END,
};
static const char *const stop_examples[] = {"fpq worker stop", "fpq worker stop --all --wait",
                                            NULL};
static const char *const list_examples[] = {"fpq worker list --json", NULL};

static const cli_help_option metrics_options[] = {
    {"--prometheus", NULL, NULL,
     "print Prometheus text exposition (what a worker's /metrics serves)"},
    END,
};
static const char *const prune_examples[] = {"fpq prune", "fpq prune --json", NULL};
static const char *const logs_examples[] = {"fpq logs 3f1c2a9e-...", "fpq logs id=3f1c2a9e-... --json",
                                            NULL};

static const char *const metrics_examples[] = {
    "fpq metrics --json",
    "fpq metrics --prometheus",
    NULL,
};

/* ---- schedules ---- */

static const cli_help_option schedule_options[] = {
    {"--schedule", NULL, "CRON",
     "when to run: '0 2 * * *' (5 fields), '*/10 * * * * *' (6, with\n"
     "seconds first), @daily, 'every 15m', 'at 2026-12-01T02:00:00Z';\n"
     "default: the run config's \"schedule\""},
    {"--timezone", NULL, "TZ", "IANA zone the fields are read in, e.g. Europe/Berlin (UTC)"},
    {"--id", NULL, "ID", "the schedule's id: 1-100 of A-Z a-z 0-9 _ - (default: new)"},
    {"--priority", NULL, "P", "high, medium (default) or low"},
    {"--inputs", NULL, "JSON", "pipeline inputs, e.g. '{\"x\": 1}', or @FILE"},
    {"--run-config", NULL, "JSON", "FlowerPower RunConfig fields as JSON, or @FILE"},
    {"--misfire-grace", NULL, "DUR", "skip a fire that is more than DUR late, e.g. 10m (no limit)"},
    {"--no-coalesce", NULL, NULL, "after downtime run every missed fire, not one for all"},
    {"--paused", NULL, NULL, "store it paused ('fpq schedules resume ID' starts it)"},
    {"--max-retries", NULL, "N", "retries of each run (default: the pipeline's run.retry)"},
    {"--timeout", NULL, "DURATION", "stop a run after this long, e.g. 30m (default: none)"},
    END,
};
static const char *const schedule_examples[] = {
    "fpq schedule etl --schedule '0 2 * * *' --timezone Europe/Berlin --id nightly-etl",
    "fpq schedule hello --schedule '*/10 * * * * *' --inputs '{\"name\": \"Ada\"}'",
    "fpq schedule report --schedule @hourly --misfire-grace 5m --no-coalesce",
    NULL,
};

static const char *const schedules_list_examples[] = {"fpq schedules list --json", NULL};
static const char *const schedules_remove_examples[] = {"fpq schedules remove nightly-etl",
                                                        NULL};
static const char *const schedules_pause_examples[] = {"fpq schedules pause nightly-etl", NULL};
static const char *const schedules_resume_examples[] = {"fpq schedules resume nightly-etl",
                                                        NULL};
static const cli_help_option schedules_next_options[] = {
    {"-n", NULL, "N", "how many fire times to show (default 5, at most 1000)"},
    END,
};
static const char *const schedules_next_examples[] = {"fpq schedules next nightly-etl -n 3",
                                                      NULL};

static const cli_help_option scheduler_options[] = {
    {"--name", NULL, "NAME", "the name it leads under (default HOSTNAME.PID)"},
    {"--tick", NULL, "DURATION", "how often it looks for due fires (default 1s)"},
    {"--lease-ttl", NULL, "DUR", "how long the leader lease lasts unrenewed (default 10s)"},
    {"--once", NULL, NULL, "one tick, then exit (for cron-driven use and checks)"},
    {"--quiet", NULL, NULL, "log only leadership changes and problems"},
    {"--json", NULL, NULL, "print one JSON line per tick on stdout"},
    END,
};
static const char *const scheduler_examples[] = {
    "fpq scheduler",
    "fpq worker start --with-scheduler    # the same, inside a worker",
    NULL,
};

static const char *const version_examples[] = {"fpq version", NULL};

static const char *const completion_examples[] = {
    "eval \"$(fpq completion bash)\"    # in ~/.bashrc",
    "fpq completion zsh > \"${fpath[1]}/_fpq\"",
    "fpq completion fish > ~/.config/fish/completions/fpq.fish",
    NULL,
};

static const char *const fpq_examples[] = {
    "id=$(fpq enqueue hello --inputs '{\"name\": \"Ada\"}')\n"
    "fpq worker start --burst\n"
    "fpq result id=$id",
    NULL,
};

/* In the order fpq lists them; a group's members follow it. */
static const cli_help table[] = {
    {.command = "",
     .usage = "fpq COMMAND [OPTIONS]",
     .summary = "Queue, run and inspect FlowerPower pipeline jobs.",
     .notes = "Run 'fpq COMMAND --help' for a command's options. Exit codes: 0 done; 1 the job\n"
              "failed, was not found or is not finished; 2 bad input; 3 backend unavailable.",
     .examples = fpq_examples},
    {.command = "enqueue",
     .usage = "fpq enqueue PIPELINE [OPTIONS] | --from-file FILE",
     .label = "enqueue PIPELINE",
     .brief = "queue a run of a pipeline; prints the job id",
     .summary = "Queue one run of PIPELINE and print its job id on stdout. With --from-file,\n"
                "queue every line's job as one batch (a bad line: nothing is queued, exit 2\n"
                "naming the line) and print the ids in file order.",
     .options = enqueue_options,
     .common = 1,
     .examples = enqueue_examples},
    {.command = "status",
     .usage = "fpq status [PIPELINE | id=ID] [OPTIONS]",
     .label = "status [PIPELINE|id=ID]",
     .brief = "show jobs (newest first) or one job",
     .summary = "Show this project's jobs, newest first: all of them, one pipeline's, or one "
                "job.",
     .options = status_options,
     .common = 1,
     .examples = status_examples},
    {.command = "result",
     .usage = "fpq result [PIPELINE | id=ID] [OPTIONS]",
     .label = "result [PIPELINE|id=ID]",
     .brief = "print a job's result (--wait to wait for it)",
     .summary = "Print the result of a job (for a PIPELINE: its newest job) as JSON. Exits 0 "
                "when the\njob finished, 1 when it failed, is not finished or is not found.",
     .options = result_options,
     .common = 1,
     .examples = result_examples},
    {.command = "cancel",
     .usage = "fpq cancel ID [OPTIONS]",
     .label = "cancel ID",
     .brief = "cancel a job that has not started",
     .summary = "Cancel a job that is queued or scheduled; it will not run. Running jobs are "
                "stopped\nwith 'fpq worker stop' commands instead.",
     .common = 1,
     .examples = cancel_examples},
    {.command = "requeue",
     .usage = "fpq requeue ID [OPTIONS]",
     .label = "requeue ID",
     .brief = "queue a failed, stopped or canceled job again",
     .summary = "Queue a failed, stopped or canceled job again, at the back of its queue, with "
                "its\nattempts reset.",
     .common = 1,
     .examples = requeue_examples},
    {.command = "worker",
     .usage = "fpq worker start|stop|list [OPTIONS]",
     .label = "worker start|stop|list",
     .brief = "run workers, stop them, list them",
     .summary = "Run workers, stop them, list them.",
     .notes = "Run 'fpq worker start --help' for the start options."},
    {.command = "worker start",
     .usage = "fpq worker start [OPTIONS]",
     .label = "start",
     .brief = "run a worker in the foreground until stopped (SIGTERM/SIGINT: finish running\n"
              "jobs, then exit 0; a second signal stops them now and puts them back)",
     .summary = "Run jobs: one process with COUNT slots, each with a warm Python executor.",
     .options = start_options,
     .common = 1,
     .notes = "Environment: FPQ_PYTHON chooses the Python interpreter of the executors.",
     .examples = start_examples},
    {.command = "worker stop",
     .usage = "fpq worker stop [--name NAME | --all] [--now] [--wait] [OPTIONS]",
     .label = "stop",
     .brief = "ask workers to stop, on any machine that shares the backend",
     .summary = "Ask workers to stop: they take no new jobs and exit when their running jobs "
                "finish\n(--now: running jobs stop at once and go back to the queue).",
     .options = stop_options,
     .common = 1,
     .examples = stop_examples},
    {.command = "worker list",
     .usage = "fpq worker list [OPTIONS]",
     .label = "list",
     .brief = "show live workers",
     .summary = "Show live workers.",
     .common = 1,
     .examples = list_examples},
    {.command = "schedule",
     .usage = "fpq schedule PIPELINE --schedule CRON [OPTIONS]",
     .label = "schedule PIPELINE",
     .brief = "run a pipeline on a cron schedule; prints the schedule id",
     .summary = "Run PIPELINE on a schedule: store it in the backend and print its id. A "
                "scheduler\nturns each fire into a job ('fpq scheduler', or 'fpq worker start "
                "--with-scheduler');\nthe same --id again replaces the schedule and keeps its "
                "history.",
     .options = schedule_options,
     .common = 1,
     .examples = schedule_examples},
    {.command = "schedules",
     .usage = "fpq schedules list|remove ID|pause ID|resume ID|next ID [-n N] [OPTIONS]",
     .label = "schedules list|remove|pause|resume|next",
     .brief = "manage schedules",
     .summary = "Manage this project's schedules.",
     .common = 1},
    {.command = "schedules list",
     .usage = "fpq schedules list [OPTIONS]",
     .label = "list",
     .brief = "this project's schedules: trigger, state, next and last fire, counts",
     .summary = "Show this project's schedules: trigger, time zone, state, next and last fire,\n"
                "and how many fires became jobs or were skipped.",
     .common = 1,
     .examples = schedules_list_examples},
    {.command = "schedules remove",
     .usage = "fpq schedules remove ID [OPTIONS]",
     .label = "remove ID",
     .brief = "delete a schedule (jobs it made stay)",
     .summary = "Delete a schedule. The jobs it made stay.",
     .common = 1,
     .examples = schedules_remove_examples},
    {.command = "schedules pause",
     .usage = "fpq schedules pause ID [OPTIONS]",
     .label = "pause ID",
     .brief = "stop firing it",
     .summary = "Stop firing a schedule until 'fpq schedules resume ID'.",
     .common = 1,
     .examples = schedules_pause_examples},
    {.command = "schedules resume",
     .usage = "fpq schedules resume ID [OPTIONS]",
     .label = "resume ID",
     .brief = "fire it again, from now on (fires missed while paused are not made up)",
     .summary = "Fire a paused schedule again, from now on: fires missed while it was paused "
                "are\nnot made up.",
     .common = 1,
     .examples = schedules_resume_examples},
    {.command = "schedules next",
     .usage = "fpq schedules next ID [-n N] [OPTIONS]",
     .label = "next ID",
     .brief = "its next fire times (-n N, default 5), in its time zone",
     .summary = "Show a schedule's next fire times in its time zone (with --json: in UTC, as "
                "RQ\nwrites times).",
     .options = schedules_next_options,
     .common = 1,
     .examples = schedules_next_examples},
    {.command = "scheduler",
     .usage = "fpq scheduler [OPTIONS]",
     .label = "scheduler",
     .brief = "fire due schedules (or: fpq worker start --with-scheduler)",
     .summary = "Fire due schedules until SIGTERM/SIGINT. Run as many as you like against one "
                "backend:\na lease in the backend makes one the leader, and every fire's job "
                "id is derived from\n(schedule, fire time), so no fire is ever enqueued twice. "
                "When the leader dies,\nanother takes over within the lease time plus one tick "
                "(11 s by default).",
     .options = scheduler_options,
     .common = 1,
     .examples = scheduler_examples},
    {.command = "logs",
     .usage = "fpq logs ID [OPTIONS]",
     .label = "logs ID",
     .brief = "what a job's last run wrote (stdout, stderr, FlowerPower's log lines)",
     .summary = "Print what a job's last run wrote: its stdout, stderr and FlowerPower's log "
                "lines,\nkept with the job up to 64 KiB (the first part and the last 4 KiB, "
                "with a marker\nsaying how much was cut between them). Exits 1 when the job "
                "has no log yet.",
     .common = 1,
     .examples = logs_examples},
    {.command = "prune",
     .usage = "fpq prune [OPTIONS]",
     .label = "prune",
     .brief = "delete ended jobs whose result_ttl / failure_ttl has passed",
     .summary = "Delete ended jobs whose retention (result_ttl, failure_ttl) has passed, now "
                "rather\nthan at a worker's next maintenance, and print how many went.",
     .common = 1,
     .examples = prune_examples},
    {.command = "metrics",
     .usage = "fpq metrics [--json | --prometheus] [OPTIONS]",
     .label = "metrics",
     .brief = "counts per queue and status, workers",
     .summary = "Jobs per queue and status, the age of the oldest queued job, live workers, "
                "and the\nended jobs kept (within their retention) and their size.",
     .options = metrics_options,
     .common = 1,
     .examples = metrics_examples},
    {.command = "version",
     .usage = "fpq version",
     .label = "version",
     .brief = "print the version",
     .summary = "Print the version of fpq (and of the engine it is built on).",
     .examples = version_examples},
    {.command = "completion",
     .usage = "fpq completion bash|zsh|fish",
     .label = "completion SHELL",
     .brief = "print the shell completion script for bash, zsh or fish",
     .summary = "Print a script that makes your shell complete fpq's commands, options, "
                "option\nvalues and the project's pipelines. It asks fpq for the candidates, "
                "so they always\nmatch the fpq you run.",
     .examples = completion_examples},
};

const cli_help *cli_help_find(const char *command) {
  for (size_t i = 0; command && i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].command, command) == 0) return &table[i];
  return NULL;
}

const cli_help *cli_help_all(size_t *n) {
  *n = sizeof table / sizeof table[0];
  return table;
}

const cli_help_option *cli_help_common(void) { return common; }

int cli_help_in_group(const cli_help *h, const char *group) {
  size_t len = strlen(group);
  const char *rest = h->command;
  if (len > 0) {
    if (strncmp(rest, group, len) != 0 || rest[len] != ' ') return 0;
    rest += len + 1;
  }
  return rest[0] != '\0' && strchr(rest, ' ') == NULL;
}
