/* main.c: the `fpq` command line: dispatch to one function per command, and the helpers
 * every command shares (common options, opening the queue, exit codes, output). */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "help.h"

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
    /* EIO: the backend's storage cannot be written (a full or read-only disk): the
     * backend is unavailable, as when a server is down or refuses our password. */
    case FPQ_EIO:
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

static fpq_queue *open_queue(const cli_common *c, int read_only, int *exit_code) {
  fpq_options o = {.project_dir = c->project, .backend = c->backend, .url = c->url,
                   .create = 1, .read_only = read_only};
  fpq_queue *q = NULL;
  int rc = fpq_open(&q, &o);
  if (rc == 0) return q;
  *exit_code = cli_fail(rc, "%s", fpq_errmsg(q));
  fpq_close(q);
  return NULL;
}

fpq_queue *cli_open(const cli_common *c, int *exit_code) { return open_queue(c, 0, exit_code); }
fpq_queue *cli_open_read(const cli_common *c, int *exit_code) {
  return open_queue(c, 1, exit_code);
}

int cli_parse_common(int argc, char **argv, const char *command, cli_common *c) {
  static const struct option longopts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(c, opt, optarg)) continue;
    if (opt == 'h') {
      cli_print_help(stdout, command);
      return EXIT_DONE;
    }
    return cli_getopt_error(command, argc, argv);
  }
  return -1;
}

