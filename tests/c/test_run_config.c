/* test_run_config.c: a FlowerPower RunConfig given as JSON, applied to a job
 * (src/run_config.c, fpq_job_apply_run_config): run() options into the sparse run
 * kwargs, the retry block into the queue's retry policy, priority into the queue, and
 * one-line refusals that name the field and its value; and pipeline inputs merged into
 * the run kwargs (fpq_job_merge_inputs, fpq_schedule_merge_inputs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "alloc.h"
#include "fpq.h"
#include "testutil.h"

static int reset_alloc(void **state) {
  (void)state;
  fpq__alloc_fail_after(0);
  return 0;
}

/* Applies json to job; fails the test unless it is accepted. */
static void apply(fpq_job *job, const char *json) {
  char msg[512] = "";
  int rc = fpq_job_apply_run_config(job, json, msg, sizeof msg);
  if (rc) fail_msg("run config %s was refused (%s): %s", json, fpq_err_name(rc), msg);
}

/* Applies json to a fresh job and expects EINVAL with a message containing expect. */
static void assert_refused(const char *json, const char *expect) {
  fpq_job *job = fpq_job_new();
  char msg[512] = "", run[512];
  int rc = fpq_job_apply_run_config(job, json, msg, sizeof msg);
  snprintf(run, sizeof run, "%s", job->run_json);
  fpq_job_free(job);
  if (rc != FPQ_EINVAL)
    fail_msg("run config %s returned %s, expected EINVAL", json, fpq_err_name(rc));
  assert_contains(msg, expect);
  assert_null(strchr(msg, '\n'));
  assert_string_equal(run, "{}"); /* the run kwargs are left as they were */
}

/* The run kwargs of job as a JSON object (new reference). */
static json_t *run_of(const fpq_job *job) {
  json_error_t e;
  json_t *run = json_loads(job->run_json, 0, &e);
  if (run == NULL) fail_msg("run_json %s does not parse: %s", job->run_json, e.text);
  return run;
}

static void run_options_go_into_the_sparse_run_kwargs(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  apply(job, "{\"inputs\":{\"x\":1},\"final_vars\":[\"a\",\"b\"],\"config\":{\"k\":\"v\"},"
             "\"cache\":false,\"log_level\":\"DEBUG\",\"reload\":true}");
  assert_string_equal(job->run_json, "{\"inputs\":{\"x\":1},\"final_vars\":[\"a\",\"b\"],"
                                     "\"config\":{\"k\":\"v\"},\"cache\":false,"
                                     "\"log_level\":\"DEBUG\",\"reload\":true}");
  /* Nothing else of the job moved. */
  assert_int_equal(job->priority, FPQ_PRIORITY_MEDIUM);
  assert_int_equal(job->max_retries, -1);
  assert_double_near(job->retry_delay, -1, 0);
  fpq_job_free(job);
}

static void run_options_merge_over_what_the_job_already_has(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->run_json, "{\"inputs\":{\"x\":1},\"cache\":true}");
  apply(job, "{\"inputs\":{\"y\":2},\"final_vars\":[\"z\"]}");
  json_t *run = run_of(job);
  json_t *inputs = json_object_get(run, "inputs");
  assert_int_equal(json_integer_value(json_object_get(inputs, "y")), 2);
  assert_null(json_object_get(inputs, "x")); /* a key is replaced whole, as run() would */
  assert_true(json_is_true(json_object_get(run, "cache")));
  assert_true(json_is_array(json_object_get(run, "final_vars")));
  json_decref(run);
  fpq_job_free(job);
}

/* run() keyword arguments over a RunConfig, FlowerPower's rule: dict options merge key by
 * key (inputs, config, executor_cfg, retry, ...), the rest replace. */
