/* backend_contract.c: the behaviour every backend owes the core, as cmocka tests over
 * the public API. See backend_contract.h. */
#include "backend_contract.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backend.h"
#include "clock.h"
#include "fpq.h"
#include "queue.h"
#include "queue_handle.h"
#include "schedule.h"
#include "testutil.h"

static const backend_contract *contract;

typedef struct fixture {
  char *project;
  char *url;
  fpq_queue *q;
} fixture;

static const char *const pipelines[] = {"alpha", "beta", "gamma", NULL};

static fpq_queue *open_queue(fixture *f) {
  fpq_options o = {.project_dir = f->project, .backend = contract->backend, .url = f->url,
                   .create = 1};
  fpq_queue *q = NULL;
  int rc = fpq_open(&q, &o);
  if (rc != 0) fail_msg("fpq_open: %s (%s)", fpq_errmsg(q), fpq_err_name(rc));
  return q;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->project = test_project(pipelines);
  f->url = contract->make_url ? contract->make_url(f->project) : NULL;
  if (contract->reset && f->url) contract->reset(f->url);
  f->q = open_queue(f);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  fpq_close(f->q);
  test_rmdir(f->project);
  free(f->url);
  free(f);
  return 0;
}

/* Enqueues a job of `pipeline` with the given priority; returns its id in id. */
static void put(fpq_queue *q, const char *pipeline, fpq_priority p, int max_retries,
                double retry_delay, char id[FPQ_ID_MAX + 1]) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, pipeline);
  job->priority = p;
  job->max_retries = max_retries;
  job->retry_delay = retry_delay;
  job->jitter_factor = 0;
  int rc = fpq_enqueue(q, job);
  if (rc) fail_msg("enqueue: %s", fpq_errmsg(q));
  if (id) snprintf(id, FPQ_ID_MAX + 1, "%s", job->id);
  fpq_job_free(job);
}

/* The handle's own queues, in priority order: "NAME.high"... where the backend
 * namespaces them per project (rq), RQ's plain names elsewhere (config.c). */
#define ALL_QUEUES(q)                                                                 \
  (const char *const[]) {                                                             \
    fpq_queue_for(q, FPQ_PRIORITY_HIGH), fpq_queue_for(q, FPQ_PRIORITY_MEDIUM),       \
        fpq_queue_for(q, FPQ_PRIORITY_LOW)                                            \
  }

static fpq_job *take(fpq_queue *q, const char *worker, double lease) {
  fpq_job *job = NULL;
  int rc = fpq_take(q, worker, ALL_QUEUES(q), 3, lease, 0, &job);
  if (rc == FPQ_EEMPTY) return NULL;
  if (rc) fail_msg("take: %s", fpq_errmsg(q));
  return job;
}

static fpq_status status_of(fpq_queue *q, const char *id) {
  fpq_job *job = NULL;
  int rc = fpq_get(q, id, &job);
  if (rc) fail_msg("get %s: %s", id, fpq_errmsg(q));
  fpq_status s = job->status;
  fpq_job_free(job);
  return s;
}

/* Enqueues a job of "alpha" waiting for the jobs in parents (a JSON array); returns the
 * enqueue's code and the id in id. */
static int put_after(fpq_queue *q, const char *parents, char id[FPQ_ID_MAX + 1]) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  fpq_job_set(&job->depends_on, parents);
  job->max_retries = 0;
  int rc = fpq_enqueue(q, job);
  snprintf(id, FPQ_ID_MAX + 1, "%s", job->id);
  fpq_job_free(job);
  return rc;
}

/* Enqueues a job and runs it to "finished" as worker w1 would; its id in id. */
static void put_finished(fpq_queue *q, char id[FPQ_ID_MAX + 1]) {
  put(q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, id);
  fpq_job *job = take(q, "w1", 30);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "{}"};
  if (job == NULL || strcmp(job->id, id) != 0 || fpq_finish(q, job, "w1", &ok, NULL))
    fail_msg("running %s to finished: %s", id, fpq_errmsg(q));
  fpq_job_free(job);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- tests ---- */

static void enqueue_then_get_returns_what_was_stored(void **state) {
  fixture *f = *state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  fpq_job_set(&job->run_json, "{\"inputs\":{\"x\":41,\"name\":\"Zo\\u00eb\"}}");
  job->priority = FPQ_PRIORITY_HIGH;
  job->max_retries = 2;
  job->retry_delay = 1.5;
  job->jitter_factor = 0.25;
  job->timeout = 30;
  snprintf(job->id, sizeof job->id, "my-job_1");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, "my-job_1", &got), 0);
  assert_string_equal(got->pipeline, "alpha");
  /* Jobs carry the project's name (conf/project.yml: "test"), never its path. */
  assert_string_equal(got->project, "test");
  assert_string_equal(got->queue, fpq_queue_for(f->q, FPQ_PRIORITY_HIGH));
  assert_string_equal(got->queue, strcmp(contract->backend, "rq") == 0 ? "test.high" : "high");
  assert_int_equal(got->priority, FPQ_PRIORITY_HIGH);
  assert_int_equal(got->status, FPQ_STATUS_QUEUED);
  assert_int_equal(got->max_retries, 2);
  assert_true(got->retry_delay == 1.5);
  assert_true(got->jitter_factor == 0.25);
  assert_true(got->timeout == 30);
  assert_int_equal(got->attempts, 0);
  assert_true(got->created_at > 1.7e9 && got->enqueued_at >= got->created_at - 1e-3);
  assert_non_null(strstr(got->run_json, "41"));
  assert_non_null(strstr(got->run_json, "Zo"));
  assert_non_null(got->description);
  assert_string_equal(got->func, "flowerpower_job_queue.tasks.run_pipeline");
  fpq_job_free(got);
  fpq_job_free(job);
}

static void a_taken_id_is_refused(void **state) {
  fixture *f = *state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  snprintf(job->id, sizeof job->id, "dup");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  assert_int_equal(fpq_enqueue(f->q, job), FPQ_EEXIST);
  assert_non_null(strstr(fpq_errmsg(f->q), "dup"));
  fpq_job_free(job);
}

static void get_of_a_missing_job_is_not_found(void **state) {
  fixture *f = *state;
  fpq_job *job = NULL;
  assert_int_equal(fpq_get(f->q, "nope", &job), FPQ_ENOTFOUND);
  assert_null(job);
  assert_non_null(strstr(fpq_errmsg(f->q), "nope"));
}

static void find_returns_newest_first_and_respects_the_limit(void **state) {
  fixture *f = *state;
  char ids[5][FPQ_ID_MAX + 1];
  for (int i = 0; i < 5; i++) put(f->q, i % 2 ? "beta" : "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, ids[i]);
  fpq_job **jobs = NULL;
  size_t n = 0;
  assert_int_equal(fpq_find(f->q, NULL, "alpha", 10, &jobs, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(jobs[0]->id, ids[4]);
  assert_string_equal(jobs[1]->id, ids[2]);
  assert_string_equal(jobs[2]->id, ids[0]);
  fpq_jobs_free(jobs, n);
  /* the project's: its pipelines' merged, newest first */
  assert_int_equal(fpq_find(f->q, NULL, NULL, 2, &jobs, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(jobs[0]->id, ids[4]);
  assert_string_equal(jobs[1]->id, ids[3]);
  fpq_jobs_free(jobs, n);
  assert_int_equal(fpq_find(f->q, NULL, "gamma", 10, &jobs, &n), 0);
  assert_int_equal(n, 0);
  fpq_jobs_free(jobs, n);
}

static void take_follows_strict_priority_then_fifo(void **state) {
  fixture *f = *state;
  char low[FPQ_ID_MAX + 1], med1[FPQ_ID_MAX + 1], med2[FPQ_ID_MAX + 1], high[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_LOW, 0, 0, low);
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, med1);
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, med2);
  put(f->q, "alpha", FPQ_PRIORITY_HIGH, 0, 0, high);
  const char *order[] = {high, med1, med2, low};
  for (int i = 0; i < 4; i++) {
    fpq_job *job = take(f->q, "w1", 30);
    assert_non_null(job);
    assert_string_equal(job->id, order[i]);
    assert_int_equal(job->status, FPQ_STATUS_STARTED);
    assert_int_equal(job->attempts, 1);
    assert_string_equal(job->worker, "w1");
    fpq_job_free(job);
  }
  assert_null(take(f->q, "w1", 30));
}

static void take_only_reads_the_queues_it_is_given(void **state) {
  fixture *f = *state;
  put(f->q, "alpha", FPQ_PRIORITY_HIGH, 0, 0, NULL);
  char low[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_LOW, 0, 0, low);
  const char *only_low[] = {fpq_queue_for(f->q, FPQ_PRIORITY_LOW)};
  fpq_job *job = NULL;
  assert_int_equal(fpq_take(f->q, "w", only_low, 1, 30, 0, &job), 0);
  assert_string_equal(job->id, low);
  fpq_job_free(job);
  assert_int_equal(fpq_take(f->q, "w", only_low, 1, 30, 0, &job), FPQ_EEMPTY);
}

static void *enqueue_later(void *arg) {
  fixture *f = arg;
  fpq_queue *q = open_queue(f);
  sleep_ms(100);
  put(q, "alpha", FPQ_PRIORITY_LOW, 0, 0, NULL);
  fpq_close(q);
  return NULL;
}

static void take_waits_for_a_job_that_arrives(void **state) {
  fixture *f = *state;
  fpq_job *job = NULL;
  assert_int_equal(fpq_take(f->q, "w", ALL_QUEUES(f->q), 3, 30, 0.05, &job), FPQ_EEMPTY);
  assert_null(job);
  pthread_t producer;
  pthread_create(&producer, NULL, enqueue_later, f);
  int rc = fpq_take(f->q, "w", ALL_QUEUES(f->q), 3, 30, 5, &job);
  pthread_join(producer, NULL);
  assert_int_equal(rc, 0);
  assert_non_null(job);
  assert_string_equal(job->pipeline, "alpha");
  fpq_job_free(job);
}

static void finish_success_stores_the_result(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, id);
  fpq_job *job = take(f->q, "w1", 30);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "{\"result\":42}", .duration = 0.5};
  fpq_status final;
  assert_int_equal(fpq_finish(f->q, job, "w1", &ok, &final), 0);
  assert_int_equal(final, FPQ_STATUS_FINISHED);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FINISHED);
  assert_string_equal(got->result_json, "{\"result\":42}");
  assert_true(got->ended_at >= got->started_at && got->started_at > 0);
  fpq_job_free(got);
  /* The same outcome twice, or by someone else, is refused: the job is no longer held. */
  assert_int_equal(fpq_finish(f->q, job, "w1", &ok, NULL), FPQ_ELEASE);
  fpq_job_free(job);
}

