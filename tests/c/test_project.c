/* test_project.c: what the engine reads of a FlowerPower project on disk (src/project.c):
 * whether it holds a pipeline (dotted names are sub-directories), and the retry policy
 * its conf/pipelines/NAME.yml gives, with FlowerPower's defaults when it gives none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fpq.h"
#include "project.h"
#include "testutil.h"

/* ---- fpq__pipeline_check ---- */

static void pipelines_in_the_project_are_found(void **state) {
  (void)state;
  const char *const names[] = {"etl", "sub.daily", "a.b.c", NULL};
  char *project = test_project(names);
  for (size_t i = 0; names[i]; i++) {
    char msg[512] = "";
    if (fpq__pipeline_check(project, names[i], msg, sizeof msg) != 0)
      fail_msg("pipeline '%s' was not found: %s", names[i], msg);
  }
  test_rmdir(project);
}

static void a_missing_pipeline_is_not_found_and_its_file_named(void **state) {
  (void)state;
  const char *const names[] = {"etl", "sub.daily", NULL};
  char *project = test_project(names);
  char msg[1024], want[PATH_MAX + 200];
  assert_int_equal(fpq__pipeline_check(project, "nope", msg, sizeof msg), FPQ_ENOTFOUND);
  snprintf(want, sizeof want,
           "pipeline 'nope' is not in project %s: there is no pipelines/nope.py", project);
  assert_string_equal(msg, want);
  assert_int_equal(fpq__pipeline_check(project, "sub.weekly", msg, sizeof msg), FPQ_ENOTFOUND);
  assert_contains(msg, "there is no pipelines/sub/weekly.py");
  /* "sub" is a directory of pipelines, not a pipeline. */
  assert_int_equal(fpq__pipeline_check(project, "sub", msg, sizeof msg), FPQ_ENOTFOUND);
  assert_contains(msg, "there is no pipelines/sub.py");
  test_rmdir(project);
}

static void a_dotted_name_is_a_path_not_a_file_with_dots(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "pipelines/a.b.py", "x = 1\n");
  char msg[1024];
  assert_int_equal(fpq__pipeline_check(project, "a.b", msg, sizeof msg), FPQ_ENOTFOUND);
  assert_contains(msg, "there is no pipelines/a/b.py");
  test_rmdir(project);
}

static void a_directory_named_like_a_pipeline_file_is_not_one(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "pipelines/etl.py/inner.py", "x = 1\n");
  char msg[1024];
  assert_int_equal(fpq__pipeline_check(project, "etl", msg, sizeof msg), FPQ_ENOTFOUND);
  test_rmdir(project);
}

static void a_directory_that_is_not_a_project_is_refused(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  char msg[512] = "";
  assert_int_equal(fpq__pipeline_check(dir, "hello", msg, sizeof msg), FPQ_EINVAL);
  assert_contains(msg, "is not a FlowerPower project: it has no conf/project.yml");
  test_rmdir(dir);
}

static void a_project_without_pipelines_is_accepted(void **state) {
  (void)state;
  /* It lives where the workers run; this machine only enqueues, with the conf alone. */
  char *project = test_mkdtemp();
  test_write_file(project, "conf/job_queue.yml", "backend: rq\n");
  char msg[512] = "";
  assert_int_equal(fpq__pipeline_check(project, "anything", msg, sizeof msg), 0);
  assert_int_equal(fpq__pipeline_check(project, "a.b", msg, sizeof msg), 0);
  test_write_file(project, "pipelines", ""); /* a file, not the directory */
  assert_int_equal(fpq__pipeline_check(project, "anything", msg, sizeof msg), 0);
  test_rmdir(project);
}

/* ---- fpq__pipeline_retry_policy ---- */

typedef struct policy {
  int max_retries;
  double retry_delay, jitter_factor;
  int rc;
  char msg[1024];
} policy;

/* Reads the policy of pipeline in project, starting from the given values. */
static policy read_policy(const char *project, const char *pipeline, int max, double delay,
                          double jitter) {
  policy p = {.max_retries = max, .retry_delay = delay, .jitter_factor = jitter};
  p.rc = fpq__pipeline_retry_policy(project, pipeline, &p.max_retries, &p.retry_delay,
                                    &p.jitter_factor, p.msg, sizeof p.msg);
  return p;
}

static void assert_policy(policy p, int max, double delay, double jitter) {
  if (p.rc != 0) fail_msg("retry policy returned %s: %s", fpq_err_name(p.rc), p.msg);
  assert_int_equal(p.max_retries, max);
  assert_double_near(p.retry_delay, delay, 0);
  assert_double_near(p.jitter_factor, jitter, 0);
}

/* The policy is cached per file (src/project.c): a changed file, even one of the same
 * size, is read again, and a file made broken is reported, not served from the cache. */
