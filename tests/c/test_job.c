/* test_job.c: the job record (src/job.c): status and priority names, the life cycle of a
 * job (new, set, dup, free), time-ordered UUID (v7) ids, validation of what users give us and its
 * one-line messages, the JSON form both ways, and every allocation failure on the way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "alloc.h"
#include "clock.h"
#include "fpq.h"
#include "job.h"
#include "random.h"
#include "testutil.h"

/* Allocation failure is global state: never let one test's injection leak into the next. */
static int reset_alloc(void **state) {
  (void)state;
  fpq__alloc_fail_after(0);
  return 0;
}

/* A message is one line of printable text. */
static void assert_one_line(const char *msg) {
  assert_true(strlen(msg) > 0);
  for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
    if (*p < 0x20 || *p == 0x7f) fail_msg("message has byte 0x%02x: \"%s\"", *p, msg);
}

/* ---- statuses and priorities ---- */

static void every_status_has_rqs_name_and_parses_back(void **state) {
  (void)state;
  static const char *const names[] = {"queued",    "started", "finished", "failed", "deferred",
                                      "scheduled", "stopped", "canceled", "created"};
  assert_int_equal(sizeof names / sizeof names[0], FPQ_STATUS_COUNT);
  for (int s = 0; s < FPQ_STATUS_COUNT; s++) {
    assert_string_equal(fpq_status_name((fpq_status)s), names[s]);
    fpq_status parsed = FPQ_STATUS_COUNT;
    assert_int_equal(fpq_status_parse(names[s], &parsed), 0);
    assert_int_equal(parsed, s);
  }
}

static void unknown_status_names_are_refused_and_leave_the_output_alone(void **state) {
  (void)state;
  const char *bad[] = {"QUEUED", "Queued", "queued ", "", "cancelled", "unknown", "done"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fpq_status s = FPQ_STATUS_STOPPED;
    assert_int_equal(fpq_status_parse(bad[i], &s), FPQ_EINVAL);
    assert_int_equal(s, FPQ_STATUS_STOPPED);
  }
  fpq_status s = FPQ_STATUS_STOPPED;
  assert_int_equal(fpq_status_parse(NULL, &s), FPQ_EINVAL);
}

static void a_status_out_of_range_is_named_unknown(void **state) {
  (void)state;
  assert_string_equal(fpq_status_name(FPQ_STATUS_COUNT), "unknown");
  assert_string_equal(fpq_status_name((fpq_status)-1), "unknown");
  assert_string_equal(fpq_status_name((fpq_status)1000), "unknown");
}

static void only_finished_failed_stopped_and_canceled_are_terminal(void **state) {
  (void)state;
  for (int s = 0; s < FPQ_STATUS_COUNT; s++) {
    int expected = s == FPQ_STATUS_FINISHED || s == FPQ_STATUS_FAILED ||
                   s == FPQ_STATUS_STOPPED || s == FPQ_STATUS_CANCELED;
    if (fpq_status_is_terminal((fpq_status)s) != expected)
      fail_msg("status %s: terminal is %d, expected %d", fpq_status_name((fpq_status)s),
               fpq_status_is_terminal((fpq_status)s), expected);
  }
}

static void priorities_have_names_and_map_to_rq_queues(void **state) {
  (void)state;
  assert_string_equal(fpq_priority_name(FPQ_PRIORITY_HIGH), "high");
  assert_string_equal(fpq_priority_name(FPQ_PRIORITY_MEDIUM), "medium");
  assert_string_equal(fpq_priority_name(FPQ_PRIORITY_LOW), "low");
  assert_string_equal(fpq_priority_queue(FPQ_PRIORITY_HIGH), "high");
  assert_string_equal(fpq_priority_queue(FPQ_PRIORITY_MEDIUM), "default");
  assert_string_equal(fpq_priority_queue(FPQ_PRIORITY_LOW), "low");
  /* Out of range falls back to the middle, never to a missing string. */
  assert_string_equal(fpq_priority_name((fpq_priority)7), "medium");
  assert_string_equal(fpq_priority_queue((fpq_priority)-1), "default");
}

static void priority_parse_takes_names_and_queue_names(void **state) {
  (void)state;
  struct {
    const char *text;
    fpq_priority p;
  } good[] = {{"high", FPQ_PRIORITY_HIGH},
              {"medium", FPQ_PRIORITY_MEDIUM},
              {"default", FPQ_PRIORITY_MEDIUM},
              {"low", FPQ_PRIORITY_LOW}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    fpq_priority p = (fpq_priority)99;
    assert_int_equal(fpq_priority_parse(good[i].text, &p), 0);
    assert_int_equal(p, good[i].p);
  }
  const char *bad[] = {"HIGH", "urgent", "", "med", "0", " low"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fpq_priority p = FPQ_PRIORITY_LOW;
    assert_int_equal(fpq_priority_parse(bad[i], &p), FPQ_EINVAL);
    assert_int_equal(p, FPQ_PRIORITY_LOW);
  }
  fpq_priority p;
  assert_int_equal(fpq_priority_parse(NULL, &p), FPQ_EINVAL);
}

static void queues_rank_high_default_low_then_any_other(void **state) {
  (void)state;
  assert_int_equal(fpq__queue_priority("high"), 0);
  assert_int_equal(fpq__queue_priority("default"), 1);
  assert_int_equal(fpq__queue_priority("medium"), 1);
  assert_int_equal(fpq__queue_priority("low"), 2);
  assert_int_equal(fpq__queue_priority("reports"), 3);
  assert_int_equal(fpq__queue_priority(NULL), 3);
}

/* ---- life cycle ---- */

static void a_new_job_is_queued_medium_with_empty_run_and_retries_from_yaml(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  assert_non_null(job);
  assert_string_equal(job->id, "");
  assert_int_equal(job->status, FPQ_STATUS_QUEUED);
  assert_int_equal(job->priority, FPQ_PRIORITY_MEDIUM);
  assert_string_equal(job->run_json, "{}");
  assert_int_equal(job->max_retries, -1);
  assert_double_near(job->retry_delay, -1, 0);
  assert_double_near(job->jitter_factor, -1, 0);
  assert_double_near(job->timeout, 0, 0);
  assert_double_near(job->result_ttl, FPQ_TTL_DEFAULT, 0);
  assert_double_near(job->failure_ttl, FPQ_TTL_DEFAULT, 0);
  assert_double_near(job->created_at, 0, 0);
  assert_double_near(job->run_at, 0, 0);
  assert_int_equal(job->attempts, 0);
  assert_null(job->project);
  assert_null(job->pipeline);
  assert_null(job->queue);
  assert_null(job->description);
  assert_null(job->worker);
  assert_null(job->result_json);
  assert_null(job->error_json);
  assert_null(job->func);
  fpq_job_free(job);
}

static void a_new_job_is_null_when_either_allocation_fails(void **state) {
  (void)state;
  for (long n = 1; n <= 2; n++) {
    fpq__alloc_fail_after(n);
    fpq_job *job = fpq_job_new();
    fpq__alloc_fail_after(0);
    if (job != NULL) fail_msg("fpq_job_new with allocation %ld failing returned a job", n);
  }
}