static void only_the_holder_can_finish_or_extend(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, id);
  fpq_job *job = take(f->q, "w1", 30);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  assert_int_equal(fpq_finish(f->q, job, "w2", &ok, NULL), FPQ_ELEASE);
  assert_int_equal(fpq_extend(f->q, job, "w2", 30), FPQ_ELEASE);
  assert_int_equal(fpq_extend(f->q, job, "w1", 30), 0);
  assert_int_equal(status_of(f->q, id), FPQ_STATUS_STARTED);
  assert_int_equal(fpq_finish(f->q, job, "w1", &ok, NULL), 0);
  fpq_job_free(job);
}

static void failures_retry_until_attempts_run_out(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 2, 0, id);
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE,
                     .error_json = "{\"type\":\"ValueError\",\"message\":\"no\",\"traceback\":\"\"}"};
  fpq_status expected[] = {FPQ_STATUS_QUEUED, FPQ_STATUS_QUEUED, FPQ_STATUS_FAILED};
  for (int attempt = 1; attempt <= 3; attempt++) {
    fpq_job *job = take(f->q, "w1", 30);
    assert_non_null(job);
    assert_string_equal(job->id, id);
    assert_int_equal(job->attempts, attempt);
    fpq_status final;
    assert_int_equal(fpq_finish(f->q, job, "w1", &bad, &final), 0);
    assert_int_equal(final, expected[attempt - 1]);
    fpq_job_free(job);
  }
  assert_null(take(f->q, "w1", 30));
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FAILED);
  assert_non_null(strstr(got->error_json, "ValueError"));
  fpq_job_free(got);
}

static void a_retry_with_a_delay_waits_until_due(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 1, 0.3, id);
  fpq_job *job = take(f->q, "w1", 30);
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE, .error_json = "{\"type\":\"E\"}"};
  fpq_status final;
  assert_int_equal(fpq_finish(f->q, job, "w1", &bad, &final), 0);
  assert_int_equal(final, FPQ_STATUS_SCHEDULED);
  fpq_job_free(job);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_SCHEDULED);
  assert_true(got->run_at > got->created_at);
  fpq_job_free(got);
  assert_null(take(f->q, "w1", 30)); /* not due yet */
  sleep_ms(400);
  job = take(f->q, "w1", 30);
  assert_non_null(job);
  assert_string_equal(job->id, id);
  assert_int_equal(job->attempts, 2);
  fpq_job_free(job);
}

static void a_returned_job_goes_back_to_the_front_uncounted(void **state) {
  fixture *f = *state;
  char first[FPQ_ID_MAX + 1], second[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, first);
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, second);
  fpq_job *job = take(f->q, "w1", 30);
  assert_string_equal(job->id, first);
  fpq_outcome back = {.kind = FPQ_OUTCOME_RETURN};
  fpq_status final;
  assert_int_equal(fpq_finish(f->q, job, "w1", &back, &final), 0);
  assert_int_equal(final, FPQ_STATUS_QUEUED);
  fpq_job_free(job);
  job = take(f->q, "w2", 30);
  assert_non_null(job);
  assert_string_equal(job->id, first); /* ahead of the job queued after it */
  assert_int_equal(job->attempts, 1);
  fpq_job_free(job);
}

static void a_stopped_job_is_not_retried(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 3, 0, id);
  fpq_job *job = take(f->q, "w1", 30);
  fpq_outcome stop = {.kind = FPQ_OUTCOME_STOPPED, .error_json = "{\"type\":\"JobStopped\"}"};
  assert_int_equal(fpq_finish(f->q, job, "w1", &stop, NULL), 0);
  fpq_job_free(job);
  assert_int_equal(status_of(f->q, id), FPQ_STATUS_STOPPED);
  assert_null(take(f->q, "w1", 30));
}

static void a_dead_workers_job_is_retried_then_failed(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 1, 0, id);
  fpq_job *job = take(f->q, "dead-1", 0.05);
  fpq_job_free(job);
  sleep_ms(1100); /* past the lease, in whole seconds for backends that keep seconds */
  int moved = 0;
  assert_int_equal(fpq_maintain(f->q, &moved), 0);
  assert_true(moved >= 1);
  assert_int_equal(status_of(f->q, id), FPQ_STATUS_QUEUED);
  job = take(f->q, "dead-2", 0.05);
  assert_non_null(job);
  assert_int_equal(job->attempts, 2);
  /* The lost worker may not finish it any more. */
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  assert_int_equal(fpq_finish(f->q, job, "dead-1", &ok, NULL), FPQ_ELEASE);
  fpq_job_free(job);
  sleep_ms(1100);
  assert_int_equal(fpq_maintain(f->q, &moved), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FAILED);
  assert_non_null(strstr(got->error_json, "WorkerLost"));
  fpq_job_free(got);
}

/* The WorkerLost of a lost attempt belongs to that attempt: once a retry finishes, the
 * job shows no error. */
static void a_finished_retry_keeps_no_worker_lost_error(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 1, 0, id);
  fpq_job *job = take(f->q, "lost-1", 0.05);
  fpq_job_free(job);
  sleep_ms(1100);
  int moved = 0;
  assert_int_equal(fpq_maintain(f->q, &moved), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_non_null(got->error_json); /* the lost attempt's error, while it waits */
  assert_non_null(strstr(got->error_json, "WorkerLost"));
  fpq_job_free(got);
  job = take(f->q, "lost-2", 30);
  assert_non_null(job);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  assert_int_equal(fpq_finish(f->q, job, "lost-2", &ok, NULL), 0);
  fpq_job_free(job);
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FINISHED);
  assert_null(got->error_json);
  fpq_job_free(got);
}

static void a_living_workers_job_is_never_taken_away(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 1, 0, id);
  fpq_job *job = take(f->q, "alive", 2);
  for (int i = 0; i < 3; i++) {
    sleep_ms(700);
    assert_int_equal(fpq_extend(f->q, job, "alive", 2), 0);
    assert_int_equal(fpq_maintain(f->q, NULL), 0);
    assert_int_equal(status_of(f->q, id), FPQ_STATUS_STARTED);
  }
  fpq_job_free(job);
}

static void scheduled_jobs_wait_for_their_time(void **state) {
  fixture *f = *state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  job->run_at = (double)now.tv_sec + now.tv_nsec / 1e9 + 0.3;
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  assert_int_equal(job->status, FPQ_STATUS_SCHEDULED);
  assert_int_equal(status_of(f->q, job->id), FPQ_STATUS_SCHEDULED);
  assert_null(take(f->q, "w", 30));
  sleep_ms(400);
  fpq_job *got = take(f->q, "w", 30);
  assert_non_null(got);
  assert_string_equal(got->id, job->id);
  fpq_job_free(got);
  fpq_job_free(job);
}

static void cancel_and_requeue_follow_the_state_rules(void **state) {
  fixture *f = *state;
  char a[FPQ_ID_MAX + 1], b[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, a);
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, b);
  assert_int_equal(fpq_cancel(f->q, a), 0);
  assert_int_equal(status_of(f->q, a), FPQ_STATUS_CANCELED);
  assert_int_equal(fpq_cancel(f->q, "missing"), FPQ_ENOTFOUND);
  fpq_job *job = take(f->q, "w", 30);
  assert_string_equal(job->id, b); /* the canceled one is skipped */
  assert_int_equal(fpq_cancel(f->q, b), FPQ_ESTATE);
  assert_non_null(strstr(fpq_errmsg(f->q), "started"));
  assert_int_equal(fpq_requeue(f->q, b), FPQ_ESTATE);
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE, .error_json = "{\"type\":\"E\"}"};
  assert_int_equal(fpq_finish(f->q, job, "w", &bad, NULL), 0);
  fpq_job_free(job);
  assert_int_equal(fpq_requeue(f->q, b), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, b, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_QUEUED);
  assert_int_equal(got->attempts, 0);
  fpq_job_free(got);
  assert_int_equal(fpq_requeue(f->q, a), 0); /* canceled jobs can be queued again */
  assert_int_equal(status_of(f->q, a), FPQ_STATUS_QUEUED);
}

