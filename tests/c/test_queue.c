/* test_queue.c: the API of fpq.h over a backend (src/queue.c, src/metrics.c,
 * src/errors.c), for what is the core's own and so not in the backend contract suite
 * (tests/c/helpers/backend_contract.c): opening, validation before anything is written,
 * the retry policy taken from the pipeline's YAML at enqueue, the backoff and retry rule,
 * waiting, metrics, worker commands and the error strings. Runs on the embedded SQLite
 * backend, which needs no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "alloc.h"
#include "clock.h"
#include "fpq.h"
#include "fpq_backend.h"
#include "queue.h"
#include "random.h"
#include "testutil.h"

static const char *const pipelines[] = {"etl", "reports.daily", NULL};

typedef struct fixture {
  char *project;
  fpq_queue *q;
} fixture;

static int setup(void **state) {
  unsetenv("FPQ_BACKEND");
  unsetenv("FPQ_URL");
  unsetenv("FPQ_REDIS_URL");
  fixture *f = calloc(1, sizeof *f);
  f->project = test_project(pipelines);
  fpq_options o = {.project_dir = f->project, .create = 1};
  int rc = fpq_open(&f->q, &o);
  if (rc) fail_msg("fpq_open: %s (%s)", fpq_errmsg(f->q), fpq_err_name(rc));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  fpq__alloc_fail_after(0);
  fpq_close(f->q);
  test_rmdir(f->project);
  free(f);
  return 0;
}

static fpq_job *job_of(const char *pipeline) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, pipeline);
  return job;
}

static size_t jobs_stored(fpq_queue *q) {
  fpq_job **jobs = NULL;
  size_t n = 0;
  int rc = fpq_find(q, NULL, NULL, 0, &jobs, &n);
  if (rc) fail_msg("fpq_find: %s", fpq_errmsg(q));
  fpq_jobs_free(jobs, n);
  return n;
}

/* ---- fpq_open ---- */

static void an_unknown_backend_is_refused_listing_the_known_ones(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .backend = "postgres"};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_EINVAL);
  assert_non_null(q);
  assert_contains(fpq_errmsg(q), "backend 'postgres' is not known: expected one of sqlite");
  assert_contains(fpq_errmsg(q), "(or a plugin under backends: in conf/job_queue.yml)");
  assert_int_equal(fpq_errcode(q), FPQ_EINVAL);
  /* A handle whose open failed answers every call with why. */
  fpq_job *job = job_of("etl");
  assert_int_equal(fpq_enqueue(q, job), FPQ_EINVAL);
  fpq_job *got = (fpq_job *)&got;
  assert_int_equal(fpq_get(q, "x", &got), FPQ_EINVAL);
  assert_null(got);
  char *metrics = (char *)&metrics;
  assert_int_equal(fpq_metrics_json(q, &metrics), FPQ_EINVAL);
  assert_null(metrics);
  fpq_job_free(job);
  fpq_close(q);
  test_rmdir(project);
}

static void a_plugin_that_does_not_load_is_refused_naming_it(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  test_write_file(project, "conf/job_queue.yml",
                  "backend: mine\nbackends:\n  mine:\n    library: /nonexistent/libmine.so\n");
  fpq_options o = {.project_dir = project};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_EINVAL);
  assert_contains(fpq_errmsg(q), "backend 'mine': cannot load plugin /nonexistent/libmine.so");
  fpq_close(q);
  test_rmdir(project);
}

static void a_bad_project_dir_is_a_config_error(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  char missing[PATH_MAX];
  snprintf(missing, sizeof missing, "%s/gone", dir);
  fpq_options o = {.project_dir = missing, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_ECONFIG);
  assert_contains(fpq_errmsg(q), "project directory '");
  assert_contains(fpq_errmsg(q), "/gone' cannot be used: No such file or directory");
  assert_int_equal(fpq_errcode(q), FPQ_ECONFIG);
  fpq_job *job = job_of("etl");
  assert_int_equal(fpq_enqueue(q, job), FPQ_ECONFIG);
  fpq_job_free(job);
  fpq_close(q);
  test_rmdir(dir);
}

static void a_connect_timeout_that_is_not_a_duration_is_a_config_error(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  test_write_file(project, "conf/job_queue.yml", "connect_timeout: soon\n");
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_ECONFIG);
  assert_string_equal(fpq_errmsg(q), "connect_timeout 'soon' is not a duration like 5s");
  fpq_close(q);
  test_rmdir(project);
}

static void an_open_handle_reports_its_settings(void **state) {
  fixture *f = *state;
  char real[PATH_MAX], url[PATH_MAX + 64];
  assert_non_null(realpath(f->project, real));
  snprintf(url, sizeof url, "sqlite://%s/.flowerpower/queue.db", real);
  assert_string_equal(fpq_backend_name(f->q), "sqlite");
  assert_string_equal(fpq_url(f->q), url);
  assert_string_equal(fpq_project_dir(f->q), real);
  assert_string_equal(fpq_errmsg(f->q), "");
  assert_int_equal(fpq_errcode(f->q), 0);
  assert_string_equal(fpq_setting(f->q, "not_set"), "");
  setenv("FPQ_SOME_SETTING", "from-env", 1);
  assert_string_equal(fpq_setting(f->q, "some_setting"), "from-env");
  unsetenv("FPQ_SOME_SETTING");
  assert_string_equal(fpq_errmsg(NULL), "out of memory");
  assert_int_equal(fpq_errcode(NULL), FPQ_ENOMEM);
}

