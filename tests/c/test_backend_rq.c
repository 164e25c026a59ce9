/* test_backend_rq.c: the backend contract on the rq backend against a real redis-server,
 * plus what is the rq backend's own: the exact RQ wire fields it writes, refusing pickle
 * payloads, URLs with credentials and unix sockets, surviving a Redis restart, and the
 * tracking wake-up of an idle take (its latency is printed, never asserted). */
#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "backend_contract.h"
#include "fpq.h"
#include "alloc.h"
#include "backend/rq/format.h"
#include "clock.h"
#include "queue.h"
#include "testutil.h"

static test_redis server;
static const char *const pipelines[] = {"alpha", "beta", NULL};
static const char *const all_queues[] = {"high", "default", "low"};

/* ---- helpers ---- */

static redisContext *raw(void) {
  redisContext *c = redisConnect("127.0.0.1", server.port);
  if (c == NULL || c->err) fail_msg("cannot connect to the test redis");
  return c;
}

static redisReply *cmd(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  if (r == NULL) fail_msg("redis command failed: %s", c->errstr);
  return r;
}

static long long zcard(redisContext *c, const char *key) {
  redisReply *r = cmd(c, "ZCARD %s", key);
  long long n = r->integer;
  freeReplyObject(r);
  return n;
}

static void flushall(void) {
  redisContext *c = raw();
  freeReplyObject(cmd(c, "FLUSHALL"));
  redisFree(c);
}

static char *make_url(const char *project) {
  (void)project;
  return strdup(server.url);
}

static void reset(const char *url) {
  (void)url;
  flushall();
}

typedef struct fixture {
  char *project;
  fpq_queue *q;
} fixture;

static fpq_queue *open_url(const char *project, const char *url, int *rc_out) {
  fpq_options o = {.project_dir = project, .backend = "rq", .url = url};
  fpq_queue *q = NULL;
  int rc = fpq_open(&q, &o);
  if (rc_out) *rc_out = rc;
  else if (rc) fail_msg("fpq_open %s: %s", url, fpq_errmsg(q));
  return q;
}

static int setup(void **state) {
  flushall();
  fixture *f = calloc(1, sizeof *f);
  f->project = test_project(pipelines);
  /* These tests check RQ's wire format key by key under RQ's plain queue names (one
   * project per database); a_namespaced_project_has_rq_queues_of_its_own checks the
   * default, per-project names. */
  test_write_file(f->project, "conf/job_queue.yml", "queue_namespace: false\n");
  f->q = open_url(f->project, server.url, NULL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  fpq_close(f->q);
  test_rmdir(f->project);
  free(f);
  return 0;
}

static fpq_job *new_job(const char *id, fpq_priority p) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  if (id) snprintf(job->id, sizeof job->id, "%s", id);
  job->priority = p;
  job->max_retries = 2;
  job->retry_delay = 10;
  job->jitter_factor = 0;
  return job;
}

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *hget(redisContext *c, const char *key, const char *field) {
  redisReply *r = cmd(c, "HGET %s %s", key, field);
  char *v = r->type == REDIS_REPLY_STRING ? strndup(r->str, r->len) : NULL;
  freeReplyObject(r);
  return v;
}

static void assert_hash_field(redisContext *c, const char *key, const char *field,
                              const char *expected) {
  char *v = hget(c, key, field);
  if (v == NULL || strcmp(v, expected) != 0)
    fail_msg("%s %s is '%s', expected '%s'", key, field, v ? v : "(missing)", expected);
  free(v);
}

/* RQ's timestamp form: 2026-11-26T04:05:25.426305Z */
static void assert_rq_time(redisContext *c, const char *key, const char *field) {
  char *v = hget(c, key, field);
  assert_non_null(v);
  assert_int_equal(strlen(v), 27);
  assert_true(v[4] == '-' && v[10] == 'T' && v[19] == '.' && v[26] == 'Z');
  free(v);
}

static double zscore(redisContext *c, const char *key, const char *member) {
  redisReply *r = cmd(c, "ZSCORE %s %s", key, member);
  double v = r->type == REDIS_REPLY_STRING ? strtod(r->str, NULL) : -1;
  freeReplyObject(r);
  return v;
}

/* ---- what is written, field by field ---- */

static void enqueue_writes_rq_job_hash_queue_and_data(void **state) {
  fixture *f = *state;
  fpq_job *job = new_job("wire-1", FPQ_PRIORITY_HIGH);
  fpq_job_set(&job->run_json, "{\"inputs\":{\"x\":1,\"name\":\"Zo\\u00eb\"}}");
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  redisContext *c = raw();
  assert_hash_field(c, "rq:job:wire-1", "status", "queued");
  assert_hash_field(c, "rq:job:wire-1", "origin", "high");
  assert_hash_field(c, "rq:job:wire-1", "timeout", "-1");
  assert_hash_field(c, "rq:job:wire-1", "retries_left", "2");
  assert_hash_field(c, "rq:job:wire-1", "retry_intervals", "[10, 20]");
  /* What RQ writes as '' is left out (RQ reads a missing field as unset), and so is what
   * ours can derive: a queued job's hash has 12 fields (RQ's own writes 15). */
  static const char *const absent[] = {
      "worker_name", "started_at", "ended_at", "last_heartbeat", "group_id",
      "success_callback_name", "failure_callback_name", "stopped_callback_name",
      "fpq_attempts", "fpq_retry_delay"};
  for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
    redisReply *has = cmd(c, "HEXISTS rq:job:wire-1 %s", absent[i]);
    if (has->integer != 0) fail_msg("rq:job:wire-1 has %s", absent[i]);
    freeReplyObject(has);
  }
  redisReply *hlen = cmd(c, "HLEN rq:job:wire-1");
  assert_int_equal(hlen->integer, 12);
  freeReplyObject(hlen);
  assert_hash_field(c, "rq:job:wire-1", "fpq_max_retries", "2");
  assert_hash_field(c, "rq:job:wire-1", "description", "run_pipeline(pipeline='alpha')");
  assert_rq_time(c, "rq:job:wire-1", "created_at");
  assert_rq_time(c, "rq:job:wire-1", "enqueued_at");
  /* data: zlib of Python-style JSON, exactly what json.dumps would write */
  redisReply *d = cmd(c, "HGET rq:job:wire-1 data");
  assert_int_equal(d->type, REDIS_REPLY_STRING);
  unsigned char plain[4096];
  uLongf plen = sizeof plain - 1;
  assert_int_equal(uncompress(plain, &plen, (const Bytef *)d->str, d->len), Z_OK);
  plain[plen] = '\0';
  char expected[4096];
  snprintf(expected, sizeof expected,
           "[\"flowerpower_job_queue.tasks.run_pipeline\", null, [], {\"project\": \"%s\", "
           "\"pipeline\": \"alpha\", \"run\": {\"inputs\": {\"x\": 1, \"name\": \"Zo\\u00eb\"}}}]",
           "test"); /* the project's name (conf/project.yml), never its path */
  assert_string_equal((char *)plain, expected);
  freeReplyObject(d);
  redisReply *qs = cmd(c, "SISMEMBER rq:queues rq:queue:high");
  assert_int_equal(qs->integer, 1);
  freeReplyObject(qs);
  redisReply *list = cmd(c, "LRANGE rq:queue:high 0 -1");
  assert_int_equal(list->elements, 1);
  assert_string_equal(list->element[0]->str, "wire-1");
  freeReplyObject(list);
  redisFree(c);
  fpq_job_free(job);
}