static void counts_are_per_queue_and_status(void **state) {
  fixture *f = *state;
  put(f->q, "alpha", FPQ_PRIORITY_HIGH, 0, 0, NULL);
  put(f->q, "alpha", FPQ_PRIORITY_HIGH, 0, 0, NULL);
  put(f->q, "beta", FPQ_PRIORITY_LOW, 0, 0, NULL);
  fpq_job *job = take(f->q, "w", 30);
  fpq_job_free(job);
  fpq_queue_counts *c = NULL;
  size_t n = 0;
  assert_int_equal(fpq_counts(f->q, &c, &n), 0);
  int64_t high_queued = -1, high_started = -1, low_queued = -1;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(c[i].queue, fpq_queue_for(f->q, FPQ_PRIORITY_HIGH)) == 0) {
      high_queued = c[i].count[FPQ_STATUS_QUEUED];
      high_started = c[i].count[FPQ_STATUS_STARTED];
      assert_true(c[i].oldest_queued_at > 0);
    } else if (strcmp(c[i].queue, fpq_queue_for(f->q, FPQ_PRIORITY_LOW)) == 0) {
      low_queued = c[i].count[FPQ_STATUS_QUEUED];
    }
  }
  assert_int_equal(high_queued, 1);
  assert_int_equal(high_started, 1);
  assert_int_equal(low_queued, 1);
  free(c);
}

static void workers_register_expire_and_take_commands(void **state) {
  fixture *f = *state;
  fpq_worker_info w = {.pid = 123, .successful = 5, .failed = 1, .busy_seconds = 2.5};
  snprintf(w.name, sizeof w.name, "host.123");
  snprintf(w.hostname, sizeof w.hostname, "host");
  snprintf(w.state, sizeof w.state, "idle");
  snprintf(w.queues, sizeof w.queues, "high,default,low");
  assert_int_equal(fpq_worker_beat(f->q, &w, 60), 0);
  fpq_worker_info *list = NULL;
  size_t n = 0;
  assert_int_equal(fpq_workers(f->q, &list, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].name, "host.123");
  assert_int_equal(list[0].pid, 123);
  assert_int_equal(list[0].successful, 5);
  free(list);
  char cmd[64];
  assert_int_equal(fpq_worker_next_command(f->q, "host.123", cmd, sizeof cmd), FPQ_EEMPTY);
  assert_int_equal(fpq_worker_command(f->q, "host.123", "shutdown"), 0);
  assert_int_equal(fpq_worker_command(f->q, "host.123", "bogus"), FPQ_EINVAL);
  assert_int_equal(fpq_worker_next_command(f->q, "host.123", cmd, sizeof cmd), 0);
  assert_string_equal(cmd, "shutdown");
  assert_int_equal(fpq_worker_gone(f->q, "host.123"), 0);
  assert_int_equal(fpq_workers(f->q, &list, &n), 0);
  assert_int_equal(n, 0);
  free(list);
}

/* Many handles taking at once: every job is taken exactly once. */
typedef struct taker {
  fixture *f;
  int taken;
  char (*ids)[FPQ_ID_MAX + 1];
} taker;

static void a_chain_runs_in_order_and_a_failed_parent_holds_its_child(void **state) {
  fixture *f = *state;
  char a[FPQ_ID_MAX + 1], b[FPQ_ID_MAX + 1], c[FPQ_ID_MAX + 1], json[3 * FPQ_ID_MAX];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, a);
  snprintf(json, sizeof json, "[\"%s\"]", a);
  if (contract->no_dependencies) {
    assert_int_equal(put_after(f->q, json, b), FPQ_ENOTSUP);
    fpq_job *none = NULL;
    assert_int_equal(fpq_get(f->q, b, &none), FPQ_ENOTFOUND);
    return;
  }
  assert_int_equal(put_after(f->q, "[\"no-such-job\"]", b), FPQ_ENOTFOUND);
  assert_int_equal(put_after(f->q, json, b), 0);
  snprintf(json, sizeof json, "[\"%s\"]", b);
  assert_int_equal(put_after(f->q, json, c), 0);
  assert_int_equal(status_of(f->q, b), FPQ_STATUS_DEFERRED);
  assert_int_equal(status_of(f->q, c), FPQ_STATUS_DEFERRED);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, c, &got), 0);
  assert_string_equal(got->depends_on, json);
  fpq_job_free(got);

  fpq_job *job = take(f->q, "w1", 30);
  assert_string_equal(job->id, a);
  assert_null(take(f->q, "w1", 30)); /* b and c wait */
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  assert_int_equal(fpq_finish(f->q, job, "w1", &ok, NULL), 0);
  fpq_job_free(job);
  assert_int_equal(status_of(f->q, b), FPQ_STATUS_QUEUED);
  job = take(f->q, "w1", 30);
  assert_string_equal(job->id, b);
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE, .error_json = "{\"type\":\"E\"}"};
  assert_int_equal(fpq_finish(f->q, job, "w1", &bad, NULL), 0);
  fpq_job_free(job);
  /* As RQ: a child of a failed parent stays deferred (until the parent is requeued and
   * finishes). */
  assert_int_equal(status_of(f->q, b), FPQ_STATUS_FAILED);
  int moved = 0;
  assert_int_equal(fpq_maintain(f->q, &moved), 0);
  assert_int_equal(status_of(f->q, c), FPQ_STATUS_DEFERRED);
  assert_null(take(f->q, "w1", 30));

  /* A child of a parent that has already finished is queued at once. */
  snprintf(json, sizeof json, "[\"%s\"]", a);
  assert_int_equal(put_after(f->q, json, c), 0);
  assert_int_equal(status_of(f->q, c), FPQ_STATUS_QUEUED);
}

static void *take_all(void *arg) {
  taker *t = arg;
  fpq_queue *q = open_queue(t->f);
  char name[32];
  snprintf(name, sizeof name, "t%p", arg);
  for (;;) {
    fpq_job *job = NULL;
    int rc = fpq_take(q, name, ALL_QUEUES(q), 3, 30, 0, &job);
    if (rc == FPQ_EEMPTY) break;
    if (rc) fail_msg("take: %s", fpq_errmsg(q));
    snprintf(t->ids[t->taken++], FPQ_ID_MAX + 1, "%s", job->id);
    fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "null"};
    if (fpq_finish(q, job, name, &ok, NULL)) fail_msg("finish: %s", fpq_errmsg(q));
    fpq_job_free(job);
  }
  fpq_close(q);
  return NULL;
}

static void concurrent_takers_never_share_a_job(void **state) {
  fixture *f = *state;
  enum { JOBS = 200, THREADS = 4 };
  for (int i = 0; i < JOBS; i++) put(f->q, "alpha", (fpq_priority)(i % 3), 0, 0, NULL);
  pthread_t threads[THREADS];
  taker takers[THREADS];
  for (int i = 0; i < THREADS; i++) {
    takers[i] = (taker){.f = f, .ids = calloc(JOBS, FPQ_ID_MAX + 1)};
    pthread_create(&threads[i], NULL, take_all, &takers[i]);
  }
  int total = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(threads[i], NULL);
    total += takers[i].taken;
  }
  assert_int_equal(total, JOBS);
  for (int i = 0; i < THREADS; i++)
    for (int j = 0; j < takers[i].taken; j++)
      for (int k = i; k < THREADS; k++)
        for (int l = (k == i ? j + 1 : 0); l < takers[k].taken; l++)
          if (strcmp(takers[i].ids[j], takers[k].ids[l]) == 0) fail_msg("taken twice: %s", takers[i].ids[j]);
  for (int i = 0; i < THREADS; i++) free(takers[i].ids);
}


/* ---- schedules and leases (backend version 2) ---- */

/* Schedules run on their own clock; these tests set it, so times are exact. */
static double schedule_clock_value;
static double schedule_clock(void) { return schedule_clock_value; }

#define T0 1711800000.0 /* 2024-03-30T12:00:00Z, a multiple of 300 */

static fpq_schedule *new_schedule(const char *id, const char *pipeline, const char *trigger) {
  fpq_schedule *s = fpq_schedule_new();
  snprintf(s->id, sizeof s->id, "%s", id);
  fpq_job_set(&s->pipeline, pipeline);
  fpq_job_set(&s->trigger, trigger);
  return s;
}

static void put_schedule(fpq_queue *q, fpq_schedule *s) {
  int rc = fpq_schedule_put(q, s);
  if (rc) fail_msg("schedule put: %s (%s)", fpq_errmsg(q), fpq_err_name(rc));
}