static void open_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  test_write_file(project, "conf/job_queue.yml", "connect_timeout: 2s\nworker:\n  queues: [a, b]\n");
  fpq_options o = {.project_dir = project, .create = 1};
  long n = 1;
  for (;; n++) {
    fpq_queue *q = NULL;
    fpq__alloc_fail_after(n);
    int rc = fpq_open(&q, &o);
    fpq__alloc_fail_after(0);
    if (rc == 0) {
      fpq_close(q);
      break;
    }
    if (rc != FPQ_ENOMEM && rc != FPQ_EUNAVAIL && rc != FPQ_EBACKEND)
      fail_msg("allocation %ld failing: open returned %s (%s)", n, fpq_err_name(rc),
               fpq_errmsg(q));
    if (n == 1) assert_null(q); /* the handle itself */
    fpq_close(q);
    if (n > 200) fail_msg("open still fails with allocation %ld failing", n);
  }
  assert_true(n > 5);
  test_rmdir(project);
}

/* ---- fpq_enqueue: nothing is written on bad input ---- */

static void assert_enqueue_refused(fixture *f, fpq_job *job, const char *expect) {
  int rc = fpq_enqueue(f->q, job);
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", fpq_errmsg(f->q));
  fpq_job_free(job);
  if (rc != FPQ_EINVAL) fail_msg("enqueue returned %s (%s), expected EINVAL", fpq_err_name(rc), msg);
  assert_contains(msg, expect);
  assert_null(strchr(msg, '\n'));
  assert_int_equal(fpq_errcode(f->q), FPQ_EINVAL);
  assert_int_equal(jobs_stored(f->q), 0);
}

static void bad_jobs_are_refused_and_nothing_is_written(void **state) {
  fixture *f = *state;
  fpq_job *job;

  job = job_of("etl");
  snprintf(job->id, sizeof job->id, "bad id");
  assert_enqueue_refused(f, job, "job id 'bad id' has ' ' at position 4");

  assert_enqueue_refused(f, job_of("../etl"), "pipeline name '../etl' contains a path separator");
  assert_enqueue_refused(f, job_of(""), "pipeline name is empty");
  assert_enqueue_refused(f, job_of("nope"), "pipeline 'nope' is not in project");
  assert_enqueue_refused(f, job_of("reports.weekly"), "there is no pipelines/reports/weekly.py");

  job = job_of("etl");
  fpq_job_set(&job->run_json, "{\"inputs\":{\"x\":1},\"typo\":true}");
  assert_enqueue_refused(f, job, "run option 'typo' is not one of the options FlowerPower's run() accepts");

  job = job_of("etl");
  fpq_job_set(&job->run_json, "[1]");
  assert_enqueue_refused(f, job, "run options must be a JSON object, got an array");

  job = job_of("etl");
  job->priority = (fpq_priority)9;
  assert_enqueue_refused(f, job, "priority 9 is not known");

  job = job_of("etl");
  job->max_retries = 5000;
  assert_enqueue_refused(f, job, "max retries 5000 is out of range");

  job = job_of("etl");
  job->timeout = -5;
  assert_enqueue_refused(f, job, "timeout -5 is out of range");

  job = job_of("etl");
  job->run_at = NAN;
  assert_enqueue_refused(f, job, "run time nan is not a valid time");

  job = job_of("etl");
  /* Another project's job would land in this project's queues; a path is never taken as
   * one unless it is this project's own directory. */
  fpq_job_set(&job->project, "relative/project");
  assert_enqueue_refused(f, job, "job names project 'relative/project', but this queue serves "
                                 "project 'test'");
  job = job_of("etl");
  fpq_job_set(&job->project, "/srv/elsewhere");
  assert_enqueue_refused(f, job, "job names project '/srv/elsewhere'");
}

static void a_pipeline_yaml_with_a_bad_retry_value_refuses_the_enqueue(void **state) {
  fixture *f = *state;
  test_write_file(f->project, "conf/pipelines/etl.yml", "run:\n  retry:\n    retry_delay: soon\n");
  assert_enqueue_refused(f, job_of("etl"),
                         "conf/pipelines/etl.yml: run.retry.retry_delay is 'soon': expected a "
                         "number >= 0");
  test_write_file(f->project, "conf/pipelines/etl.yml", "run: [\n");
  assert_enqueue_refused(f, job_of("etl"), "conf/pipelines/etl.yml: ");
}

/* ---- fpq_enqueue: what the core fills in ---- */

