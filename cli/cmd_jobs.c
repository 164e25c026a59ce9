/* cmd_jobs.c: the commands about jobs: enqueue, status, result, cancel, requeue. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "job.h"

static const char enqueue_help[] =
    "Usage: fpq enqueue PIPELINE [OPTIONS]\n"
    "\n"
    "Queue one run of PIPELINE and print its job id on stdout.\n"
    "\n"
    "Options:\n"
    "  --priority P        high, medium (default) or low\n"
    "  --inputs JSON       pipeline inputs, e.g. '{\"x\": 1}' (merged over --run-config's)\n"
    "  --run-config JSON   FlowerPower RunConfig fields as JSON, or @FILE to read them\n"
    "  --at TIME           run at an ISO 8601 time, e.g. 2026-12-01T02:00:00Z\n"
    "  --in DURATION       run after a delay, e.g. 90s, 10m, 2h\n"
    "  --max-retries N     retries after a failure (default: the pipeline's run.retry)\n"
    "  --retry-delay SECS  first retry delay; doubles each retry (default: run.retry)\n"
    "  --timeout DURATION  stop the run after this long, e.g. 5m (default: none)\n"
    "  --job-id ID         your own id: 1-128 of A-Z a-z 0-9 _ -\n"
    CLI_COMMON_HELP
    "\n"
    "Examples:\n"
    "  fpq enqueue hello --inputs '{\"name\": \"Ada\"}' --priority high\n"
    "  fpq enqueue etl --run-config @run.json --in 10m\n";

enum { OPT_PRIORITY = 2000, OPT_INPUTS, OPT_RUN_CONFIG, OPT_AT, OPT_IN, OPT_MAX_RETRIES,
       OPT_RETRY_DELAY, OPT_TIMEOUT, OPT_JOB_ID, OPT_LIMIT, OPT_WAIT };

static int parse_seconds(const char *option, const char *arg, double *out) {
  if (fpq__parse_duration(arg, out) != 0)
    return cli_usage_error("enqueue", "%s '%s' is not a duration: expected e.g. 30s, 10m, 2h",
                           option, arg);
  return 0;
}

int cmd_enqueue(int argc, char **argv) {
  static const struct option longopts[] = {
      {"priority", required_argument, NULL, OPT_PRIORITY},
      {"inputs", required_argument, NULL, OPT_INPUTS},
      {"run-config", required_argument, NULL, OPT_RUN_CONFIG},
      {"at", required_argument, NULL, OPT_AT},
      {"in", required_argument, NULL, OPT_IN},
      {"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
      {"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"job-id", required_argument, NULL, OPT_JOB_ID},
      CLI_COMMON_OPTIONS,
      {NULL, 0, NULL, 0}};
  cli_common c = {0};
  const char *priority = NULL, *inputs = NULL, *run_config = NULL, *at = NULL, *in = NULL,
             *max_retries = NULL, *retry_delay = NULL, *timeout = NULL, *job_id = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    switch (opt) {
      case OPT_PRIORITY: priority = optarg; break;
      case OPT_INPUTS: inputs = optarg; break;
      case OPT_RUN_CONFIG: run_config = optarg; break;
      case OPT_AT: at = optarg; break;
      case OPT_IN: in = optarg; break;
      case OPT_MAX_RETRIES: max_retries = optarg; break;
      case OPT_RETRY_DELAY: retry_delay = optarg; break;
      case OPT_TIMEOUT: timeout = optarg; break;
      case OPT_JOB_ID: job_id = optarg; break;
      case 'h': fputs(enqueue_help, stdout); return 0;
      default: return cli_getopt_error("enqueue", argc, argv);
    }
  }
  if (optind != argc - 1)
    return cli_usage_error("enqueue", optind >= argc ? "which pipeline? give its name"
                                                     : "give exactly one pipeline name");
  fpq_job *job = fpq_job_new();
  if (job == NULL) return cli_fail(FPQ_ENOMEM, "out of memory");
  int code = EXIT_BAD_INPUT;
  char msg[512];
  if (fpq_job_set(&job->pipeline, argv[optind])) goto oom;
  if (fpq_validate_pipeline(job->pipeline, msg, sizeof msg)) {
    code = cli_fail(FPQ_EINVAL, "%s", msg);
    goto done;
  }
  if (run_config) {
    char *text = cli_json_arg("--run-config", run_config);
    if (text == NULL) goto done;
    int rc = fpq_job_apply_run_config(job, text, msg, sizeof msg);
    free(text);
    if (rc) {
      code = cli_fail(rc, "--run-config: %s", msg);
      goto done;
    }
  }
  if (inputs && cli_merge_inputs("enqueue", &job->run_json, inputs)) goto done;
  if (priority && fpq_priority_parse(priority, &job->priority)) {
    code = cli_usage_error("enqueue", "--priority '%s' is not known: expected high, medium or "
                           "low", priority);
    goto done;
  }
  if (max_retries) {
    char *end;
    errno = 0;
    long n = strtol(max_retries, &end, 10);
    if (errno || *end || end == max_retries || n < 0 || n > 1000) {
      code = cli_usage_error("enqueue", "--max-retries '%s' is not a whole number from 0 to "
                             "1000", max_retries);
      goto done;
    }
    job->max_retries = (int)n;
  }
  if (retry_delay && parse_seconds("--retry-delay", retry_delay, &job->retry_delay)) goto done;
  if (timeout && parse_seconds("--timeout", timeout, &job->timeout)) goto done;
  if (at && in) {
    code = cli_usage_error("enqueue", "give --at or --in, not both");
    goto done;
  }
  if (at && fpq__parse_iso8601(at, &job->run_at)) {
    code = cli_usage_error("enqueue", "--at '%s' is not an ISO 8601 time: expected e.g. "
                           "2026-12-01T02:00:00Z", at);
    goto done;
  }
  if (in) {
    double delay;
    if (parse_seconds("--in", in, &delay)) goto done;
    job->run_at = fpq__now() + delay;
  }
  if (job_id) {
    if (fpq_validate_id(job_id, msg, sizeof msg)) {
      code = cli_fail(FPQ_EINVAL, "%s", msg);
      goto done;
    }
    snprintf(job->id, sizeof job->id, "%s", job_id);
  }
  fpq_queue *q = cli_open(&c, &code);
  if (q == NULL) goto done;
  int rc = fpq_enqueue(q, job);
  if (rc) code = cli_fail(rc, "%s", fpq_errmsg(q));
  else {
    if (c.json) {
      char *text = fpq_job_to_json(job);
      printf("%s\n", text ? text : "{}");
      free(text);
    } else {
      printf("%s\n", job->id);
    }
    code = EXIT_DONE;
  }
  fpq_close(q);
  goto done;
oom:
  code = cli_fail(FPQ_ENOMEM, "out of memory");
done:
  fpq_job_free(job);
  return code;
}

/* ---- status and result ---- */