static void a_changed_yaml_is_read_again(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry: {max_retries: 2}\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 2, 1.0, 0.1);
  assert_policy(read_policy(project, "etl", -1, -1, -1), 2, 1.0, 0.1);
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry: {max_retries: 5}\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 5, 1.0, 0.1);
  /* The caller's own values still win over the cached ones. */
  assert_policy(read_policy(project, "etl", 0, 2.5, 0), 0, 2.5, 0);
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry: {max_retries: no}\n");
  assert_int_equal(read_policy(project, "etl", -1, -1, -1).rc, FPQ_ECONFIG);
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/conf/pipelines/etl.yml", project);
  assert_int_equal(unlink(path), 0);
  assert_policy(read_policy(project, "etl", -1, -1, -1), 3, 1.0, 0.1);
  test_rmdir(project);
}

static void without_yaml_the_defaults_are_flowerpowers(void **state) {
  (void)state;
  char *project = test_project(NULL);
  assert_policy(read_policy(project, "etl", -1, -1, -1), 3, 1.0, 0.1);
  assert_int_equal(FPQ_DEFAULT_MAX_RETRIES, 3);
  test_rmdir(project);
}

static void the_run_retry_block_gives_the_policy(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml",
                  "params: {}\n"
                  "run:\n"
                  "  inputs:\n"
                  "    name: World\n"
                  "  retry:\n"
                  "    max_retries: 2\n"
                  "    retry_delay: 0.5\n"
                  "    jitter_factor: 0.25\n"
                  "    retry_exceptions:\n"
                  "      - Exception\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 2, 0.5, 0.25);
  test_rmdir(project);
}

static void legacy_flat_run_keys_give_the_policy(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml",
                  "run:\n  max_retries: 5\n  retry_delay: 2\n  jitter_factor: 0\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 5, 2, 0);
  test_rmdir(project);
}

static void the_retry_block_wins_over_legacy_keys(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml",
                  "run:\n  max_retries: 9\n  retry_delay: 9\n  retry:\n    max_retries: 1\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 1, 9, 0.1);
  test_rmdir(project);
}

static void values_the_caller_gave_are_not_overridden(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml",
                  "run:\n  retry:\n    max_retries: 7\n    retry_delay: 7\n    jitter_factor: 0.7\n");
  assert_policy(read_policy(project, "etl", 0, 0, 0), 0, 0, 0);
  assert_policy(read_policy(project, "etl", 2, -1, 0.5), 2, 7, 0.5);
  /* Nor the defaults over them. */
  assert_policy(read_policy(project, "none", 4, 3, 0.3), 4, 3, 0.3);
  test_rmdir(project);
}

static void absent_null_and_empty_values_fall_back_to_the_defaults(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml",
                  "run:\n  retry:\n    max_retries: null\n    retry_delay: ~\n    jitter_factor:\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 3, 1.0, 0.1);
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry:\n    retry_delay: 4\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 3, 4, 0.1);
  test_write_file(project, "conf/pipelines/etl.yml", "");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 3, 1.0, 0.1);
  test_rmdir(project);
}

static void out_of_range_values_are_clamped(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml",
                  "run:\n  retry:\n    max_retries: 5000\n    retry_delay: 1e12\n"
                  "    jitter_factor: 3\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 1000, 2592000, 1);
  test_rmdir(project);
}

static void a_dotted_pipeline_reads_its_yaml_from_a_subdirectory(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/reports/daily.yml", "run:\n  retry:\n    max_retries: 6\n");
  test_write_file(project, "conf/pipelines/reports.daily.yml", "run:\n  retry:\n    max_retries: 8\n");
  assert_policy(read_policy(project, "reports.daily", -1, -1, -1), 6, 1.0, 0.1);
  test_rmdir(project);
}

static void flowerpower_yaml_the_settings_cannot_hold_is_read_around(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml",
                  "params:\n"
                  "  defaults: &d {lr: 0.1, layers: [{n: 1}, {n: 2}]}\n"
                  "  model: *d\n"
                  "  deep: {a: {b: {c: {d: {e: {f: {g: {h: 1}}}}}}}}\n"
                  "  model.name: x\n"
                  "run:\n"
                  "  with_adapter:\n"
                  "    hooks:\n"
                  "      - name: tracker\n"
                  "  retry:\n"
                  "    max_retries: 2\n");
  assert_policy(read_policy(project, "etl", -1, -1, -1), 2, 1.0, 0.1);
  test_rmdir(project);
}