static fpq_schedule *get_schedule(fpq_queue *q, const char *id) {
  fpq_schedule *s = NULL;
  int rc = fpq_schedule_get(q, id, &s);
  if (rc) fail_msg("schedule get %s: %s", id, fpq_errmsg(q));
  return s;
}

static void a_schedule_is_stored_as_given(void **state) {
  fixture *f = *state;
  fpq__set_schedule_clock(schedule_clock);
  schedule_clock_value = T0 + 0.25;
  fpq_schedule *s = new_schedule("nightly-etl", "alpha", "30 2 * * *");
  fpq_job_set(&s->timezone, "Europe/Berlin");
  fpq_job_set(&s->run_json, "{\"inputs\":{\"day\":\"Zo\\u00eb\"}}");
  s->priority = FPQ_PRIORITY_HIGH;
  s->max_retries = 2;
  s->retry_delay = 1.5;
  s->jitter_factor = 0.25;
  s->timeout = 30;
  s->misfire_grace = 600;
  s->coalesce = 0;
  put_schedule(f->q, s);
  /* 02:30 Berlin on 2024-03-31 does not exist: it fires when the gap ends, 03:00 CEST. */
  assert_int_equal(s->next_fire, 1711846800);
  fpq_schedule *got = get_schedule(f->q, "nightly-etl");
  assert_string_equal(got->pipeline, "alpha");
  assert_string_equal(got->project, "test");
  assert_string_equal(got->trigger, "30 2 * * *");
  assert_string_equal(got->timezone, "Europe/Berlin");
  assert_string_equal(got->run_json, "{\"inputs\":{\"day\":\"Zo\\u00eb\"}}");
  assert_int_equal(got->priority, FPQ_PRIORITY_HIGH);
  assert_int_equal(got->max_retries, 2);
  assert_true(got->retry_delay == 1.5 && got->jitter_factor == 0.25 && got->timeout == 30);
  assert_true(got->misfire_grace == 600);
  assert_int_equal(got->coalesce, 0);
  assert_int_equal(got->paused, 0);
  assert_int_equal(got->next_fire, 1711846800);
  assert_int_equal(got->last_fire, 0);
  assert_double_near(got->created_at, T0 + 0.25, 1e-6);
  assert_int_equal(got->fired, 0);
  assert_int_equal(got->skipped, 0);
  fpq_schedule_free(got);
  fpq_schedule_free(s);
  assert_int_equal(fpq_schedule_get(f->q, "missing", &got), FPQ_ENOTFOUND);
  assert_null(got);
  fpq__set_schedule_clock(NULL);
}

static void a_bad_schedule_is_refused_and_nothing_is_stored(void **state) {
  fixture *f = *state;
  static const char *const bad[] = {"60 * * * *", "*/0 * * * *", "* * 31 2 *", "0 0 * JANUARY *",
                                    "* * * * * * *", "", NULL};
  static const char *const field[] = {"minute", "minute", "day-of-month", "month", "7", "empty"};
  for (int i = 0; bad[i]; i++) {
    fpq_schedule *s = new_schedule("bad", "alpha", bad[i]);
    assert_int_equal(fpq_schedule_put(f->q, s), FPQ_EINVAL);
    assert_contains(fpq_errmsg(f->q), field[i]);
    fpq_schedule_free(s);
  }
  fpq_schedule *s = new_schedule("bad", "no_such_pipeline", "@daily");
  assert_int_equal(fpq_schedule_put(f->q, s), FPQ_EINVAL);
  fpq_job_set(&s->pipeline, "alpha");
  fpq_job_set(&s->timezone, "Mars/Base");
  assert_int_equal(fpq_schedule_put(f->q, s), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "Mars/Base");
  fpq_job_set(&s->timezone, NULL);
  fpq_job_set(&s->trigger, "at 2001-01-01T00:00:00Z");
  assert_int_equal(fpq_schedule_put(f->q, s), FPQ_EINVAL);
  assert_contains(fpq_errmsg(f->q), "never fires again");
  fpq_schedule_free(s);
  fpq_schedule **list = NULL;
  size_t n = 9;
  assert_int_equal(fpq_schedule_list(f->q, NULL, &list, &n), 0);
  assert_int_equal(n, 0);
  fpq_schedules_free(list, n);
}

static void replacing_a_schedule_keeps_its_history(void **state) {
  fixture *f = *state;
  fpq__set_schedule_clock(schedule_clock);
  schedule_clock_value = T0;
  fpq_schedule *s = new_schedule("every5", "alpha", "*/5 * * * *");
  put_schedule(f->q, s);
  assert_int_equal(s->next_fire, (int64_t)T0 + 300);
  fpq_schedule_advance_args a = {.id = "every5", .expect_next = (int64_t)T0 + 300,
                                 .next_fire = (int64_t)T0 + 600, .last_fire = (int64_t)T0 + 300,
                                 .fired = 1, .skipped = 2};
  assert_int_equal(fpq__backend_schedule_advance(f->q->b, &a), 0);
  schedule_clock_value = T0 + 400;
  fpq_schedule *again = new_schedule("every5", "beta", "*/5 * * * *");
  put_schedule(f->q, again); /* the same trigger keeps the pending fire */
  fpq_schedule *got = get_schedule(f->q, "every5");
  assert_string_equal(got->pipeline, "beta");
  assert_int_equal(got->next_fire, (int64_t)T0 + 600);
  assert_int_equal(got->last_fire, (int64_t)T0 + 300);
  assert_int_equal(got->fired, 1);
  assert_int_equal(got->skipped, 2);
  assert_double_near(got->created_at, T0, 1e-6);
  fpq_schedule_free(got);
  fpq_job_set(&again->trigger, "0 * * * *"); /* a new trigger: the next fire from now */
  put_schedule(f->q, again);
  got = get_schedule(f->q, "every5");
  assert_int_equal(got->next_fire, (int64_t)T0 + 3600);
  assert_int_equal(got->fired, 1);
  fpq_schedule_free(got);
  fpq_schedule_free(again);
  fpq_schedule_free(s);
  fpq__set_schedule_clock(NULL);
}

