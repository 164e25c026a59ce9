/* main.c: the `fpq` command line: dispatch to one function per command, and the helpers
 * every command shares (common options, opening the queue, exit codes, output). */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "job.h"

static const char usage[] =
    "Usage: fpq COMMAND [OPTIONS]\n"
    "\n"
    "Queue, run and inspect FlowerPower pipeline jobs.\n"
    "\n"
    "Commands:\n"
    "  enqueue PIPELINE          queue a run of a pipeline; prints the job id\n"
    "  status [PIPELINE|id=ID]   show jobs (newest first) or one job\n"
    "  result [PIPELINE|id=ID]   print a job's result (--wait to wait for it)\n"
    "  cancel ID                 cancel a job that has not started\n"
    "  requeue ID                queue a failed, stopped or canceled job again\n"
    "  worker start|stop|list    run workers, stop them, list them\n"
    "  schedule PIPELINE         run a pipeline on a cron schedule; prints the schedule id\n"
    "  schedules list|remove|pause|resume|next   manage schedules\n"
    "  scheduler                 fire due schedules (or: fpq worker start --with-scheduler)\n"
    "  metrics                   counts per queue and status, workers\n"
    "  version                   print the version\n"
    "\n"
    "Run 'fpq COMMAND --help' for a command's options. Exit codes: 0 done; 1 the job\n"
    "failed, was not found or is not finished; 2 bad input; 3 backend unreachable.\n"
    "\n"
    "Example:\n"
    "  id=$(fpq enqueue hello --inputs '{\"name\": \"Ada\"}')\n"
    "  fpq worker start --burst\n"
    "  fpq result id=$id\n";

int cli_common_option(cli_common *c, int opt, const char *arg) {
  switch (opt) {
    case OPT_PROJECT: c->project = arg; return 1;
    case OPT_BACKEND: c->backend = arg; return 1;
    case OPT_URL: c->url = arg; return 1;
    case OPT_JSON: c->json = 1; return 1;
  }
  return 0;
}

int cli_exit_code(int err) {
  switch (err) {
    case FPQ_OK: return EXIT_DONE;
    case FPQ_EINVAL:
    case FPQ_ECONFIG:
    case FPQ_EEXIST:
    case FPQ_ETOOBIG: return EXIT_BAD_INPUT;
    case FPQ_EUNAVAIL: return EXIT_UNAVAILABLE;
    default: return EXIT_NOT_DONE;
  }
}

int cli_fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fpq: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return cli_exit_code(err);
}

int cli_usage_error(const char *command, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fpq %s: ", command);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'fpq %s --help')\n", command);
  va_end(ap);
  return EXIT_BAD_INPUT;
}

int cli_getopt_error(const char *command, int argc, char **argv) {
  (void)argc;
  (void)argv;
  /* getopt already printed what was wrong. */
  fprintf(stderr, "see 'fpq %s --help'\n", command);
  return EXIT_BAD_INPUT;
}

fpq_queue *cli_open(const cli_common *c, int *exit_code) {
  fpq_options o = {.project_dir = c->project, .backend = c->backend, .url = c->url,
                   .create = 1};
  fpq_queue *q = NULL;
  int rc = fpq_open(&q, &o);
  if (rc == 0) return q;
  *exit_code = cli_fail(rc, "%s", fpq_errmsg(q));
  fpq_close(q);
  return NULL;
}

int cli_parse_common(int argc, char **argv, const char *command, const char *help,
                     cli_common *c) {
  static const struct option longopts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(c, opt, optarg)) continue;
    if (opt == 'h') {
      fputs(help, stdout);
      return EXIT_DONE;
    }
    return cli_getopt_error(command, argc, argv);
  }
  return -1;
}

json_t *cli_metrics(const cli_common *c, int *exit_code) {
  fpq_queue *q = cli_open(c, exit_code);
  if (q == NULL) return NULL;
  char *text = NULL;
  int rc = fpq_metrics_json(q, &text);
  json_t *m = rc == 0 ? json_loads(text, 0, NULL) : NULL;
  if (rc) *exit_code = cli_fail(rc, "%s", fpq_errmsg(q));
  else if (m == NULL) *exit_code = cli_fail(FPQ_ENOMEM, "out of memory");
  free(text);
  fpq_close(q);
  return m;
}

const char *cli_id_arg(const char *arg) {
  return arg && strncmp(arg, "id=", 3) == 0 ? arg + 3 : NULL;
}