static void set_copies_replaces_and_null_clears(void **state) {
  (void)state;
  char *field = NULL;
  char value[] = "alpha";
  assert_int_equal(fpq_job_set(&field, value), 0);
  assert_ptr_not_equal(field, value);
  value[0] = 'X'; /* the copy does not follow the caller's buffer */
  assert_string_equal(field, "alpha");
  assert_int_equal(fpq_job_set(&field, "beta"), 0);
  assert_string_equal(field, "beta");
  assert_int_equal(fpq_job_set(&field, ""), 0);
  assert_string_equal(field, "");
  assert_int_equal(fpq_job_set(&field, NULL), 0);
  assert_null(field);
}

static void set_keeps_the_old_value_when_memory_runs_out(void **state) {
  (void)state;
  char *field = NULL;
  assert_int_equal(fpq_job_set(&field, "kept"), 0);
  fpq__alloc_fail_after(1);
  int rc = fpq_job_set(&field, "lost");
  fpq__alloc_fail_after(0);
  assert_int_equal(rc, FPQ_ENOMEM);
  assert_string_equal(field, "kept");
  fpq_job_set(&field, NULL);
}

/* A job with every field set to something recognisable. */
static fpq_job *full_job(void) {
  fpq_job *job = fpq_job_new();
  snprintf(job->id, sizeof job->id, "job-1_full");
  fpq_job_set(&job->project, "/srv/projects/sales");
  fpq_job_set(&job->pipeline, "reports.daily");
  fpq_job_set(&job->run_json, "{\"inputs\":{\"name\":\"Zoë\",\"n\":3},\"final_vars\":[\"a\"]}");
  fpq_job_set(&job->queue, "reports");
  job->priority = FPQ_PRIORITY_LOW;
  job->status = FPQ_STATUS_FAILED;
  fpq_job_set(&job->description, "run_pipeline(pipeline='reports.daily') \"quoted\" ✓");
  job->created_at = 1767225600.125;
  job->enqueued_at = 1767225601.5;
  job->started_at = 1767225602.000001;
  job->ended_at = 1767225603.999999;
  job->run_at = 1767225700.25;
  job->attempts = 4;
  job->max_retries = 3;
  job->retry_delay = 1.5;
  job->jitter_factor = 0.25;
  job->timeout = 300;
  job->result_ttl = 86400;
  fpq_job_set(&job->worker, "host.4242");
  fpq_job_set(&job->result_json, "[1,2.5,\"x\",null,{\"k\":true}]");
  fpq_job_set(&job->error_json,
              "{\"type\":\"ValueError\",\"message\":\"bad\",\"traceback\":\"line 1\\nline 2\"}");
  fpq_job_set(&job->func, "my.module.func");
  fpq_job_set(&job->depends_on, "[\"parent-1\"]");
  fpq_job_set(&job->on_success, "hooks:done");
  fpq_job_set(&job->on_failure, "hooks.alerts:page_someone");
  fpq_job_set(&job->on_stopped, "hooks.stopped");
  return job;
}

static void assert_same_job(const fpq_job *got, const fpq_job *want) {
  assert_string_equal(got->id, want->id);
  assert_string_equal(got->project, want->project);
  assert_string_equal(got->pipeline, want->pipeline);
  assert_string_equal(got->run_json, want->run_json);
  assert_string_equal(got->queue, want->queue);
  assert_int_equal(got->priority, want->priority);
  assert_int_equal(got->status, want->status);
  assert_string_equal(got->description, want->description);
  assert_double_near(got->created_at, want->created_at, 1e-6);
  assert_double_near(got->enqueued_at, want->enqueued_at, 1e-6);
  assert_double_near(got->started_at, want->started_at, 1e-6);
  assert_double_near(got->ended_at, want->ended_at, 1e-6);
  assert_double_near(got->run_at, want->run_at, 1e-6);
  assert_int_equal(got->attempts, want->attempts);
  assert_int_equal(got->max_retries, want->max_retries);
  assert_double_near(got->retry_delay, want->retry_delay, 0);
  assert_double_near(got->jitter_factor, want->jitter_factor, 0);
  assert_double_near(got->timeout, want->timeout, 0);
  assert_double_near(got->result_ttl, want->result_ttl, 0);
  assert_string_equal(got->worker, want->worker);
  assert_string_equal(got->result_json, want->result_json);
  assert_string_equal(got->error_json, want->error_json);
  assert_string_equal(got->func, want->func);
  assert_string_equal(got->depends_on, want->depends_on);
  assert_string_equal(got->on_success, want->on_success);
  assert_string_equal(got->on_failure, want->on_failure);
  assert_string_equal(got->on_stopped, want->on_stopped);
}

static void dup_is_a_deep_copy_of_every_field(void **state) {
  (void)state;
  fpq_job *job = full_job();
  fpq_job *copy = fpq_job_dup(job);
  assert_non_null(copy);
  assert_same_job(copy, job);
  assert_ptr_not_equal(copy->project, job->project);
  assert_ptr_not_equal(copy->run_json, job->run_json);
  assert_ptr_not_equal(copy->func, job->func);
  fpq_job_set(&job->pipeline, "changed");
  job->id[0] = 'X';
  assert_string_equal(copy->pipeline, "reports.daily");
  assert_string_equal(copy->id, "job-1_full");
  fpq_job_free(job);
  fpq_job_free(copy); /* no double free: nothing was shared */
}

static void dup_keeps_unset_strings_unset(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->run_json, NULL);
  fpq_job *copy = fpq_job_dup(job);
  assert_non_null(copy);
  assert_null(copy->run_json);
  assert_null(copy->project);
  assert_null(copy->func);
  assert_int_equal(copy->max_retries, -1);
  fpq_job_free(copy);
  fpq_job_free(job);
}

static void free_accepts_null(void **state) {
  (void)state;
  fpq_job_free(NULL);
  fpq_jobs_free(NULL, 3);
  fpq_job **jobs = malloc(2 * sizeof *jobs);
  jobs[0] = fpq_job_new();
  jobs[1] = full_job();
  fpq_jobs_free(jobs, 2);
}

static void dup_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  fpq_job *job = full_job();
  long n = 1;
  for (;; n++) {
    fpq__alloc_fail_after(n);
    fpq_job *copy = fpq_job_dup(job);
    fpq__alloc_fail_after(0);
    if (copy != NULL) {
      assert_same_job(copy, job);
      fpq_job_free(copy);
      break;
    }
    if (n > 100) fail_msg("fpq_job_dup still fails with allocation %ld failing", n);
  }
  /* The struct and its thirteen strings (three of them callbacks): each of the fourteen
   * allocations was made to fail. */
  assert_int_equal(n, 15);
  fpq_job_free(job);
}

/* ---- ids ---- */

static int is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static void assert_uuid7(const char *id) {
  if (strlen(id) != 36) fail_msg("id '%s' is %zu characters, expected 36", id, strlen(id));
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-') fail_msg("id '%s' has '%c' at %d, expected '-'", id, id[i], i);
    } else if (!is_lower_hex(id[i])) {
      fail_msg("id '%s' has '%c' at %d, expected a lower-case hex digit", id, id[i], i);
    }
  }
  if (id[14] != '7') fail_msg("id '%s' has version nibble '%c', expected '7'", id, id[14]);
  if (!strchr("89ab", id[19]))
    fail_msg("id '%s' has variant nibble '%c', expected one of 8 9 a b", id, id[19]);
}

