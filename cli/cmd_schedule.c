/* cmd_schedule.c: the commands about schedules: `fpq schedule` (create or replace one),
 * `fpq schedules list|remove|pause|resume|next`, and `fpq scheduler` (fire them). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "job.h"
#include "scheduler.h"
#include "tz.h"

static const char schedule_help[] =
    "Usage: fpq schedule PIPELINE --schedule CRON [OPTIONS]\n"
    "\n"
    "Run PIPELINE on a schedule: store it in the backend and print its id. A scheduler\n"
    "turns each fire into a job ('fpq scheduler', or 'fpq worker start --with-scheduler');\n"
    "the same --id again replaces the schedule and keeps its history.\n"
    "\n"
    "Options:\n"
    "  --schedule CRON        when to run: '0 2 * * *' (5 fields), '*/10 * * * * *' (6, with\n"
    "                         seconds first), @daily, 'every 15m', 'at 2026-12-01T02:00:00Z';\n"
    "                         default: the run config's \"schedule\"\n"
    "  --timezone TZ          IANA zone the fields are read in, e.g. Europe/Berlin (UTC)\n"
    "  --id ID                the schedule's id: 1-100 of A-Z a-z 0-9 _ - (default: new)\n"
    "  --priority P           high, medium (default) or low\n"
    "  --inputs JSON          pipeline inputs, e.g. '{\"x\": 1}'\n"
    "  --run-config JSON      FlowerPower RunConfig fields as JSON, or @FILE\n"
    "  --misfire-grace DUR    skip a fire that is more than DUR late, e.g. 10m (no limit)\n"
    "  --no-coalesce          after downtime run every missed fire, not one for all\n"
    "  --paused               store it paused ('fpq schedules resume ID' starts it)\n"
    "  --max-retries N        retries of each run (default: the pipeline's run.retry)\n"
    "  --timeout DURATION     stop a run after this long, e.g. 30m (default: none)\n"
    CLI_COMMON_HELP
    "\n"
    "Examples:\n"
    "  fpq schedule etl --schedule '0 2 * * *' --timezone Europe/Berlin --id nightly-etl\n"
    "  fpq schedule hello --schedule '*/10 * * * * *' --inputs '{\"name\": \"Ada\"}'\n"
    "  fpq schedule report --schedule @hourly --misfire-grace 5m --no-coalesce\n";

static const char schedules_help[] =
    "Usage: fpq schedules list|remove ID|pause ID|resume ID|next ID [-n N] [OPTIONS]\n"
    "\n"
    "  list        this project's schedules: trigger, state, next and last fire, counts\n"
    "  remove ID   delete a schedule (jobs it made stay)\n"
    "  pause ID    stop firing it\n"
    "  resume ID   fire it again, from now on (fires missed while paused are not made up)\n"
    "  next ID     its next fire times (-n N, default 5), in its time zone\n"
    CLI_COMMON_HELP
    "\n"
    "Examples:\n"
    "  fpq schedules list --json\n"
    "  fpq schedules next nightly-etl -n 3\n"
    "  fpq schedules pause nightly-etl\n";

static const char scheduler_help[] =
    "Usage: fpq scheduler [OPTIONS]\n"
    "\n"
    "Fire due schedules until SIGTERM/SIGINT. Run as many as you like against one backend:\n"
    "a lease in the backend makes one the leader, and every fire's job id is derived from\n"
    "(schedule, fire time), so no fire is ever enqueued twice. When the leader dies,\n"
    "another takes over within the lease time plus one tick (11 s by default).\n"
    "\n"
    "Options:\n"
    "  --name NAME         the name it leads under (default HOSTNAME.PID)\n"
    "  --tick DURATION     how often it looks for due fires (default 1s)\n"
    "  --lease-ttl DUR     how long the leader lease lasts unrenewed (default 10s)\n"
    "  --once              one tick, then exit (for cron-driven use and checks)\n"
    "  --quiet             log only leadership changes and problems\n"
    "  --json              print one JSON line per tick on stdout\n"
    CLI_COMMON_HELP
    "\n"
    "Examples:\n"
    "  fpq scheduler\n"
    "  fpq worker start --with-scheduler    # the same, inside a worker\n";