json_t *cli_metrics(const cli_common *c, int *exit_code) {
  fpq_queue *q = cli_open_read(c, exit_code);
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

int cli_duration_arg(const char *command, const char *option, const char *arg, double *out) {
  char msg[256];
  if (fpq_parse_duration(arg, out, msg, sizeof msg) == 0) return 0;
  return cli_usage_error(command, "%s %s", option, msg);
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
  char label[256];
  snprintf(label, sizeof label, "%s %s", option, arg);
  size_t len;
  char *text = cli_read_input(label, arg + 1, 64u << 20, &len);
  if (text == NULL && len == SIZE_MAX)
    cli_fail(FPQ_EINVAL, "%s: the file is larger than 64 MiB: run options may be at most "
             "%d bytes of JSON", label, FPQ_RUN_MAX);
  return text;
}

char *cli_read_input(const char *option, const char *path, size_t max, size_t *len) {
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  *len = 0;
  if (f == NULL) {
    cli_fail(FPQ_EINVAL, "%s: cannot read %s: %s", option, path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, got;
  char *buf = malloc(cap);
  int too_big = 0;
  while (buf && (got = fread(buf + *len, 1, cap - *len - 1, f)) > 0) {
    *len += got;
    if (*len + 1 == cap) {
      char *grown = cap < max ? realloc(buf, cap * 2) : NULL;
      if (grown == NULL) {
        too_big = cap >= max;
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
      cap *= 2;
    }
  }
  int failed = buf && ferror(f);
  if (!is_stdin) fclose(f);
  if (buf == NULL) {
    if (too_big) *len = SIZE_MAX;
    else cli_fail(FPQ_ENOMEM, "out of memory");
    return NULL;
  }
  if (failed) {
    free(buf);
    cli_fail(FPQ_EINVAL, "%s: cannot read %s: %s", option, path, strerror(errno));
    return NULL;
  }
  buf[*len] = '\0';
  return buf;
}

int cli_inputs_error(const char *command, int rc, const char *msg) {
  if (rc == FPQ_EINVAL) return cli_usage_error(command, "--%s", msg); /* msg: "inputs ..." */
  return cli_fail(rc, "%s", msg);
}

double cli_seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_format_duration(double s, char *buf, size_t len) {
  if (!(s >= 0)) snprintf(buf, len, "-");
  else if (s < 60) snprintf(buf, len, "%.3gs", s);
  else if (s < 3600) snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

void cli_format_bytes(long long n, char *buf, size_t len) {
  if (n < 1024) snprintf(buf, len, "%lld B", n);
  else if (n < 1024 * 1024) snprintf(buf, len, "%.1f KiB", (double)n / 1024);
  else if (n < 1024LL * 1024 * 1024) snprintf(buf, len, "%.1f MiB", (double)n / 1048576);
  else snprintf(buf, len, "%.1f GiB", (double)n / 1073741824);
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

int cli_job_id_width(fpq_job *const *jobs, size_t n) {
  size_t width = 36; /* a UUID: the ids fpq makes */
  for (size_t i = 0; i < n; i++)
    if (strlen(jobs[i]->id) > width) width = strlen(jobs[i]->id);
  return (int)width;
}

void cli_print_job_header(int id_width) {
  printf("%-*s  %-20s  %-9s  %-6s  %-19s  %8s  %s\n", id_width, "ID", "PIPELINE", "STATUS",
         "PRIO", "CREATED", "RAN", "TRIES");
}

void cli_print_job_row(const fpq_job *job, int id_width) {
  char created[32], ran[32];
  cli_format_time(job->created_at, created, sizeof created);
  if (job->started_at > 0 && job->ended_at >= job->started_at)
    cli_format_duration(job->ended_at - job->started_at, ran, sizeof ran);
  else snprintf(ran, sizeof ran, "-");
  printf("%-*s  %-20.20s  %-9s  %-6s  %-19s  %8s  %d/%d\n", id_width, job->id,
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
  /* A deferred job's reason to wait: the jobs it runs after (a JSON array of ids). */
  json_t *after = job->depends_on ? json_loads(job->depends_on, 0, NULL) : NULL;
  if (json_array_size(after) > 0) {
    printf("%s", job->status == FPQ_STATUS_DEFERRED ? "waits for:  " : "after:      ");
    for (size_t i = 0; i < json_array_size(after); i++) {
      const char *id = json_string_value(json_array_get(after, i));
      printf("%s%s", i ? ", " : "", id ? id : "?");
    }
    printf("\n");
  }
  json_decref(after);
  if (job->on_success) printf("on success:  %s\n", job->on_success);
  if (job->on_failure) printf("on failure:  %s\n", job->on_failure);
  if (job->on_stopped) printf("on stopped:  %s\n", job->on_stopped);
}

/* ---- help ---- */

/* A label longer than this does not widen its list's column: three spaces follow it. */
#define LABEL_MAX 24

/* Prints text whose lines after the first start at column indent, as help.h's texts
 * break their lines with '\n'. */
static void put_lines(FILE *out, const char *text, int indent) {
  for (const char *p = text;;) {
    const char *nl = strchr(p, '\n');
    fprintf(out, "%.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
    if (nl == NULL) return;
    p = nl + 1;
    fprintf(out, "%*s", indent, "");
  }
}

static void option_label(const cli_help_option *o, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->flag,
           o->metavar ? " " : "", o->metavar ? o->metavar : "");
}

static int widest_option(const cli_help_option *o, int width) {
  for (; o && o->flag; o++) {
    char label[80];
    option_label(o, label, sizeof label);
    if ((int)strlen(label) > width) width = (int)strlen(label);
  }
  return width;
}

static void put_options(FILE *out, const char *title, const cli_help_option *o, int width) {
  fprintf(out, "%s:\n", title);
  for (; o->flag; o++) {
    char label[80];
    option_label(o, label, sizeof label);
    fprintf(out, "  %-*s", width, label);
    put_lines(out, o->help, 2 + width);
  }
}

static void put_examples(FILE *out, const char *const *examples) {
  for (; examples && *examples; examples++) {
    fputs("  ", out);
    put_lines(out, *examples, 2);
  }
}

static size_t count_examples(const char *const *examples) {
  size_t n = 0;
  while (examples && examples[n]) n++;
  return n;
}

void cli_print_help(FILE *out, const char *command) {
  const cli_help *h = cli_help_find(command);
  if (h == NULL) abort(); /* every command calls with its own name: a missing entry is a bug */
  size_t all_n;
  const cli_help *all = cli_help_all(&all_n);
  fprintf(out, "Usage: %s\n", h->usage);
  if (h->summary) {
    fputc('\n', out);
    put_lines(out, h->summary, 0);
  }
  /* A group lists its members, in one column wide enough for their labels. */
  int width = 0, members = 0;
  size_t examples = count_examples(h->examples);
  for (size_t i = 0; i < all_n; i++) {
    if (!cli_help_in_group(&all[i], h->command)) continue;
    int len = (int)strlen(all[i].label);
    if (len <= LABEL_MAX && len > width) width = len;
    if (h->examples == NULL) examples += count_examples(all[i].examples);
    members++;
  }
  if (members) {
    fputs("\nCommands:\n", out);
    for (size_t i = 0; i < all_n; i++) {
      if (!cli_help_in_group(&all[i], h->command)) continue;
      int len = (int)strlen(all[i].label);
      fprintf(out, "  %s%*s", all[i].label, len <= LABEL_MAX ? width + 3 - len : 3, "");
      put_lines(out, all[i].brief, 2 + width + 3);
    }
  }
  /* The command's options and the common ones share one column. */
  if (h->options || h->common) {
    width = widest_option(h->options, 0);
    if (h->common) width = widest_option(cli_help_common(), width);
    width += 2;
    fputc('\n', out);
    if (h->options) put_options(out, "Options", h->options, width);
    if (h->common) put_options(out, "Common options", cli_help_common(), width);
  }
  if (h->notes) {
    fputc('\n', out);
    put_lines(out, h->notes, 0);
  }
  if (examples) {
    fprintf(out, "\n%s:\n", examples == 1 ? "Example" : "Examples");
    put_examples(out, h->examples);
    for (size_t i = 0; h->examples == NULL && i < all_n; i++)
      if (cli_help_in_group(&all[i], h->command)) put_examples(out, all[i].examples);
  }
}

static int cmd_version(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    cli_print_help(stdout, "version");
    return 0;
  }
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
      {"metrics", cmd_metrics}, {"prune", cmd_prune},     {"logs", cmd_logs},
      {"version", cmd_version},
      {"schedule", cmd_schedule}, {"schedules", cmd_schedules}, {"scheduler", cmd_scheduler},
      {"completion", cmd_completion},
  };
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    cli_print_help(argc < 2 ? stderr : stdout, "");
    return argc < 2 ? EXIT_BAD_INPUT : 0;
  }
  if (strcmp(argv[1], "--version") == 0) return cmd_version(0, NULL);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "fpq: '%s' is not a command: expected enqueue, status, result, cancel, "
          "requeue, worker, metrics, logs, prune, schedule, schedules, scheduler, version or "
          "completion (see "
          "'fpq --help')\n", argv[1]);
  return EXIT_BAD_INPUT;
}