static void enqueue_fills_the_retry_policy_from_the_pipeline_yaml(void **state) {
  fixture *f = *state;
  test_write_file(f->project, "conf/pipelines/etl.yml",
                  "run:\n  retry:\n    max_retries: 2\n    retry_delay: 0.5\n    jitter_factor: 0.2\n");
  fpq_job *job = job_of("etl");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  assert_int_equal(job->max_retries, 2);
  assert_double_near(job->retry_delay, 0.5, 0);
  assert_double_near(job->jitter_factor, 0.2, 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, job->id, &got), 0);
  assert_int_equal(got->max_retries, 2);
  assert_double_near(got->retry_delay, 0.5, 0);
  assert_double_near(got->jitter_factor, 0.2, 0);
  fpq_job_free(got);
  fpq_job_free(job);

  /* The caller's values win over the YAML's. */
  job = job_of("etl");
  job->max_retries = 0;
  job->jitter_factor = 0;
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  assert_int_equal(job->max_retries, 0);
  assert_double_near(job->retry_delay, 0.5, 0);
  assert_double_near(job->jitter_factor, 0, 0);
  fpq_job_free(job);
}

static void enqueue_without_pipeline_yaml_uses_flowerpowers_defaults(void **state) {
  fixture *f = *state;
  fpq_job *job = job_of("reports.daily");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  assert_int_equal(job->max_retries, 3);
  assert_double_near(job->retry_delay, 1.0, 0);
  assert_double_near(job->jitter_factor, 0.1, 0);
  fpq_job_free(job);
}

static void enqueue_makes_an_id_a_description_and_a_queue(void **state) {
  fixture *f = *state;
  fpq_job *job = job_of("reports.daily");
  job->priority = FPQ_PRIORITY_LOW;
  job->attempts = 7;          /* reset: nothing has run yet */
  job->run_at = 1000000000;   /* in the past: due now */
  job->status = FPQ_STATUS_FAILED;
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  assert_int_equal(strlen(job->id), 36);
  assert_int_equal(job->id[14], '7');
  assert_string_equal(job->description, "run_pipeline(pipeline='reports.daily')");
  assert_string_equal(job->queue, "low");
  assert_string_equal(job->func, "flowerpower_job_queue.tasks.run_pipeline");
  assert_int_equal(job->attempts, 0);
  assert_int_equal(job->status, FPQ_STATUS_QUEUED);
  assert_double_near(job->run_at, 0, 0);
  assert_double_near(job->enqueued_at, job->created_at, 0);
  assert_double_near(job->created_at, fpq__now(), 60);
  fpq_job_free(job);

  /* What the caller set is kept. */
  job = job_of("etl");
  fpq_job_set(&job->queue, "reports");
  fpq_job_set(&job->description, "nightly numbers");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, job->id, &got), 0);
  assert_string_equal(got->queue, "reports");
  assert_string_equal(got->description, "nightly numbers");
  fpq_job_free(got);
  fpq_job_free(job);
}

static void without_random_bytes_enqueue_fails_and_writes_nothing(void **state) {
  fixture *f = *state;
  fpq_job *job = job_of("etl");
  fpq__random_fail(1);
  int rc = fpq_enqueue(f->q, job);
  fpq__random_fail(0);
  assert_int_equal(rc, FPQ_EIO);
  assert_string_equal(fpq_errmsg(f->q), "cannot make a job id: " FPQ__RANDOM_FAILED);
  assert_int_equal(jobs_stored(f->q), 0);
  /* A caller's own id needs no random bytes. */
  snprintf(job->id, sizeof job->id, "mine");
  fpq__random_fail(1);
  rc = fpq_enqueue(f->q, job);
  fpq__random_fail(0);
  assert_int_equal(rc, 0);
  assert_int_equal(jobs_stored(f->q), 1);
  fpq_job_free(job);
}

/* ---- batch enqueue ---- */

static void a_batch_without_random_bytes_fails_and_writes_nothing(void **state) {
  fixture *f = *state;
  fpq_job *jobs[2] = {job_of("etl"), job_of("etl")};
  size_t failed = 0;
  fpq__random_fail(1);
  int rc = fpq_enqueue_many(f->q, jobs, 2, &failed);
  fpq__random_fail(0);
  assert_int_equal(rc, FPQ_EIO);
  assert_int_equal(failed, 2);
  assert_int_equal(jobs_stored(f->q), 0);
  fpq_job_free(jobs[0]);
  fpq_job_free(jobs[1]);
}