static void schedules_are_listed_per_project_and_due_ones_soonest_first(void **state) {
  fixture *f = *state;
  fpq__set_schedule_clock(schedule_clock);
  schedule_clock_value = T0;
  static const char *const ids[] = {"c-hourly", "a-minutely", "b-daily", "d-paused"};
  static const char *const triggers[] = {"0 * * * *", "* * * * *", "@daily", "* * * * *"};
  for (int i = 0; i < 4; i++) {
    fpq_schedule *s = new_schedule(ids[i], "alpha", triggers[i]);
    s->paused = i == 3;
    put_schedule(f->q, s);
    fpq_schedule_free(s);
  }
  /* Another project on the same store: put through its own handle, under its name. */
  char *other_dir = test_project(pipelines);
  test_write_file(other_dir, "conf/project.yml", "name: other\n");
  fixture of = {.project = other_dir, .url = (char *)fpq_url(f->q)}; /* the same store */
  fpq_queue *oq = open_queue(&of);
  fpq_schedule *other = new_schedule("z-other", "alpha", "*/2 * * * *");
  fpq_job_set(&other->project, other_dir); /* its own directory: stored as its name */
  put_schedule(oq, other);
  fpq_schedule_free(other);
  fpq_close(oq);
  fpq_schedule **list = NULL;
  size_t n = 0;
  assert_int_equal(fpq_schedule_list(f->q, NULL, &list, &n), 0);
  assert_int_equal(n, 4);
  assert_string_equal(list[0]->id, "a-minutely");
  assert_string_equal(list[3]->id, "d-paused");
  assert_int_equal(list[3]->paused, 1);
  fpq_schedules_free(list, n);
  assert_int_equal(fpq_schedule_list(f->q, "other", &list, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(list[0]->id, "z-other");
  assert_string_equal(list[0]->project, "other");
  fpq_schedules_free(list, n);
  /* Due at T0 + 1 h: every project's unpaused ones, soonest first; the daily is not due. */
  assert_int_equal(fpq__backend_schedule_list(f->q->b, NULL, (int64_t)T0 + 3600, 10, &list, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(list[0]->id, "a-minutely");
  assert_string_equal(list[1]->id, "z-other");
  assert_string_equal(list[2]->id, "c-hourly");
  fpq_schedules_free(list, n);
  assert_int_equal(fpq__backend_schedule_list(f->q->b, NULL, (int64_t)T0 + 3600, 1, &list, &n), 0);
  assert_int_equal(n, 1);
  fpq_schedules_free(list, n);
  test_rmdir(other_dir);
  fpq__set_schedule_clock(NULL);
}

static void advance_is_a_compare_and_set(void **state) {
  fixture *f = *state;
  fpq__set_schedule_clock(schedule_clock);
  schedule_clock_value = T0;
  fpq_schedule *s = new_schedule("cas", "alpha", "* * * * *");
  put_schedule(f->q, s);
  fpq_schedule_advance_args a = {.id = "cas", .expect_next = (int64_t)T0 + 60,
                                 .next_fire = (int64_t)T0 + 120, .last_fire = (int64_t)T0 + 60,
                                 .fired = 1};
  assert_int_equal(fpq__backend_schedule_advance(f->q->b, &a), 0);
  /* A second scheduler that read the same next_fire loses. */
  a.fired = 5;
  assert_int_equal(fpq__backend_schedule_advance(f->q->b, &a), FPQ_ESTATE);
  fpq_schedule *got = get_schedule(f->q, "cas");
  assert_int_equal(got->next_fire, (int64_t)T0 + 120);
  assert_int_equal(got->fired, 1);
  fpq_schedule_free(got);
  a = (fpq_schedule_advance_args){.id = "cas", .expect_next = (int64_t)T0 + 120, .next_fire = 0,
                                  .last_fire = (int64_t)T0 + 120, .skipped = 1};
  assert_int_equal(fpq__backend_schedule_advance(f->q->b, &a), 0);
  fpq_schedule **list = NULL;
  size_t n = 9;
  assert_int_equal(fpq__backend_schedule_list(f->q->b, NULL, INT64_MAX / 2, 10, &list, &n), 0);
  assert_int_equal(n, 0); /* ended: never due again */
  fpq_schedules_free(list, n);
  assert_int_equal(fpq_schedule_remove(f->q, "cas"), 0);
  assert_int_equal(fpq__backend_schedule_advance(f->q->b, &a), FPQ_ENOTFOUND);
  fpq_schedule_free(s);
  fpq__set_schedule_clock(NULL);
}

static void pause_resume_and_remove(void **state) {
  fixture *f = *state;
  fpq__set_schedule_clock(schedule_clock);
  schedule_clock_value = T0;
  fpq_schedule *s = new_schedule("p", "alpha", "*/5 * * * *");
  put_schedule(f->q, s);
  assert_int_equal(fpq_schedule_pause(f->q, "p"), 0);
  fpq_schedule **list = NULL;
  size_t n = 9;
  int64_t day = (int64_t)T0 + 86400;
  assert_int_equal(fpq__backend_schedule_list(f->q->b, NULL, day, 10, &list, &n), 0);
  assert_int_equal(n, 0);
  fpq_schedules_free(list, n);
  /* Resumed an hour later: it fires from then on; what it missed is not made up. */
  schedule_clock_value = T0 + 3600 + 10;
  int64_t next[3];
  assert_int_equal(fpq_schedule_next_fires(f->q, "p", next, 3, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(next[0], (int64_t)T0 + 3900);
  assert_int_equal(next[2], (int64_t)T0 + 4500);
  assert_int_equal(fpq_schedule_resume(f->q, "p"), 0);
  fpq_schedule *got = get_schedule(f->q, "p");
  assert_int_equal(got->paused, 0);
  assert_int_equal(got->next_fire, (int64_t)T0 + 3900);
  fpq_schedule_free(got);
  assert_int_equal(fpq__backend_schedule_list(f->q->b, NULL, (int64_t)T0 + 3900, 10, &list, &n), 0);
  assert_int_equal(n, 1);
  fpq_schedules_free(list, n);
  assert_int_equal(fpq_schedule_remove(f->q, "p"), 0);
  assert_int_equal(fpq_schedule_remove(f->q, "p"), FPQ_ENOTFOUND);
  assert_int_equal(fpq_schedule_pause(f->q, "p"), FPQ_ENOTFOUND);
  assert_int_equal(fpq_schedule_resume(f->q, "p"), FPQ_ENOTFOUND);
  assert_contains(fpq_errmsg(f->q), "'p' not found");
  fpq_schedule_free(s);
  fpq__set_schedule_clock(NULL);
}

static void a_lease_has_one_holder_until_it_expires(void **state) {
  fixture *f = *state;
  fpq_backend *b = f->q->b;
  char h[64]; /* the holder */
#define LEASE(owner, now) fpq__backend_lease_acquire(b, "scheduler", owner, now, 10, h, sizeof h)
  assert_int_equal(LEASE("a", 1000), 0);
  assert_string_equal(h, "a");
  assert_int_equal(LEASE("b", 1005), FPQ_ELEASE);
  assert_string_equal(h, "a");
  assert_int_equal(LEASE("a", 1008), 0);
  /* Renewed at 1008: still a's at 1017.9, b's from 1018 on. */
  assert_int_equal(LEASE("b", 1017.9), FPQ_ELEASE);
  assert_int_equal(LEASE("b", 1018), 0);
  assert_int_equal(LEASE("a", 1019), FPQ_ELEASE);
  assert_string_equal(h, "b");
  /* Another lease name is independent. */
  assert_int_equal(fpq__backend_lease_acquire(b, "other", "a", 1019, 10, h, sizeof h), 0);
  /* Only the holder can give it up; then anyone takes it at once. */
  assert_int_equal(fpq__backend_lease_release(b, "scheduler", "a"), 0);
  assert_int_equal(LEASE("a", 1020), FPQ_ELEASE);
  assert_int_equal(fpq__backend_lease_release(b, "scheduler", "b"), 0);
  assert_int_equal(LEASE("a", 1020), 0);
#undef LEASE
}

/* Threads racing for a free lease: exactly one wins. */
typedef struct racer {
  fixture *f;
  const char *name;
  int won;
} racer;

static void *race_for_lease(void *arg) {
  racer *r = arg;
  fpq_queue *q = open_queue(r->f);
  char holder[64];
  r->won = fpq__backend_lease_acquire(q->b, "race", r->name, 5000, 10, holder, sizeof holder) == 0;
  fpq_close(q);
  return NULL;
}

static void racing_schedulers_get_one_lease(void **state) {
  fixture *f = *state;
  static const char *const names[] = {"r0", "r1", "r2", "r3", "r4", "r5"};
  racer racers[6];
  pthread_t threads[6];
  for (int i = 0; i < 6; i++) {
    racers[i] = (racer){.f = f, .name = names[i]};
    pthread_create(&threads[i], NULL, race_for_lease, &racers[i]);
  }
  int winners = 0;
  for (int i = 0; i < 6; i++) {
    pthread_join(threads[i], NULL);
    winners += racers[i].won;
  }
  assert_int_equal(winners, 1);
}

/* ---- fencing by execution (backend version 3) ---- */

/* A run whose lease lapsed, and whose retry was taken by a worker of the same name (two
 * containers both called host.1), can neither renew nor record anything: every change is
 * checked against the execution token of the take, not the worker's name. */
static void a_stale_run_of_a_same_named_worker_is_fenced(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 1, 0, id);
  fpq_job *stale = take(f->q, "host.1", 1);
  assert_non_null(stale);
  assert_non_null(stale->execution);
  sleep_ms(2100); /* the lease (whole seconds on rq) runs out */
  int moved = 0;
  assert_int_equal(fpq_maintain(f->q, &moved), 0);
  assert_int_equal(moved, 1);
  fpq_job *live = take(f->q, "host.1", 30);
  assert_non_null(live);
  assert_string_equal(live->id, id);
  assert_non_null(live->execution);
  assert_string_not_equal(live->execution, stale->execution);
  /* The stale run: no renewal, no outcome of any kind. */
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "\"stale\""};
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE,
                     .error_json = "{\"type\":\"E\",\"message\":\"stale\",\"traceback\":\"\"}"};
  fpq_outcome back = {.kind = FPQ_OUTCOME_RETURN};
  assert_int_equal(fpq_extend(f->q, stale, "host.1", 30), FPQ_ELEASE);
  assert_non_null(strstr(fpq_errmsg(f->q), stale->execution));
  assert_int_equal(fpq_finish(f->q, stale, "host.1", &ok, NULL), FPQ_ELEASE);
  assert_int_equal(fpq_finish(f->q, stale, "host.1", &bad, NULL), FPQ_ELEASE);
  assert_int_equal(fpq_finish(f->q, stale, "host.1", &back, NULL), FPQ_ELEASE);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_STARTED);
  assert_string_equal(got->execution, live->execution);
  fpq_job_free(got);
  /* The live run renews and records as usual. */
  fpq_outcome mine = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "\"live\""};
  assert_int_equal(fpq_extend(f->q, live, "host.1", 30), 0);
  assert_int_equal(fpq_finish(f->q, live, "host.1", &mine, NULL), 0);
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FINISHED);
  assert_string_equal(got->result_json, "\"live\"");
  fpq_job_free(got);
  fpq_job_free(stale);
  fpq_job_free(live);
}

/* Every take makes a fresh token, even of the same job by the same worker. */
static void every_take_gets_its_own_execution(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, id);
  fpq_job *first = take(f->q, "w", 30);
  assert_non_null(first);
  fpq_outcome back = {.kind = FPQ_OUTCOME_RETURN};
  assert_int_equal(fpq_finish(f->q, first, "w", &back, NULL), 0);
  fpq_job *second = take(f->q, "w", 30);
  assert_non_null(second);
  assert_int_equal(strlen(second->execution), 32);
  assert_string_not_equal(first->execution, second->execution);
  assert_int_equal(fpq_finish(f->q, first, "w", &back, NULL), FPQ_ELEASE);
  assert_int_equal(fpq_finish(f->q, second, "w", &back, NULL), 0);
  fpq_job_free(first);
  fpq_job_free(second);
}