/* Projects sharing one database each get their own RQ queues, "NAME.high" and so on, which
 * RQ's tools list like any other queue; a worker of one project never sees another's. */
static void a_namespaced_project_has_rq_queues_of_its_own(void **state) {
  fixture *f = *state;
  char *other = test_project(pipelines);
  test_write_file(other, "conf/job_queue.yml", "project: etl.b\n");
  fpq_queue *q = open_url(other, server.url, NULL);
  assert_string_equal(fpq_project_name(q), "etl.b");
  assert_string_equal(fpq_queue_for(q, FPQ_PRIORITY_HIGH), "etl.b.high");
  fpq_job *job = new_job("ns-1", FPQ_PRIORITY_HIGH);
  assert_int_equal(fpq_enqueue(q, job), 0);
  fpq_job_free(job);
  redisContext *c = raw();
  assert_hash_field(c, "rq:job:ns-1", "origin", "etl.b.high");
  redisReply *qs = cmd(c, "SISMEMBER rq:queues rq:queue:etl.b.high");
  assert_int_equal(qs->integer, 1);
  freeReplyObject(qs);
  redisFree(c);
  /* The plain-named project (f) does not take it; its own queue names do. */
  fpq_job *got = NULL;
  assert_int_equal(fpq_take(f->q, "w.1", all_queues, 3, 30, 0, &got), FPQ_EEMPTY);
  const char *mine[] = {fpq_queue_for(q, FPQ_PRIORITY_HIGH)};
  assert_int_equal(fpq_take(q, "w.2", mine, 1, 30, 0, &got), 0);
  assert_string_equal(got->id, "ns-1");
  assert_string_equal(got->project, "etl.b");
  assert_int_equal(got->priority, FPQ_PRIORITY_HIGH); /* read back from "etl.b.high" */
  fpq_job_free(got);
  fpq_close(q);
  test_rmdir(other);
}

static void take_registers_wip_execution_and_started_status(void **state) {
  fixture *f = *state;
  fpq_job *job = new_job("wire-2", FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  double before = wall();
  fpq_job *got = NULL;
  assert_int_equal(fpq_take(f->q, "w.1", all_queues, 3, 30, 0, &got), 0);
  redisContext *c = raw();
  assert_hash_field(c, "rq:job:wire-2", "status", "started");
  assert_hash_field(c, "rq:job:wire-2", "worker_name", "w.1");
  assert_rq_time(c, "rq:job:wire-2", "started_at");
  assert_rq_time(c, "rq:job:wire-2", "last_heartbeat");
  char *ex = hget(c, "rq:job:wire-2", "fpq_exec");
  assert_non_null(ex);
  assert_int_equal(strlen(ex), 32);
  char member[128], exkey[160];
  snprintf(member, sizeof member, "wire-2:%s", ex);
  snprintf(exkey, sizeof exkey, "rq:execution:%s", member);
  double score = zscore(c, "rq:wip:default", member);
  /* the lease: whole seconds, never before now + lease; what RQ's cleanup would see as
   * alive (it fails entries scored below its integer now) */
  assert_true(score >= before + 30 && score <= before + 32 && score == floor(score));
  redisReply *expired = cmd(c, "ZRANGEBYSCORE rq:wip:default 0 %lld", (long long)wall());
  assert_int_equal(expired->elements, 0);
  freeReplyObject(expired);
  assert_hash_field(c, exkey, "id", ex);
  assert_hash_field(c, exkey, "worker_name", "w.1");
  assert_true(zscore(c, "rq:executions:wire-2", ex) > score);
  char *ex_created = hget(c, exkey, "created_at");
  assert_non_null(ex_created);
  /* finish: finished registry now + the default retention (a week, not RQ's 500 s),
   * result stream entry, TTLs */
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "{\"result\": 2}", .duration = 0.1};
  assert_int_equal(fpq_finish(f->q, got, "w.1", &ok, NULL), 0);
  assert_hash_field(c, "rq:job:wire-2", "status", "finished");
  assert_rq_time(c, "rq:job:wire-2", "ended_at");
  double fin = zscore(c, "rq:finished:default", "wire-2");
  assert_true(fin >= floor(before) + FPQ_TTL_DEFAULT_SECONDS &&
              fin <= before + FPQ_TTL_DEFAULT_SECONDS + 2);
  assert_true(zscore(c, "rq:wip:default", member) < 0);
  /* the execution ended everywhere RQ 3 looks: its hash, the worker's set */
  redisReply *gone = cmd(c, "EXISTS %s", exkey);
  assert_int_equal(gone->integer, 0);
  freeReplyObject(gone);
  redisReply *in_set = cmd(c, "SISMEMBER rq:worker:w.1:executions %s", member);
  assert_int_equal(in_set->integer, 0);
  freeReplyObject(in_set);
  redisReply *ttl = cmd(c, "TTL rq:job:wire-2");
  assert_true(ttl->integer > FPQ_TTL_DEFAULT_SECONDS - 10 &&
              ttl->integer <= FPQ_TTL_DEFAULT_SECONDS);
  freeReplyObject(ttl);
  redisReply *res = cmd(c, "XREVRANGE rq:results:wire-2 + - COUNT 1");
  assert_int_equal(res->elements, 1);
  redisReply *fields = res->element[0]->element[1];
  int saw_type = 0, saw_value = 0, saw_start = 0;
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    const char *k = fields->element[i]->str, *v = fields->element[i + 1]->str;
    if (strcmp(k, "type") == 0) saw_type = strcmp(v, "1") == 0;
    if (strcmp(k, "return_value") == 0) saw_value = strcmp(v, "eyJyZXN1bHQiOiAyfQ==") == 0;
    if (strcmp(k, "execution_id") == 0) assert_string_equal(v, ex);
    /* the run's start as its execution hash had it (the worker passes back the job's
     * started_at, which can round a half microsecond the other way) */
    if (strcmp(k, "execution_started_at") == 0)
      saw_start = fabs(atof(v) - atof(ex_created)) < 1.5e-6;
  }
  assert_true(saw_type && saw_value && saw_start);
  freeReplyObject(res);
  free(ex_created);
  free(ex);
  redisFree(c);
  fpq_job_free(got);
  fpq_job_free(job);
}