static const char status_help[] =
    "Usage: fpq status [PIPELINE | id=ID] [OPTIONS]\n"
    "\n"
    "Show this project's jobs, newest first: all of them, one pipeline's, or one job.\n"
    "\n"
    "Options:\n"
    "  --limit N     show at most N jobs (default 20)\n"
    CLI_COMMON_HELP
    "\n"
    "Examples:\n"
    "  fpq status\n"
    "  fpq status hello --limit 5\n"
    "  fpq status id=3f1c2a9e-... --json\n";

static const char result_help[] =
    "Usage: fpq result [PIPELINE | id=ID] [OPTIONS]\n"
    "\n"
    "Print the result of a job (for a PIPELINE: its newest job) as JSON. Exits 0 when the\n"
    "job finished, 1 when it failed, is not finished or is not found.\n"
    "\n"
    "Options:\n"
    "  --wait          wait until the job finishes or fails\n"
    "  --timeout SECS  with --wait: give up after this long (default: wait forever)\n"
    CLI_COMMON_HELP
    "\n"
    "Examples:\n"
    "  fpq result id=3f1c2a9e-... --wait --timeout 60\n"
    "  fpq result hello --json\n";

/* Finds the job an argument names: id=ID, or PIPELINE's newest, or (NULL) the project's
 * newest. */
static int find_one(fpq_queue *q, const char *arg, fpq_job **out) {
  *out = NULL;
  const char *id = cli_id_arg(arg);
  if (id) return fpq_get(q, id, out);
  fpq_job **jobs = NULL;
  size_t n = 0;
  int rc = fpq_find(q, NULL, arg, 1, &jobs, &n);
  if (rc) return rc;
  if (n == 0) {
    fpq_jobs_free(jobs, n);
    return FPQ_ENOTFOUND;
  }
  *out = jobs[0];
  jobs[0] = NULL;
  fpq_jobs_free(jobs, n);
  return 0;
}