static void run_kwargs_merge_dicts_over_the_run_config(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  char msg[256] = "";
  apply(job, "{\"inputs\":{\"a\":1,\"b\":1},\"final_vars\":[\"x\"],\"config\":{\"k\":1},"
             "\"executor\":{\"type\":\"threadpool\",\"max_workers\":2},"
             "\"retry\":{\"max_retries\":2},\"cache\":true}");
  assert_int_equal(fpq_job_apply_run_kwargs(job,
                                            "{\"inputs\":{\"b\":2},\"final_vars\":[\"y\"],"
                                            "\"executor_cfg\":{\"max_workers\":4},"
                                            "\"retry\":{\"retry_delay\":5},\"cache\":false,"
                                            "\"config\":{\"k2\":2}}",
                                            msg, sizeof msg),
                   0);
  assert_string_equal(job->run_json,
                      "{\"inputs\":{\"a\":1,\"b\":2},\"final_vars\":[\"y\"],\"config\":{\"k\":1,\"k2\":2},"
                      "\"executor_cfg\":{\"type\":\"threadpool\",\"max_workers\":4},"
                      "\"cache\":false}");
  assert_int_equal(job->max_retries, 2); /* the config's, kept */
  assert_double_near(job->retry_delay, 5, 0); /* the kwargs', added */
  /* A null argument is not given (FlowerPower skips None too): the config's value stays. */
  assert_int_equal(fpq_job_apply_run_kwargs(job, "{\"final_vars\":null,\"inputs\":null}", msg,
                                            sizeof msg),
                   0);
  assert_non_null(strstr(job->run_json, "\"final_vars\":[\"y\"]"));
  assert_non_null(strstr(job->run_json, "\"inputs\":{\"a\":1,\"b\":2}"));
  /* A bad kwarg is refused as a bad run config field is. */
  assert_int_equal(fpq_job_apply_run_kwargs(job, "{\"max_retries\":\"x\"}", msg, sizeof msg),
                   FPQ_EINVAL);
  assert_non_null(strstr(msg, "max_retries"));
  fpq_job_free(job);
  /* The same for a schedule's run options. */
  fpq_schedule *s = fpq_schedule_new();
  assert_int_equal(fpq_schedule_apply_run_config(s, "{\"inputs\":{\"a\":1}}", msg, sizeof msg),
                   0);
  assert_int_equal(fpq_schedule_apply_run_kwargs(s, "{\"inputs\":{\"b\":2}}", msg, sizeof msg),
                   0);
  assert_string_equal(s->run_json, "{\"inputs\":{\"a\":1,\"b\":2}}");
  fpq_schedule_free(s);
}

static void executor_and_with_adapter_take_their_run_names(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  apply(job, "{\"executor\":{\"type\":\"threadpool\",\"max_workers\":4},"
             "\"with_adapter\":{\"tracker\":true}}");
  assert_string_equal(job->run_json, "{\"executor_cfg\":{\"type\":\"threadpool\",\"max_workers\":4},"
                                     "\"with_adapter_cfg\":{\"tracker\":true}}");
  /* The run() spellings are accepted as they are. */
  apply(job, "{\"executor_cfg\":{\"type\":\"synchronous\"}}");
  json_t *run = run_of(job);
  assert_string_equal(json_string_value(json_object_get(json_object_get(run, "executor_cfg"), "type")),
                      "synchronous");
  assert_null(json_object_get(run, "executor"));
  json_decref(run);
  fpq_job_free(job);
}

static void the_retry_block_sets_the_queues_retry_policy_not_a_run_option(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  apply(job, "{\"inputs\":{},\"retry\":{\"max_retries\":2,\"retry_delay\":0.5,"
             "\"jitter_factor\":0.2,\"retry_exceptions\":[\"Exception\"]}}");
  assert_int_equal(job->max_retries, 2);
  assert_double_near(job->retry_delay, 0.5, 0);
  assert_double_near(job->jitter_factor, 0.2, 0);
  assert_string_equal(job->run_json, "{\"inputs\":{}}");
  fpq_job_free(job);
}

static void a_partial_retry_block_keeps_the_other_fields(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  apply(job, "{\"retry\":{\"max_retries\":5}}");
  assert_int_equal(job->max_retries, 5);
  assert_double_near(job->retry_delay, -1, 0); /* still "from the pipeline's YAML" */
  assert_double_near(job->jitter_factor, -1, 0);
  apply(job, "{\"retry\":{\"retry_delay\":3,\"max_retries\":null}}");
  assert_int_equal(job->max_retries, 5);
  assert_double_near(job->retry_delay, 3, 0);
  apply(job, "{\"retry\":{}}");
  assert_int_equal(job->max_retries, 5);
  fpq_job_free(job);
}

static void legacy_flat_retry_keys_set_the_retry_policy(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  apply(job, "{\"max_retries\":4,\"retry_delay\":2,\"jitter_factor\":0,"
             "\"retry_exceptions\":[\"Exception\"]}");
  assert_int_equal(job->max_retries, 4);
  assert_double_near(job->retry_delay, 2, 0);
  assert_double_near(job->jitter_factor, 0, 0);
  assert_string_equal(job->run_json, "{}");
  fpq_job_free(job);
}