/* ---- finish and take in one step (fpq__finish_take; backend version 5, or the two) ---- */

/* Set for the group "finish and take, from the loop": each step is first tried as the
 * worker's loop thread tries it (nowait), then, when that was not done at once, as the
 * thread pool does it. The effects must be the same either way. */
static int step_nowait;
static int steps_done_at_once;

static int steps_nowait_on(void **state) {
  (void)state;
  step_nowait = 1;
  return 0;
}

static int steps_nowait_off(void **state) {
  (void)state;
  step_nowait = 0;
  return 0;
}

/* fpq__finish_take for worker w over all the handle's queues; returns finish's code and
 * the next job (or NULL) in *next, take's code in *take_rc. */
static int finish_take(fpq_queue *q, fpq_job *job, const char *w, const fpq_outcome *o,
                       fpq_status *final, fpq_job **next, int *take_rc) {
  if (step_nowait) {
    int rc = fpq__finish_take(q, job, w, o, final, ALL_QUEUES(q), 3, 30, 1, next, take_rc);
    if (rc != 1) {
      steps_done_at_once++;
      return rc;
    }
    assert_null(*next); /* not done at once: nothing to report yet */
  }
  return fpq__finish_take(q, job, w, o, final, ALL_QUEUES(q), 3, 30, 0, next, take_rc);
}

/* Last in the group "from the loop": a backend that does the step at once did so (a
 * backend answering "not at once" every time would pass the others). */
static void the_loops_steps_were_done_at_once(void **state) {
  (void)state;
  if (!contract->steps_at_once) skip();
  assert_true(steps_done_at_once > 0);
}

/* Each step records the outcome, then takes: a retry goes behind what waits, and the last
 * step finds the queues empty with its outcome recorded. */
static void finish_take_records_then_takes_the_next(void **state) {
  fixture *f = *state;
  char a[FPQ_ID_MAX + 1], b[FPQ_ID_MAX + 1], c[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_HIGH, 0, 0, a);
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 1, 0, b);
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, c);
  fpq_job *job = take(f->q, "w1", 30), *next = NULL;
  assert_string_equal(job->id, a);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "{\"n\":1}", .duration = 0.1};
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE,
                     .error_json = "{\"type\":\"E\",\"message\":\"no\",\"traceback\":\"\"}"};
  fpq_status final = FPQ_STATUS_QUEUED;
  int take_rc = -1;
  assert_int_equal(finish_take(f->q, job, "w1", &ok, &final, &next, &take_rc), 0);
  assert_int_equal(final, FPQ_STATUS_FINISHED);
  assert_int_equal(take_rc, 0);
  assert_string_equal(next->id, b);
  assert_int_equal(next->attempts, 1);
  if (contract->fenced) assert_non_null(next->execution);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, a, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FINISHED);
  assert_string_equal(got->result_json, "{\"n\":1}");
  fpq_job_free(got);
  assert_int_equal(status_of(f->q, b), FPQ_STATUS_STARTED);
  const char *order[] = {c, b};
  fpq_outcome *outcomes[] = {&bad, &ok, &ok};
  fpq_status finals[] = {FPQ_STATUS_QUEUED, FPQ_STATUS_FINISHED, FPQ_STATUS_FINISHED};
  for (int i = 0; i < 3; i++) {
    fpq_job_free(job);
    job = next;
    next = NULL;
    assert_int_equal(finish_take(f->q, job, "w1", outcomes[i], &final, &next, &take_rc), 0);
    assert_int_equal(final, finals[i]);
    if (i < 2) {
      assert_int_equal(take_rc, 0);
      assert_string_equal(next->id, order[i]); /* b's retry went behind c */
    } else {
      assert_int_equal(take_rc, FPQ_EEMPTY);
      assert_null(next);
    }
  }
  assert_int_equal(status_of(f->q, b), FPQ_STATUS_FINISHED);
  assert_int_equal(status_of(f->q, c), FPQ_STATUS_FINISHED);
  fpq_job_free(job);
}

/* An outcome from a run that no longer holds its job is dropped (FPQ_ELEASE, the job
 * untouched) and the worker still gets its next job. */
static void a_fenced_outcome_is_dropped_and_the_take_still_runs(void **state) {
  fixture *f = *state;
  char x[FPQ_ID_MAX + 1], y[FPQ_ID_MAX + 1];
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, x);
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, y);
  fpq_job *job = take(f->q, "w1", 30), *next = NULL;
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  int take_rc = -1;
  assert_int_equal(finish_take(f->q, job, "w2", &ok, NULL, &next, &take_rc), FPQ_ELEASE);
  assert_non_null(strstr(fpq_errmsg(f->q), x));
  assert_int_equal(take_rc, 0);
  assert_non_null(next);
  assert_string_equal(next->id, y);
  assert_int_equal(status_of(f->q, x), FPQ_STATUS_STARTED);
  assert_int_equal(fpq_finish(f->q, job, "w1", &ok, NULL), 0);
  assert_int_equal(fpq_finish(f->q, next, "w2", &ok, NULL), 0);
  fpq_job_free(job);
  fpq_job_free(next);
}

/* The parent's outcome releases its child before the take looks: the same step runs it. */
static void a_released_child_is_taken_in_the_same_step(void **state) {
  fixture *f = *state;
  char parent[FPQ_ID_MAX + 1], child[FPQ_ID_MAX + 1], parents[FPQ_ID_MAX + 8];
  if (contract->no_dependencies) skip();
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, parent);
  snprintf(parents, sizeof parents, "[\"%s\"]", parent);
  assert_int_equal(put_after(f->q, parents, child), 0);
  fpq_job *job = take(f->q, "w1", 30), *next = NULL;
  assert_string_equal(job->id, parent);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  int take_rc = -1;
  assert_int_equal(finish_take(f->q, job, "w1", &ok, NULL, &next, &take_rc), 0);
  assert_int_equal(take_rc, 0);
  assert_string_equal(next->id, child);
  assert_int_equal(status_of(f->q, child), FPQ_STATUS_STARTED);
  fpq_job_free(job);
  fpq_job_free(next);
}

/* ---- retention (result_ttl, failure_ttl) ---- */

/* Enqueues, takes and ends one job of alpha with the given retention. */
static void run_with_ttl(fpq_queue *q, const char *id, double result_ttl, double failure_ttl,
                         fpq_outcome_kind kind) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  snprintf(job->id, sizeof job->id, "%s", id);
  job->max_retries = 0;
  job->result_ttl = result_ttl;
  job->failure_ttl = failure_ttl;
  if (fpq_enqueue(q, job)) fail_msg("enqueue %s: %s", id, fpq_errmsg(q));
  fpq_job_free(job);
  fpq_job *got = take(q, "w", 30);
  assert_non_null(got);
  assert_string_equal(got->id, id);
  fpq_outcome out = {.kind = kind, .result_json = "1",
                     .error_json = "{\"type\": \"ValueError\", \"message\": \"no\"}"};
  assert_int_equal(fpq_finish(q, got, "w", &out, NULL), 0);
  fpq_job_free(got);
}

static int exists(fpq_queue *q, const char *id) {
  fpq_job *job = NULL;
  int rc = fpq_get(q, id, &job);
  fpq_job_free(job);
  if (rc != 0 && rc != FPQ_ENOTFOUND) fail_msg("get %s: %s", id, fpq_errmsg(q));
  return rc == 0;
}

static void ended_jobs_are_kept_for_their_own_retention(void **state) {
  fixture *f = *state;
  /* Left unset, a job carries the default retention, resolved when it is enqueued. */
  char id[FPQ_ID_MAX + 1];
  put(f->q, "beta", FPQ_PRIORITY_LOW, 0, 0, id);
  fpq_job *plain = NULL;
  assert_int_equal(fpq_get(f->q, id, &plain), 0);
  assert_double_near(plain->result_ttl, FPQ_TTL_DEFAULT_SECONDS, 0);
  assert_double_near(plain->failure_ttl, FPQ_TTL_DEFAULT_SECONDS, 0);
  fpq_job_free(plain);
  assert_int_equal(fpq_cancel(f->q, id), 0);
  run_with_ttl(f->q, "short-result", 1, -1, FPQ_OUTCOME_SUCCESS);
  run_with_ttl(f->q, "short-failure", -1, 1, FPQ_OUTCOME_FAILURE);
  run_with_ttl(f->q, "kept-forever", -1, 1, FPQ_OUTCOME_SUCCESS);
  run_with_ttl(f->q, "failure-forever", 1, -1, FPQ_OUTCOME_FAILURE);
  run_with_ttl(f->q, "kept-not-at-all", 0, -1, FPQ_OUTCOME_SUCCESS);
  assert_true(exists(f->q, "short-result"));
  assert_true(exists(f->q, "short-failure"));
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, "short-result", &got), 0);
  assert_double_near(got->result_ttl, 1, 0);
  assert_double_near(got->failure_ttl, -1, 0);
  fpq_job_free(got);
  assert_int_equal(fpq_maintain(f->q, NULL), 0);
  assert_false(exists(f->q, "kept-not-at-all"));
  sleep_ms(2100); /* past the 1 s retentions (rq keeps whole seconds) */
  assert_int_equal(fpq_maintain(f->q, NULL), 0);
  assert_false(exists(f->q, "short-result"));
  assert_false(exists(f->q, "short-failure"));
  assert_true(exists(f->q, "kept-forever"));
  assert_true(exists(f->q, "failure-forever"));
  assert_int_equal(status_of(f->q, "failure-forever"), FPQ_STATUS_FAILED);
}