static int compare_ids(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static void new_ids_are_uuid7_strings_that_pass_validation(void **state) {
  (void)state;
  char id[FPQ_ID_MAX + 1];
  long long before = (long long)(fpq__now() * 1000);
  fpq_job_new_id(id);
  long long after = (long long)(fpq__now() * 1000);
  assert_uuid7(id);
  /* The first 48 bits are the Unix time in milliseconds when the id was made. */
  char stamp[13] = "";
  memcpy(stamp, id, 8);
  memcpy(stamp + 8, id + 9, 4);
  long long ms = strtoll(stamp, NULL, 16);
  if (ms < before || ms > after) fail_msg("id %s says %lld ms, made in [%lld, %lld]", id, ms, before, after);
  char msg[256] = "";
  assert_int_equal(fpq_validate_id(id, msg, sizeof msg), 0);
}

static void ten_thousand_new_ids_are_distinct_time_ordered_uuid7s(void **state) {
  (void)state;
  enum { N = 10000 };
  char(*ids)[FPQ_ID_MAX + 1] = calloc(N, FPQ_ID_MAX + 1);
  int variants[4] = {0};
  for (int i = 0; i < N; i++) {
    fpq_job_new_id(ids[i]);
    assert_uuid7(ids[i]);
    variants[strchr("89ab", ids[i][19]) - "89ab"]++;
    /* Made later, sorts later: the time part (the first 13 characters) never goes back. */
    if (i > 0 && strncmp(ids[i - 1], ids[i], 13) > 0)
      fail_msg("id %s was made after %s but sorts before it", ids[i], ids[i - 1]);
  }
  /* The variant nibble keeps two random bits: all four values turn up. */
  for (int v = 0; v < 4; v++)
    if (variants[v] < N / 8) fail_msg("variant %c seen %d times in %d ids", "89ab"[v], variants[v], N);
  qsort(ids, N, FPQ_ID_MAX + 1, compare_ids);
  for (int i = 1; i < N; i++)
    if (strcmp(ids[i - 1], ids[i]) == 0) fail_msg("id %s was made twice", ids[i]);
  free(ids);
}

static void without_random_bytes_no_id_is_made_up(void **state) {
  (void)state;
  char id[FPQ_ID_MAX + 1];
  memset(id, 'x', sizeof id);
  fpq__random_fail(1);
  int rc = fpq_job_new_id(id);
  fpq__random_fail(0);
  assert_int_equal(rc, FPQ_EIO);
  assert_string_equal(id, "");
  assert_int_equal(fpq_job_new_id(id), 0); /* and the source comes back */
  assert_uuid7(id);
}

/* ---- fpq__quote ---- */

static void quote_keeps_printable_ascii_and_escapes_the_rest(void **state) {
  (void)state;
  char buf[80];
  fpq__quote("etl-2_daily.v1 x", buf, sizeof buf);
  assert_string_equal(buf, "etl-2_daily.v1 x");
  fpq__quote("it's\n\t\x7f\x01é", buf, sizeof buf);
  assert_string_equal(buf, "it\\x27s\\x0a\\x09\\x7f\\x01\\xc3\\xa9");
  fpq__quote(NULL, buf, sizeof buf);
  assert_string_equal(buf, "");
  fpq__quote("", buf, sizeof buf);
  assert_string_equal(buf, "");
}

static void quote_cuts_long_values_with_an_ellipsis(void **state) {
  (void)state;
  char value[10241];
  memset(value, 'a', sizeof value - 1);
  value[sizeof value - 1] = '\0';
  char buf[80];
  fpq__quote(value, buf, sizeof buf);
  assert_int_equal(strlen(buf), 63);
  assert_string_equal(buf + 60, "...");
  /* Exactly 60 characters fit and are not marked as cut. */
  value[60] = '\0';
  fpq__quote(value, buf, sizeof buf);
  assert_int_equal(strlen(buf), 60);
  assert_not_contains(buf, "...");
}

static void quote_marks_a_value_cut_for_room_too(void **state) {
  (void)state;
  char value[10241];
  memset(value, '\x01', sizeof value - 1);
  value[sizeof value - 1] = '\0';
  char buf[80];
  fpq__quote(value, buf, sizeof buf);
  assert_true(strlen(buf) < sizeof buf);
  size_t n = strlen(buf);
  assert_true(n >= 3);
  assert_string_equal(buf + n - 3, "...");
  assert_int_equal(strncmp(buf, "\\x01\\x01", 8), 0);
}

static void quote_never_writes_past_a_small_buffer(void **state) {
  (void)state;
  const char *values[] = {"abcdefghijklmnop", "\x01\x02\x03\x04\x05\x06", "ab", ""};
  for (size_t len = 1; len <= 24; len++) {
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
      char *buf = malloc(len); /* exact size, so ASan sees any overrun */
      fpq__quote(values[v], buf, len);
      if (strlen(buf) >= len)
        fail_msg("quote into %zu bytes wrote \"%s\" (%zu chars)", len, buf, strlen(buf));
      free(buf);
    }
  }
}

/* ---- fpq_validate_id ---- */

static void ordinary_ids_are_valid(void **state) {
  (void)state;
  char max[FPQ_ID_MAX + 1];
  memset(max, 'z', FPQ_ID_MAX);
  max[FPQ_ID_MAX] = '\0';
  const char *good[] = {"a", "Z", "0", "_", "-", "my-job_1", "ABCxyz-019_", max};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char msg[256] = "untouched";
    if (fpq_validate_id(good[i], msg, sizeof msg) != 0)
      fail_msg("id '%s' was refused: %s", good[i], msg);
  }
}