static void json_lines_are_read_as_the_enqueue_options_would_be(void **state) {
  fixture *f = *state;
  static const char text[] =
      "{\"pipeline\": \"etl\", \"inputs\": {\"x\": 1}, \"priority\": \"high\"}\n"
      "\n"
      "  \t\r\n"
      "{\"pipeline\": \"reports.daily\", \"job_id\": \"rep-1\", \"timeout\": \"5m\","
      " \"max_retries\": 3, \"retry_delay\": 2, \"result_ttl\": \"1d\", \"in\": \"1h\"}\n"
      "{\"pipeline\": \"etl\", \"run_config\": {\"inputs\": {\"y\": 2}}, \"after\": \"rep-1\"}";
  fpq_job **jobs = NULL;
  size_t n = 0;
  assert_int_equal(fpq_enqueue_jsonl(f->q, text, strlen(text), &jobs, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(jobs[0]->priority, FPQ_PRIORITY_HIGH);
  assert_non_null(strstr(jobs[0]->run_json, "\"x\""));
  assert_string_equal(jobs[1]->id, "rep-1");
  assert_true(jobs[1]->timeout == 300 && jobs[1]->max_retries == 3);
  assert_true(jobs[1]->retry_delay == 2 && jobs[1]->result_ttl == 86400);
  assert_int_equal(jobs[1]->status, FPQ_STATUS_SCHEDULED);
  assert_int_equal(jobs[2]->status, FPQ_STATUS_DEFERRED);
  assert_non_null(strstr(jobs[2]->run_json, "\"y\""));
  fpq_jobs_free(jobs, n);
  assert_int_equal(jobs_stored(f->q), 3);
}

static void a_bad_line_names_its_number_and_writes_nothing(void **state) {
  fixture *f = *state;
  static const struct {
    const char *text, *message;
  } cases[] = {
      {"{\"pipeline\": \"etl\"}\n\n{\"pipeline\": \"nope\"}\n", "line 3: pipeline 'nope'"},
      {"{\"pipeline\": \"etl\"}\n{\"pipeline\": \"etl\", \"x\": 1}", "line 2: key \"x\" is not known"},
      {"[1]\n", "line 1: not a JSON object"},
      {"{\"pipeline\": \"etl\"\n", "line 1: not JSON"},
      {"{\"pipeline\": 7}\n", "line 1: \"pipeline\" is missing or not a string"},
      {"{\"pipeline\": \"etl\", \"at\": \"x\", \"in\": \"1m\"}", "line 1: give \"at\" or \"in\""},
      {"{\"pipeline\": \"etl\", \"max_retries\": 1001}", "line 1: \"max_retries\" is not"},
      {"{\"pipeline\": \"etl\", \"timeout\": []}", "line 1: \"timeout\" is not a duration"},
      {"{\"pipeline\": \"etl\", \"job_id\": \"a\"}\n{\"pipeline\": \"etl\", \"job_id\": \"a\"}",
       "line 2: job id 'a' is already given"},
      {"{\"pipeline\": \"etl\", \"pipeline\": \"etl\"}", "line 1: not JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fpq_job **jobs = NULL;
    size_t n = 9;
    assert_int_equal(fpq_enqueue_jsonl(f->q, cases[i].text, strlen(cases[i].text), &jobs, &n),
                     FPQ_EINVAL);
    assert_null(jobs);
    assert_int_equal(n, 0);
    if (strncmp(fpq_errmsg(f->q), cases[i].message, strlen(cases[i].message)) != 0)
      fail_msg("case %zu: %s", i, fpq_errmsg(f->q));
  }
  assert_int_equal(jobs_stored(f->q), 0);
}

static void ids_and_names_are_checked_before_the_backend_is_asked(void **state) {
  fixture *f = *state;
  fpq_job *got = (fpq_job *)&got;
  assert_int_equal(fpq_get(f->q, "../etc/passwd", &got), FPQ_EINVAL);
  assert_null(got);
  assert_contains(fpq_errmsg(f->q), "job id '../etc/passwd' has '.' at position 1");
  assert_int_equal(fpq_cancel(f->q, "a b"), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "job id 'a b'");
  assert_int_equal(fpq_requeue(f->q, ""), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "job id is empty");
  fpq_job **jobs = (fpq_job **)&jobs;
  size_t n = 99;
  assert_int_equal(fpq_find(f->q, NULL, "a/b", 10, &jobs, &n), FPQ_EINVAL);
  assert_null(jobs);
  assert_int_equal(n, 0);
  assert_contains(fpq_errmsg(f->q), "pipeline name 'a/b'");
  /* The next success clears the error. */
  assert_int_equal(fpq_find(f->q, NULL, "etl", 10, &jobs, &n), 0);
  assert_string_equal(fpq_errmsg(f->q), "");
  fpq_jobs_free(jobs, n);
}

static void take_needs_a_worker_queues_and_a_positive_lease(void **state) {
  fixture *f = *state;
  const char *queues[] = {"default"};
  fpq_job *job = (fpq_job *)&job;
  const char *expect = "take needs a worker name, queues and a positive lease";
  assert_int_equal(fpq_take(f->q, "", queues, 1, 30, 0, &job), FPQ_EINVAL);
  assert_null(job);
  assert_string_equal(fpq_errmsg(f->q), expect);
  assert_int_equal(fpq_take(f->q, NULL, queues, 1, 30, 0, &job), FPQ_EINVAL);
  assert_int_equal(fpq_take(f->q, "w", queues, 0, 30, 0, &job), FPQ_EINVAL);
  assert_int_equal(fpq_take(f->q, "w", queues, 1, 0, 0, &job), FPQ_EINVAL);
  assert_int_equal(fpq_take(f->q, "w", queues, 1, NAN, 0, &job), FPQ_EINVAL);
  assert_int_equal(fpq_take(f->q, "w", queues, 1, 30, 0, &job), FPQ_EEMPTY);
  assert_string_equal(fpq_errmsg(f->q), "no job is due");
}

/* ---- fpq__backoff and fpq_retry_decision ---- */

static fpq_job *retrying(int attempts, int max_retries, double delay, double jitter) {
  fpq_job *job = fpq_job_new();
  job->attempts = attempts;
  job->max_retries = max_retries;
  job->retry_delay = delay;
  job->jitter_factor = jitter;
  return job;
}

static void backoff_doubles_with_each_attempt(void **state) {
  (void)state;
  const double want[] = {1.5, 1.5, 3, 6, 12, 24};
  for (int attempts = 0; attempts <= 5; attempts++) {
    fpq_job *job = retrying(attempts, 10, 1.5, 0);
    assert_double_near(fpq__backoff(job), want[attempts], 0);
    fpq_job_free(job);
  }
  fpq_job *job = retrying(11, 10, 1.5, 0);
  assert_double_near(fpq__backoff(job), 1.5 * 1024, 0);
  fpq_job_free(job);
}

static void backoff_without_a_delay_is_zero(void **state) {
  (void)state;
  const double delays[] = {0, -1};
  for (size_t i = 0; i < 2; i++) {
    fpq_job *job = retrying(3, 10, delays[i], 0.5);
    assert_double_near(fpq__backoff(job), 0, 0);
    fpq_job_free(job);
  }
}

static void jitter_stays_within_its_bounds_and_spreads(void **state) {
  (void)state;
  const double jitters[] = {0.1, 0.5, 1.0};
  for (size_t k = 0; k < 3; k++) {
    double j = jitters[k];
    fpq_job *job = retrying(3, 10, 2, j); /* 2 * 2^2 = 8 seconds before jitter */
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < 5000; i++) {
      double d = fpq__backoff(job);
      if (d < 8 * (1 - j) || d > 8 * (1 + j))
        fail_msg("backoff %.6f with jitter %g is outside [%g, %g]", d, j, 8 * (1 - j), 8 * (1 + j));
      lo = d < lo ? d : lo;
      hi = d > hi ? d : hi;
    }
    /* 5000 draws cover most of the range: a constant factor would be a bug. */
    if (!(lo < 8 * (1 - j / 2) && hi > 8 * (1 + j / 2)))
      fail_msg("jitter %g spread only over [%.4f, %.4f]", j, lo, hi);
    fpq_job_free(job);
  }
}

static void a_failure_with_retries_left_is_scheduled_after_the_backoff(void **state) {
  (void)state;
  double run_at = -1;
  fpq_job *job = retrying(2, 3, 1.5, 0);
  assert_int_equal(fpq_retry_decision(job, 1000, &run_at), FPQ_STATUS_SCHEDULED);
  assert_double_near(run_at, 1003, 0);
  fpq_job_free(job);
  /* The last retry allowed. */
  job = retrying(3, 3, 1, 0);
  assert_int_equal(fpq_retry_decision(job, 1000, &run_at), FPQ_STATUS_SCHEDULED);
  assert_double_near(run_at, 1004, 0);
  fpq_job_free(job);
  /* Jittered: within the bounds. */
  job = retrying(1, 3, 10, 0.5);
  assert_int_equal(fpq_retry_decision(job, 1000, &run_at), FPQ_STATUS_SCHEDULED);
  assert_true(run_at >= 1005 && run_at <= 1015);
  fpq_job_free(job);
}

static void a_failure_without_a_delay_is_queued_at_once(void **state) {
  (void)state;
  double run_at = -1;
  fpq_job *job = retrying(1, 2, 0, 0.5);
  assert_int_equal(fpq_retry_decision(job, 1000, &run_at), FPQ_STATUS_QUEUED);
  assert_double_near(run_at, 0, 0);
  fpq_job_free(job);
}

static void a_failure_with_no_retries_left_fails(void **state) {
  (void)state;
  double run_at = -1;
  fpq_job *job = retrying(4, 3, 1, 0);
  assert_int_equal(fpq_retry_decision(job, 1000, &run_at), FPQ_STATUS_FAILED);
  assert_double_near(run_at, 0, 0);
  fpq_job_free(job);
  job = retrying(1, 0, 1, 0); /* max_retries 0: the first failure is final */
  assert_int_equal(fpq_retry_decision(job, 1000, &run_at), FPQ_STATUS_FAILED);
  fpq_job_free(job);
}

/* ---- fpq_wait ---- */

static void waiting_on_a_job_that_does_not_end_times_out(void **state) {
  fixture *f = *state;
  fpq_job *job = job_of("etl");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  fpq_job *got = (fpq_job *)&got;
  double start = fpq__monotonic();
  assert_int_equal(fpq_wait(f->q, job->id, 0.2, &got), FPQ_ETIMEDOUT);
  double waited = fpq__monotonic() - start;
  assert_null(got);
  assert_true(waited >= 0.2);
  assert_int_equal(fpq_errcode(f->q), FPQ_ETIMEDOUT);
  char want[256];
  snprintf(want, sizeof want, "job '%s' is still queued after 0.2 seconds", job->id);
  assert_string_equal(fpq_errmsg(f->q), want);
  /* A zero timeout looks once. */
  assert_int_equal(fpq_wait(f->q, job->id, 0, &got), FPQ_ETIMEDOUT);
  fpq_job_free(job);
}

static void waiting_on_a_missing_or_bad_id_fails_at_once(void **state) {
  fixture *f = *state;
  fpq_job *got = (fpq_job *)&got;
  assert_int_equal(fpq_wait(f->q, "missing", -1, &got), FPQ_ENOTFOUND);
  assert_null(got);
  assert_string_equal(fpq_errmsg(f->q), "job 'missing' not found");
  assert_int_equal(fpq_wait(f->q, "not/an/id", -1, &got), FPQ_EINVAL);
}

static void waiting_on_a_finished_job_returns_it(void **state) {
  fixture *f = *state;
  fpq_job *job = job_of("etl");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  const char *queues[] = {"default"};
  fpq_job *taken = NULL;
  assert_int_equal(fpq_take(f->q, "w", queues, 1, 30, 0, &taken), 0);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "{\"x\":1}"};
  assert_int_equal(fpq_finish(f->q, taken, "w", &ok, NULL), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_wait(f->q, job->id, 5, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FINISHED);
  assert_string_equal(got->result_json, "{\"x\":1}");
  fpq_job_free(got);
  fpq_job_free(taken);
  fpq_job_free(job);
}

typedef struct finisher {
  const char *project;
  char id[FPQ_ID_MAX + 1];
} finisher;

static void *cancel_later(void *arg) {
  finisher *fin = arg;
  fpq_options o = {.project_dir = fin->project};
  fpq_queue *q = NULL;
  if (fpq_open(&q, &o) == 0) {
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    fpq_cancel(q, fin->id);
  }
  fpq_close(q);
  return NULL;
}

static void waiting_returns_when_another_process_ends_the_job(void **state) {
  fixture *f = *state;
  fpq_job *job = job_of("etl");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  finisher fin = {.project = f->project};
  snprintf(fin.id, sizeof fin.id, "%s", job->id);
  pthread_t t;
  pthread_create(&t, NULL, cancel_later, &fin);
  fpq_job *got = NULL;
  int rc = fpq_wait(f->q, job->id, 30, &got);
  pthread_join(t, NULL);
  assert_int_equal(rc, 0);
  assert_int_equal(got->status, FPQ_STATUS_CANCELED);
  fpq_job_free(got);
  fpq_job_free(job);
}

/* ---- fpq_metrics_json ---- */

static void metrics_are_one_object_of_queues_and_workers(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 3; i++) {
    fpq_job *job = job_of("etl");
    job->priority = i == 0 ? FPQ_PRIORITY_HIGH : FPQ_PRIORITY_LOW;
    assert_int_equal(fpq_enqueue(f->q, job), 0);
    fpq_job_free(job);
  }
  const char *queues[] = {"high"};
  fpq_job *taken = NULL;
  assert_int_equal(fpq_take(f->q, "host.1", queues, 1, 30, 0, &taken), 0);
  fpq_worker_info w = {.pid = 4242, .successful = 7, .failed = 2, .busy_seconds = 1e9};
  snprintf(w.name, sizeof w.name, "host.1");
  snprintf(w.hostname, sizeof w.hostname, "host");
  snprintf(w.state, sizeof w.state, "busy");
  snprintf(w.queues, sizeof w.queues, "high,default,low");
  snprintf(w.current_job, sizeof w.current_job, "%s", taken->id);
  w.birth = fpq__now() - 10;
  w.last_heartbeat = fpq__now();
  assert_int_equal(fpq_worker_beat(f->q, &w, 60), 0);

  char *text = NULL;
  assert_int_equal(fpq_metrics_json(f->q, &text), 0);
  json_error_t e;
  json_t *m = json_loads(text, 0, &e);
  if (m == NULL) fail_msg("metrics %s do not parse: %s", text, e.text);
  assert_string_equal(json_string_value(json_object_get(m, "backend")), "sqlite");
  json_t *qs = json_object_get(m, "queues"), *ws = json_object_get(m, "workers");
  assert_true(json_is_array(qs));
  assert_true(json_is_array(ws));

  int seen_high = 0, seen_low = 0;
  size_t i;
  json_t *qo;
  json_array_foreach(qs, i, qo) {
    const char *name = json_string_value(json_object_get(qo, "name"));
    assert_non_null(name);
    for (int s = 0; s < FPQ_STATUS_COUNT; s++)
      if (!json_is_integer(json_object_get(qo, fpq_status_name((fpq_status)s))))
        fail_msg("queue %s has no count for %s in %s", name, fpq_status_name((fpq_status)s), text);
    json_t *age = json_object_get(qo, "oldest_queued_age_seconds");
    if (strcmp(name, "high") == 0) {
      seen_high = 1;
      assert_int_equal(json_integer_value(json_object_get(qo, "queued")), 0);
      assert_int_equal(json_integer_value(json_object_get(qo, "started")), 1);
      assert_true(json_is_null(age)); /* nothing waits there */
    } else if (strcmp(name, "low") == 0) {
      seen_low = 1;
      assert_int_equal(json_integer_value(json_object_get(qo, "queued")), 2);
      assert_true(json_is_number(age) && json_number_value(age) >= 0);
    }
  }
  assert_true(seen_high && seen_low);

  assert_int_equal(json_array_size(ws), 1);
  json_t *wo = json_array_get(ws, 0);
  assert_string_equal(json_string_value(json_object_get(wo, "name")), "host.1");
  assert_string_equal(json_string_value(json_object_get(wo, "hostname")), "host");
  assert_int_equal(json_integer_value(json_object_get(wo, "pid")), 4242);
  assert_string_equal(json_string_value(json_object_get(wo, "state")), "busy");
  assert_string_equal(json_string_value(json_object_get(wo, "queues")), "high,default,low");
  assert_string_equal(json_string_value(json_object_get(wo, "current_job")), taken->id);
  assert_int_equal(json_integer_value(json_object_get(wo, "successful")), 7);
  assert_int_equal(json_integer_value(json_object_get(wo, "failed")), 2);
  assert_double_near(json_number_value(json_object_get(wo, "busy_ratio")), 1.0, 0); /* capped */
  assert_true(json_is_number(json_object_get(wo, "busy_seconds")));
  assert_true(json_is_number(json_object_get(wo, "last_heartbeat_age_seconds")));
  json_decref(m);
  free(text);
  /* The Prometheus form is the same document: the worker and the queues are there. */
  assert_int_equal(fpq_metrics_prometheus(f->q, &text), 0);
  assert_contains(text, "fpq_jobs{queue=\"low\",status=\"queued\"} 2\n");
  assert_contains(text, "worker=\"host.1\"");
  free(text);
  fpq_job_free(taken);
}

static void metrics_of_an_empty_store_have_no_workers_and_idle_queues(void **state) {
  fixture *f = *state;
  fpq_worker_info w = {.pid = 1};
  snprintf(w.name, sizeof w.name, "idle.1");
  snprintf(w.state, sizeof w.state, "idle");
  w.birth = w.last_heartbeat = fpq__now();
  assert_int_equal(fpq_worker_beat(f->q, &w, 60), 0);
  assert_int_equal(fpq_worker_gone(f->q, "idle.1"), 0);
  char *text = NULL;
  assert_int_equal(fpq_metrics_json(f->q, &text), 0);
  json_t *m = json_loads(text, 0, NULL);
  assert_int_equal(json_array_size(json_object_get(m, "workers")), 0);
  json_t *qo;
  size_t i;
  json_array_foreach(json_object_get(m, "queues"), i, qo) {
    assert_int_equal(json_integer_value(json_object_get(qo, "queued")), 0);
    assert_true(json_is_null(json_object_get(qo, "oldest_queued_age_seconds")));
  }
  json_decref(m);
  free(text);
}

/* ---- fpq_worker_command ---- */

static void register_worker(fpq_queue *q, const char *name) {
  fpq_worker_info w = {.pid = 1};
  snprintf(w.name, sizeof w.name, "%s", name);
  snprintf(w.state, sizeof w.state, "idle");
  w.birth = w.last_heartbeat = fpq__now();
  if (fpq_worker_beat(q, &w, 60)) fail_msg("worker beat: %s", fpq_errmsg(q));
}

static void the_known_worker_commands_are_delivered(void **state) {
  fixture *f = *state;
  register_worker(f->q, "host.1");
  const char *commands[] = {"shutdown", "shutdown-now", "kill-horse", "stop-job:job_1-A"};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(fpq_worker_command(f->q, "host.1", commands[i]), 0);
    char buf[128];
    assert_int_equal(fpq_worker_next_command(f->q, "host.1", buf, sizeof buf), 0);
    assert_string_equal(buf, commands[i]);
  }
  char buf[16] = "stale";
  assert_int_equal(fpq_worker_next_command(f->q, "host.1", buf, sizeof buf), FPQ_EEMPTY);
  assert_string_equal(buf, "");
  assert_string_equal(fpq_errmsg(f->q), "");
}