static void assert_config_error(policy p, const char *expect) {
  if (p.rc != FPQ_ECONFIG)
    fail_msg("retry policy returned %s (%s), expected ECONFIG", fpq_err_name(p.rc), p.msg);
  assert_contains(p.msg, expect);
  assert_null(strchr(p.msg, '\n'));
  /* Nothing was filled in. */
  assert_int_equal(p.max_retries, -1);
  assert_double_near(p.retry_delay, -1, 0);
  assert_double_near(p.jitter_factor, -1, 0);
}

static void a_value_that_is_not_a_number_is_a_config_error_naming_the_key(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry:\n    max_retries: three\n");
  assert_config_error(read_policy(project, "etl", -1, -1, -1),
                      "conf/pipelines/etl.yml: run.retry.max_retries is 'three': expected a "
                      "number >= 0");
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry_delay: 5s\n");
  assert_config_error(read_policy(project, "etl", -1, -1, -1),
                      "run.retry_delay is '5s': expected a number >= 0");
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry:\n    jitter_factor: -0.5\n");
  assert_config_error(read_policy(project, "etl", -1, -1, -1),
                      "run.retry.jitter_factor is '-0.5'");
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry:\n    retry_delay: inf\n");
  assert_config_error(read_policy(project, "etl", -1, -1, -1), "run.retry.retry_delay is 'inf'");
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry:\n    retry_delay: nan\n");
  assert_config_error(read_policy(project, "etl", -1, -1, -1), "run.retry.retry_delay is 'nan'");
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry:\n    max_retries: [1, 2]\n");
  assert_config_error(read_policy(project, "etl", -1, -1, -1),
                      "run.retry.max_retries is '1,2'");
  /* A bad value is an error even when the caller gave that field. */
  test_write_file(project, "conf/pipelines/etl.yml", "run:\n  retry:\n    max_retries: x\n");
  policy p = read_policy(project, "etl", 2, -1, -1);
  assert_int_equal(p.rc, FPQ_ECONFIG);
  test_rmdir(project);
}

static void yaml_that_does_not_parse_is_a_config_error_naming_the_file(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/pipelines/sub/etl.yml", "run:\n  retry: [\n");
  assert_config_error(read_policy(project, "sub.etl", -1, -1, -1),
                      "conf/pipelines/sub/etl.yml: did not find expected node content at the "
                      "end of the file (line 2)");
  test_write_file(project, "conf/pipelines/sub/etl.yml", "- a\n- b\n");
  assert_config_error(read_policy(project, "sub.etl", -1, -1, -1),
                      "conf/pipelines/sub/etl.yml: the file must be a mapping of settings at line 1");
  test_rmdir(project);
}

static void yaml_that_cannot_be_read_is_a_config_error(void **state) {
  (void)state;
  char *project = test_project(NULL);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/conf/pipelines/etl.yml", project);
  test_write_file(project, "conf/pipelines/.keep", "");
  assert_int_equal(mkdir(path, 0755), 0); /* a directory: unreadable even for root */
  assert_config_error(read_policy(project, "etl", -1, -1, -1), "cannot read ");
  policy p = read_policy(project, "etl", -1, -1, -1);
  assert_contains(p.msg, "conf/pipelines/etl.yml: Is a directory");
  test_rmdir(project);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pipelines_in_the_project_are_found),
      cmocka_unit_test(a_missing_pipeline_is_not_found_and_its_file_named),
      cmocka_unit_test(a_dotted_name_is_a_path_not_a_file_with_dots),
      cmocka_unit_test(a_directory_named_like_a_pipeline_file_is_not_one),
      cmocka_unit_test(a_project_without_pipelines_is_accepted),
      cmocka_unit_test(a_directory_that_is_not_a_project_is_refused),
      cmocka_unit_test(without_yaml_the_defaults_are_flowerpowers),
      cmocka_unit_test(the_run_retry_block_gives_the_policy),
      cmocka_unit_test(legacy_flat_run_keys_give_the_policy),
      cmocka_unit_test(the_retry_block_wins_over_legacy_keys),
      cmocka_unit_test(values_the_caller_gave_are_not_overridden),
      cmocka_unit_test(absent_null_and_empty_values_fall_back_to_the_defaults),
      cmocka_unit_test(out_of_range_values_are_clamped),
      cmocka_unit_test(a_dotted_pipeline_reads_its_yaml_from_a_subdirectory),
      cmocka_unit_test(flowerpower_yaml_the_settings_cannot_hold_is_read_around),
      cmocka_unit_test(a_value_that_is_not_a_number_is_a_config_error_naming_the_key),
      cmocka_unit_test(yaml_that_does_not_parse_is_a_config_error_naming_the_file),
      cmocka_unit_test(yaml_that_cannot_be_read_is_a_config_error),
      cmocka_unit_test(a_changed_yaml_is_read_again),
  };
  return cmocka_run_group_tests_name("project", tests, NULL, NULL);
}