static void an_empty_id_is_refused(void **state) {
  (void)state;
  char msg[256];
  assert_int_equal(fpq_validate_id("", msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "job id is empty: expected 1-128 of A-Z a-z 0-9 _ -");
  assert_int_equal(fpq_validate_id(NULL, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "empty");
}

static void an_id_longer_than_128_is_refused_with_its_length(void **state) {
  (void)state;
  char id[130];
  memset(id, 'a', 129);
  id[129] = '\0';
  char msg[256];
  assert_int_equal(fpq_validate_id(id, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "is 129 characters long: at most 128 allowed");
  assert_contains(msg, "'aaaaaaaaaa"); /* the value, quoted */
  assert_contains(msg, "...'");        /* and cut */
}

static void an_id_with_a_bad_character_names_it_and_its_position(void **state) {
  (void)state;
  char msg[256];
  assert_int_equal(fpq_validate_id("a/b", msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "job id 'a/b' has '/' at position 2: only A-Z a-z 0-9 _ - are allowed");
  assert_int_equal(fpq_validate_id("job.1", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "'.' at position 4");
  assert_int_equal(fpq_validate_id("a b", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "' ' at position 2");
  /* Non-printable and non-ASCII bytes show as '?' and escaped in the quoted value. */
  assert_int_equal(fpq_validate_id("ok\x01", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "'ok\\x01' has '?' at position 3");
  assert_one_line(msg);
  assert_int_equal(fpq_validate_id("café", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "'caf\\xc3\\xa9' has '?' at position 4");
  assert_int_equal(fpq_validate_id("..", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "position 1");
}

static void validation_takes_a_null_or_tiny_message_buffer(void **state) {
  (void)state;
  assert_int_equal(fpq_validate_id("a/b", NULL, 0), FPQ_EINVAL);
  assert_int_equal(fpq_validate_pipeline("", NULL, 0), FPQ_EINVAL);
  assert_int_equal(fpq_validate_run_json("[]", NULL, 0), FPQ_EINVAL);
  char *small = malloc(8);
  assert_int_equal(fpq_validate_id("a/b", small, 8), FPQ_EINVAL);
  assert_string_equal(small, "job id ");
  free(small);
}

/* ---- fpq_validate_pipeline ---- */

static void ordinary_pipeline_names_are_valid(void **state) {
  (void)state;
  char max[FPQ_PIPELINE_MAX + 1];
  memset(max, 'p', FPQ_PIPELINE_MAX);
  max[FPQ_PIPELINE_MAX] = '\0';
  const char *good[] = {"etl", "sub.pipe", "a.b.c", "a_b-c", "A1", "_private", "9lives",
                        "x-", max};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char msg[256] = "";
    if (fpq_validate_pipeline(good[i], msg, sizeof msg) != 0)
      fail_msg("pipeline '%.40s' was refused: %s", good[i], msg);
  }
}

static void an_empty_pipeline_name_is_refused(void **state) {
  (void)state;
  char msg[256];
  assert_int_equal(fpq_validate_pipeline("", msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "pipeline name is empty: expected letters, digits, '_' and '-', "
                           "with '.' between sub-package names");
  assert_int_equal(fpq_validate_pipeline(NULL, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "empty");
}

static void a_pipeline_name_with_a_path_separator_is_refused(void **state) {
  (void)state;
  const char *bad[] = {"a/b", "a\\b", "/etc/passwd", "../up", "pipelines/etl"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char msg[256];
    assert_int_equal(fpq_validate_pipeline(bad[i], msg, sizeof msg), FPQ_EINVAL);
    assert_contains(msg, "contains a path separator");
    assert_contains(msg, "expected letters, digits");
  }
  char msg[256];
  fpq_validate_pipeline("a\\b", msg, sizeof msg);
  assert_contains(msg, "'a\\b'");
}

static void a_pipeline_name_with_an_empty_part_is_refused(void **state) {
  (void)state;
  const char *bad[] = {"a..b", "..", ".hidden", "trailing.", ".", "a...b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char msg[256];
    assert_int_equal(fpq_validate_pipeline(bad[i], msg, sizeof msg), FPQ_EINVAL);
    assert_contains(msg, "has an empty part around '.'");
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
    assert_contains(msg, quoted);
  }
}

static void a_pipeline_name_starting_with_a_dash_is_refused(void **state) {
  (void)state;
  char msg[256];
  assert_int_equal(fpq_validate_pipeline("-rf", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "'-rf' starts with '-'");
}

static void a_pipeline_name_with_non_printable_bytes_is_refused_on_one_line(void **state) {
  (void)state;
  const char *bad[] = {"etl\x01", "a\nb", "tab\there", "del\x7f", "sp ace", "semi;colon",
                       "star*"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char msg[256];
    assert_int_equal(fpq_validate_pipeline(bad[i], msg, sizeof msg), FPQ_EINVAL);
    assert_contains(msg, "has a character not allowed at position");
    assert_one_line(msg);
  }
  char msg[256];
  fpq_validate_pipeline("a\nb", msg, sizeof msg);
  assert_contains(msg, "'a\\x0ab' has a character not allowed at position 2");
}

static void a_unicode_pipeline_name_is_refused(void **state) {
  (void)state;
  char msg[256];
  assert_int_equal(fpq_validate_pipeline("café", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "'caf\\xc3\\xa9' has a character not allowed at position 4");
  assert_int_equal(fpq_validate_pipeline("日本", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "position 1");
  assert_one_line(msg);
}

static void a_10kb_pipeline_name_is_refused_with_a_short_message(void **state) {
  (void)state;
  char *name = malloc(10241);
  memset(name, 'p', 10240);
  name[10240] = '\0';
  char msg[512];
  assert_int_equal(fpq_validate_pipeline(name, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "is 10240 characters long: at most 255 allowed");
  assert_contains(msg, "...'");
  assert_true(strlen(msg) < 200);
  name[FPQ_PIPELINE_MAX + 1] = '\0'; /* 256: one too many */
  assert_int_equal(fpq_validate_pipeline(name, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "is 256 characters long");
  free(name);
}

/* ---- fpq_validate_run_json ---- */

static void run_options_of_every_known_key_are_valid(void **state) {
  (void)state;
  const char *good[] = {
      "{}",
      "{\"inputs\":{\"x\":1},\"final_vars\":[\"a\"],\"config\":{\"k\":\"v\"},\"cache\":true}",
      "{\"executor_cfg\":{\"type\":\"threadpool\"},\"with_adapter_cfg\":{},"
      "\"pipeline_adapter_cfg\":{},\"project_adapter_cfg\":{},\"adapter\":null,"
      "\"async_driver\":false,\"reload\":true,\"log_level\":\"INFO\"}",
      "{\"retry\":{},\"max_retries\":1,\"retry_delay\":1,\"jitter_factor\":0.1,"
      "\"retry_exceptions\":[\"Exception\"]}",
      "{\"inputs\":null,\"config\":null,\"final_vars\":null}",
      "{\"inputs\":{\"name\":\"Zo\\u00eb ✓\"}}",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char msg[512] = "";
    if (fpq_validate_run_json(good[i], msg, sizeof msg) != 0)
      fail_msg("run options %s were refused: %s", good[i], msg);
  }
  assert_int_equal(fpq_validate_run_json(NULL, NULL, 0), 0);
  /* The list the engine exposes is the list it checks. */
  const char *const *keys = fpq__run_keys();
  size_t n = 0;
  while (keys[n]) n++;
  assert_int_equal(n, 18);
}

static void an_unknown_run_option_is_named_with_what_is_accepted(void **state) {
  (void)state;
  char msg[512];
  assert_int_equal(fpq_validate_run_json("{\"inputs\":{},\"inptus\":{}}", msg, sizeof msg),
                   FPQ_EINVAL);
  assert_contains(msg, "run option 'inptus' is not one of the options FlowerPower's run() accepts");
  assert_contains(msg, "expected one of inputs, final_vars");
  assert_one_line(msg);
  /* A key with control characters is quoted, not printed raw. */
  assert_int_equal(fpq_validate_run_json("{\"a\\u0001\\n\":1}", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "'a\\x01\\x0a'");
  assert_one_line(msg);
  /* A payload may not name modules to import, not even an empty list: only the project's
   * own conf does. */
  const char *modules[] = {"{\"additional_modules\":[\"os\"]}", "{\"additional_modules\":[]}",
                           "{\"inputs\":{},\"additional_modules\":null}"};
  for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
    assert_int_equal(fpq_validate_run_json(modules[i], msg, sizeof msg), FPQ_EINVAL);
    assert_contains(msg, "run option 'additional_modules' is refused: a job may not name modules");
    assert_one_line(msg);
  }
}

/* Inputs nested deeper than every reader decodes are refused at enqueue, not run (and
 * killed) on every attempt; FPQ_JSON_DEPTH_MAX levels themselves are fine. */
static void run_options_nested_too_deep_are_refused(void **state) {
  (void)state;
  char msg[512];
  for (int extra = 0; extra <= 1; extra++) {
    int levels = FPQ_JSON_DEPTH_MAX + extra; /* the object and "inputs" are two of them */
    size_t len = (size_t)levels * 2 + 32;
    char *json = malloc(len);
    assert_non_null(json);
    size_t o = (size_t)snprintf(json, len, "{\"inputs\":{\"x\":");
    for (int i = 0; i < levels - 2; i++) json[o++] = '[';
    for (int i = 0; i < levels - 2; i++) json[o++] = ']';
    snprintf(json + o, len - o, "}}");
    int rc = fpq_validate_run_json(json, msg, sizeof msg);
    if (extra == 0) {
      assert_int_equal(rc, 0);
    } else {
      assert_int_equal(rc, FPQ_EINVAL);
      assert_contains(msg, "run options are nested 201 levels deep: at most 200 allowed");
      assert_one_line(msg);
    }
    free(json);
  }
}

static void run_options_that_are_not_an_object_are_refused(void **state) {
  (void)state;
  struct {
    const char *json, *expect;
  } bad[] = {{"[1,2]", "must be a JSON object, got an array"},
             {"3", "must be a JSON object, got a scalar"},
             {"\"text\"", "must be a JSON object, got a scalar"},
             {"null", "must be a JSON object, got a scalar"},
             {"true", "must be a JSON object, got a scalar"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char msg[512];
    assert_int_equal(fpq_validate_run_json(bad[i].json, msg, sizeof msg), FPQ_EINVAL);
    assert_contains(msg, bad[i].expect);
  }
}

static void run_options_that_are_not_json_are_refused_with_the_position(void **state) {
  (void)state;
  char msg[512];
  assert_int_equal(fpq_validate_run_json("{\"inputs\": {", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "run options are not valid JSON");
  assert_contains(msg, "at position");
  assert_int_equal(fpq_validate_run_json("", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "not valid JSON");
  assert_int_equal(fpq_validate_run_json("{} {}", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "not valid JSON");
  assert_int_equal(fpq_validate_run_json("{\"inputs\":{\"a\":\"\\\n\"}}", msg, sizeof msg),
                   FPQ_EINVAL);
  assert_contains(msg, "\\x0a");
  assert_one_line(msg);
}

static void run_options_with_invalid_utf8_are_refused(void **state) {
  (void)state;
  char msg[512];
  assert_int_equal(fpq_validate_run_json("{\"inputs\":{\"x\":\"\xff\xfe\"}}", msg, sizeof msg),
                   FPQ_EINVAL);
  assert_contains(msg, "not valid JSON: unable to decode byte 0xff");
  assert_int_equal(fpq_validate_run_json("{\"\xc3\":1}", msg, sizeof msg), FPQ_EINVAL);
  assert_one_line(msg);
}

static void run_options_with_a_duplicate_key_are_refused(void **state) {
  (void)state;
  char msg[512];
  assert_int_equal(fpq_validate_run_json("{\"inputs\":{\"a\":1},\"inputs\":{\"a\":2}}", msg,
                                         sizeof msg),
                   FPQ_EINVAL);
  assert_contains(msg, "duplicate");
  assert_contains(msg, "inputs");
}

static void run_options_over_1_mib_are_refused_and_1_mib_is_accepted(void **state) {
  (void)state;
  /* {"inputs":{"x":"aaa...a"}} sized to exactly FPQ_RUN_MAX bytes, then one more. */
  const char *head = "{\"inputs\":{\"x\":\"", *tail = "\"}}";
  size_t fill = FPQ_RUN_MAX - strlen(head) - strlen(tail);
  char *json = malloc(FPQ_RUN_MAX + 2);
  strcpy(json, head);
  memset(json + strlen(head), 'a', fill);
  strcpy(json + strlen(head) + fill, tail);
  assert_int_equal(strlen(json), FPQ_RUN_MAX);
  char msg[512] = "";
  assert_int_equal(fpq_validate_run_json(json, msg, sizeof msg), 0);
  memmove(json + strlen(head) + 1, json + strlen(head), fill + strlen(tail) + 1);
  assert_int_equal(strlen(json), FPQ_RUN_MAX + 1);
  assert_int_equal(fpq_validate_run_json(json, msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "run options are 1048577 bytes of JSON: at most 1048576 allowed");
  free(json);
}

static void run_options_with_the_wrong_shape_are_named(void **state) {
  (void)state;
  char msg[512];
  assert_int_equal(fpq_validate_run_json("{\"inputs\":[1]}", msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "run option 'inputs' must be a JSON object");
  assert_int_equal(fpq_validate_run_json("{\"config\":\"x\"}", msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "run option 'config' must be a JSON object");
  assert_int_equal(fpq_validate_run_json("{\"final_vars\":\"a\"}", msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "run option 'final_vars' must be a JSON array of names");
}

/* ---- fpq_job_validate ---- */

static fpq_job *valid_job(void) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "etl");
  fpq_job_set(&job->project, "etl-project.v2");
  return job;
}

static void a_complete_job_is_valid_and_an_empty_id_is_allowed(void **state) {
  (void)state;
  fpq_job *job = valid_job();
  char msg[512] = "";
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), 0);
  snprintf(job->id, sizeof job->id, "given-id");
  job->max_retries = 1000;
  job->retry_delay = 86400 * 30;
  job->jitter_factor = 1;
  job->timeout = 86400 * 365;
  job->run_at = 1767225600;
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), 0);
  job->max_retries = 0;
  job->retry_delay = 0;
  job->jitter_factor = 0;
  job->timeout = 0;
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), 0);
  fpq_job_free(job);
}

static void job_validation_refuses_bad_names_and_run_options(void **state) {
  (void)state;
  fpq_job *job = valid_job();
  char msg[512];
  snprintf(job->id, sizeof job->id, "bad id");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "job id 'bad id'");
  job->id[0] = '\0';
  fpq_job_set(&job->pipeline, "../etc");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "pipeline name '../etc'");
  fpq_job_set(&job->pipeline, NULL);
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "pipeline name is empty");
  fpq_job_set(&job->pipeline, "etl");
  fpq_job_set(&job->run_json, "{\"nope\":1}");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "run option 'nope'");
  fpq_job_free(job);
}

static void a_project_that_is_not_a_name_is_refused_and_named(void **state) {
  (void)state;
  fpq_job *job = valid_job();
  char msg[512];
  /* A job names its project by name (issue 12): a path is not one. */
  fpq_job_set(&job->project, "/srv/project");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "project name '/srv/project' is not valid");
  fpq_job_set(&job->project, "..");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "project name '..' is not valid");
  fpq_job_set(&job->project, NULL);
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "project name '' is not valid");
  fpq_job_free(job);
}

static void out_of_range_numbers_are_refused_with_the_value_and_range(void **state) {
  (void)state;
  char msg[512];
#define REFUSED(assignment, expected)                                 \
  do {                                                                \
    fpq_job *j_ = valid_job();                                        \
    j_->assignment;                                                   \
    assert_int_equal(fpq_job_validate(j_, msg, sizeof msg), FPQ_EINVAL); \
    assert_contains(msg, expected);                                   \
    fpq_job_free(j_);                                                 \
  } while (0)
  REFUSED(priority = (fpq_priority)7, "priority 7 is not known: expected high, medium or low");
  REFUSED(priority = (fpq_priority)-1, "priority -1 is not known");
  REFUSED(max_retries = -2, "max retries -2 is out of range: expected 0 to 1000");
  REFUSED(max_retries = 1001, "max retries 1001 is out of range");
  REFUSED(retry_delay = -0.5, "retry delay -0.5 is out of range: expected 0 to 2592000 seconds");
  REFUSED(retry_delay = 2592001, "retry delay 2.592e+06 is out of range");
  REFUSED(retry_delay = NAN, "retry delay nan is out of range");
  REFUSED(jitter_factor = 1.5, "jitter factor 1.5 is out of range: expected 0 to 1");
  REFUSED(jitter_factor = -0.1, "jitter factor -0.1 is out of range");
  REFUSED(jitter_factor = NAN, "jitter factor nan");
  REFUSED(timeout = -1, "timeout -1 is out of range: expected 0 to 31536000 seconds");
  REFUSED(timeout = INFINITY, "timeout inf is out of range");
  REFUSED(timeout = NAN, "timeout nan is out of range");
  REFUSED(run_at = -1, "run time -1 is not a valid time");
  REFUSED(run_at = INFINITY, "run time inf is not a valid time");
  REFUSED(run_at = NAN, "run time nan is not a valid time");
#undef REFUSED
}

/* ---- JSON form ---- */

static void every_field_survives_a_round_trip_through_json(void **state) {
  (void)state;
  fpq_job *job = full_job();
  char *text = fpq_job_to_json(job);
  assert_non_null(text);
  fpq_job *back = NULL;
  char msg[512] = "";
  int rc = fpq_job_from_json(text, strlen(text), &back, msg, sizeof msg);
  if (rc) fail_msg("from_json(%s): %s", text, msg);
  assert_same_job(back, job);
  /* And the second trip gives the same text. */
  char *again = fpq_job_to_json(back);
  assert_string_equal(again, text);
  free(again);
  free(text);
  fpq_job_free(back);
  fpq_job_free(job);
}

static void a_new_job_survives_a_round_trip_through_json(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  snprintf(job->id, sizeof job->id, "fresh");
  char *text = fpq_job_to_json(job);
  fpq_job *back = NULL;
  char msg[512] = "";
  int rc = fpq_job_from_json(text, strlen(text), &back, msg, sizeof msg);
  if (rc) fail_msg("from_json(%s): %s", text, msg);
  assert_int_equal(back->max_retries, -1);
  assert_double_near(back->retry_delay, -1, 0);
  assert_double_near(back->jitter_factor, -1, 0);
  assert_int_equal(back->status, FPQ_STATUS_QUEUED);
  assert_string_equal(back->run_json, "{}");
  assert_null(back->project);
  assert_null(back->result_json);
  assert_double_near(back->created_at, 0, 0);
  /* An unset queue is written as the priority's queue. */
  assert_string_equal(back->queue, "default");
  free(text);
  fpq_job_free(back);
  fpq_job_free(job);
}

/* Reals are shown with the fewest digits that read back exactly: 0.1, not
 * 0.10000000000000001, and a value that needs 17 digits keeps them. */
static void the_json_form_shows_short_exact_numbers(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "p");
  job->jitter_factor = 0.1;
  fpq_job_set(&job->run_json, "{\"inputs\": {\"x\": 0.1}}");
  char *text = fpq_job_to_json(job);
  assert_non_null(strstr(text, "\"jitter_factor\":0.1,"));
  assert_non_null(strstr(text, "{\"x\":0.1}"));
  free(text);
  fpq_job_set(&job->run_json, "{\"inputs\": {\"x\": 0.30000000000000004}}");
  text = fpq_job_to_json(job);
  assert_non_null(strstr(text, "0.30000000000000004"));
  free(text);
  fpq_job_set(&job->result_json, "{\"result\": 2.5}");
  text = fpq_job_outcome_json(job);
  assert_string_equal(text, "{\"id\":\"\",\"pipeline\":\"p\",\"status\":\"queued\","
                            "\"ended_at\":null,\"result\":{\"result\":2.5},\"error\":null}");
  free(text);
  fpq_job_free(job);
}

static void the_json_form_has_rq_times_names_and_embedded_json(void **state) {
  (void)state;
  fpq_job *job = full_job();
  job->started_at = 0;
  fpq_job_set(&job->worker, NULL);
  fpq_job_set(&job->queue, NULL);
  char *text = fpq_job_to_json(job);
  json_error_t e;
  json_t *o = json_loads(text, 0, &e);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "status")), "failed");
  assert_string_equal(json_string_value(json_object_get(o, "priority")), "low");
  assert_string_equal(json_string_value(json_object_get(o, "queue")), "low");
  assert_string_equal(json_string_value(json_object_get(o, "created_at")),
                      "2026-01-01T00:00:00.125000Z");
  assert_true(json_is_null(json_object_get(o, "started_at")));
  assert_true(json_is_null(json_object_get(o, "worker")));
  assert_true(json_is_object(json_object_get(o, "run")));
  assert_true(json_is_array(json_object_get(o, "result")));
  assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "type")),
                      "ValueError");
  assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 4);
  static const char *const keys[] = {
      "id",         "project",     "pipeline",   "run",         "status",      "priority",
      "queue",      "description", "created_at", "enqueued_at", "started_at",  "ended_at",
      "run_at",     "attempts",    "max_retries", "retry_delay", "jitter_factor", "timeout",
      "result_ttl", "worker",      "result",     "error",       "func",        "execution",
      "failure_ttl", "log",         "depends_on", "on_success", "on_failure", "on_stopped"};
  assert_int_equal(json_object_size(o), sizeof keys / sizeof keys[0]);
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (json_object_get(o, keys[i]) == NULL) fail_msg("key '%s' missing from %s", keys[i], text);
  json_decref(o);
  free(text);
  fpq_job_free(job);
}