/* Parses the optional positional argument of status/result; validates pipeline names. */
static int target_arg(const char *command, int argc, char **argv, const char **target) {
  *target = NULL;
  if (optind < argc - 1) return cli_usage_error(command, "give at most one PIPELINE or id=ID");
  if (optind == argc - 1) *target = argv[optind];
  char msg[512];
  const char *id = cli_id_arg(*target);
  if (id && fpq_validate_id(id, msg, sizeof msg)) return cli_fail(FPQ_EINVAL, "%s", msg);
  if (*target && !id && fpq_validate_pipeline(*target, msg, sizeof msg))
    return cli_fail(FPQ_EINVAL, "%s", msg);
  return 0;
}

int cmd_status(int argc, char **argv) {
  static const struct option longopts[] = {{"limit", required_argument, NULL, OPT_LIMIT},
                                           CLI_COMMON_OPTIONS,
                                           {NULL, 0, NULL, 0}};
  cli_common c = {0};
  int limit = 20, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    if (opt == 'h') {
      fputs(status_help, stdout);
      return 0;
    }
    if (opt != OPT_LIMIT) return cli_getopt_error("status", argc, argv);
    char *end;
    long n = strtol(optarg, &end, 10);
    if (*end || end == optarg || n < 1 || n > 100000)
      return cli_usage_error("status", "--limit '%s' is not a number from 1 to 100000", optarg);
    limit = (int)n;
  }
  const char *target;
  int code = target_arg("status", argc, argv, &target);
  if (code) return code;
  fpq_queue *q = cli_open(&c, &code); /* SQLite: the file is made by writes only */
  if (q == NULL) return code;
  const char *id = cli_id_arg(target);
  if (id) {
    fpq_job *job = NULL;
    int rc = fpq_get(q, id, &job);
    if (rc) code = cli_fail(rc, "%s", fpq_errmsg(q));
    else if (c.json) {
      char *text = fpq_job_to_json(job);
      printf("%s\n", text ? text : "{}");
      free(text);
    } else {
      cli_print_job_detail(job);
    }
    fpq_job_free(job);
    fpq_close(q);
    return code;
  }
  fpq_job **jobs = NULL;
  size_t n = 0;
  int rc = fpq_find(q, NULL, target, limit, &jobs, &n);
  if (rc) {
    code = cli_fail(rc, "%s", fpq_errmsg(q));
  } else if (c.json) {
    putchar('[');
    for (size_t i = 0; i < n; i++) {
      char *text = fpq_job_to_json(jobs[i]);
      printf("%s%s", i ? "," : "", text ? text : "{}");
      free(text);
    }
    puts("]");
  } else if (n == 0) {
    printf("no jobs%s%s\n", target ? " for pipeline " : " yet", target ? target : "");
  } else {
    cli_print_job_header();
    for (size_t i = 0; i < n; i++) cli_print_job_row(jobs[i]);
  }
  fpq_jobs_free(jobs, n);
  fpq_close(q);
  return code;
}

/* Prints a failed job's error: its type and message, then the traceback. */
static void print_error(const fpq_job *job) {
  json_t *e = job->error_json ? json_loads(job->error_json, 0, NULL) : NULL;
  const char *type = json_string_value(json_object_get(e, "type"));
  const char *message = json_string_value(json_object_get(e, "message"));
  const char *tb = json_string_value(json_object_get(e, "traceback"));
  fprintf(stderr, "fpq: job %s %s: %s: %s\n", job->id, fpq_status_name(job->status),
          type ? type : "Error", message ? message : "(no message)");
  if (tb && *tb) fprintf(stderr, "%s%s", tb, tb[strlen(tb) - 1] == '\n' ? "" : "\n");
  json_decref(e);
}