char *cli_json_arg(const char *option, const char *arg) {
  if (arg[0] != '@') {
    char *copy = strdup(arg);
    if (copy == NULL) cli_fail(FPQ_ENOMEM, "out of memory");
    return copy;
  }
  FILE *f = fopen(arg + 1, "rb");
  if (f == NULL) {
    cli_fail(FPQ_EINVAL, "%s %s: cannot read %s: %s", option, arg, arg + 1, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += got;
    if (len + 1 == cap) {
      char *grown = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
      if (grown == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf == NULL) {
    cli_fail(FPQ_EINVAL, "%s %s: the file is larger than 64 MiB: run options may be at most "
             "%d bytes of JSON", option, arg, FPQ_RUN_MAX);
    return NULL;
  }
  buf[len] = '\0';
  return buf;
}

int cli_merge_inputs(const char *command, char **run_json, const char *inputs) {
  json_error_t e;
  json_t *in = json_loads(inputs, JSON_REJECT_DUPLICATES, &e);
  if (in == NULL) {
    char why[256];
    fpq__one_line(e.text, why, sizeof why);
    return cli_usage_error(command, "--inputs is not valid JSON: %s at position %d", why,
                           e.position);
  }
  if (!json_is_object(in)) {
    json_decref(in);
    return cli_usage_error(command, "--inputs must be a JSON object like '{\"x\": 1}'");
  }
  json_t *run = json_loads(*run_json ? *run_json : "{}", 0, NULL);
  if (!json_is_object(run)) {
    json_decref(run);
    run = json_object();
  }
  json_t *cur = json_object_get(run, "inputs");
  if (json_is_object(cur)) json_object_update(cur, in);
  else json_object_set(run, "inputs", in);
  json_decref(in);
  char *text = json_dumps(run, JSON_COMPACT);
  json_decref(run);
  int rc = text ? fpq_job_set(run_json, text) : FPQ_ENOMEM;
  free(text);
  return rc ? cli_fail(rc, "out of memory") : 0;
}

void cli_format_duration(double s, char *buf, size_t len) {
  if (!(s >= 0)) snprintf(buf, len, "-");
  else if (s < 60) snprintf(buf, len, "%.3gs", s);
  else if (s < 3600) snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

void cli_format_time(double t, char *buf, size_t len) {
  if (!(t > 0)) {
    snprintf(buf, len, "-");
    return;
  }
  time_t secs = (time_t)t;
  struct tm tm;
  localtime_r(&secs, &tm);
  strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

void cli_print_job_header(void) {
  printf("%-36s  %-20s  %-9s  %-6s  %-19s  %8s  %s\n", "ID", "PIPELINE", "STATUS", "PRIO",
         "CREATED", "RAN", "TRIES");
}

void cli_print_job_row(const fpq_job *job) {
  char created[32], ran[32];
  cli_format_time(job->created_at, created, sizeof created);
  if (job->started_at > 0 && job->ended_at >= job->started_at)
    cli_format_duration(job->ended_at - job->started_at, ran, sizeof ran);
  else snprintf(ran, sizeof ran, "-");
  printf("%-36s  %-20.20s  %-9s  %-6s  %-19s  %8s  %d/%d\n", job->id,
         job->pipeline ? job->pipeline : "?", fpq_status_name(job->status),
         fpq_priority_name(job->priority), created, ran, job->attempts, job->max_retries + 1);
}

void cli_print_job_detail(const fpq_job *job) {
  char t[32];
  printf("id:          %s\n", job->id);
  printf("pipeline:    %s\n", job->pipeline ? job->pipeline : "?");
  printf("project:     %s\n", job->project ? job->project : "?");
  printf("status:      %s\n", fpq_status_name(job->status));
  printf("priority:    %s (queue %s)\n", fpq_priority_name(job->priority),
         job->queue ? job->queue : fpq_priority_queue(job->priority));
  printf("run:         %s\n", job->run_json ? job->run_json : "{}");
  cli_format_time(job->created_at, t, sizeof t);
  printf("created:     %s\n", t);
  if (job->run_at > 0) {
    cli_format_time(job->run_at, t, sizeof t);
    printf("due:         %s\n", t);
  }
  cli_format_time(job->started_at, t, sizeof t);
  printf("started:     %s\n", t);
  cli_format_time(job->ended_at, t, sizeof t);
  printf("ended:       %s\n", t);
  printf("attempts:    %d of %d\n", job->attempts, job->max_retries + 1);
  if (job->worker) printf("worker:      %s\n", job->worker);
  if (job->error_json) printf("error:       %s\n", job->error_json);
}

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("fpq %s\n", fpq_version());
  return 0;
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(int, char **);
  } commands[] = {
      {"enqueue", cmd_enqueue}, {"status", cmd_status},   {"result", cmd_result},
      {"cancel", cmd_cancel},   {"requeue", cmd_requeue}, {"worker", cmd_worker},
      {"metrics", cmd_metrics}, {"version", cmd_version},
      {"schedule", cmd_schedule}, {"schedules", cmd_schedules}, {"scheduler", cmd_scheduler},
  };
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_BAD_INPUT : 0;
  }
  if (strcmp(argv[1], "--version") == 0) return cmd_version(0, NULL);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "fpq: '%s' is not a command: expected enqueue, status, result, cancel, "
          "requeue, worker, metrics, schedule, schedules, scheduler or version (see "
          "'fpq --help')\n", argv[1]);
  return EXIT_BAD_INPUT;
}