/* A job with one retry whose first run failed, saying "first attempt said this\n". */
static void first_attempt_fails_with_a_log(fpq_queue *q, char id[FPQ_ID_MAX + 1]) {
  put(q, "alpha", FPQ_PRIORITY_MEDIUM, 1, 0, id);
  fpq_job *job = take(q, "w", 30);
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE, .log = "first attempt said this\n",
                     .error_json = "{\"type\": \"ValueError\", \"message\": \"no\"}"};
  assert_int_equal(fpq_finish(q, job, "w", &bad, NULL), 0);
  fpq_job_free(job);
}

/* A run's output is kept with the job, cut to FPQ_LOG_MAX with a marker that counts what
 * went (bytes the sender left out included); the last run's replaces an earlier one's. */
static void a_runs_log_is_kept_with_the_job_and_bounded(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  first_attempt_fails_with_a_log(f->q, id);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_string_equal(got->log, "first attempt said this\n");
  fpq_job_free(got);
  size_t big = 3 * FPQ_LOG_MAX;
  char *text = malloc(big + 1);
  memset(text, 'a', big);
  memcpy(text + big - 8, "THE END\n", 8);
  text[big] = '\0';
  fpq_job *job = take(f->q, "w", 30);
  assert_non_null(job);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1", .log = text,
                    .log_omitted = 1000};
  assert_int_equal(fpq_finish(f->q, job, "w", &ok, NULL), 0);
  fpq_job_free(job);
  free(text);
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_true(strlen(got->log) <= FPQ_LOG_MAX);
  assert_non_null(strstr(got->log, "THE END\n"));
  const char *marker = strstr(got->log, "[... ");
  assert_non_null(marker);
  long long cut = atoll(marker + 5);
  assert_true(cut > (long long)big - FPQ_LOG_MAX + 1000 && cut < (long long)big + 1000);
  assert_null(strstr(got->log, "first attempt"));
  fpq_job_free(got);
}

/* A run that wrote nothing leaves no log and, finished, no error: not the failed earlier
 * attempt's (both go in the finish's one write of the job). */
static void a_silent_finished_run_keeps_no_earlier_log_or_error(void **state) {
  fixture *f = *state;
  char id[FPQ_ID_MAX + 1];
  first_attempt_fails_with_a_log(f->q, id);
  fpq_job *job = take(f->q, "w", 30);
  assert_non_null(job);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  assert_int_equal(fpq_finish(f->q, job, "w", &ok, NULL), 0);
  fpq_job_free(job);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(f->q, id, &got), 0);
  assert_int_equal(got->status, FPQ_STATUS_FINISHED);
  assert_null(got->log);
  assert_null(got->error_json);
  fpq_job_free(got);
}

static void a_bad_retention_is_refused_and_nothing_is_stored(void **state) {
  fixture *f = *state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  snprintf(job->id, sizeof job->id, "bad-ttl");
  job->result_ttl = -5;
  assert_int_equal(fpq_enqueue(f->q, job), FPQ_EINVAL);
  assert_non_null(strstr(fpq_errmsg(f->q), "result_ttl -5"));
  job->result_ttl = FPQ_TTL_DEFAULT;
  job->failure_ttl = FPQ_TTL_MAX + 1;
  assert_int_equal(fpq_enqueue(f->q, job), FPQ_EINVAL);
  assert_non_null(strstr(fpq_errmsg(f->q), "failure_ttl"));
  assert_false(exists(f->q, "bad-ttl"));
  fpq_job_free(job);
}

/* ---- batch enqueue (fpq_enqueue_many; a loop of enqueue on a backend before version 4) */

static fpq_job **batch_new(size_t n) {
  fpq_job **jobs = calloc(n, sizeof *jobs);
  for (size_t i = 0; i < n; i++) {
    char run[64];
    jobs[i] = fpq_job_new();
    fpq_job_set(&jobs[i]->pipeline, i % 2 ? "beta" : "alpha");
    snprintf(run, sizeof run, "{\"inputs\":{\"i\":%zu}}", i);
    fpq_job_set(&jobs[i]->run_json, run);
    jobs[i]->priority = i % 3 == 0 ? FPQ_PRIORITY_HIGH : FPQ_PRIORITY_MEDIUM;
    jobs[i]->max_retries = (int)(i % 4);
  }
  return jobs;
}

static void batch_free(fpq_job **jobs, size_t n) {
  for (size_t i = 0; i < n; i++) fpq_job_free(jobs[i]);
  free(jobs);
}

static long queued_total(fpq_queue *q) {
  fpq_queue_counts *c = NULL;
  size_t n = 0;
  if (fpq_counts(q, &c, &n)) fail_msg("counts: %s", fpq_errmsg(q));
  long total = 0;
  for (size_t i = 0; i < n; i++) total += c[i].count[FPQ_STATUS_QUEUED];
  free(c);
  return total;
}

static void a_batch_stores_every_job_as_enqueue_does(void **state) {
  fixture *f = *state;
  enum { N = 1000 };
  fpq_job **jobs = batch_new(N);
  snprintf(jobs[7]->id, sizeof jobs[7]->id, "batch-given-7");
  /* One job of the batch waits for its time: stored as one enqueue would store it. */
  jobs[N - 2]->run_at = fpq__now() + 3600;
  size_t failed = 0;
  assert_int_equal(fpq_enqueue_many(f->q, jobs, N, &failed), 0);
  assert_int_equal(failed, N);
  assert_string_equal(jobs[7]->id, "batch-given-7");
  assert_int_equal(queued_total(f->q), N - 1);
  assert_int_equal(status_of(f->q, jobs[N - 2]->id), FPQ_STATUS_SCHEDULED);
  for (size_t i = 0; i < N; i += 111) {
    fpq_job *got = NULL;
    assert_int_equal(fpq_get(f->q, jobs[i]->id, &got), 0);
    assert_string_equal(got->pipeline, i % 2 ? "beta" : "alpha");
    assert_string_equal(got->project, "test"); /* its name, never its path */
    assert_string_equal(got->queue, fpq_queue_for(f->q, i % 3 == 0 ? FPQ_PRIORITY_HIGH
                                                                    : FPQ_PRIORITY_MEDIUM));
    assert_int_equal(got->status, FPQ_STATUS_QUEUED);
    assert_int_equal(got->max_retries, (int)(i % 4));
    assert_string_equal(got->func, "flowerpower_job_queue.tasks.run_pipeline");
    char want[32];
    snprintf(want, sizeof want, "\"i\": %zu}", i);
    if (strstr(got->run_json, want) == NULL) {
      snprintf(want, sizeof want, "\"i\":%zu}", i);
      assert_non_null(strstr(got->run_json, want));
    }
    fpq_job_free(got);
  }
  /* Queue order is batch order, as n enqueues would leave it. */
  fpq_job *first = take(f->q, "w1", 30), *second = take(f->q, "w1", 30);
  assert_string_equal(first->id, jobs[0]->id);
  assert_string_equal(second->id, jobs[3]->id);
  fpq_job_free(first);
  fpq_job_free(second);
  /* find: newest first, so the batch's last job of "beta" leads. */
  fpq_job **found = NULL;
  size_t nfound = 0;
  assert_int_equal(fpq_find(f->q, NULL, "beta", 2, &found, &nfound), 0);
  assert_int_equal(nfound, 2);
  assert_string_equal(found[0]->id, jobs[N - 1]->id);
  assert_string_equal(found[1]->id, jobs[N - 3]->id);
  fpq_jobs_free(found, nfound);
  size_t none = 99;
  assert_int_equal(fpq_enqueue_many(f->q, jobs, 0, &none), 0);
  assert_int_equal(none, 0);
  batch_free(jobs, N);
}