int cmd_result(int argc, char **argv) {
  static const struct option longopts[] = {{"wait", no_argument, NULL, OPT_WAIT},
                                           {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                           CLI_COMMON_OPTIONS,
                                           {NULL, 0, NULL, 0}};
  cli_common c = {0};
  int wait = 0, opt;
  double timeout = -1;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    switch (opt) {
      case OPT_WAIT: wait = 1; break;
      case OPT_TIMEOUT:
        if (fpq__parse_duration(optarg, &timeout))
          return cli_usage_error("result", "--timeout '%s' is not a duration: expected e.g. "
                                 "60 or 5m", optarg);
        break;
      case 'h': fputs(result_help, stdout); return 0;
      default: return cli_getopt_error("result", argc, argv);
    }
  }
  const char *target;
  int code = target_arg("result", argc, argv, &target);
  if (code) return code;
  fpq_queue *q = cli_open(&c, &code);
  if (q == NULL) return code;
  fpq_job *job = NULL;
  int rc = find_one(q, target, &job);
  if (rc == 0 && wait && !fpq_status_is_terminal(job->status)) {
    char id[FPQ_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", job->id);
    fpq_job_free(job);
    job = NULL;
    rc = fpq_wait(q, id, timeout, &job);
  }
  if (rc == FPQ_ENOTFOUND && !cli_id_arg(target))
    code = cli_fail(rc, "no jobs%s%s", target ? " for pipeline " : "", target ? target : "");
  else if (rc) code = cli_fail(rc, "%s", fpq_errmsg(q));
  else if (c.json) {
    char *text = fpq_job_to_json(job);
    printf("%s\n", text ? text : "{}");
    free(text);
    code = job->status == FPQ_STATUS_FINISHED ? EXIT_DONE : EXIT_NOT_DONE;
  } else if (job->status == FPQ_STATUS_FINISHED) {
    json_t *v = json_loads(job->result_json ? job->result_json : "null", JSON_DECODE_ANY, NULL);
    char *text = v ? json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    printf("%s\n", text ? text : (job->result_json ? job->result_json : "null"));
    free(text);
    json_decref(v);
    code = EXIT_DONE;
  } else if (job->status == FPQ_STATUS_FAILED || job->status == FPQ_STATUS_STOPPED) {
    print_error(job);
    code = EXIT_NOT_DONE;
  } else {
    code = cli_fail(FPQ_ESTATE, "job %s is %s: no result yet (use --wait to wait for it)",
                    job->id, fpq_status_name(job->status));
  }
  fpq_job_free(job);
  fpq_close(q);
  return code;
}

/* ---- cancel and requeue ---- */

static int change_state(int argc, char **argv, const char *help,
                        int (*change)(fpq_queue *, const char *)) {
  cli_common c = {0};
  int parsed = cli_parse_common(argc, argv, argv[0], help, &c);
  if (parsed >= 0) return parsed;
  if (optind != argc - 1) return cli_usage_error(argv[0], "give exactly one job id");
  const char *id = cli_id_arg(argv[optind]) ? cli_id_arg(argv[optind]) : argv[optind];
  char msg[512];
  if (fpq_validate_id(id, msg, sizeof msg)) return cli_fail(FPQ_EINVAL, "%s", msg);
  int code;
  fpq_queue *q = cli_open(&c, &code);
  if (q == NULL) return code;
  int rc = change(q, id);
  code = rc ? cli_fail(rc, "%s", fpq_errmsg(q)) : EXIT_DONE;
  if (rc == 0 && !c.json) printf("%s\n", id);
  if (rc == 0 && c.json) printf("{\"id\":\"%s\",\"ok\":true}\n", id);
  fpq_close(q);
  return code;
}

int cmd_cancel(int argc, char **argv) {
  static const char help[] =
      "Usage: fpq cancel ID [OPTIONS]\n\n"
      "Cancel a job that is queued or scheduled; it will not run. Running jobs are stopped\n"
      "with 'fpq worker stop' commands instead.\n\n" CLI_COMMON_HELP
      "\nExample:\n  fpq cancel 3f1c2a9e-...\n";
  return change_state(argc, argv, help, fpq_cancel);
}

int cmd_requeue(int argc, char **argv) {
  static const char help[] =
      "Usage: fpq requeue ID [OPTIONS]\n\n"
      "Queue a failed, stopped or canceled job again, at the back of its queue, with its\n"
      "attempts reset.\n\n" CLI_COMMON_HELP "\nExample:\n  fpq requeue 3f1c2a9e-...\n";
  return change_state(argc, argv, help, fpq_requeue);
}