/* A callback reference is a Python import path: dotted identifiers with at most one ':'
 * (ours) or at least one '.' (RQ's dotted form); anything else is refused at enqueue. */
static void callback_references_are_checked_for_shape(void **state) {
  (void)state;
  char msg[256];
  static const char *const good[] = {"hooks:done", "pkg.mod:Class.method", "pkg.mod.fn",
                                     "_private.x1:y_2"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (fpq_validate_callback("on_failure", good[i], msg, sizeof msg))
      fail_msg("'%s' refused: %s", good[i], msg);
  static const char *const bad[] = {"", "hooks", "a:b:c", "a..b", ":f", "m:", "1mod:f",
                                    "m:f()", "m f:g", "lambda x: x", "m:<lambda>"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (fpq_validate_callback("on_failure", bad[i], msg, sizeof msg) != FPQ_EINVAL)
      fail_msg("'%s' accepted", bad[i]);
  assert_int_equal(fpq_validate_callback("on_failure", "a:b:c", msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "on_failure 'a:b:c' is not a reference: expected an importable "
                           "reference like 'package.module:function'");
  fpq_job *job = valid_job();
  fpq_job_set(&job->on_success, "hooks:done");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), 0);
  fpq_job_set(&job->on_stopped, "not a ref");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_non_null(strstr(msg, "on_stopped 'not a ref'"));
  fpq_job_free(job);
}

static void dependencies_are_added_once_each_and_checked_at_enqueue(void **state) {
  (void)state;
  fpq_job *job = valid_job();
  char msg[256];
  assert_int_equal(fpq_job_add_dependency(job, "extract", msg, sizeof msg), 0);
  assert_int_equal(fpq_job_add_dependency(job, "transform", msg, sizeof msg), 0);
  assert_int_equal(fpq_job_add_dependency(job, "extract", msg, sizeof msg), 0);
  assert_string_equal(job->depends_on, "[\"extract\",\"transform\"]");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), 0);
  char *text = fpq_job_to_json(job);
  json_t *o = json_loads(text, 0, NULL);
  assert_int_equal(json_array_size(json_object_get(o, "depends_on")), 2);
  json_decref(o);
  free(text);

  assert_int_equal(fpq_job_add_dependency(job, "no spaces", msg, sizeof msg), FPQ_EINVAL);
  assert_non_null(strstr(msg, "after: "));
  assert_string_equal(job->depends_on, "[\"extract\",\"transform\"]");

  snprintf(job->id, sizeof job->id, "extract");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "job 'extract' cannot depend on itself");
  snprintf(job->id, sizeof job->id, "load");
  fpq_job_set(&job->depends_on, "[]");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_non_null(strstr(msg, "depends_on is not a list"));
  fpq_job_set(&job->depends_on, "[1]");
  assert_int_equal(fpq_job_validate(job, msg, sizeof msg), FPQ_EINVAL);
  assert_non_null(strstr(msg, "not a job id string"));

  fpq_job_set(&job->depends_on, NULL);
  char id[16];
  for (int i = 0; i < FPQ_DEPENDS_MAX; i++) {
    snprintf(id, sizeof id, "p%d", i);
    assert_int_equal(fpq_job_add_dependency(job, id, msg, sizeof msg), 0);
  }
  assert_int_equal(fpq_job_add_dependency(job, "one-more", msg, sizeof msg), FPQ_EINVAL);
  assert_non_null(strstr(msg, "more than 64"));
  fpq_job_free(job);
}