static void a_failure_goes_to_the_failed_registry_with_an_exc_string(void **state) {
  fixture *f = *state;
  fpq_job *job = new_job("wire-3", FPQ_PRIORITY_LOW);
  job->max_retries = 0;
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &got), 0);
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE,
                     .error_json = "{\"type\":\"ValueError\",\"message\":\"no\",\"traceback\":"
                                   "\"Traceback (most recent call last):\\nValueError: no\\n\"}"};
  fpq_status final;
  assert_int_equal(fpq_finish(f->q, got, "w", &bad, &final), 0);
  assert_int_equal(final, FPQ_STATUS_FAILED);
  redisContext *c = raw();
  double now = wall();
  double score = zscore(c, "rq:failed:low", "wire-3");
  assert_true(score >= floor(now) + FPQ_TTL_DEFAULT_SECONDS - 5 &&
              score <= now + FPQ_TTL_DEFAULT_SECONDS + 1);
  redisReply *res = cmd(c, "XREVRANGE rq:results:wire-3 + - COUNT 1");
  redisReply *fields = res->element[0]->element[1];
  const char *exc = NULL;
  for (size_t i = 0; i + 1 < fields->elements; i += 2)
    if (strcmp(fields->element[i]->str, "exc_string") == 0) exc = fields->element[i + 1]->str;
  assert_non_null(exc);
  unsigned char *z = NULL, *text = NULL;
  size_t zlen, tlen;
  assert_int_equal(fpq__rq_b64_decode(exc, strlen(exc), &z, &zlen), 0);
  assert_int_equal(fpq__rq_inflate(z, zlen, 1 << 20, &text, &tlen), 0);
  assert_string_equal((char *)text, "Traceback (most recent call last):\nValueError: no\n");
  free(z);
  free(text);
  freeReplyObject(res);
  /* a job failed by Python rq (no fpq_error) reads back from its exc_string */
  freeReplyObject(cmd(c, "HDEL rq:job:wire-3 fpq_error"));
  fpq_job *back = NULL;
  assert_int_equal(fpq_get(f->q, "wire-3", &back), 0);
  assert_contains(back->error_json, "\"type\":\"ValueError\"");
  assert_contains(back->error_json, "\"message\":\"no\"");
  fpq_job_free(back);
  redisFree(c);
  fpq_job_free(got);
  fpq_job_free(job);
}

/* The step between two jobs (finish_take) records the outcome even when its take half
 * fails on a key another client wrote with the wrong type: the failure is the take's,
 * and the outcome is not left half applied for a retry that would find it dropped. */
static void a_take_error_in_the_step_keeps_the_recorded_outcome(void **state) {
  fixture *f = *state;
  fpq_job *job = new_job("step-1", FPQ_PRIORITY_LOW);
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  fpq_job *got = NULL, *next = NULL;
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &got), 0);
  redisContext *c = raw();
  freeReplyObject(cmd(c, "SET rq:queue:high not-a-list"));
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "7"};
  fpq_status final = FPQ_STATUS_QUEUED;
  int take_rc = 0;
  assert_int_equal(fpq__finish_take(f->q, got, "w", &ok, &final, all_queues, 3, 30, 0, &next,
                                    &take_rc), 0);
  assert_int_equal(final, FPQ_STATUS_FINISHED);
  assert_int_equal(take_rc, FPQ_EBACKEND);
  assert_null(next);
  assert_contains(fpq_errmsg(f->q), "WRONGTYPE");
  assert_hash_field(c, "rq:job:step-1", "status", "finished");
  redisFree(c);
  fpq_job_free(got);
  fpq_job_free(job);
}

/* The step from the worker's loop thread (finish_take_nowait) waits for Redis only a
 * few milliseconds: when Redis does not answer in time (here paused by CLIENT PAUSE) it
 * says "not at once", and the waiting call reads the answer of the step it sent rather
 * than send it again: the outcome is recorded once, and the job taken carries the
 * execution token Redis stored, so its own outcome is accepted. */
static void a_late_answer_to_the_loops_step_is_read_by_the_waiting_call(void **state) {
  fixture *f = *state;
  const char *ids[] = {"late-a", "late-b", "late-c"};
  fpq_job *jobs[3];
  for (int i = 0; i < 3; i++) {
    jobs[i] = new_job(ids[i], FPQ_PRIORITY_LOW);
    assert_int_equal(fpq_enqueue(f->q, jobs[i]), 0);
  }
  fpq_job *got = NULL, *next = NULL, *last = NULL;
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &got), 0);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "7"};
  int take_rc = -1;
  /* A first step from the loop: the script is not loaded yet, so nothing is sent. */
  assert_int_equal(fpq__finish_take(f->q, got, "w", &ok, NULL, all_queues, 3, 30, 1, &next,
                                    &take_rc), 1);
  assert_int_equal(fpq__finish_take(f->q, got, "w", &ok, NULL, all_queues, 3, 30, 0, &next,
                                    &take_rc), 0);
  assert_string_equal(next->id, "late-b");
  redisContext *c = raw();
  freeReplyObject(cmd(c, "CLIENT PAUSE 1500 ALL"));
  fpq_status final = FPQ_STATUS_QUEUED;
  double started = fpq__monotonic();
  assert_int_equal(fpq__finish_take(f->q, next, "w", &ok, &final, all_queues, 3, 30, 1, &last,
                                    &take_rc), 1);
  assert_true(fpq__monotonic() - started < 1.0);
  assert_null(last);
  assert_int_equal(fpq__finish_take(f->q, next, "w", &ok, &final, all_queues, 3, 30, 0, &last,
                                    &take_rc), 0);
  assert_int_equal(final, FPQ_STATUS_FINISHED);
  assert_int_equal(take_rc, 0);
  assert_string_equal(last->id, "late-c");
  assert_hash_field(c, "rq:job:late-b", "status", "finished");
  assert_hash_field(c, "rq:job:late-c", "fpq_exec", last->execution);
  /* Its outcome is accepted under that token (from the loop once Redis answers in time;
   * a slow moment here is the waiting call's again). */
  fpq_job *none = NULL;
  int rc = fpq__finish_take(f->q, last, "w", &ok, NULL, all_queues, 3, 30, 1, &none, &take_rc);
  if (rc == 1)
    rc = fpq__finish_take(f->q, last, "w", &ok, NULL, all_queues, 3, 30, 0, &none, &take_rc);
  assert_int_equal(rc, 0);
  assert_int_equal(take_rc, FPQ_EEMPTY);
  assert_hash_field(c, "rq:job:late-c", "status", "finished");
  redisFree(c);
  fpq_job_free(got);
  fpq_job_free(next);
  fpq_job_free(last);
  for (int i = 0; i < 3; i++) fpq_job_free(jobs[i]);
}

/* A step's answer that came late and was never read (no waiting call followed) is not
 * taken for the answer of the next call on the handle: that call starts on a new
 * connection. */
