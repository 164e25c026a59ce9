/* test_backend_sqlite.c: the backend contract on the embedded SQLite backend, plus what
 * is SQLite's own: the default location, private file permissions, opening without
 * creating, and refusing a database from a newer schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "backend_contract.h"
#include "fpq.h"
#include "queue_handle.h"
#include "backend/sqlite/backend.h"
#include "testutil.h"

static const char *const pipelines[] = {"alpha", NULL};

static void the_default_database_is_private_in_the_project_and_made_by_a_write(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  assert_string_equal(fpq_backend_name(q), "sqlite");
  char path[4096];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  struct stat st;
  /* Created by the first write, so input refused before it leaves nothing behind. */
  assert_int_not_equal(stat(path, &st), 0);
  fpq_job *bad = fpq_job_new();
  fpq_job_set(&bad->pipeline, "not_in_project");
  assert_int_equal(fpq_enqueue(q, bad), FPQ_EINVAL);
  assert_int_not_equal(stat(path, &st), 0);
  fpq_job_set(&bad->pipeline, "alpha");
  assert_int_equal(fpq_enqueue(q, bad), 0);
  fpq_job_free(bad);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  snprintf(path, sizeof path, "%s/.flowerpower", project);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  fpq_close(q);
  test_rmdir(project);
}

/* PRAGMA synchronous of the queue's own connection (per connection in SQLite, so it is
 * read there): 1 NORMAL, 2 FULL. */
static int synchronous_of(fpq_queue *q) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(as_sqlite(q->b)->db, "PRAGMA synchronous", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void durability_full_syncs_every_commit_and_a_bad_value_writes_nothing(void **state) {
  (void)state;
  static const struct { const char *conf; int synchronous; } cases[] = {
      {"", 1}, {"backends:\n  sqlite:\n    durability: normal\n", 1},
      {"backends:\n  sqlite:\n    durability: full\n", 2}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *project = test_project(pipelines);
    test_write_file(project, "conf/job_queue.yml", cases[i].conf);
    fpq_options o = {.project_dir = project, .create = 1};
    fpq_queue *q = NULL;
    assert_int_equal(fpq_open(&q, &o), 0);
    fpq_job *job = fpq_job_new();
    fpq_job_set(&job->pipeline, "alpha");
    assert_int_equal(fpq_enqueue(q, job), 0); /* opens the database */
    fpq_job_free(job);
    assert_int_equal(synchronous_of(q), cases[i].synchronous);
    fpq_close(q);
    test_rmdir(project);
  }
  char *project = test_project(pipelines);
  test_write_file(project, "conf/job_queue.yml", "backends:\n  sqlite:\n    durability: max\n");
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_ECONFIG);
  assert_non_null(strstr(fpq_errmsg(q), "backends.sqlite.durability 'max' is not valid: "
                                        "expected normal or full"));
  fpq_close(q);
  char path[4096];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  struct stat st;
  assert_int_not_equal(stat(path, &st), 0);
  test_rmdir(project);
}

static void reading_does_not_create_a_database(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 0};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_ENOTFOUND);
  assert_non_null(strstr(fpq_errmsg(q), "nothing was enqueued"));
  fpq_close(q);
  char path[4096];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  struct stat st;
  assert_int_not_equal(stat(path, &st), 0);
  test_rmdir(project);
}

static void a_newer_schema_is_refused(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  char path[4096];
  snprintf(path, sizeof path, "%s/newer.db", project);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  char url[4200];
  snprintf(url, sizeof url, "sqlite://%s", path);
  fpq_options o = {.project_dir = project, .url = url};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_EFORMAT);
  assert_non_null(strstr(fpq_errmsg(q), "schema version 99"));
  fpq_close(q);
  test_rmdir(project);
}

static void a_relative_url_is_refused(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .url = "sqlite://relative.db", .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_ECONFIG);
  assert_non_null(strstr(fpq_errmsg(q), "sqlite:///abs/path.db"));
  fpq_close(q);
  test_rmdir(project);
}

/* Version 1 files (before schedules) are migrated in place when opened: CREATE ... IF
 * NOT EXISTS adds the tables, jobs stay. */
static void a_version_1_database_gains_schedules_and_keeps_its_jobs(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  snprintf(job->id, sizeof job->id, "old-job");
  assert_int_equal(fpq_enqueue(q, job), 0);
  fpq_job_free(job);
  fpq_close(q);
  char path[4096];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DROP TABLE schedules; DROP TABLE leases;"
                                    " PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(fpq_open(&q, &o), 0);
  fpq_schedule *s = fpq_schedule_new();
  fpq_job_set(&s->pipeline, "alpha");
  fpq_job_set(&s->trigger, "@hourly");
  assert_int_equal(fpq_schedule_put(q, s), 0);
  fpq_schedule_free(s);
  assert_int_equal(fpq_get(q, "old-job", &job), 0);
  fpq_job_free(job);
  fpq_close(q);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 3); /* the current schema version */
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'jobs_ended'",
                                      -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW); /* migrated: the index of ended runs */
  sqlite3_finalize(st);
  sqlite3_close(db);
  test_rmdir(project);
}

/* A bad schedule leaves no database behind, like a bad job. */
static void a_refused_schedule_creates_no_database(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  fpq_schedule *s = fpq_schedule_new();
  fpq_job_set(&s->pipeline, "alpha");
  fpq_job_set(&s->trigger, "60 * * * *");
  assert_int_equal(fpq_schedule_put(q, s), FPQ_EINVAL);
  fpq_schedule_free(s);
  fpq_schedule **list = NULL;
  size_t n = 9;
  assert_int_equal(fpq_schedule_list(q, NULL, &list, &n), 0);
  assert_int_equal(n, 0);
  fpq_schedules_free(list, n);
  fpq_close(q);
  char path[4096];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  struct stat st;
  assert_int_not_equal(stat(path, &st), 0);
  test_rmdir(project);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_default_database_is_private_in_the_project_and_made_by_a_write),
      cmocka_unit_test(reading_does_not_create_a_database),
      cmocka_unit_test(durability_full_syncs_every_commit_and_a_bad_value_writes_nothing),
      cmocka_unit_test(a_newer_schema_is_refused),
      cmocka_unit_test(a_relative_url_is_refused),
      cmocka_unit_test(a_version_1_database_gains_schedules_and_keeps_its_jobs),
      cmocka_unit_test(a_refused_schedule_creates_no_database),
  };
  int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
  backend_contract c = {.backend = "sqlite"};
  return failed + backend_contract_run(&c);
}