enum { OPT_SCHEDULE = 4000, OPT_TIMEZONE, OPT_ID, OPT_PRIORITY, OPT_INPUTS, OPT_RUN_CONFIG,
       OPT_MISFIRE_GRACE, OPT_NO_COALESCE, OPT_PAUSED, OPT_MAX_RETRIES, OPT_TIMEOUT, OPT_NAME,
       OPT_TICK, OPT_LEASE_TTL, OPT_ONCE, OPT_QUIET };

/* ---- output ---- */

/* A fire time as local time in the schedule's zone: "2026-03-29 03:00:00 +02:00". */
static void format_fire(int64_t t, const char *tz, char *buf, size_t len) {
  if (t == 0) {
    snprintf(buf, len, "-");
    return;
  }
  fpq__tz *z = NULL;
  char err[128];
  int32_t off = fpq__tz_acquire(tz, &z, err, sizeof err) == 0 ? fpq__tz_offset(z, t, NULL) : 0;
  fpq__tz_release(z);
  int64_t local = t + off, days = (int64_t)floor((double)local / 86400.0), y;
  int64_t secs = local - days * 86400;
  int m, d;
  fpq__civil_from_days(days, &y, &m, &d);
  int a = off < 0 ? -off : off;
  snprintf(buf, len, "%04lld-%02d-%02d %02d:%02d:%02d %c%02d:%02d", (long long)y, m, d,
           (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), off < 0 ? '-' : '+',
           a / 3600, a / 60 % 60);
}

static void print_schedule_row(const fpq_schedule *s) {
  char next[40], last[40];
  format_fire(s->paused ? 0 : s->next_fire, s->timezone, next, sizeof next);
  format_fire(s->last_fire, s->timezone, last, sizeof last);
  printf("%-36.36s  %-16.16s  %-20.20s  %-16.16s  %-6s  %-26s  %-26s  %6lld  %6lld\n", s->id,
         s->pipeline, s->trigger, s->timezone ? s->timezone : "UTC",
         s->paused ? "paused" : s->next_fire == 0 ? "done" : "active", next, last,
         (long long)s->fired, (long long)s->skipped);
}

static void print_json(const fpq_schedule *s) {
  char *text = fpq_schedule_to_json(s);
  printf("%s\n", text ? text : "{}");
  free(text);
}

/* ---- fpq schedule ---- */

static int seconds_arg(const char *command, const char *option, const char *arg, double *out) {
  if (fpq__parse_duration(arg, out) == 0) return 0;
  return cli_usage_error(command, "%s '%s' is not a duration: expected e.g. 30s, 10m, 2h",
                         option, arg);
}

typedef struct schedule_args {
  const char *trigger, *timezone, *id, *priority, *inputs, *run_config, *grace, *max_retries,
      *timeout;
  int no_coalesce, paused;
} schedule_args;

/* Fills the schedule from the flags; returns 0 or the exit code after printing why.
 * Everything is checked here, before the backend is opened, so bad input writes nothing
 * and is reported even when the backend is down. */