static void an_unread_late_answer_is_never_read_as_another_calls(void **state) {
  fixture *f = *state;
  fpq_job *a = new_job("unread-a", FPQ_PRIORITY_LOW), *b = new_job("unread-b", FPQ_PRIORITY_LOW);
  assert_int_equal(fpq_enqueue(f->q, a), 0);
  assert_int_equal(fpq_enqueue(f->q, b), 0);
  fpq_job *got = NULL, *next = NULL;
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &got), 0);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "7"};
  int take_rc = -1;
  /* Loads the step's script (a step from the loop sends only a loaded one). */
  assert_int_equal(fpq__finish_take(f->q, got, "w", &ok, NULL, all_queues, 3, 30, 0, &next,
                                    &take_rc), 0);
  redisContext *c = raw();
  freeReplyObject(cmd(c, "CLIENT PAUSE 500 ALL"));
  fpq_job *last = NULL;
  assert_int_equal(fpq__finish_take(f->q, next, "w", &ok, NULL, all_queues, 3, 30, 1, &last,
                                    &take_rc), 1);
  fpq_job *read = NULL;
  assert_int_equal(fpq_get(f->q, "unread-a", &read), 0);
  assert_string_equal(read->id, "unread-a");
  assert_int_equal(read->status, FPQ_STATUS_FINISHED);
  fpq_job_free(read);
  /* Sent while Redis was paused, the step never ran: its connection was closed first.
   * The job stays started under its lease, as after any lost connection. */
  assert_hash_field(c, "rq:job:unread-b", "status", "started");
  redisFree(c);
  fpq_job_free(got);
  fpq_job_free(next);
  fpq_job_free(a);
  fpq_job_free(b);
}

/* RQ's worker hash through the steps: busy with the next job when one is taken (straight
 * from job to job), idle with no current job when none is, as finish then take leave it. */
static void the_worker_hash_follows_the_step(void **state) {
  fixture *f = *state;
  fpq_worker_info w = {.pid = 42};
  snprintf(w.name, sizeof w.name, "host.7");
  snprintf(w.state, sizeof w.state, "idle");
  snprintf(w.queues, sizeof w.queues, "high,default,low");
  assert_int_equal(fpq_worker_beat(f->q, &w, 30), 0);
  fpq_job *a = new_job("hash-a", FPQ_PRIORITY_HIGH), *b = new_job("hash-b", FPQ_PRIORITY_LOW);
  assert_int_equal(fpq_enqueue(f->q, a), 0);
  assert_int_equal(fpq_enqueue(f->q, b), 0);
  fpq_job *got = NULL, *next = NULL, *none = NULL;
  assert_int_equal(fpq_take(f->q, "host.7", all_queues, 3, 30, 0, &got), 0);
  redisContext *c = raw();
  assert_hash_field(c, "rq:worker:host.7", "current_job", "hash-a");
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  int take_rc = -1;
  assert_int_equal(fpq__finish_take(f->q, got, "host.7", &ok, NULL, all_queues, 3, 30, 0, &next,
                                    &take_rc), 0);
  assert_string_equal(next->id, "hash-b");
  assert_hash_field(c, "rq:worker:host.7", "state", "busy");
  assert_hash_field(c, "rq:worker:host.7", "current_job", "hash-b");
  assert_int_equal(fpq__finish_take(f->q, next, "host.7", &ok, NULL, all_queues, 3, 30, 0, &none,
                                    &take_rc), 0);
  assert_int_equal(take_rc, FPQ_EEMPTY);
  assert_hash_field(c, "rq:worker:host.7", "state", "idle");
  char *current = hget(c, "rq:worker:host.7", "current_job");
  assert_null(current);
  redisFree(c);
  fpq_job_free(got);
  fpq_job_free(next);
  fpq_job_free(a);
  fpq_job_free(b);
}

/* A job Python rq enqueued with serializer="json" (positional arguments, its own
 * retry fields, no fpq_ fields) is read and taken. */
static void a_job_python_rq_wrote_is_read_and_taken(void **state) {
  fixture *f = *state;
  char json[1024];
  snprintf(json, sizeof json,
           "[\"flowerpower_job_queue.tasks.run_pipeline\", null, [\"%s\", \"alpha\"], "
           "{\"run\": {\"inputs\": {\"v\": NaN}}}]", f->project);
  unsigned char z[2048];
  uLongf zlen = sizeof z;
  compress(z, &zlen, (const Bytef *)json, strlen(json));
  redisContext *c = raw();
  freeReplyObject(cmd(c, "HSET rq:job:py-1 status queued created_at 2026-01-02T03:04:05.123456Z "
                         "origin default enqueued_at 2026-01-02T03:04:05Z timeout 180 "
                         "retries_left 3 retry_intervals [5] description py data %b",
                      z, (size_t)zlen));
  freeReplyObject(cmd(c, "RPUSH rq:queue:default py-1"));
  fpq_job *job = NULL;
  assert_int_equal(fpq_get(f->q, "py-1", &job), 0);
  assert_string_equal(job->project, f->project);
  assert_string_equal(job->pipeline, "alpha");
  assert_string_equal(job->run_json, "{\"inputs\":{\"v\":null}}");
  assert_int_equal(job->status, FPQ_STATUS_QUEUED);
  assert_int_equal(job->max_retries, 3);
  assert_true(job->retry_delay == 5 && job->timeout == 180);
  assert_double_near(job->created_at, 1767323045.123456, 1e-5);
  assert_double_near(job->enqueued_at, 1767323045.0, 1e-5);
  fpq_job_free(job);
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &job), 0);
  assert_string_equal(job->id, "py-1");
  assert_int_equal(job->attempts, 1);
  assert_int_equal(job->max_retries, 3);
  fpq_outcome bad = {.kind = FPQ_OUTCOME_FAILURE, .error_json = "{\"type\":\"E\"}"};
  fpq_status final;
  assert_int_equal(fpq_finish(f->q, job, "w", &bad, &final), 0);
  assert_int_equal(final, FPQ_STATUS_SCHEDULED); /* retries_left 3 -> 2, like RQ */
  assert_hash_field(c, "rq:job:py-1", "retries_left", "2");
  fpq_job_free(job);
  redisFree(c);
}

/* deflate stores short input as it is (zlib's framing: 2 header bytes, a 5-byte stored
 * block header, 4 of Adler-32) and compresses longer input; zlib reads both back. */
static void deflate_stores_short_input_and_compresses_long(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 180, 512, 513, 100000, 180};
  char *text = malloc(100001);
  assert_non_null(text);
  for (size_t i = 0; i < 100000; i++) text[i] = "{\"inputs\": [1, 2, 3]}"[i % 21];
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    size_t len = sizes[k], zlen = 0;
    unsigned char *z = NULL;
    assert_int_equal(fpq__rq_deflate(text, len, &z, &zlen), 0);
    if (len <= 512) assert_int_equal(zlen, len + 11);
    else assert_true(zlen < len / 4);
    unsigned char *back = malloc(len + 1);
    assert_non_null(back);
    uLongf blen = len + 1;
    assert_int_equal(uncompress(back, &blen, z, zlen), Z_OK);
    assert_int_equal(blen, len);
    assert_memory_equal(back, text, len);
    free(back);
    fpq__free(z);
  }
  free(text);
}

