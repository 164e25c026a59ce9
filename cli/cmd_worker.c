/* cmd_worker.c: `fpq worker start|stop|list`, and `fpq metrics`. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fpq_worker.h"




enum { OPT_COUNT = 3000, OPT_QUEUES, OPT_BURST, OPT_ISOLATION, OPT_NAME, OPT_TIMEOUT,
       OPT_LEASE, OPT_KILL_GRACE, OPT_STOP_GRACE, OPT_QUIET, OPT_ALL, OPT_NOW, OPT_WAIT,
       OPT_PROMETHEUS, OPT_METRICS_PORT, OPT_METRICS_HOST, OPT_WITH_SCHEDULER };

static int worker_start(int argc, char **argv) {
  static const struct option longopts[] = {
      {"count", required_argument, NULL, OPT_COUNT},
      {"queues", required_argument, NULL, OPT_QUEUES},
      {"burst", no_argument, NULL, OPT_BURST},
      {"isolation", required_argument, NULL, OPT_ISOLATION},
      {"name", required_argument, NULL, OPT_NAME},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"lease", required_argument, NULL, OPT_LEASE},
      {"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
      {"stop-grace", required_argument, NULL, OPT_STOP_GRACE},
      {"quiet", no_argument, NULL, OPT_QUIET},
      {"with-scheduler", no_argument, NULL, OPT_WITH_SCHEDULER},
      {"metrics-port", required_argument, NULL, OPT_METRICS_PORT},
      {"metrics-host", required_argument, NULL, OPT_METRICS_HOST},
      CLI_COMMON_OPTIONS,
      {NULL, 0, NULL, 0}};
  cli_common c = {0};
  fpq_worker_options o = {.count = 1};
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    switch (opt) {
      case OPT_COUNT: {
        char *end;
        long n = strtol(optarg, &end, 10);
        if (*end || end == optarg || n < 1 || n > 256)
          return cli_usage_error("worker start", "--count '%s' is not a number from 1 to 256",
                                 optarg);
        o.count = (int)n;
        break;
      }
      case OPT_QUEUES: o.queues = optarg; break;
      case OPT_BURST: o.burst = 1; break;
      case OPT_ISOLATION:
        if (strcmp(optarg, "fork") != 0 && strcmp(optarg, "none") != 0)
          return cli_usage_error("worker start", "--isolation '%s' is not known: expected fork "
                                 "or none", optarg);
        o.isolation = optarg;
        break;
      case OPT_NAME: {
        char msg[256];
        /* The length first: a long name is too long, whatever its characters (the
         * worker registry keeps 100; the Python API allows the same). */
        size_t len = strlen(optarg);
        if (len == 0 || len > 100)
          return cli_usage_error("worker start", "--name is %zu characters long: expected 1 "
                                 "to 100 of letters, digits, '_', '-' and '.'", len);
        if (fpq_validate_id(optarg, msg, sizeof msg) && strchr(optarg, '.') == NULL)
          return cli_usage_error("worker start", "--name '%s' is not valid: use letters, "
                                 "digits, '_', '-' and '.'", optarg);
        o.name = optarg;
        break;
      }
      case OPT_TIMEOUT:
        if (cli_duration_arg("worker start", "--timeout", optarg, &o.default_timeout))
          return EXIT_BAD_INPUT;
        break;
      case OPT_LEASE:
        if (cli_duration_arg("worker start", "--lease", optarg, &o.lease)) return EXIT_BAD_INPUT;
        break;
      case OPT_KILL_GRACE:
        if (cli_duration_arg("worker start", "--kill-grace", optarg, &o.kill_grace))
          return EXIT_BAD_INPUT;
        break;
      case OPT_STOP_GRACE:
        if (cli_duration_arg("worker start", "--stop-grace", optarg, &o.stop_grace))
          return EXIT_BAD_INPUT;
        break;
      case OPT_QUIET: o.quiet = 1; break;
      case OPT_WITH_SCHEDULER: o.with_scheduler = 1; break;
      case OPT_METRICS_PORT: {
        char *end;
        long n = strtol(optarg, &end, 10);
        if (*end || end == optarg || n < 1 || n > 65535)
          return cli_usage_error("worker start", "--metrics-port '%s' is not a port number "
                                 "from 1 to 65535", optarg);
        o.metrics_port = (int)n;
        break;
      }
      case OPT_METRICS_HOST: o.metrics_host = optarg; break;
      case 'h': cli_print_help(stdout, "worker start"); return 0;
      default: return cli_getopt_error("worker start", argc, argv);
    }
  }
  if (optind != argc)
    return cli_usage_error("worker start", "unexpected argument '%s'", argv[optind]);
  o.open = (fpq_options){.project_dir = c.project, .backend = c.backend, .url = c.url};
  return fpq_worker_run(&o);
}