static int fill(fpq_schedule *s, const schedule_args *a, const char *pipeline) {
  char msg[512];
  if (fpq_job_set(&s->pipeline, pipeline) ||
      (a->trigger && fpq_job_set(&s->trigger, a->trigger)) ||
      (a->timezone && fpq_job_set(&s->timezone, a->timezone)))
    return cli_fail(FPQ_ENOMEM, "out of memory");
  if (fpq_validate_pipeline(pipeline, msg, sizeof msg)) return cli_fail(FPQ_EINVAL, "%s", msg);
  if (a->run_config) {
    char *text = cli_json_arg("--run-config", a->run_config);
    if (text == NULL) return EXIT_BAD_INPUT;
    int rc = fpq_schedule_apply_run_config(s, text, msg, sizeof msg);
    free(text);
    if (rc) return cli_fail(rc, "--run-config: %s", msg);
  }
  if (s->trigger == NULL)
    return cli_usage_error("schedule", "when should it run? give --schedule, e.g. '0 2 * * *'");
  if (fpq_trigger_validate(s->trigger, s->timezone, msg, sizeof msg))
    return cli_fail(FPQ_EINVAL, "--schedule '%s'%s%s: %s", s->trigger,
                    s->timezone ? " --timezone " : "", s->timezone ? s->timezone : "", msg);
  if (a->inputs && cli_merge_inputs("schedule", &s->run_json, a->inputs)) return EXIT_BAD_INPUT;
  if (a->priority && fpq_priority_parse(a->priority, &s->priority))
    return cli_usage_error("schedule", "--priority '%s' is not known: expected high, medium or "
                           "low", a->priority);
  if (a->id) {
    if (strlen(a->id) > FPQ_SCHEDULE_ID_MAX || fpq_validate_id(a->id, msg, sizeof msg))
      return cli_usage_error("schedule", "--id '%s' is not valid: expected 1-%d of A-Z a-z 0-9 "
                             "_ -", a->id, FPQ_SCHEDULE_ID_MAX);
    snprintf(s->id, sizeof s->id, "%s", a->id);
  }
  if (a->grace && seconds_arg("schedule", "--misfire-grace", a->grace, &s->misfire_grace))
    return EXIT_BAD_INPUT;
  if (a->timeout && seconds_arg("schedule", "--timeout", a->timeout, &s->timeout))
    return EXIT_BAD_INPUT;
  if (a->max_retries) {
    char *end;
    long n = strtol(a->max_retries, &end, 10);
    if (*end || end == a->max_retries || n < 0 || n > 1000)
      return cli_usage_error("schedule", "--max-retries '%s' is not a whole number from 0 to "
                             "1000", a->max_retries);
    s->max_retries = (int)n;
  }
  if (a->no_coalesce) s->coalesce = 0;
  if (a->paused) s->paused = 1;
  return 0;
}

int cmd_schedule(int argc, char **argv) {
  static const struct option longopts[] = {
      {"schedule", required_argument, NULL, OPT_SCHEDULE},
      {"timezone", required_argument, NULL, OPT_TIMEZONE},
      {"id", required_argument, NULL, OPT_ID},
      {"priority", required_argument, NULL, OPT_PRIORITY},
      {"inputs", required_argument, NULL, OPT_INPUTS},
      {"run-config", required_argument, NULL, OPT_RUN_CONFIG},
      {"misfire-grace", required_argument, NULL, OPT_MISFIRE_GRACE},
      {"no-coalesce", no_argument, NULL, OPT_NO_COALESCE},
      {"paused", no_argument, NULL, OPT_PAUSED},
      {"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      CLI_COMMON_OPTIONS,
      {NULL, 0, NULL, 0}};
  cli_common c = {0};
  schedule_args a = {0};
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    switch (opt) {
      case OPT_SCHEDULE: a.trigger = optarg; break;
      case OPT_TIMEZONE: a.timezone = optarg; break;
      case OPT_ID: a.id = optarg; break;
      case OPT_PRIORITY: a.priority = optarg; break;
      case OPT_INPUTS: a.inputs = optarg; break;
      case OPT_RUN_CONFIG: a.run_config = optarg; break;
      case OPT_MISFIRE_GRACE: a.grace = optarg; break;
      case OPT_NO_COALESCE: a.no_coalesce = 1; break;
      case OPT_PAUSED: a.paused = 1; break;
      case OPT_MAX_RETRIES: a.max_retries = optarg; break;
      case OPT_TIMEOUT: a.timeout = optarg; break;
      case 'h': fputs(schedule_help, stdout); return 0;
      default: return cli_getopt_error("schedule", argc, argv);
    }
  }
  if (optind != argc - 1)
    return cli_usage_error("schedule", optind >= argc ? "which pipeline? give its name"
                                                      : "give exactly one pipeline name");
  fpq_schedule *s = fpq_schedule_new();
  if (s == NULL) return cli_fail(FPQ_ENOMEM, "out of memory");
  int code = fill(s, &a, argv[optind]);
  fpq_queue *q = code ? NULL : cli_open(&c, &code);
  if (q) {
    int rc = fpq_schedule_put(q, s);
    if (rc) code = cli_fail(rc, "%s", fpq_errmsg(q));
    else if (c.json) print_json(s);
    else printf("%s\n", s->id);
    fpq_close(q);
  }
  fpq_schedule_free(s);
  return code;
}