static void put_raw_job(redisContext *c, const char *id, const void *data, size_t len) {
  freeReplyObject(cmd(c, "HSET rq:job:%s status queued origin default data %b", id, data, len));
  freeReplyObject(cmd(c, "RPUSH rq:queue:default %s", id));
}

/* Issue 13: a truncated zlib payload is named as such (not "uncompressed"), and "\u0000"
 * in a string is JSON: taken in run options, refused where it would cut the project. */
static void truncated_zlib_and_nul_escapes_are_told_apart(void **state) {
  fixture *f = *state;
  char json[1024];
  snprintf(json, sizeof json,
           "[\"flowerpower_job_queue.tasks.run_pipeline\", null, [], {\"project\": \"%s\", "
           "\"pipeline\": \"alpha\", \"run\": {\"inputs\": {\"s\": \"a\\u0000b\"}}}]",
           f->project);
  unsigned char z[2048];
  uLongf zlen = sizeof z;
  compress(z, &zlen, (const unsigned char *)json, strlen(json));
  char cut[1024];
  snprintf(cut, sizeof cut,
           "[\"flowerpower_job_queue.tasks.run_pipeline\", null, [], {\"project\": \"%s\\u0000x\", "
           "\"pipeline\": \"alpha\"}]", f->project);
  redisContext *c = raw();
  put_raw_job(c, "truncated", z, zlen / 2);
  put_raw_job(c, "nul-project", cut, strlen(cut));
  put_raw_job(c, "nul-input", z, zlen);
  fpq_job *job = NULL;
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &job), 0);
  assert_string_equal(job->id, "nul-input");
  assert_contains(job->run_json, "a\\u0000b");
  fpq_job_free(job);
  assert_int_equal(fpq_get(f->q, "truncated", &job), 0);
  assert_int_equal(job->status, FPQ_STATUS_FAILED);
  assert_contains(job->error_json, "starts like zlib but does not inflate");
  fpq_job_free(job);
  assert_int_equal(fpq_get(f->q, "nul-project", &job), 0);
  assert_int_equal(job->status, FPQ_STATUS_FAILED);
  assert_contains(job->error_json, "NUL character");
  fpq_job_free(job);
  redisFree(c);
}

static void a_pickle_payload_is_failed_and_never_run(void **state) {
  fixture *f = *state;
  /* pickle.dumps(("tasks.add", None, (1, 2), {}), protocol=5): zlib'd, and raw */
  static const unsigned char pickle[] = {0x80, 0x05, 0x95, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 0x8c, 0x09, 't',  'a',  's',  'k',  's',
                                         '.',  'a',  'd',  'd',  0x94, 0x4e, 0x4b, 0x01, 0x4b,
                                         0x02, 0x86, 0x94, 0x7d, 0x94, 0x74, 0x94, 0x2e};
  unsigned char z[256];
  uLongf zlen = sizeof z;
  compress(z, &zlen, pickle, sizeof pickle);
  redisContext *c = raw();
  put_raw_job(c, "pickled", z, zlen);
  put_raw_job(c, "raw-pickle", pickle, sizeof pickle);
  put_raw_job(c, "not-json", "hello there", 11);
  fpq_job *job = NULL;
  fpq_job *good = new_job("good", FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(f->q, good), 0);
  /* the three bad ones are failed on the way; the good one behind them is taken */
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &job), 0);
  assert_string_equal(job->id, "good");
  fpq_job_free(job);
  const char *bad[] = {"pickled", "raw-pickle", "not-json"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(fpq_get(f->q, bad[i], &job), 0);
    assert_int_equal(job->status, FPQ_STATUS_FAILED);
    assert_contains(job->error_json, "UnsupportedPayload");
    assert_contains(job->error_json, i < 2 ? "pickle" : "not JSON");
    assert_true(zscore(c, "rq:failed:default", bad[i]) > 0);
    fpq_job_free(job);
  }
  fpq_job_free(good);
  redisFree(c);
}

static void a_popped_id_without_a_hash_is_dropped(void **state) {
  fixture *f = *state;
  redisContext *c = raw();
  freeReplyObject(cmd(c, "RPUSH rq:queue:high ghost-1 ghost-2"));
  fpq_job *job = new_job("real", FPQ_PRIORITY_LOW), *got = NULL;
  assert_int_equal(fpq_enqueue(f->q, job), 0);
  assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0, &got), 0);
  assert_string_equal(got->id, "real");
  redisReply *n = cmd(c, "LLEN rq:queue:high");
  assert_int_equal(n->integer, 0);
  freeReplyObject(n);
  fpq_job_free(got);
  fpq_job_free(job);
  redisFree(c);
}

/* ---- workers and commands on the wire ---- */

static void a_worker_is_visible_to_rq_and_gets_rq_commands(void **state) {
  fixture *f = *state;
  fpq_worker_info w = {.pid = 42, .successful = 3, .failed = 1, .busy_seconds = 1.5};
  snprintf(w.name, sizeof w.name, "host.42");
  snprintf(w.hostname, sizeof w.hostname, "host");
  snprintf(w.state, sizeof w.state, "idle");
  snprintf(w.queues, sizeof w.queues, "high,default,low");
  assert_int_equal(fpq_worker_beat(f->q, &w, 30), 0);
  redisContext *c = raw();
  assert_hash_field(c, "rq:worker:host.42", "queues", "high,default,low");
  assert_hash_field(c, "rq:worker:host.42", "successful_job_count", "3");
  assert_hash_field(c, "rq:worker:host.42", "python_version", "fpq");
  assert_rq_time(c, "rq:worker:host.42", "birth");
  const char *sets[] = {"rq:workers", "rq:workers:high", "rq:workers:default", "rq:workers:low"};
  for (int i = 0; i < 4; i++) {
    redisReply *m = cmd(c, "SISMEMBER %s rq:worker:host.42", sets[i]);
    assert_int_equal(m->integer, 1);
    freeReplyObject(m);
  }
  redisReply *ttl = cmd(c, "TTL rq:worker:host.42");
  assert_true(ttl->integer > 0 && ttl->integer <= 30);
  freeReplyObject(ttl);
  /* commands as Python rq's send_command publishes them */
  redisReply *pub = cmd(c, "PUBLISH rq:pubsub:host.42 %s", "{\"command\": \"stop-job\", \"job_id\": \"j1\"}");
  assert_int_equal(pub->integer, 1);
  freeReplyObject(pub);
  freeReplyObject(cmd(c, "PUBLISH rq:pubsub:host.42 %s", "{\"command\": \"kill-horse\"}"));
  freeReplyObject(cmd(c, "PUBLISH rq:pubsub:host.42 %s", "{\"command\": \"shutdown\"}"));
  char buf[128];
  assert_int_equal(fpq_worker_next_command(f->q, "host.42", buf, sizeof buf), 0);
  assert_string_equal(buf, "stop-job:j1");
  assert_int_equal(fpq_worker_next_command(f->q, "host.42", buf, sizeof buf), 0);
  assert_string_equal(buf, "kill-horse");
  assert_int_equal(fpq_worker_next_command(f->q, "host.42", buf, sizeof buf), 0);
  assert_string_equal(buf, "shutdown");
  assert_int_equal(fpq_worker_next_command(f->q, "host.42", buf, sizeof buf), FPQ_EEMPTY);
  /* shutdown-now: RQ's shutdown plus our flag (a Python worker does a warm shutdown) */
  assert_int_equal(fpq_worker_command(f->q, "host.42", "shutdown-now"), 0);
  assert_int_equal(fpq_worker_next_command(f->q, "host.42", buf, sizeof buf), 0);
  assert_string_equal(buf, "shutdown-now");
  assert_int_equal(fpq_worker_command(f->q, "nobody", "shutdown"), FPQ_ENOTFOUND);
  assert_int_equal(fpq_worker_gone(f->q, "host.42"), 0);
  char *death = hget(c, "rq:worker:host.42", "death");
  assert_non_null(death);
  free(death);
  redisReply *m = cmd(c, "SISMEMBER rq:workers:high rq:worker:host.42");
  assert_int_equal(m->integer, 0);
  freeReplyObject(m);
  redisFree(c);
}