static void stored_text_that_is_not_json_is_shown_as_a_string(void **state) {
  (void)state;
  fpq_job *job = valid_job();
  snprintf(job->id, sizeof job->id, "raw");
  fpq_job_set(&job->result_json, "not json {");
  char *text = fpq_job_to_json(job);
  json_t *o = json_loads(text, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(o, "result")), "not json {");
  json_decref(o);
  free(text);
  fpq_job_free(job);
}

static void from_json_takes_epoch_numbers_for_times_and_reads_only_len_bytes(void **state) {
  (void)state;
  const char *text = "{\"id\":\"n1\",\"created_at\":1767225600.5,\"ended_at\":null}GARBAGE";
  fpq_job *job = NULL;
  char msg[256] = "";
  assert_int_equal(fpq_job_from_json(text, strlen(text) - strlen("GARBAGE"), &job, msg,
                                     sizeof msg),
                   0);
  assert_double_near(job->created_at, 1767225600.5, 0);
  assert_double_near(job->ended_at, 0, 0);
  /* Absent fields keep a new job's defaults. */
  assert_int_equal(job->status, FPQ_STATUS_QUEUED);
  assert_int_equal(job->priority, FPQ_PRIORITY_MEDIUM);
  assert_int_equal(job->max_retries, -1);
  fpq_job_free(job);
  assert_int_equal(fpq_job_from_json(text, strlen(text), &job, msg, sizeof msg), FPQ_EINVAL);
  assert_null(job);
}