/* ---- fpq schedules ---- */

static int schedules_list(fpq_queue *q, const cli_common *c) {
  fpq_schedule **list = NULL;
  size_t n = 0;
  int rc = fpq_schedule_list(q, NULL, &list, &n);
  if (rc) return cli_fail(rc, "%s", fpq_errmsg(q));
  if (c->json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++) {
      char *text = fpq_schedule_to_json(list[i]);
      json_array_append_new(arr, text ? json_loads(text, 0, NULL) : json_null());
      free(text);
    }
    char *out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    printf("%s\n", out ? out : "[]");
    free(out);
    json_decref(arr);
  } else if (n == 0) {
    puts("no schedules (add one with 'fpq schedule PIPELINE --schedule CRON')");
  } else {
    printf("%-36s  %-16s  %-20s  %-16s  %-6s  %-26s  %-26s  %6s  %6s\n", "ID", "PIPELINE",
           "SCHEDULE", "TIMEZONE", "STATE", "NEXT FIRE", "LAST FIRE", "FIRED", "SKIPPED");
    for (size_t i = 0; i < n; i++) print_schedule_row(list[i]);
  }
  fpq_schedules_free(list, n);
  return EXIT_DONE;
}

static int schedules_next(fpq_queue *q, const cli_common *c, const char *id, long count) {
  int64_t *fires = calloc((size_t)count, sizeof *fires);
  fpq_schedule *s = NULL;
  size_t n = 0;
  int rc = fires ? fpq_schedule_next_fires(q, id, fires, (size_t)count, &n) : FPQ_ENOMEM;
  if (rc == 0) rc = fpq_schedule_get(q, id, &s);
  int code = rc ? cli_fail(rc, "%s", fpq_errmsg(q)) : EXIT_DONE;
  for (size_t i = 0; rc == 0 && !c->json && i < n; i++) {
    char when[40];
    format_fire(fires[i], s->timezone, when, sizeof when);
    puts(when);
  }
  if (rc == 0 && c->json) {
    putchar('[');
    for (size_t i = 0; i < n; i++) {
      char when[FPQ_TIME_TEXT_MAX];
      fpq__format_time((double)fires[i], when);
      printf("%s\"%s\"", i ? "," : "", when);
    }
    puts("]");
  }
  fpq_schedule_free(s);
  free(fires);
  return code;
}