/* ---- connections ---- */

static void urls_with_credentials_and_unix_sockets_work(void **state) {
  fixture *f = *state;
  redisContext *c = raw();
  freeReplyObject(cmd(c, "ACL SETUSER alice on >s3cret ~* &* +@all"));
  char url[512];
  int rc;
  snprintf(url, sizeof url, "redis://alice:s3cret@127.0.0.1:%d/2", server.port);
  fpq_queue *q = open_url(f->project, url, NULL);
  fpq_job *job = new_job("in-db-2", FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(q, job), 0);
  fpq_close(q);
  freeReplyObject(cmd(c, "SELECT 2"));
  redisReply *e = cmd(c, "EXISTS rq:job:in-db-2");
  assert_int_equal(e->integer, 1);
  freeReplyObject(e);
  freeReplyObject(cmd(c, "SELECT 0"));
  /* A refused password: the backend is unavailable to us (exit 3), said in plain words. */
  snprintf(url, sizeof url, "redis://alice:wrong@127.0.0.1:%d/0", server.port);
  q = open_url(f->project, url, &rc);
  assert_int_equal(rc, FPQ_EUNAVAIL);
  assert_contains(fpq_errmsg(q), "refused the user name or password in the URL (WRONGPASS)");
  assert_not_contains(fpq_errmsg(q), "wrong");
  fpq_close(q);
  snprintf(url, sizeof url, "unix://%s?db=2", server.sock);
  q = open_url(f->project, url, NULL);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(q, "in-db-2", &got), 0);
  fpq_job_free(got);
  fpq_close(q);
  q = open_url(f->project, "rediss://127.0.0.1:1/0", &rc);
  assert_int_equal(rc, FPQ_ECONFIG);
  assert_contains(fpq_errmsg(q), "TLS is not supported by the Redis client library in use");
  fpq_close(q);
  /* Query parameters other than db, password and username are bad input, never ignored:
   * ?ssl=true must not connect in plain text. A parameter's value is never shown. */
  static const struct {
    const char *query, *says;
  } bad_queries[] = {
      {"?ssl=true", "query parameter 'ssl' asks for TLS: TLS is not supported"},
      {"?ssl_cert_reqs=none", "query parameter 'ssl_cert_reqs' asks for TLS"},
      {"?socket_timeout=5", "unknown query parameter 'socket_timeout' (accepted: db, password"},
      {"?db=1&dbb=2", "unknown query parameter 'dbb'"},
      {"?db", "query parameter 'db' has no value"},
      {"?db=x", "bad value for query parameter 'db'"},
      {"?password=hunter2&x=1", "unknown query parameter 'x'"},
  };
  for (size_t i = 0; i < sizeof bad_queries / sizeof *bad_queries; i++) {
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0%s", server.port, bad_queries[i].query);
    q = open_url(f->project, url, &rc);
    assert_int_equal(rc, FPQ_ECONFIG);
    assert_contains(fpq_errmsg(q), bad_queries[i].says);
    assert_not_contains(fpq_errmsg(q), "hunter2");
    fpq_close(q);
  }
  q = open_url(f->project, "redis://127.0.0.1:99999/0", &rc);
  assert_int_equal(rc, FPQ_ECONFIG);
  assert_contains(fpq_errmsg(q), "port");
  fpq_close(q);
  freeReplyObject(cmd(c, "ACL DELUSER alice"));
  fpq_job_free(job);
  redisFree(c);
}

static void a_server_that_wants_a_password_is_unavailable_to_us(void **state) {
  fixture *f = *state;
  test_redis own = {0};
  if (test_redis_start(&own) != 0) skip();
  redisContext *c = redisConnect("127.0.0.1", own.port);
  freeReplyObject(cmd(c, "CONFIG SET requirepass hunter2"));
  int rc;
  fpq_queue *q = open_url(f->project, own.url, &rc);
  assert_int_equal(rc, FPQ_EUNAVAIL);
  assert_contains(fpq_errmsg(q), "wants a password and the URL gives none (NOAUTH)");
  fpq_close(q);
  char url[128];
  snprintf(url, sizeof url, "redis://:hunter2@127.0.0.1:%d/0", own.port);
  q = open_url(f->project, url, NULL);
  fpq_job *job = new_job(NULL, FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(q, job), 0);
  fpq_job_free(job);
  fpq_close(q);
  redisFree(c);
  test_redis_stop(&own);
}

static void an_unreachable_redis_is_unavailable(void **state) {
  fixture *f = *state;
  int rc;
  fpq_queue *q = open_url(f->project, "redis://127.0.0.1:1/0", &rc);
  assert_int_equal(rc, FPQ_EUNAVAIL);
  assert_contains(fpq_errmsg(q), "127.0.0.1:1");
  fpq_job *job = new_job(NULL, FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(q, job), FPQ_EUNAVAIL);
  fpq_job_free(job);
  fpq_close(q);
}

static int retry_until_ok(int (*op)(fpq_queue *, void *), fpq_queue *q, void *arg) {
  int rc = FPQ_EUNAVAIL;
  for (int i = 0; i < 100 && rc == FPQ_EUNAVAIL; i++) {
    rc = op(q, arg);
    if (rc == FPQ_EUNAVAIL) usleep(50 * 1000);
  }
  return rc;
}