static void the_ends_of_the_retry_ranges_are_accepted(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  apply(job, "{\"retry\":{\"max_retries\":0,\"retry_delay\":0,\"jitter_factor\":0}}");
  assert_int_equal(job->max_retries, 0);
  apply(job, "{\"retry\":{\"max_retries\":1000,\"retry_delay\":2592000,\"jitter_factor\":1}}");
  assert_int_equal(job->max_retries, 1000);
  assert_double_near(job->retry_delay, 2592000, 0);
  apply(job, "{\"retry\":{\"max_retries\":2.0}}"); /* a whole number written as a real */
  assert_int_equal(job->max_retries, 2);
  fpq_job_free(job);
}

static void priority_sets_the_priority_and_its_queue(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->queue, "default");
  apply(job, "{\"priority\":\"high\"}");
  assert_int_equal(job->priority, FPQ_PRIORITY_HIGH);
  assert_null(job->queue); /* enqueue fills it from the priority */
  apply(job, "{\"priority\":\"default\"}");
  assert_int_equal(job->priority, FPQ_PRIORITY_MEDIUM);
  apply(job, "{\"priority\":\"low\"}");
  assert_int_equal(job->priority, FPQ_PRIORITY_LOW);
  assert_string_equal(job->run_json, "{}");
  fpq_job_free(job);
}

static void null_values_are_skipped(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->run_json, "{\"inputs\":{\"x\":1}}");
  apply(job, "{\"inputs\":null,\"retry\":null,\"priority\":null,\"schedule\":null,"
             "\"max_retries\":null,\"executor\":null,\"nonsense\":null}");
  assert_string_equal(job->run_json, "{\"inputs\":{\"x\":1}}");
  assert_int_equal(job->priority, FPQ_PRIORITY_MEDIUM);
  assert_int_equal(job->max_retries, -1);
  fpq_job_free(job);
}

static void backend_is_ignored_as_the_queue_is_already_chosen(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  apply(job, "{\"backend\":\"rq\",\"inputs\":{}}");
  assert_string_equal(job->run_json, "{\"inputs\":{}}");
  fpq_job_free(job);
}

static void a_schedule_is_refused_with_what_to_use_instead(void **state) {
  (void)state;
  assert_refused("{\"schedule\":{\"cron\":\"* * * * *\"}}",
                 "run config has a 'schedule': use schedule (fpq schedule), not enqueue, for "
                 "recurring runs");
}

static void retry_exceptions_other_than_exception_are_refused(void **state) {
  (void)state;
  assert_refused("{\"retry\":{\"retry_exceptions\":[\"ValueError\"]}}",
                 "run config 'retry.retry_exceptions' is [\"ValueError\"]: only [\"Exception\"] "
                 "is supported, the queue retries every failure");
  assert_refused("{\"retry\":{\"retry_exceptions\":[\"Exception\",\"KeyError\"]}}",
                 "'retry.retry_exceptions' is [\"Exception\",\"KeyError\"]");
  assert_refused("{\"retry\":{\"retry_exceptions\":\"Exception\"}}",
                 "'retry.retry_exceptions' is \"Exception\"");
  assert_refused("{\"retry\":{\"retry_exceptions\":[]}}", "'retry.retry_exceptions' is []");
  assert_refused("{\"retry_exceptions\":[\"TimeoutError\"]}",
                 "run config 'retry_exceptions' is [\"TimeoutError\"]");
}

static void retry_values_of_the_wrong_type_or_range_are_refused_and_named(void **state) {
  (void)state;
  assert_refused("{\"retry\":{\"max_retries\":\"3\"}}",
                 "run config 'retry.max_retries' is \"3\": expected a whole number from 0 to 1000");
  assert_refused("{\"retry\":{\"max_retries\":-1}}", "'retry.max_retries' is -1: expected");
  assert_refused("{\"retry\":{\"max_retries\":1001}}", "'retry.max_retries' is 1001: expected");
  assert_refused("{\"retry\":{\"max_retries\":2.5}}",
                 "'retry.max_retries' is 2.5: expected a whole number");
  assert_refused("{\"retry\":{\"retry_delay\":true}}",
                 "run config 'retry.retry_delay' is true: expected a number from 0 to 2.592e+06");
  assert_refused("{\"retry\":{\"retry_delay\":-0.5}}", "'retry.retry_delay' is -0.5");
  assert_refused("{\"retry\":{\"jitter_factor\":1.5}}",
                 "run config 'retry.jitter_factor' is 1.5: expected a number from 0 to 1");
  assert_refused("{\"retry\":{\"jitter_factor\":[0.1]}}", "'retry.jitter_factor' is [0.1]");
  assert_refused("{\"retry\":[1]}",
                 "run config 'retry' is [1]: expected an object like {\"max_retries\": 2}");
  assert_refused("{\"retry\":3}", "run config 'retry' is 3: expected an object");
  /* Flat keys are named as written. */
  assert_refused("{\"max_retries\":\"x\"}", "run config 'max_retries' is \"x\": expected");
  assert_refused("{\"retry_delay\":{}}", "run config 'retry_delay' is {}: expected");
  assert_refused("{\"jitter_factor\":2}", "run config 'jitter_factor' is 2: expected");
}