static void an_unknown_or_malformed_worker_command_is_refused(void **state) {
  fixture *f = *state;
  register_worker(f->q, "host.1");
  assert_int_equal(fpq_worker_command(f->q, "host.1", "reboot"), FPQ_EINVAL);
  assert_string_equal(fpq_errmsg(f->q), "worker command 'reboot' is not known: expected "
                                        "shutdown, shutdown-now, kill-horse or stop-job:ID");
  assert_int_equal(fpq_worker_command(f->q, "host.1", "Shutdown"), FPQ_EINVAL);
  assert_int_equal(fpq_worker_command(f->q, "host.1", "shutdown "), FPQ_EINVAL);
  assert_int_equal(fpq_worker_command(f->q, "host.1", "stop-job"), FPQ_EINVAL);
  assert_int_equal(fpq_worker_command(f->q, "host.1", "kill\nhorse"), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "'kill\\x0ahorse'");
  assert_int_equal(fpq_worker_command(f->q, "host.1", NULL), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "worker command '' is not known");
  /* stop-job needs a job id. */
  assert_int_equal(fpq_worker_command(f->q, "host.1", "stop-job:"), FPQ_EINVAL);
  assert_string_equal(fpq_errmsg(f->q), "worker command 'stop-job:': job id is empty: expected "
                                        "1-128 of A-Z a-z 0-9 _ -");
  assert_int_equal(fpq_worker_command(f->q, "host.1", "stop-job:../x"), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "job id '../x' has '.' at position 1");
  /* and a worker to go to. */
  assert_int_equal(fpq_worker_command(f->q, "", "shutdown"), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "worker name is empty");
  assert_int_equal(fpq_worker_command(f->q, NULL, "shutdown"), FPQ_EINVAL);
  /* Nothing refused was delivered. */
  char buf[64];
  assert_int_equal(fpq_worker_next_command(f->q, "host.1", buf, sizeof buf), FPQ_EEMPTY);
}