static int enqueue_op(fpq_queue *q, void *arg) { return fpq_enqueue(q, arg); }

static void the_backend_survives_a_redis_restart(void **state) {
  fixture *f = *state;
  test_redis own = {0};
  if (test_redis_start(&own) != 0) skip();
  fpq_queue *q = open_url(f->project, own.url, NULL);
  fpq_job *job = new_job("before", FPQ_PRIORITY_MEDIUM), *got = NULL;
  assert_int_equal(fpq_enqueue(q, job), 0);
  assert_int_equal(fpq_take(q, "w", all_queues, 3, 30, 0.01, &got), 0); /* arms tracking */
  fpq_job_free(got);
  test_redis_kill(&own);
  fpq_job *during = new_job("during", FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(q, during), FPQ_EUNAVAIL);
  assert_contains(fpq_errmsg(q), "Redis");
  assert_int_equal(fpq_take(q, "w", all_queues, 3, 30, 0.05, &got), FPQ_EUNAVAIL);
  assert_int_equal(test_redis_restart(&own), 0);
  assert_int_equal(retry_until_ok(enqueue_op, q, during), 0);
  /* the script cache is empty after the restart (NOSCRIPT) and tracking is re-armed */
  assert_int_equal(fpq_take(q, "w", all_queues, 3, 30, 1, &got), 0);
  assert_string_equal(got->id, "during");
  fpq_job_free(got);
  fpq_job_free(job);
  fpq_job_free(during);
  fpq_close(q);
  test_redis_stop(&own);
}

/* ---- waking an idle take ---- */

typedef struct producer {
  const char *project;
  int raw_push; /* 1: push like another client (Python rq) would, not through fpq */
  double pushed_at;
} producer;

static void *produce(void *arg) {
  producer *p = arg;
  usleep(200 * 1000);
  if (p->raw_push) {
    redisContext *c = raw();
    const char json[] = "[\"flowerpower_job_queue.tasks.run_pipeline\", null, [], "
                        "{\"project\": \"/x\", \"pipeline\": \"alpha\", \"run\": {}}]";
    freeReplyObject(cmd(c, "HSET rq:job:from-python status queued origin low data %b", json,
                        strlen(json)));
    p->pushed_at = mono();
    freeReplyObject(cmd(c, "RPUSH rq:queue:low from-python"));
    redisFree(c);
  } else {
    fpq_queue *q = open_url(p->project, server.url, NULL);
    fpq_job *job = new_job(NULL, FPQ_PRIORITY_LOW);
    p->pushed_at = mono();
    if (fpq_enqueue(q, job) != 0) fail_msg("enqueue: %s", fpq_errmsg(q));
    fpq_job_free(job);
    fpq_close(q);
  }
  return NULL;
}

static void an_idle_take_wakes_on_any_clients_write(void **state) {
  fixture *f = *state;
  for (int raw_push = 0; raw_push < 2; raw_push++) {
    producer p = {.project = f->project, .raw_push = raw_push};
    fpq_job *job = NULL;
    /* arm tracking first, as a worker's previous take would have */
    assert_int_equal(fpq_take(f->q, "w", all_queues, 3, 30, 0.01, &job), FPQ_EEMPTY);
    pthread_t t;
    pthread_create(&t, NULL, produce, &p);
    int rc = fpq_take(f->q, "w", all_queues, 3, 30, 5, &job);
    double took = mono();
    pthread_join(t, NULL);
    assert_int_equal(rc, 0);
    /* No timing assertion (tests never assert wall-clock times); the figure is for the
     * reader. The safety poll alone would give up to 500 ms. */
    printf("    pickup after a %s write: %.2f ms\n", raw_push ? "raw RPUSH" : "fpq enqueue",
           (took - p.pushed_at) * 1e3);
    fpq_job_free(job);
  }
}