static void a_bad_priority_is_refused_and_named(void **state) {
  (void)state;
  assert_refused("{\"priority\":\"urgent\"}",
                 "run config 'priority' is \"urgent\": expected \"high\", \"medium\" or \"low\"");
  assert_refused("{\"priority\":1}", "run config 'priority' is 1: expected");
}

static void run_options_of_the_wrong_type_are_refused_and_named(void **state) {
  (void)state;
  assert_refused("{\"inputs\":[1,2]}", "run option 'inputs' must be a JSON object");
  assert_refused("{\"config\":\"x\"}", "run option 'config' must be a JSON object");
  assert_refused("{\"final_vars\":\"a\"}", "run option 'final_vars' must be a JSON array");
  assert_refused("{\"on_success\":{\"func\":\"f\"}}",
                 "run option 'on_success' is not one of the options FlowerPower's run() accepts");
}

static void text_that_is_not_a_json_object_is_refused(void **state) {
  (void)state;
  assert_refused("{\"inputs\":", "run config is not valid JSON: ");
  assert_refused("", "run config is not valid JSON");
  assert_refused("[1]", "run config must be a JSON object of RunConfig fields");
  assert_refused("{\"inputs\":{},\"inputs\":{}}", "duplicate");
  assert_refused("{\"inputs\":{\"x\":\"\xff\"}}", "run config is not valid JSON");
  assert_refused("{\"inputs\":{\"x\":\"\\\n\"}}", "invalid escape near '\"\\\\x0a'");
}

static void a_refusal_after_an_accepted_field_leaves_the_run_kwargs_unchanged(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->run_json, "{\"cache\":true}");
  char msg[256];
  assert_int_equal(fpq_job_apply_run_config(job, "{\"inputs\":{\"x\":1},\"bogus\":1}", msg,
                                            sizeof msg),
                   FPQ_EINVAL);
  assert_contains(msg, "run option 'bogus'");
  assert_string_equal(job->run_json, "{\"cache\":true}");
  fpq_job_free(job);
}

static void a_null_message_buffer_is_allowed(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  assert_int_equal(fpq_job_apply_run_config(job, "{\"priority\":5}", NULL, 0), FPQ_EINVAL);
  assert_int_equal(fpq_job_apply_run_config(job, "[", NULL, 0), FPQ_EINVAL);
  fpq_job_free(job);
}

static void running_out_of_memory_keeps_the_old_run_kwargs(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  char msg[256] = "";
  fpq__alloc_fail_after(1);
  int rc = fpq_job_apply_run_config(job, "{\"inputs\":{\"x\":1}}", msg, sizeof msg);
  fpq__alloc_fail_after(0);
  assert_int_equal(rc, FPQ_ENOMEM);
  assert_string_equal(msg, "out of memory");
  assert_string_equal(job->run_json, "{}");
  fpq_job_free(job);
}

/* ---- inputs ---- */

static void inputs_merge_key_by_key_over_the_run_configs(void **state) {
  (void)state;
  fpq_job *job = fpq_job_new();
  char msg[256] = "";
  apply(job, "{\"inputs\":{\"x\":1,\"y\":2},\"cache\":true}");
  assert_int_equal(fpq_job_merge_inputs(job, "{\"y\":3,\"z\":[1]}", msg, sizeof msg), 0);
  assert_string_equal(job->run_json, "{\"inputs\":{\"x\":1,\"y\":3,\"z\":[1]},\"cache\":true}");
  fpq_job_free(job);
  /* Without earlier inputs (or with inputs that are not an object) they are set whole. */
  job = fpq_job_new();
  assert_int_equal(fpq_job_merge_inputs(job, "{}", msg, sizeof msg), 0);
  assert_string_equal(job->run_json, "{\"inputs\":{}}");
  assert_int_equal(fpq_job_set(&job->run_json, "{\"inputs\":null}"), 0);
  assert_int_equal(fpq_job_merge_inputs(job, "{\"a\":\"b\"}", msg, sizeof msg), 0);
  assert_string_equal(job->run_json, "{\"inputs\":{\"a\":\"b\"}}");
  fpq_job_free(job);
  /* The same for a schedule's run kwargs. */
  fpq_schedule *s = fpq_schedule_new();
  assert_int_equal(fpq_schedule_merge_inputs(s, "{\"name\":\"Ada\"}", msg, sizeof msg), 0);
  assert_string_equal(s->run_json, "{\"inputs\":{\"name\":\"Ada\"}}");
  fpq_schedule_free(s);
}