static void a_bad_job_refuses_the_whole_batch(void **state) {
  fixture *f = *state;
  fpq_job **jobs = batch_new(5);
  for (size_t i = 0; i < 5; i++) snprintf(jobs[i]->id, sizeof jobs[i]->id, "bad-batch-%zu", i);
  fpq_job_set(&jobs[3]->pipeline, "nope");
  size_t failed = 0;
  assert_int_equal(fpq_enqueue_many(f->q, jobs, 5, &failed), FPQ_EINVAL);
  assert_int_equal(failed, 3);
  assert_true(strncmp(fpq_errmsg(f->q), "jobs[3]: ", 9) == 0);
  assert_non_null(strstr(fpq_errmsg(f->q), "nope"));
  /* One id asked for twice within the batch: the later one is named. */
  fpq_job_set(&jobs[3]->pipeline, "alpha");
  snprintf(jobs[4]->id, sizeof jobs[4]->id, "bad-batch-1");
  assert_int_equal(fpq_enqueue_many(f->q, jobs, 5, &failed), FPQ_EINVAL);
  assert_int_equal(failed, 4);
  assert_non_null(strstr(fpq_errmsg(f->q), "jobs[4]: job id 'bad-batch-1'"));
  assert_non_null(strstr(fpq_errmsg(f->q), "jobs[1]"));
  for (size_t i = 0; i < 5; i++) assert_false(exists(f->q, jobs[i]->id));
  assert_int_equal(queued_total(f->q), 0);
  /* An id already stored: refused naming it. A batch-capable backend stores nothing of
   * the batch; an older one (a loop of enqueue) keeps the jobs before it. */
  snprintf(jobs[4]->id, sizeof jobs[4]->id, "bad-batch-4");
  put(f->q, "alpha", FPQ_PRIORITY_MEDIUM, 0, 0, NULL);
  fpq_job *taken = fpq_job_new();
  fpq_job_set(&taken->pipeline, "alpha");
  snprintf(taken->id, sizeof taken->id, "bad-batch-2");
  assert_int_equal(fpq_enqueue(f->q, taken), 0);
  fpq_job_free(taken);
  assert_int_equal(fpq_enqueue_many(f->q, jobs, 5, &failed), FPQ_EEXIST);
  assert_int_equal(failed, 2);
  assert_true(strncmp(fpq_errmsg(f->q), "jobs[2]: ", 9) == 0);
  assert_non_null(strstr(fpq_errmsg(f->q), "bad-batch-2"));
  if (f->q->b->methods->version >= 4 && f->q->b->methods->enqueue_many) {
    assert_false(exists(f->q, "bad-batch-0"));
    assert_int_equal(queued_total(f->q), 2);
  }
  assert_false(exists(f->q, "bad-batch-3"));
  assert_false(exists(f->q, "bad-batch-4"));
  batch_free(jobs, 5);
}

static void a_batch_job_may_wait_for_an_earlier_one(void **state) {
  fixture *f = *state;
  if (contract->no_dependencies || contract->version1_only) skip();
  fpq_job **jobs = batch_new(2);
  snprintf(jobs[0]->id, sizeof jobs[0]->id, "batch-parent");
  fpq_job_set(&jobs[1]->depends_on, "[\"batch-parent\"]");
  size_t failed = 0;
  assert_int_equal(fpq_enqueue_many(f->q, jobs, 2, &failed), 0);
  assert_int_equal(status_of(f->q, "batch-parent"), FPQ_STATUS_QUEUED);
  assert_int_equal(status_of(f->q, jobs[1]->id), FPQ_STATUS_DEFERRED);
  batch_free(jobs, 2);
}

/* A job of the batch whose parents have all finished is queued at once, and the queue
 * keeps the order n single enqueues would give it: the jobs after it come after it. */
static void a_batch_keeps_queue_order_past_a_job_queued_at_once(void **state) {
  fixture *f = *state;
  if (contract->no_dependencies || contract->version1_only) skip();
  char parent[FPQ_ID_MAX + 1];
  put_finished(f->q, parent);
  enum { N = 4 };
  fpq_job **jobs = batch_new(N);
  char depends[FPQ_ID_MAX + 8];
  snprintf(depends, sizeof depends, "[\"%s\"]", parent);
  fpq_job_set(&jobs[1]->depends_on, depends);
  for (size_t i = 0; i < N; i++) jobs[i]->priority = FPQ_PRIORITY_MEDIUM;
  size_t failed = 0;
  assert_int_equal(fpq_enqueue_many(f->q, jobs, N, &failed), 0);
  for (size_t i = 0; i < N; i++) {
    fpq_job *next = take(f->q, "w1", 30);
    assert_non_null(next);
    assert_string_equal(next->id, jobs[i]->id);
    fpq_job_free(next);
  }
  batch_free(jobs, N);
}

int backend_contract_run(const backend_contract *c) {
  contract = c;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(enqueue_then_get_returns_what_was_stored, setup, teardown),
      cmocka_unit_test_setup_teardown(a_taken_id_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(get_of_a_missing_job_is_not_found, setup, teardown),
      cmocka_unit_test_setup_teardown(find_returns_newest_first_and_respects_the_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(take_follows_strict_priority_then_fifo, setup, teardown),
      cmocka_unit_test_setup_teardown(take_only_reads_the_queues_it_is_given, setup, teardown),
      cmocka_unit_test_setup_teardown(take_waits_for_a_job_that_arrives, setup, teardown),
      cmocka_unit_test_setup_teardown(finish_success_stores_the_result, setup, teardown),
      cmocka_unit_test_setup_teardown(only_the_holder_can_finish_or_extend, setup, teardown),
      cmocka_unit_test_setup_teardown(failures_retry_until_attempts_run_out, setup, teardown),
      cmocka_unit_test_setup_teardown(a_retry_with_a_delay_waits_until_due, setup, teardown),
      cmocka_unit_test_setup_teardown(a_returned_job_goes_back_to_the_front_uncounted, setup, teardown),
      cmocka_unit_test_setup_teardown(a_stopped_job_is_not_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(a_dead_workers_job_is_retried_then_failed, setup, teardown),
      cmocka_unit_test_setup_teardown(a_finished_retry_keeps_no_worker_lost_error, setup, teardown),
      cmocka_unit_test_setup_teardown(a_living_workers_job_is_never_taken_away, setup, teardown),
      cmocka_unit_test_setup_teardown(scheduled_jobs_wait_for_their_time, setup, teardown),
      cmocka_unit_test_setup_teardown(cancel_and_requeue_follow_the_state_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(counts_are_per_queue_and_status, setup, teardown),
      cmocka_unit_test_setup_teardown(workers_register_expire_and_take_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(concurrent_takers_never_share_a_job, setup, teardown),
      cmocka_unit_test_setup_teardown(a_bad_retention_is_refused_and_nothing_is_stored, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(ended_jobs_are_kept_for_their_own_retention, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_runs_log_is_kept_with_the_job_and_bounded, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_silent_finished_run_keeps_no_earlier_log_or_error,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_schedule_is_stored_as_given, setup, teardown),
      cmocka_unit_test_setup_teardown(a_bad_schedule_is_refused_and_nothing_is_stored,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(replacing_a_schedule_keeps_its_history, setup, teardown),
      cmocka_unit_test_setup_teardown(schedules_are_listed_per_project_and_due_ones_soonest_first,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(advance_is_a_compare_and_set, setup, teardown),
      cmocka_unit_test_setup_teardown(pause_resume_and_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(a_lease_has_one_holder_until_it_expires, setup, teardown),
      cmocka_unit_test_setup_teardown(racing_schedulers_get_one_lease, setup, teardown),
      cmocka_unit_test_setup_teardown(a_chain_runs_in_order_and_a_failed_parent_holds_its_child,
                                      setup, teardown),
  };
  /* The first 22 tests need only the version-1 methods (a version-1 backend keeps what it
   * likes, but the core refuses a bad retention); the rest retention, schedules and
   * leases. */
  size_t count = c->version1_only ? 22 : sizeof tests / sizeof tests[0];
  int failed = _cmocka_run_group_tests(c->backend, tests, count, NULL, NULL);
  if (c->fenced) {
    const struct CMUnitTest fencing[] = {
        cmocka_unit_test_setup_teardown(a_stale_run_of_a_same_named_worker_is_fenced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(every_take_gets_its_own_execution, setup, teardown),
    };
    failed += _cmocka_run_group_tests("fencing", fencing, sizeof fencing / sizeof fencing[0],
                                      NULL, NULL);
  }
  const struct CMUnitTest batch[] = {
      cmocka_unit_test_setup_teardown(a_batch_stores_every_job_as_enqueue_does, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_bad_job_refuses_the_whole_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(a_batch_keeps_queue_order_past_a_job_queued_at_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_batch_job_may_wait_for_an_earlier_one, setup,
                                      teardown),
  };
  failed += _cmocka_run_group_tests("batch enqueue", batch, sizeof batch / sizeof batch[0],
                                    NULL, NULL);
  const struct CMUnitTest step[] = {
      cmocka_unit_test_setup_teardown(finish_take_records_then_takes_the_next, setup, teardown),
      cmocka_unit_test_setup_teardown(a_fenced_outcome_is_dropped_and_the_take_still_runs,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_released_child_is_taken_in_the_same_step, setup,
                                      teardown),
  };
  /* Dependencies (the last) are version 3. */
  size_t nstep = c->version1_only ? 2 : sizeof step / sizeof step[0];
  failed += _cmocka_run_group_tests("finish and take", step, nstep, NULL, NULL);
  struct CMUnitTest from_loop[sizeof step / sizeof step[0] + 1];
  memcpy(from_loop, step, nstep * sizeof *step);
  from_loop[nstep] = (struct CMUnitTest)cmocka_unit_test(the_loops_steps_were_done_at_once);
  failed += _cmocka_run_group_tests("finish and take, from the loop", from_loop, nstep + 1,
                                    steps_nowait_on, steps_nowait_off);
  return failed;
}