static void find_prunes_ids_whose_hash_expired(void **state) {
  fixture *f = *state;
  fpq_job *a = new_job("keep", FPQ_PRIORITY_MEDIUM), *b = new_job("gone", FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(f->q, a), 0);
  assert_int_equal(fpq_enqueue(f->q, b), 0);
  redisContext *c = raw();
  freeReplyObject(cmd(c, "DEL rq:job:gone"));
  fpq_job **jobs = NULL;
  size_t n = 0;
  assert_int_equal(fpq_find(f->q, NULL, "alpha", 10, &jobs, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(jobs[0]->id, "keep");
  fpq_jobs_free(jobs, n);
  char key[4200];
  snprintf(key, sizeof key, "fpq:pipeline:alpha:%s", "test"); /* indexed by project name */
  assert_int_equal(zcard(c, key), 1);
  redisFree(c);
  fpq_job_free(a);
  fpq_job_free(b);
}

/* A project's find merges its pipelines' indexes, newest first. Here beta's two newest
 * jobs have expired: the first look (2 ids of each index) must not take alpha's for the
 * newest, since beta may hold newer live ones past its window (q-live); it looks again
 * with a larger window, and prunes the expired ids. An old fpq:project index (written by
 * older fpq) is read too, and an id in it and in its pipeline's is listed once. */
static void find_by_project_looks_past_expired_ids(void **state) {
  fixture *f = *state;
  const char *ids[] = {"p-old", "p-mid", "q-live", "q-new1", "q-new2"};
  for (int i = 0; i < 5; i++) {
    fpq_job *job = new_job(ids[i], FPQ_PRIORITY_MEDIUM);
    if (ids[i][0] == 'q') fpq_job_set(&job->pipeline, "beta");
    assert_int_equal(fpq_enqueue(f->q, job), 0);
    fpq_job_free(job);
  }
  redisContext *c = raw();
  freeReplyObject(cmd(c, "DEL rq:job:q-new1 rq:job:q-new2"));
  fpq_job **jobs = NULL;
  size_t n = 0;
  assert_int_equal(fpq_find(f->q, NULL, NULL, 2, &jobs, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(jobs[0]->id, "q-live");
  assert_string_equal(jobs[1]->id, "p-mid");
  fpq_jobs_free(jobs, n);
  assert_int_equal(zcard(c, "fpq:pipeline:beta:test"), 1); /* the expired two pruned */
  redisReply *score = cmd(c, "ZSCORE fpq:pipeline:alpha:test p-mid");
  freeReplyObject(cmd(c, "ZADD fpq:project:test %s p-mid", score->str));
  freeReplyObject(score);
  freeReplyObject(cmd(c, "SADD fpq:indexes fpq:project:test"));
  assert_int_equal(fpq_find(f->q, NULL, NULL, 10, &jobs, &n), 0);
  assert_int_equal(n, 3); /* p-mid once */
  assert_string_equal(jobs[1]->id, "p-mid");
  assert_string_equal(jobs[2]->id, "p-old");
  fpq_jobs_free(jobs, n);
  redisFree(c);
}

/* A refusal in the middle of work reads as it does at connect, in plain words: here
 * BUSY, while another client's script runs past Redis's busy threshold. */
static void a_refusal_mid_command_is_told_in_plain_words(void **state) {
  fixture *f = *state;
  fpq_job *first = new_job("before-busy", FPQ_PRIORITY_MEDIUM);
  assert_int_equal(fpq_enqueue(f->q, first), 0); /* connected, scripts loaded */
  redisContext *c = raw();
  freeReplyObject(cmd(c, "CONFIG SET lua-time-limit 50"));
  redisContext *busy = raw();
  assert_int_equal(redisAppendCommand(busy, "EVAL %s 0", "while true do end"), REDIS_OK);
  int sent = 0;
  while (!sent) assert_int_equal(redisBufferWrite(busy, &sent), REDIS_OK);
  /* Past the 50 ms threshold Redis answers every other client BUSY: wait for that. */
  for (int tries = 0;; tries++) {
    redisReply *ping = cmd(c, "PING");
    int refused = ping->type == REDIS_REPLY_ERROR && strncmp(ping->str, "BUSY", 4) == 0;
    freeReplyObject(ping);
    if (refused) break;
    assert_true(tries < 1000); /* 10 s */
    usleep(10 * 1000);
  }
  fpq_job *job = new_job("during-busy", FPQ_PRIORITY_MEDIUM);
  int rc = fpq_enqueue(f->q, job);
  char msg[512];
  snprintf(msg, sizeof msg, "%s", fpq_errmsg(f->q));
  freeReplyObject(cmd(c, "SCRIPT KILL"));
  void *killed = NULL;
  assert_int_equal(redisGetReply(busy, &killed), REDIS_OK);
  freeReplyObject(killed);
  freeReplyObject(cmd(c, "CONFIG SET lua-time-limit 5000"));
  assert_int_equal(rc, FPQ_EUNAVAIL);
  assert_non_null(strstr(msg, "is busy running a script (BUSY)"));
  assert_null(strstr(msg, "Redis is busy running a script. You can only call"));
  assert_int_equal(fpq_enqueue(f->q, job), 0); /* and works again once it is over */
  redisFree(busy);
  redisFree(c);
  fpq_job_free(job);
  fpq_job_free(first);
}

/* The record of ended runs (fpq:ended, read by metrics) is trimmed by maintenance, not
 * by each finish: runs older than an hour go, and at most 100,000 stay. */
static void maintenance_trims_the_record_of_ended_runs(void **state) {
  fixture *f = *state;
  redisContext *c = raw();
  double now = wall();
  int moved = 0;
  /* By age: an hour-old run goes, recent ones stay. */
  freeReplyObject(cmd(c, "ZADD fpq:ended %f old-run %f recent-1 %f recent-2", now - 7200, now,
                      now));
  assert_int_equal(fpq_maintain(f->q, &moved), 0);
  assert_int_equal(zcard(c, "fpq:ended"), 2);
  /* By count: at most 100,000, the oldest go first. */
  freeReplyObject(cmd(c, "ZADD fpq:ended %f old-run", now - 7200));
  for (int i = 0; i < 100002; i += 1000) { /* 100,002 recent runs, in calls of 1,000 */
    char args[1000][24];
    const char *argv[2 + 2 * 1000];
    char score[32];
    snprintf(score, sizeof score, "%f", now);
    argv[0] = "ZADD";
    argv[1] = "fpq:ended";
    int n = i + 1000 <= 100002 ? 1000 : 100002 - i;
    for (int j = 0; j < n; j++) {
      snprintf(args[j], sizeof args[j], "run-%d", i + j);
      argv[2 + 2 * j] = score;
      argv[3 + 2 * j] = args[j];
    }
    freeReplyObject(redisCommandArgv(c, 2 + 2 * n, argv, NULL));
  }
  assert_int_equal(zcard(c, "fpq:ended"), 100005);
  assert_int_equal(fpq_maintain(f->q, &moved), 0);
  assert_int_equal(zcard(c, "fpq:ended"), 100000);
  redisReply *old = cmd(c, "ZSCORE fpq:ended old-run");
  assert_int_equal(old->type, REDIS_REPLY_NIL);
  freeReplyObject(old);
  redisFree(c);
}

int main(void) {
  if (test_redis_start(&server) != 0) {
    fprintf(stderr, "redis-server is not installed: skipping the rq backend tests\n");
    return 0;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(enqueue_writes_rq_job_hash_queue_and_data, setup, teardown),
      cmocka_unit_test_setup_teardown(a_namespaced_project_has_rq_queues_of_its_own, setup, teardown),
      cmocka_unit_test_setup_teardown(take_registers_wip_execution_and_started_status, setup, teardown),
      cmocka_unit_test_setup_teardown(a_failure_goes_to_the_failed_registry_with_an_exc_string, setup, teardown),
      cmocka_unit_test_setup_teardown(a_job_python_rq_wrote_is_read_and_taken, setup, teardown),
      cmocka_unit_test_setup_teardown(a_pickle_payload_is_failed_and_never_run, setup, teardown),
      cmocka_unit_test(deflate_stores_short_input_and_compresses_long),
      cmocka_unit_test_setup_teardown(truncated_zlib_and_nul_escapes_are_told_apart, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_popped_id_without_a_hash_is_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(a_worker_is_visible_to_rq_and_gets_rq_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(urls_with_credentials_and_unix_sockets_work, setup, teardown),
      cmocka_unit_test_setup_teardown(a_server_that_wants_a_password_is_unavailable_to_us, setup, teardown),
      cmocka_unit_test_setup_teardown(an_unreachable_redis_is_unavailable, setup, teardown),
      cmocka_unit_test_setup_teardown(the_backend_survives_a_redis_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(an_idle_take_wakes_on_any_clients_write, setup, teardown),
      cmocka_unit_test_setup_teardown(find_by_project_looks_past_expired_ids, setup, teardown),
      cmocka_unit_test_setup_teardown(find_prunes_ids_whose_hash_expired, setup, teardown),
      cmocka_unit_test_setup_teardown(a_late_answer_to_the_loops_step_is_read_by_the_waiting_call,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(an_unread_late_answer_is_never_read_as_another_calls,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_take_error_in_the_step_keeps_the_recorded_outcome,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(the_worker_hash_follows_the_step, setup, teardown),
      cmocka_unit_test_setup_teardown(maintenance_trims_the_record_of_ended_runs, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_refusal_mid_command_is_told_in_plain_words, setup,
                                      teardown),
  };
  int failed = cmocka_run_group_tests_name("rq", tests, NULL, NULL);
  backend_contract c = {.backend = "rq", .make_url = make_url, .reset = reset,
                       .fenced = 1, .steps_at_once = 1};
  failed += backend_contract_run(&c);
  test_redis_stop(&server);
  return failed;
}