static void from_json_refuses_bad_input_with_the_field_named(void **state) {
  (void)state;
  struct {
    const char *json;
    int rc;
    const char *expect;
  } bad[] = {
      {"{", FPQ_EINVAL, "job JSON does not parse"},
      {"", FPQ_EINVAL, "job JSON does not parse"},
      {"{\"id\":\"\xff\"}", FPQ_EINVAL, "job JSON does not parse"},
      /* jansson quotes the input near the error: a raw newline there is escaped. */
      {"{\"id\":\"\\\n\"}", FPQ_EINVAL, "job JSON does not parse: invalid escape near '\"\\\\x0a'"},
      {"[1]", FPQ_EFORMAT, "job JSON must be an object"},
      {"{}", FPQ_EFORMAT, "job field 'id' must be a string"},
      {"{\"id\":5}", FPQ_EFORMAT, "job field 'id' must be a string"},
      {"{\"id\":\"a/b\"}", FPQ_EFORMAT, "job id 'a/b' has '/' at position 2"},
      {"{\"id\":\"\"}", FPQ_EFORMAT, "job id is empty"},
      {"{\"id\":\"x\",\"status\":\"bogus\"}", FPQ_EFORMAT,
       "job field 'status' is 'bogus': expected one of queued, started"},
      {"{\"id\":\"x\",\"status\":5}", FPQ_EFORMAT, "job field 'status' is '(not a string)'"},
      {"{\"id\":\"x\",\"priority\":\"urgent\"}", FPQ_EFORMAT,
       "job field 'priority' is 'urgent': expected high, medium or low"},
      {"{\"id\":\"x\",\"priority\":[]}", FPQ_EFORMAT, "job field 'priority' is '(not a string)'"},
      {"{\"id\":\"x\",\"project\":[\"p\"]}", FPQ_EFORMAT, "job field 'project' must be a string"},
      {"{\"id\":\"x\",\"pipeline\":1}", FPQ_EFORMAT, "job field 'pipeline' must be a string"},
      {"{\"id\":\"x\",\"func\":{}}", FPQ_EFORMAT, "job field 'func' must be a string"},
      {"{\"id\":\"x\",\"created_at\":\"yesterday\"}", FPQ_EFORMAT,
       "job field 'created_at' is 'yesterday': expected a time like 2026-01-31T12:00:00.000000Z"},
      {"{\"id\":\"x\",\"run_at\":\"2026-01-31T12:00:00+01:00\"}", FPQ_EFORMAT,
       "job field 'run_at' is '2026-01-31T12:00:00+01:00'"},
      {"{\"id\":\"x\",\"ended_at\":\"2026-02-30T12:00:00Z\"}", FPQ_EFORMAT,
       "job field 'ended_at' is '2026-02-30T12:00:00Z'"},
      {"{\"id\":\"x\",\"started_at\":true}", FPQ_EFORMAT, "job field 'started_at' is '(not a string)'"},
      {"{\"id\":\"x\",\"attempts\":\"3\"}", FPQ_EFORMAT, "job field 'attempts' must be a number"},
      {"{\"id\":\"x\",\"attempts\":-1}", FPQ_EFORMAT, "job field 'attempts' is -1"},
      {"{\"id\":\"x\",\"attempts\":1e9}", FPQ_EFORMAT, "job field 'attempts' is 1e+09"},
      {"{\"id\":\"x\",\"max_retries\":-2}", FPQ_EFORMAT, "job field 'max_retries' is -2"},
      {"{\"id\":\"x\",\"max_retries\":1e7}", FPQ_EFORMAT, "job field 'max_retries' is 1e+07"},
      {"{\"id\":\"x\",\"timeout\":\"5m\"}", FPQ_EFORMAT, "job field 'timeout' must be a number"},
      {"{\"id\":\"x\",\"retry_delay\":[]}", FPQ_EFORMAT, "job field 'retry_delay' must be a number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fpq_job *job = (fpq_job *)&job; /* must be reset to NULL */
    char msg[512] = "";
    int rc = fpq_job_from_json(bad[i].json, strlen(bad[i].json), &job, msg, sizeof msg);
    if (rc != bad[i].rc)
      fail_msg("%s: returned %s, expected %s (%s)", bad[i].json, fpq_err_name(rc),
               fpq_err_name(bad[i].rc), msg);
    assert_null(job);
    assert_contains(msg, bad[i].expect);
    assert_one_line(msg);
  }
}

static void from_json_takes_a_null_message_buffer(void **state) {
  (void)state;
  fpq_job *job = NULL;
  assert_int_equal(fpq_job_from_json("{\"id\":1}", 8, &job, NULL, 0), FPQ_EFORMAT);
  assert_int_equal(fpq_job_from_json("{", 1, &job, NULL, 0), FPQ_EINVAL);
  assert_null(job);
}

static void from_json_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  fpq_job *want = full_job();
  char *text = fpq_job_to_json(want);
  long n = 1;
  for (;; n++) {
    fpq_job *job = NULL;
    char msg[256] = "";
    fpq__alloc_fail_after(n);
    int rc = fpq_job_from_json(text, strlen(text), &job, msg, sizeof msg);
    fpq__alloc_fail_after(0);
    if (rc == 0) {
      assert_same_job(job, want);
      fpq_job_free(job);
      break;
    }
    if (rc != FPQ_ENOMEM)
      fail_msg("allocation %ld failing: returned %s (%s), expected ENOMEM", n, fpq_err_name(rc),
               msg);
    assert_null(job);
    assert_string_equal(msg, "out of memory");
    if (n > 100) fail_msg("fpq_job_from_json still fails with allocation %ld failing", n);
  }
  /* The job, its "{}" run, then one copy per string field the text holds. */
  assert_true(n >= 10);
  free(text);
  fpq_job_free(want);
}

