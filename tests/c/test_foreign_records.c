/* test_foreign_records.c: job records written behind the engine's back (raw SQLite rows)
 * are read without harm, under ASan and UBSan: an unknown status is named, not read after
 * free, and left out of lists without hiding the other jobs; stored text that is not UTF-8
 * still has a JSON form. The Python hostile-input tests drive the same paths end to end
 * (tests/python/test_hostile_input.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "fpq.h"
#include "testutil.h"

static const char *const pipelines[] = {"alpha", NULL};

static void raw_sql(const char *project, const char *sql) {
  char path[4096];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) fail_msg("%s: %s", sql, err ? err : "?");
  sqlite3_close(db);
}

static void foreign_rows_are_read_without_harm(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  assert_int_equal(fpq_enqueue(q, job), 0);
  char ours[FPQ_ID_MAX + 1];
  snprintf(ours, sizeof ours, "%s", job->id);
  fpq_job_free(job);

  char sql[2048];
  snprintf(sql, sizeof sql,
           "INSERT INTO jobs (id, seq, project, pipeline, run, queue, status, created_at)"
           " VALUES ('bogus', 100, '%s', 'alpha', '{}', 'default', 'exploded', 1);"
           "INSERT INTO jobs (id, seq, project, pipeline, run, queue, status, created_at)"
           " VALUES ('badutf8', 101, '%s', 'alpha', CAST(X'7B2278223A22FF227D' AS TEXT),"
           " 'default', 'queued', 2);",
           "test", "test"); /* the project's name, as jobs carry it (issue 12) */
  raw_sql(project, sql);

  /* Named in the message (after the job is freed: read after free before), not read. */
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(q, "bogus", &got), FPQ_EFORMAT);
  assert_null(got);
  assert_contains(fpq_errmsg(q), "job 'bogus' has unknown status 'exploded'");

  /* Lists leave it out and show the others. */
  fpq_job **jobs = NULL;
  size_t n = 0;
  assert_int_equal(fpq_find(q, NULL, "alpha", 10, &jobs, &n), 0);
  assert_int_equal(n, 2);
  int saw_ours = 0;
  for (size_t i = 0; i < n; i++) {
    assert_string_not_equal(jobs[i]->id, "bogus");
    saw_ours |= strcmp(jobs[i]->id, ours) == 0;
    /* Every job has a JSON form, the one whose run is not UTF-8 too. */
    char *text = fpq_job_to_json(jobs[i]);
    assert_non_null(text);
    json_error_t e;
    json_t *back = json_loads(text, 0, &e);
    assert_non_null(back);
    if (strcmp(jobs[i]->id, "badutf8") == 0)
      assert_contains(json_string_value(json_object_get(back, "run")), "\\xff");
    json_decref(back);
    free(text);
  }
  assert_true(saw_ours);
  fpq_jobs_free(jobs, n);
  fpq_close(q);
  test_rmdir(project);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(foreign_rows_are_read_without_harm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
