/* cmd_schedule.c: the commands about schedules: `fpq schedule` (create or replace one),
 * `fpq schedules list|remove|pause|resume|next`, and `fpq scheduler` (fire them). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fpq_worker.h"




enum { OPT_SCHEDULE = 4000, OPT_TIMEZONE, OPT_ID, OPT_PRIORITY, OPT_INPUTS, OPT_RUN_CONFIG,
       OPT_MISFIRE_GRACE, OPT_NO_COALESCE, OPT_PAUSED, OPT_MAX_RETRIES, OPT_TIMEOUT, OPT_NAME,
       OPT_TICK, OPT_LEASE_TTL, OPT_ONCE, OPT_QUIET };

/* ---- output ---- */

/* A fire time as local time in the schedule's zone: "2026-03-29 03:00:00 +02:00"; in UTC
 * when the zone cannot be loaded any more (the row still shows when it fires). */
static void format_fire(int64_t t, const char *tz, char *buf, size_t len) {
  if (t == 0) snprintf(buf, len, "-");
  else if (fpq_format_zoned_time(t, tz, buf, len)) fpq_format_zoned_time(t, NULL, buf, len);
}

static void print_schedule_row(const fpq_schedule *s, int id_width) {
  char next[40], last[40];
  format_fire(s->paused ? 0 : s->next_fire, s->timezone, next, sizeof next);
  format_fire(s->last_fire, s->timezone, last, sizeof last);
  printf("%-*s  %-16.16s  %-20.20s  %-16.16s  %-6s  %-26s  %-26s  %6lld  %6lld\n", id_width, s->id,
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

typedef struct schedule_args {
  const char *trigger, *timezone, *id, *priority, *inputs, *run_config, *grace, *max_retries,
      *timeout;
  int no_coalesce, paused;
} schedule_args;

/* Fills the schedule from the flags; returns 0 or the exit code after printing why.
 * Everything is checked here, before the backend is opened, so bad input writes nothing
 * and is reported even when the backend is down. */
/* The --schedule (or --timezone) text as a message quotes it: control characters (a newline, CR, an
 * escape) as \xNN so the message stays one line and a terminal interprets nothing;
 * everything else, multibyte characters included, as typed. At most ~100 bytes. */
static void quote_trigger(const char *text, char *buf, size_t len) {
  size_t o = 0;
  for (size_t i = 0; text[i] && o + 8 < len && i < 100; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
    else buf[o++] = (char)c;
  }
  buf[o] = '\0';
}

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
  if (fpq_trigger_validate(s->trigger, s->timezone, msg, sizeof msg)) {
    char q[512], z[512];
    quote_trigger(s->trigger, q, sizeof q);
    quote_trigger(s->timezone ? s->timezone : "", z, sizeof z);
    return cli_fail(FPQ_EINVAL, "--schedule '%s'%s%s: %s", q, s->timezone ? " --timezone " : "",
                    z, msg);
  }
  int rc;
  if (a->inputs) {
    char *text = cli_json_arg("--inputs", a->inputs);
    if (text == NULL) return EXIT_BAD_INPUT;
    rc = fpq_schedule_merge_inputs(s, text, msg, sizeof msg);
    free(text);
    if (rc) return cli_inputs_error("schedule", rc, msg);
  }
  if (a->priority && fpq_priority_parse(a->priority, &s->priority))
    return cli_usage_error("schedule", "--priority '%s' is not known: expected high, medium or "
                           "low", a->priority);
  if (a->id) {
    if (strlen(a->id) > FPQ_SCHEDULE_ID_MAX || fpq_validate_id(a->id, msg, sizeof msg))
      return cli_usage_error("schedule", "--id '%s' is not valid: expected 1-%d of A-Z a-z 0-9 "
                             "_ -", a->id, FPQ_SCHEDULE_ID_MAX);
    snprintf(s->id, sizeof s->id, "%s", a->id);
  }
  if (a->grace && cli_duration_arg("schedule", "--misfire-grace", a->grace, &s->misfire_grace))
    return EXIT_BAD_INPUT;
  if (a->timeout && cli_duration_arg("schedule", "--timeout", a->timeout, &s->timeout))
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
      case 'h': cli_print_help(stdout, "schedule"); return 0;
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
    int width = 2; /* the longest id, never cut: people copy ids from here */
    for (size_t i = 0; i < n; i++)
      if ((int)strlen(list[i]->id) > width) width = (int)strlen(list[i]->id);
    printf("%-*s  %-16s  %-20s  %-16s  %-6s  %-26s  %-26s  %6s  %6s\n", width, "ID", "PIPELINE",
           "SCHEDULE", "TIMEZONE", "STATE", "NEXT FIRE", "LAST FIRE", "FIRED", "SKIPPED");
    for (size_t i = 0; i < n; i++) print_schedule_row(list[i], width);
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
      fpq_format_time((double)fires[i], when, sizeof when);
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
    cli_print_help(argc < 2 ? stderr : stdout, "schedules");
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
      cli_print_help(stdout, command);
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
  const int reads = id == NULL || strcmp(sub, "next") == 0; /* list, next: read-only */
  fpq_queue *q = reads ? cli_open_read(&c, &code) : cli_open(&c, &code);
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
  fpq_scheduler_options o = {0};
  int once = 0, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    switch (opt) {
      case OPT_NAME: o.name = optarg; break;
      case OPT_TICK:
        if (cli_duration_arg("scheduler", "--tick", optarg, &o.tick)) return EXIT_BAD_INPUT;
        break;
      case OPT_LEASE_TTL:
        if (cli_duration_arg("scheduler", "--lease-ttl", optarg, &o.lease_ttl))
          return EXIT_BAD_INPUT;
        break;
      case OPT_ONCE: once = 1; break;
      case OPT_QUIET: o.quiet = 1; break;
      case 'h': cli_print_help(stdout, "scheduler"); return 0;
      default: return cli_getopt_error("scheduler", argc, argv);
    }
  }
  if (optind != argc)
    return cli_usage_error("scheduler", "unexpected argument '%s'", argv[optind]);
  /* tick, lease and name: fpq_scheduler_run checks them, for every caller alike */
  o.json = c.json;
  o.open = (fpq_options){.project_dir = c.project, .backend = c.backend, .url = c.url};
  return fpq_scheduler_run(&o, once);
}