static void retentions_read_as_people_write_them(void **state) {
  (void)state;
  static const struct {
    const char *text;
    double seconds;
  } good[] = {{"7d", 604800}, {"90", 90}, {"90s", 90}, {"0", 0}, {"-1", -1}, {"-1.0", -1},
              {"-1s", -1}, {"1.5h", 5400}, {"3650d", 3650.0 * 86400}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    double s = 42;
    char msg[256] = "";
    if (fpq_parse_ttl(good[i].text, &s, msg, sizeof msg) != 0)
      fail_msg("'%s' was refused: %s", good[i].text, msg);
    assert_double_near(s, good[i].seconds, 1e-9);
  }
  static const char *const bad[] = {"soon", "-2", "-1h", "", "3651d", "-0.5", NULL};
  for (size_t i = 0; bad[i]; i++) {
    double s = 42;
    char msg[256] = "";
    if (fpq_parse_ttl(bad[i], &s, msg, sizeof msg) != FPQ_EINVAL)
      fail_msg("'%s' was taken as %g", bad[i], s);
    assert_contains(msg, "is not a retention");
    assert_double_near(s, 42, 0);
  }
  assert_int_equal(fpq_parse_ttl(NULL, NULL, NULL, 0), FPQ_EINVAL);
}

int main(void) {
#define T(f) cmocka_unit_test_teardown(f, reset_alloc)
  const struct CMUnitTest tests[] = {
      T(every_status_has_rqs_name_and_parses_back),
      T(unknown_status_names_are_refused_and_leave_the_output_alone),
      T(a_status_out_of_range_is_named_unknown),
      T(only_finished_failed_stopped_and_canceled_are_terminal),
      T(priorities_have_names_and_map_to_rq_queues),
      T(priority_parse_takes_names_and_queue_names),
      T(queues_rank_high_default_low_then_any_other),
      T(a_new_job_is_queued_medium_with_empty_run_and_retries_from_yaml),
      T(retentions_read_as_people_write_them),
      T(a_new_job_is_null_when_either_allocation_fails),
      T(set_copies_replaces_and_null_clears),
      T(set_keeps_the_old_value_when_memory_runs_out),
      T(dup_is_a_deep_copy_of_every_field),
      T(dependencies_are_added_once_each_and_checked_at_enqueue),
      T(callback_references_are_checked_for_shape),
      T(dup_keeps_unset_strings_unset),
      T(free_accepts_null),
      T(dup_fails_cleanly_at_every_allocation),
      T(new_ids_are_uuid7_strings_that_pass_validation),
      T(ten_thousand_new_ids_are_distinct_time_ordered_uuid7s),
      T(without_random_bytes_no_id_is_made_up),
      T(quote_keeps_printable_ascii_and_escapes_the_rest),
      T(quote_cuts_long_values_with_an_ellipsis),
      T(quote_marks_a_value_cut_for_room_too),
      T(quote_never_writes_past_a_small_buffer),
      T(ordinary_ids_are_valid),
      T(an_empty_id_is_refused),
      T(an_id_longer_than_128_is_refused_with_its_length),
      T(an_id_with_a_bad_character_names_it_and_its_position),
      T(validation_takes_a_null_or_tiny_message_buffer),
      T(ordinary_pipeline_names_are_valid),
      T(an_empty_pipeline_name_is_refused),
      T(a_pipeline_name_with_a_path_separator_is_refused),
      T(a_pipeline_name_with_an_empty_part_is_refused),
      T(a_pipeline_name_starting_with_a_dash_is_refused),
      T(a_pipeline_name_with_non_printable_bytes_is_refused_on_one_line),
      T(a_unicode_pipeline_name_is_refused),
      T(a_10kb_pipeline_name_is_refused_with_a_short_message),
      T(run_options_of_every_known_key_are_valid),
      T(an_unknown_run_option_is_named_with_what_is_accepted),
      T(run_options_that_are_not_an_object_are_refused),
      T(run_options_nested_too_deep_are_refused),
      T(run_options_that_are_not_json_are_refused_with_the_position),
      T(run_options_with_invalid_utf8_are_refused),
      T(run_options_with_a_duplicate_key_are_refused),
      T(run_options_over_1_mib_are_refused_and_1_mib_is_accepted),
      T(run_options_with_the_wrong_shape_are_named),
      T(a_complete_job_is_valid_and_an_empty_id_is_allowed),
      T(job_validation_refuses_bad_names_and_run_options),
      T(a_project_that_is_not_a_name_is_refused_and_named),
      T(out_of_range_numbers_are_refused_with_the_value_and_range),
      T(every_field_survives_a_round_trip_through_json),
      T(a_new_job_survives_a_round_trip_through_json),
      T(the_json_form_has_rq_times_names_and_embedded_json),
      T(the_json_form_shows_short_exact_numbers),
      T(stored_text_that_is_not_json_is_shown_as_a_string),
      T(from_json_takes_epoch_numbers_for_times_and_reads_only_len_bytes),
      T(from_json_refuses_bad_input_with_the_field_named),
      T(from_json_takes_a_null_message_buffer),
      T(from_json_fails_cleanly_at_every_allocation),
  };
#undef T
  return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