/* ---- errors ---- */

static void every_error_code_has_its_name_and_text(void **state) {
  (void)state;
  static const struct {
    int code;
    const char *name, *text;
  } codes[] = {
#define ROW(name, value, text) {FPQ_##name, #name, text},
      FPQ_ERRNO_MAP(ROW)
#undef ROW
  };
  assert_int_equal(sizeof codes / sizeof codes[0], 15);
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    assert_int_equal(codes[i].code, -(int)(i + 1)); /* -1 .. -15, no gaps */
    assert_string_equal(fpq_err_name(codes[i].code), codes[i].name);
    assert_string_equal(fpq_strerror(codes[i].code), codes[i].text);
    for (size_t j = 0; j < i; j++)
      if (strcmp(fpq_strerror(codes[i].code), fpq_strerror(codes[j].code)) == 0)
        fail_msg("%s and %s share the text \"%s\"", codes[i].name, codes[j].name,
                 fpq_strerror(codes[i].code));
  }
  assert_string_equal(fpq_err_name(FPQ_EINVAL), "EINVAL");
  assert_string_equal(fpq_strerror(FPQ_ELEASE), "lease lost: the job belongs to another worker now");
  assert_string_equal(fpq_strerror(FPQ_OK), "success");
  assert_string_equal(fpq_err_name(FPQ_OK), "OK");
  const int unknown[] = {-16, -99, 1, INT_MIN, INT_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_string_equal(fpq_strerror(unknown[i]), "unknown error");
    assert_string_equal(fpq_err_name(unknown[i]), "EUNKNOWN");
  }
  assert_true(strlen(fpq_version()) > 0);
  assert_non_null(strchr(fpq_version(), '.'));
}

