/* cmd_jobs.c: the commands about jobs: enqueue, status, result, cancel, requeue. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "cli.h"


enum { OPT_PRIORITY = 2000, OPT_INPUTS, OPT_RUN_CONFIG, OPT_AT, OPT_IN, OPT_MAX_RETRIES,
       OPT_RETRY_DELAY, OPT_TIMEOUT, OPT_JOB_ID, OPT_LIMIT, OPT_WAIT, OPT_RESULT_TTL,
       OPT_FAILURE_TTL, OPT_AFTER, OPT_ON_SUCCESS, OPT_ON_FAILURE, OPT_ON_STOPPED,
       OPT_FROM_FILE };

/* `fpq enqueue --from-file FILE|-`: the engine reads the JSON Lines (fpq_enqueue_jsonl)
 * and stores the batch in one go; the ids are printed one per line, in file order. */
static int enqueue_from_file(cli_common *c, const char *path) {
  size_t len;
  char label[300];
  snprintf(label, sizeof label, "--from-file %s", path);
  char *text = cli_read_input(label, path, (size_t)1 << 30, &len);
  if (text == NULL)
    return len == SIZE_MAX ? cli_fail(FPQ_EINVAL, "%s: the file is larger than 1 GiB: split "
                                      "it into batches", label)
                           : EXIT_BAD_INPUT;
  int code;
  fpq_queue *q = cli_open(c, &code);
  if (q == NULL) {
    free(text);
    return code;
  }
  fpq_job **jobs = NULL;
  size_t n = 0;
  int rc = fpq_enqueue_jsonl(q, text, len, &jobs, &n);
  free(text);
  if (rc) {
    /* The engine's message begins "line N: "; name the file too. */
    code = cli_fail(rc, "%s %s", strcmp(path, "-") ? path : "stdin", fpq_errmsg(q));
  } else {
    if (c->json) printf("[");
    for (size_t i = 0; i < n; i++) {
      if (c->json) {
        char *one = fpq_job_to_json(jobs[i]);
        printf("%s%s", i ? ",\n" : "", one ? one : "{}");
        free(one);
      } else {
        printf("%s\n", jobs[i]->id);
      }
    }
    if (c->json) printf("]\n");
    code = EXIT_DONE;
  }
  fpq_jobs_free(jobs, n);
  fpq_close(q);
  return code;
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
      {"result-ttl", required_argument, NULL, OPT_RESULT_TTL},
      {"failure-ttl", required_argument, NULL, OPT_FAILURE_TTL},
      {"after", required_argument, NULL, OPT_AFTER},
      {"on-success", required_argument, NULL, OPT_ON_SUCCESS},
      {"on-failure", required_argument, NULL, OPT_ON_FAILURE},
      {"on-stopped", required_argument, NULL, OPT_ON_STOPPED},
      {"from-file", required_argument, NULL, OPT_FROM_FILE},
      CLI_COMMON_OPTIONS,
      {NULL, 0, NULL, 0}};
  cli_common c = {0};
  const char *priority = NULL, *inputs = NULL, *run_config = NULL, *at = NULL, *in = NULL,
             *max_retries = NULL, *retry_delay = NULL, *timeout = NULL, *job_id = NULL,
             *result_ttl = NULL, *failure_ttl = NULL, *on_success = NULL, *on_failure = NULL,
             *on_stopped = NULL, *from_file = NULL;
  const char *after[FPQ_DEPENDS_MAX + 1];
  int nafter = 0, opt;
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
      case OPT_RESULT_TTL: result_ttl = optarg; break;
      case OPT_FAILURE_TTL: failure_ttl = optarg; break;
      case OPT_ON_SUCCESS: on_success = optarg; break;
      case OPT_ON_FAILURE: on_failure = optarg; break;
      case OPT_ON_STOPPED: on_stopped = optarg; break;
      case OPT_FROM_FILE: from_file = optarg; break;
      case OPT_AFTER:
        if (nafter > FPQ_DEPENDS_MAX)
          return cli_usage_error("enqueue", "--after: more than %d jobs to wait for",
                                 FPQ_DEPENDS_MAX);
        after[nafter++] = optarg;
        break;
      case 'h': cli_print_help(stdout, "enqueue"); return 0;
      default: return cli_getopt_error("enqueue", argc, argv);
    }
  }
  if (from_file) {
    /* A job's options belong on its line: mixed with the file they would be ambiguous. */
    if (optind != argc || priority || inputs || run_config || at || in || max_retries ||
        retry_delay || timeout || job_id || result_ttl || failure_ttl || nafter || on_success ||
        on_failure || on_stopped)
      return cli_usage_error("enqueue", "--from-file takes no PIPELINE or job options: put "
                             "them in the file's lines (keys pipeline, inputs, run_config, "
                             "priority, ...)");
    return enqueue_from_file(&c, from_file);
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
  if (inputs) {
    char *text = cli_json_arg("--inputs", inputs);
    if (text == NULL) goto done;
    int rc = fpq_job_merge_inputs(job, text, msg, sizeof msg);
    free(text);
    if (rc) {
      code = cli_inputs_error("enqueue", rc, msg);
      goto done;
    }
  }
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
  if (retry_delay && cli_duration_arg("enqueue", "--retry-delay", retry_delay, &job->retry_delay))
    goto done;
  if (timeout && cli_duration_arg("enqueue", "--timeout", timeout, &job->timeout)) goto done;
  if (result_ttl && fpq_parse_ttl(result_ttl, &job->result_ttl, msg, sizeof msg)) {
    code = cli_usage_error("enqueue", "--result-ttl %s", msg);
    goto done;
  }
  if (failure_ttl && fpq_parse_ttl(failure_ttl, &job->failure_ttl, msg, sizeof msg)) {
    code = cli_usage_error("enqueue", "--failure-ttl %s", msg);
    goto done;
  }
  if (at && in) {
    code = cli_usage_error("enqueue", "give --at or --in, not both");
    goto done;
  }
  if (at && fpq_parse_time(at, &job->run_at, msg, sizeof msg)) {
    code = cli_usage_error("enqueue", "--at %s", msg);
    goto done;
  }
  if (in) {
    double delay;
    if (cli_duration_arg("enqueue", "--in", in, &delay)) goto done;
    job->run_at = cli_seconds(CLOCK_REALTIME) + delay;
  }
  if (job_id) {
    if (fpq_validate_id(job_id, msg, sizeof msg)) {
      code = cli_fail(FPQ_EINVAL, "%s", msg);
      goto done;
    }
    snprintf(job->id, sizeof job->id, "%s", job_id);
  }
  for (int i = 0; i < nafter; i++) {
    int rc = fpq_job_add_dependency(job, after[i], msg, sizeof msg);
    if (rc) {
      code = rc == FPQ_ENOMEM ? cli_fail(rc, "out of memory")
                              : cli_usage_error("enqueue", "--%s", msg);
      goto done;
    }
  }
  /* Their shape only: this program cannot import Python, so whether a reference imports
   * shows when the worker runs it (its log says so); the Python API and CLI check that too. */
  const char *const hooks[][2] = {{"--on-success", on_success}, {"--on-failure", on_failure},
                                  {"--on-stopped", on_stopped}};
  char **fields[] = {&job->on_success, &job->on_failure, &job->on_stopped};
  for (int i = 0; i < 3; i++) {
    if (hooks[i][1] == NULL) continue;
    if (fpq_validate_callback(hooks[i][0], hooks[i][1], msg, sizeof msg)) {
      code = cli_usage_error("enqueue", "%s", msg);
      goto done;
    }
    if (fpq_job_set(fields[i], hooks[i][1])) goto oom;
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



/* Finds the job an argument names: id=ID, or PIPELINE's newest (finished != 0: its
 * newest finished run), or (NULL) the project's newest. */
static int find_one(fpq_queue *q, const char *arg, int finished, fpq_job **out) {
  *out = NULL;
  const char *id = cli_id_arg(arg);
  if (id) return fpq_get(q, id, out);
  if (arg && finished) return fpq_latest(q, arg, 1, out);
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
      cli_print_help(stdout, "status");
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
  fpq_queue *q = cli_open_read(&c, &code); /* SQLite: the file is made by writes only */
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
    int width = cli_job_id_width(jobs, n);
    cli_print_job_header(width);
    for (size_t i = 0; i < n; i++) cli_print_job_row(jobs[i], width);
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
        if (cli_duration_arg("result", "--timeout", optarg, &timeout)) return EXIT_BAD_INPUT;
        break;
      case 'h': cli_print_help(stdout, "result"); return 0;
      default: return cli_getopt_error("result", argc, argv);
    }
  }
  const char *target;
  int code = target_arg("result", argc, argv, &target);
  if (code) return code;
  fpq_queue *q = cli_open_read(&c, &code);
  if (q == NULL) return code;
  fpq_job *job = NULL;
  /* A pipeline's result is its newest finished run: a newer run still queued must not hide
   * it. --wait waits for the newest run, whatever its state. */
  int rc = find_one(q, target, !wait, &job);
  if (rc == 0 && wait && !fpq_status_is_terminal(job->status)) {
    char id[FPQ_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", job->id);
    fpq_job_free(job);
    job = NULL;
    rc = fpq_wait(q, id, timeout, &job);
  }
  if (rc == FPQ_ENOTFOUND && !cli_id_arg(target) && (wait || !target))
    code = cli_fail(rc, "no jobs%s%s", target ? " for pipeline " : "", target ? target : "");
  else if (rc) code = cli_fail(rc, "%s", fpq_errmsg(q));
  else if (c.json) {
    char *text = fpq_job_outcome_json(job);
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

static int change_state(int argc, char **argv, int (*change)(fpq_queue *, const char *)) {
  cli_common c = {0};
  int parsed = cli_parse_common(argc, argv, argv[0], &c);
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

int cmd_cancel(int argc, char **argv) { return change_state(argc, argv, fpq_cancel); }

int cmd_requeue(int argc, char **argv) { return change_state(argc, argv, fpq_requeue); }

/* ---- retention ---- */

int cmd_prune(int argc, char **argv) {
  cli_common c = {0};
  int code = cli_parse_common(argc, argv, "prune", &c);
  if (code >= 0) return code;
  if (optind != argc) return cli_usage_error("prune", "prune takes no arguments");
  fpq_queue *q = cli_open(&c, &code);
  if (q == NULL) return code;
  int64_t removed = 0;
  int rc = fpq_prune(q, &removed);
  if (rc) {
    code = cli_fail(rc, "%s", fpq_errmsg(q));
  } else {
    if (c.json) printf("{\"removed\": %lld}\n", (long long)removed);
    else printf("pruned %lld ended job%s past its retention\n", (long long)removed,
                removed == 1 ? "" : "s");
    code = EXIT_DONE;
  }
  fpq_close(q);
  return code;
}

/* ---- logs ---- */

int cmd_logs(int argc, char **argv) {
  cli_common c = {0};
  int code = cli_parse_common(argc, argv, "logs", &c);
  if (code >= 0) return code;
  if (optind != argc - 1) return cli_usage_error("logs", "give one job id");
  const char *id = cli_id_arg(argv[optind]) ? cli_id_arg(argv[optind]) : argv[optind];
  char msg[512];
  if (fpq_validate_id(id, msg, sizeof msg)) return cli_fail(FPQ_EINVAL, "%s", msg);
  fpq_queue *q = cli_open(&c, &code);
  if (q == NULL) return code;
  fpq_job *job = NULL;
  int rc = fpq_get(q, id, &job);
  if (rc) {
    code = cli_fail(rc, "%s", fpq_errmsg(q));
  } else if (c.json) {
    json_t *o = json_pack("{s:s, s:s, s:s?}", "id", job->id, "status",
                          fpq_status_name(job->status), "log", job->log);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(o);
    code = job->log ? EXIT_DONE : EXIT_NOT_DONE;
  } else if (job->log == NULL) {
    code = cli_fail(FPQ_ENOTFOUND, "job %s (%s) has no log: it has not run yet, or wrote "
                    "nothing", job->id, fpq_status_name(job->status));
  } else {
    fputs(job->log, stdout);
    if (job->log[0] && job->log[strlen(job->log) - 1] != '\n') fputc('\n', stdout);
    code = EXIT_DONE;
  }
  fpq_job_free(job);
  fpq_close(q);
  return code;
}