static void inputs_that_are_not_a_json_object_are_refused_by_name(void **state) {
  (void)state;
  static const struct {
    const char *inputs, *msg;
  } bad[] = {
      {"[1]", "inputs must be a JSON object like '{\"x\": 1}'"},
      {"\"x\"", "inputs is not valid JSON: '[' or '{' expected near '\"x\"'"},
      {"{bad", "inputs is not valid JSON: string or '}' expected near 'bad' at position 4"},
      {"{\"a\":1,\"a\":2}", "inputs is not valid JSON: duplicate object key near '\"a\"' at "
                            "position 10"},
      {"", "inputs is not valid JSON: '[' or '{' expected near end of file at position 0"},
      {NULL, "inputs is not valid JSON"},
      {"{\"\xff\":1}", "inputs is not valid JSON: unable to decode byte 0xff"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fpq_job *job = fpq_job_new();
    char msg[256] = "", run[64];
    int rc = fpq_job_merge_inputs(job, bad[i].inputs, msg, sizeof msg);
    snprintf(run, sizeof run, "%s", job->run_json);
    fpq_job_free(job);
    if (rc != FPQ_EINVAL) fail_msg("inputs %s: %s, expected EINVAL", bad[i].inputs, fpq_err_name(rc));
    assert_contains(msg, bad[i].msg);
    assert_null(strchr(msg, '\n'));
    assert_string_equal(run, "{}"); /* untouched */
  }
  fpq_job *job = fpq_job_new();
  assert_int_equal(fpq_job_merge_inputs(job, "[]", NULL, 0), FPQ_EINVAL);
  fpq_job_free(job);
}

static void merging_inputs_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  long n;
  for (n = 1;; n++) {
    fpq_job *job = fpq_job_new();
    assert_int_equal(fpq_job_set(&job->run_json, "{\"inputs\":{\"x\":1}}"), 0);
    char msg[64] = "";
    fpq__alloc_fail_after(n);
    int rc = fpq_job_merge_inputs(job, "{\"y\":2}", msg, sizeof msg);
    fpq__alloc_fail_after(0);
    if (rc == 0) {
      assert_string_equal(job->run_json, "{\"inputs\":{\"x\":1,\"y\":2}}");
      fpq_job_free(job);
      break;
    }
    assert_int_equal(rc, FPQ_ENOMEM);
    assert_string_equal(msg, "out of memory");
    assert_string_equal(job->run_json, "{\"inputs\":{\"x\":1}}");
    fpq_job_free(job);
    if (n > 100) fail_msg("merging inputs still fails with allocation %ld failing", n);
  }
}

int main(void) {
#define T(f) cmocka_unit_test_teardown(f, reset_alloc)
  const struct CMUnitTest tests[] = {
      T(run_options_go_into_the_sparse_run_kwargs),
      T(run_options_merge_over_what_the_job_already_has),
      T(run_kwargs_merge_dicts_over_the_run_config),
      T(executor_and_with_adapter_take_their_run_names),
      T(the_retry_block_sets_the_queues_retry_policy_not_a_run_option),
      T(a_partial_retry_block_keeps_the_other_fields),
      T(legacy_flat_retry_keys_set_the_retry_policy),
      T(the_ends_of_the_retry_ranges_are_accepted),
      T(priority_sets_the_priority_and_its_queue),
      T(null_values_are_skipped),
      T(backend_is_ignored_as_the_queue_is_already_chosen),
      T(a_schedule_is_refused_with_what_to_use_instead),
      T(retry_exceptions_other_than_exception_are_refused),
      T(retry_values_of_the_wrong_type_or_range_are_refused_and_named),
      T(a_bad_priority_is_refused_and_named),
      T(run_options_of_the_wrong_type_are_refused_and_named),
      T(text_that_is_not_a_json_object_is_refused),
      T(a_refusal_after_an_accepted_field_leaves_the_run_kwargs_unchanged),
      T(a_null_message_buffer_is_allowed),
      T(running_out_of_memory_keeps_the_old_run_kwargs),
      T(inputs_merge_key_by_key_over_the_run_configs),
      T(inputs_that_are_not_a_json_object_are_refused_by_name),
      T(merging_inputs_fails_cleanly_at_every_allocation),
  };
#undef T
  return cmocka_run_group_tests_name("run_config", tests, NULL, NULL);
}