int main(void) {
#define F(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(an_unknown_backend_is_refused_listing_the_known_ones),
      cmocka_unit_test(a_plugin_that_does_not_load_is_refused_naming_it),
      cmocka_unit_test(a_bad_project_dir_is_a_config_error),
      cmocka_unit_test(a_connect_timeout_that_is_not_a_duration_is_a_config_error),
      F(an_open_handle_reports_its_settings),
      cmocka_unit_test(open_fails_cleanly_at_every_allocation),
      F(bad_jobs_are_refused_and_nothing_is_written),
      F(a_pipeline_yaml_with_a_bad_retry_value_refuses_the_enqueue),
      F(enqueue_fills_the_retry_policy_from_the_pipeline_yaml),
      F(enqueue_without_pipeline_yaml_uses_flowerpowers_defaults),
      F(enqueue_makes_an_id_a_description_and_a_queue),
      F(without_random_bytes_enqueue_fails_and_writes_nothing),
      F(a_batch_without_random_bytes_fails_and_writes_nothing),
      F(json_lines_are_read_as_the_enqueue_options_would_be),
      F(a_bad_line_names_its_number_and_writes_nothing),
      F(ids_and_names_are_checked_before_the_backend_is_asked),
      F(take_needs_a_worker_queues_and_a_positive_lease),
      cmocka_unit_test(backoff_doubles_with_each_attempt),
      cmocka_unit_test(backoff_without_a_delay_is_zero),
      cmocka_unit_test(jitter_stays_within_its_bounds_and_spreads),
      cmocka_unit_test(a_failure_with_retries_left_is_scheduled_after_the_backoff),
      cmocka_unit_test(a_failure_without_a_delay_is_queued_at_once),
      cmocka_unit_test(a_failure_with_no_retries_left_fails),
      F(waiting_on_a_job_that_does_not_end_times_out),
      F(waiting_on_a_missing_or_bad_id_fails_at_once),
      F(waiting_on_a_finished_job_returns_it),
      F(waiting_returns_when_another_process_ends_the_job),
      F(metrics_are_one_object_of_queues_and_workers),
      F(metrics_of_an_empty_store_have_no_workers_and_idle_queues),
      F(the_known_worker_commands_are_delivered),
      F(an_unknown_or_malformed_worker_command_is_refused),
      cmocka_unit_test(every_error_code_has_its_name_and_text),
  };
#undef F
  return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