int cmd_schedules(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(schedules_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_BAD_INPUT : 0;
  }
  const char *sub = argv[1];
  int takes_id = strcmp(sub, "remove") == 0 || strcmp(sub, "pause") == 0 ||
                 strcmp(sub, "resume") == 0 || strcmp(sub, "next") == 0;
  if (!takes_id && strcmp(sub, "list") != 0)
    return cli_usage_error("schedules", "'%s' is not a schedules command: expected list, "
                           "remove, pause, resume or next", sub);
  static const struct option longopts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
  cli_common c = {0};
  long count = 5;
  int opt;
  char command[32];
  snprintf(command, sizeof command, "schedules %s", sub);
  optind = 1;
  argc--;
  argv++;
  while ((opt = getopt_long(argc, argv, "hn:", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    if (opt == 'h') {
      fputs(schedules_help, stdout);
      return 0;
    }
    if (opt != 'n' || strcmp(sub, "next") != 0) return cli_getopt_error(command, argc, argv);
    char *end;
    count = strtol(optarg, &end, 10);
    if (*end || end == optarg || count < 1 || count > 1000)
      return cli_usage_error(command, "-n '%s' is not a number from 1 to 1000", optarg);
  }
  if (takes_id && optind != argc - 1)
    return cli_usage_error(command, "give exactly one schedule id");
  if (!takes_id && optind != argc)
    return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
  const char *id = takes_id ? argv[optind] : NULL;
  int code;
  fpq_queue *q = cli_open(&c, &code);
  if (q == NULL) return code;
  if (id == NULL) {
    code = schedules_list(q, &c);
  } else if (strcmp(sub, "next") == 0) {
    code = schedules_next(q, &c, id, count);
  } else {
    int rc = strcmp(sub, "remove") == 0 ? fpq_schedule_remove(q, id)
             : strcmp(sub, "pause") == 0 ? fpq_schedule_pause(q, id)
                                         : fpq_schedule_resume(q, id);
    code = rc ? cli_fail(rc, "%s", fpq_errmsg(q)) : EXIT_DONE;
    if (rc == 0 && c.json) printf("{\"id\":\"%s\",\"ok\":true}\n", id);
    else if (rc == 0) printf("%s\n", id);
  }
  fpq_close(q);
  return code;
}

/* ---- fpq scheduler ---- */

int cmd_scheduler(int argc, char **argv) {
  static const struct option longopts[] = {
      {"name", required_argument, NULL, OPT_NAME},
      {"tick", required_argument, NULL, OPT_TICK},
      {"lease-ttl", required_argument, NULL, OPT_LEASE_TTL},
      {"once", no_argument, NULL, OPT_ONCE},
      {"quiet", no_argument, NULL, OPT_QUIET},
      CLI_COMMON_OPTIONS,
      {NULL, 0, NULL, 0}};
  cli_common c = {0};
  fpq__scheduler_options o = {0};
  int once = 0, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    switch (opt) {
      case OPT_NAME: o.name = optarg; break;
      case OPT_TICK:
        if (seconds_arg("scheduler", "--tick", optarg, &o.tick)) return EXIT_BAD_INPUT;
        if (o.tick < 0.01) return cli_usage_error("scheduler", "--tick must be at least 10ms");
        break;
      case OPT_LEASE_TTL:
        if (seconds_arg("scheduler", "--lease-ttl", optarg, &o.lease_ttl)) return EXIT_BAD_INPUT;
        break;
      case OPT_ONCE: once = 1; break;
      case OPT_QUIET: o.quiet = 1; break;
      case 'h': fputs(scheduler_help, stdout); return 0;
      default: return cli_getopt_error("scheduler", argc, argv);
    }
  }
  if (optind != argc)
    return cli_usage_error("scheduler", "unexpected argument '%s'", argv[optind]);
  if (o.name && (strlen(o.name) > 100 || strspn(o.name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
                                                      "klmnopqrstuvwxyz0123456789_.-") !=
                                             strlen(o.name) || !o.name[0]))
    return cli_usage_error("scheduler", "--name '%s' is not valid: use 1-100 of letters, "
                           "digits, '_', '-' and '.'", o.name);
  double tick = o.tick > 0 ? o.tick : FPQ__SCHEDULER_TICK;
  double ttl = o.lease_ttl > 0 ? o.lease_ttl : FPQ__SCHEDULER_LEASE_TTL;
  if (ttl < 2 * tick)
    return cli_usage_error("scheduler", "--lease-ttl %gs must be at least two ticks (%gs): the "
                           "leader renews its lease once a tick", ttl, 2 * tick);
  o.json = c.json;
  o.open = (fpq_options){.project_dir = c.project, .backend = c.backend, .url = c.url};
  return fpq__scheduler_run(&o, once);
}