static int live_workers(fpq_queue *q, fpq_worker_info **out, size_t *n) {
  int rc = fpq_workers(q, out, n);
  if (rc) return cli_fail(rc, "%s", fpq_errmsg(q));
  return 0;
}

static int worker_stop(int argc, char **argv) {
  static const struct option longopts[] = {{"name", required_argument, NULL, OPT_NAME},
                                           {"all", no_argument, NULL, OPT_ALL},
                                           {"now", no_argument, NULL, OPT_NOW},
                                           {"force", no_argument, NULL, OPT_NOW},
                                           {"wait", no_argument, NULL, OPT_WAIT},
                                           CLI_COMMON_OPTIONS,
                                           {NULL, 0, NULL, 0}};
  cli_common c = {0};
  const char *name = NULL;
  int all = 0, now = 0, wait = 0, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    switch (opt) {
      case OPT_NAME: name = optarg; break;
      case OPT_ALL: all = 1; break;
      case OPT_NOW: now = 1; break;
      case OPT_WAIT: wait = 1; break;
      case 'h': cli_print_help(stdout, "worker stop"); return 0;
      default: return cli_getopt_error("worker stop", argc, argv);
    }
  }
  /* No option: every worker of this project (its queues) on this backend, gracefully; the
   * form people type first, so it must not be an error. */
  if (name && all) return cli_usage_error("worker stop", "give --name NAME or --all, not both");
  if (name == NULL) all = 1;
  int code;
  fpq_queue *q = cli_open(&c, &code);
  if (q == NULL) return code;
  fpq_worker_info *workers = NULL;
  size_t n = 0;
  if ((code = live_workers(q, &workers, &n))) goto done;
  int sent = 0;
  for (size_t i = 0; i < n; i++) {
    if (!all && strcmp(workers[i].name, name) != 0) continue;
    if (all && !fpq_worker_is_ours(q, &workers[i])) continue; /* another project's */
    int rc = fpq_worker_command(q, workers[i].name, now ? "shutdown-now" : "shutdown");
    if (rc) {
      code = cli_fail(rc, "%s", fpq_errmsg(q));
      goto done;
    }
    if (!c.json) printf("asked %s to stop\n", workers[i].name);
    sent++;
  }
  if (sent == 0 && name) {
    code = cli_fail(FPQ_ENOTFOUND, "no live worker named '%s' (see 'fpq worker list')", name);
    goto done;
  }
  if (wait) {
    double deadline = cli_seconds(CLOCK_MONOTONIC) + 120;
    for (;;) {
      free(workers);
      workers = NULL;
      if ((code = live_workers(q, &workers, &n))) goto done;
      int left = 0;
      for (size_t i = 0; i < n; i++)
        left += all ? fpq_worker_is_ours(q, &workers[i]) : strcmp(workers[i].name, name) == 0;
      if (left == 0) break;
      if (cli_seconds(CLOCK_MONOTONIC) > deadline) {
        code = cli_fail(FPQ_ETIMEDOUT, "%d worker(s) still running after 120 s", left);
        goto done;
      }
      struct timespec ts = {0, 100 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  if (c.json) printf("{\"stopped\":%d}\n", sent);
  code = EXIT_DONE;
done:
  free(workers);
  fpq_close(q);
  return code;
}

static int worker_list(int argc, char **argv) {
  cli_common c = {0};
  int code = cli_parse_common(argc, argv, "worker list", &c);
  if (code >= 0) return code;
  json_t *m = cli_metrics(&c, &code);
  if (m == NULL) return code;
  json_t *ws = json_object_get(m, "workers");
  if (c.json) {
    char *out = json_dumps(ws, JSON_COMPACT);
    printf("%s\n", out ? out : "[]");
    free(out);
  } else if (json_array_size(ws) == 0) {
    puts("no live workers");
  } else {
    printf("%-28s  %-16s  %7s  %-5s  %-18s  %-36s  %6s  %6s\n", "NAME", "HOST", "PID", "STATE",
           "QUEUES", "CURRENT JOB", "DONE", "FAILED");
    size_t i;
    json_t *w;
    json_array_foreach(ws, i, w) {
      const char *job = json_string_value(json_object_get(w, "current_job"));
      printf("%-28s  %-16.16s  %7d  %-5s  %-18s  %-36s  %6lld  %6lld\n",
             json_string_value(json_object_get(w, "name")),
             json_string_value(json_object_get(w, "hostname")),
             (int)json_integer_value(json_object_get(w, "pid")),
             json_string_value(json_object_get(w, "state")),
             json_string_value(json_object_get(w, "queues")), job ? job : "-",
             (long long)json_integer_value(json_object_get(w, "successful")),
             (long long)json_integer_value(json_object_get(w, "failed")));
    }
  }
  json_decref(m);
  return EXIT_DONE;
}

int cmd_worker(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    cli_print_help(argc < 2 ? stderr : stdout, "worker");
    return argc < 2 ? EXIT_BAD_INPUT : 0;
  }
  if (strcmp(argv[1], "start") == 0) return worker_start(argc - 1, argv + 1);
  if (strcmp(argv[1], "stop") == 0) return worker_stop(argc - 1, argv + 1);
  if (strcmp(argv[1], "list") == 0) return worker_list(argc - 1, argv + 1);
  return cli_usage_error("worker", "'%s' is not a worker command: expected start, stop or list",
                         argv[1]);
}

/* ---- metrics ---- */


static int print_prometheus(const cli_common *c) {
  int code;
  fpq_queue *q = cli_open(c, &code);
  if (q == NULL) return code;
  char *text = NULL;
  int rc = fpq_metrics_prometheus(q, &text);
  if (rc == 0) fputs(text, stdout);
  else code = cli_fail(rc, "%s", fpq_errmsg(q));
  free(text);
  fpq_close(q);
  return rc ? code : EXIT_DONE;
}

int cmd_metrics(int argc, char **argv) {
  static const struct option longopts[] = {{"prometheus", no_argument, NULL, OPT_PROMETHEUS},
                                           CLI_COMMON_OPTIONS,
                                           {NULL, 0, NULL, 0}};
  cli_common c = {0};
  int prometheus = 0, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (cli_common_option(&c, opt, optarg)) continue;
    if (opt == OPT_PROMETHEUS) prometheus = 1;
    else if (opt == 'h') {
      cli_print_help(stdout, "metrics");
      return 0;
    } else {
      return cli_getopt_error("metrics", argc, argv);
    }
  }
  if (prometheus && c.json) return cli_usage_error("metrics", "give --json or --prometheus, not both");
  if (prometheus) return print_prometheus(&c);
  int code;
  json_t *m = cli_metrics(&c, &code);
  if (m == NULL) return code;
  if (c.json) {
    char *out = json_dumps(m, JSON_COMPACT);
    printf("%s\n", out ? out : "{}");
    free(out);
    json_decref(m);
    return EXIT_DONE;
  }
  printf("%-10s %8s %8s %9s %8s %8s %8s %8s  %s\n", "QUEUE", "QUEUED", "STARTED", "SCHEDULED",
         "DEFERRED", "FINISHED", "FAILED", "CANCELED", "OLDEST QUEUED");
  size_t i;
  json_t *qo;
  json_array_foreach(json_object_get(m, "queues"), i, qo) {
    char age[32] = "-";
    json_t *a = json_object_get(qo, "oldest_queued_age_seconds");
    if (json_is_number(a)) cli_format_duration(json_number_value(a), age, sizeof age);
#define COUNT(name) (long long)json_integer_value(json_object_get(qo, name))
    printf("%-10s %8lld %8lld %9lld %8lld %8lld %8lld %8lld  %s\n",
           json_string_value(json_object_get(qo, "name")), COUNT("queued"), COUNT("started"),
           COUNT("scheduled"), COUNT("deferred"), COUNT("finished"), COUNT("failed"),
           COUNT("canceled"), age);
#undef COUNT
  }
  printf("workers: %zu live\n", json_array_size(json_object_get(m, "workers")));
  json_t *kept = json_object_get(m, "results");
  if (json_is_object(kept)) {
    char size[32];
    cli_format_bytes(json_integer_value(json_object_get(kept, "bytes")), size, sizeof size);
    printf("results kept: %lld ended jobs, %s\n",
           (long long)json_integer_value(json_object_get(kept, "kept")), size);
  }
  json_t *tp = json_object_get(m, "throughput");
  if (json_is_object(tp))
    printf("throughput: %.1f jobs/min (last 1 min), %.1f (5 min), %.1f (15 min)\n",
           json_number_value(json_object_get(tp, "1m")),
           json_number_value(json_object_get(tp, "5m")),
           json_number_value(json_object_get(tp, "15m")));
  json_t *ps = json_object_get(m, "pipelines");
  if (json_array_size(ps) > 0) {
    printf("%-24s %8s %10s %10s %10s  (finished runs, last 15 min)\n", "PIPELINE", "RUNS",
           "P50", "P90", "P99");
    json_t *p;
    json_array_foreach(ps, i, p) {
      char p50[32], p90[32], p99[32];
      cli_format_duration(json_number_value(json_object_get(p, "p50")), p50, sizeof p50);
      cli_format_duration(json_number_value(json_object_get(p, "p90")), p90, sizeof p90);
      cli_format_duration(json_number_value(json_object_get(p, "p99")), p99, sizeof p99);
      printf("%-24.24s %8lld %10s %10s %10s\n", json_string_value(json_object_get(p, "pipeline")),
             (long long)json_integer_value(json_object_get(p, "count")), p50, p90, p99);
    }
  }
  json_decref(m);
  return EXIT_DONE;
}
