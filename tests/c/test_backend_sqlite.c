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
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "backend_contract.h"
#include "fpq.h"
#include "queue_handle.h"
#include "backend/sqlite/backend.h"
#include "clock.h"
#include "queue.h"
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

static void put_job(fpq_queue *q, const char *pipeline, const char *id) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, pipeline);
  snprintf(job->id, sizeof job->id, "%s", id);
  assert_int_equal(fpq_enqueue(q, job), 0);
  fpq_job_free(job);
}

/* n jobs of pipeline, with the ids PREFIX-000, PREFIX-001, ... */
static void put_jobs(fpq_queue *q, const char *pipeline, const char *prefix, int n) {
  char id[64];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%s-%03d", prefix, i);
    put_job(q, pipeline, id);
  }
}

/* The project's queue.db opened directly (SQLite's own VFS), as another program (or an
 * older fpq) would; the caller closes it. */
static sqlite3 *raw_open(const char *project) {
  char path[4096];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  return db;
}

/* Runs sql on the project's queue.db directly. */
static void raw_exec(const char *project, const char *sql) {
  sqlite3 *db = raw_open(project);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* The first column of sql's first row on the project's queue.db, or -1 for no row. */
static int raw_int(const char *project, const char *sql) {
  sqlite3 *db = raw_open(project);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* Version 1 files (before schedules) are migrated in place when opened: CREATE ... IF
 * NOT EXISTS adds the tables, jobs stay. */
static void a_version_1_database_gains_schedules_and_keeps_its_jobs(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  put_job(q, "alpha", "old-job");
  fpq_close(q);
  raw_exec(project, "DROP TABLE schedules; DROP TABLE leases; PRAGMA user_version = 1");
  assert_int_equal(fpq_open(&q, &o), 0);
  fpq_schedule *s = fpq_schedule_new();
  fpq_job_set(&s->pipeline, "alpha");
  fpq_job_set(&s->trigger, "@hourly");
  assert_int_equal(fpq_schedule_put(q, s), 0);
  fpq_schedule_free(s);
  fpq_job *job = NULL;
  assert_int_equal(fpq_get(q, "old-job", &job), 0);
  fpq_job_free(job);
  fpq_close(q);
  assert_int_equal(raw_int(project, "PRAGMA user_version"), 3); /* the current version */
  /* migrated: the index of ended runs */
  assert_int_equal(raw_int(project, "SELECT 1 FROM sqlite_master WHERE name = 'jobs_ended'"), 1);
  test_rmdir(project);
}

/* jobs_project, which an older fpq made, is dropped on open (each enqueue paid for it);
 * a project's find merges its pipelines' index instead, newest first. */
static void an_older_project_index_is_dropped_and_find_still_lists_the_project(void **state) {
  (void)state;
  static const char *const two[] = {"alpha", "beta", NULL};
  char *project = test_project(two);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  put_job(q, "alpha", "job-0");
  put_job(q, "beta", "job-1");
  put_job(q, "alpha", "job-2");
  fpq_close(q);
  raw_exec(project, "CREATE INDEX jobs_project ON jobs(project, created_at)");
  assert_int_equal(fpq_open(&q, &o), 0);
  fpq_job **jobs = NULL;
  size_t n = 0;
  assert_int_equal(fpq_find(q, NULL, NULL, 2, &jobs, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(jobs[0]->id, "job-2");
  assert_string_equal(jobs[1]->id, "job-1");
  fpq_jobs_free(jobs, n);
  fpq_close(q);
  assert_int_equal(raw_int(project, "SELECT 1 FROM sqlite_master WHERE name = 'jobs_project'"), -1);
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

static fpq_job *one_job(void) {
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  return job;
}

/* A worker kept the unlinked queue.db open and never saw new jobs. Now its handle notices
 * (maintenance reports it once) and reopens what is at the path. */
static void a_deleted_or_replaced_database_is_noticed_and_reopened(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *worker = NULL, *producer = NULL;
  assert_int_equal(fpq_open(&worker, &o), 0);
  fpq_job *old = one_job();
  assert_int_equal(fpq_enqueue(worker, old), 0);
  assert_int_equal(fpq_maintain(worker, NULL), 0);
  char path[4096], side[4200];
  snprintf(path, sizeof path, "%s/.flowerpower/queue.db", project);
  snprintf(side, sizeof side, "%s.deleted", path);
  for (int round = 0; round < 2; round++) {
    if (round == 0) {
      assert_int_equal(unlink(path), 0); /* deleted */
    } else {
      assert_int_equal(rename(path, side), 0); /* replaced by another file */
    }
    assert_int_equal(fpq_open(&producer, &o), 0);
    fpq_job *fresh = one_job();
    assert_int_equal(fpq_enqueue(producer, fresh), 0);
    fpq_close(producer);
    producer = NULL;
    usleep(1100 * 1000); /* the check runs at most once a second */
    assert_int_equal(fpq_maintain(worker, NULL), FPQ_EIO);
    assert_non_null(strstr(fpq_errmsg(worker), "was deleted or replaced while open"));
    assert_int_equal(fpq_maintain(worker, NULL), 0); /* said once */
    fpq_job *got = NULL;
    assert_int_equal(fpq_get(worker, fresh->id, &got), 0); /* the new file's job */
    fpq_job_free(got);
    assert_int_equal(fpq_get(worker, old->id, &got), FPQ_ENOTFOUND);
    fpq_job_free(fresh);
  }
  fpq_job_free(old);
  fpq_close(worker);
  test_rmdir(project);
}

static char *status_in(sqlite3 *db, const char *id) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT status FROM jobs WHERE id = ?1", -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char *status = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return status;
}

/* A row written behind the engine's back with an id it cannot carry (here 200
 * characters) was run under a cut id and then stayed started forever. It is never taken
 * now, and maintenance fails it with the reason; a good job behind it runs as usual. */
static void a_row_with_an_id_too_long_is_failed_not_run(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  fpq_job *good = one_job();
  assert_int_equal(fpq_enqueue(q, good), 0);
  char sql[1024], id[201];
  memset(id, 'a', 200);
  id[200] = '\0';
  sqlite3 *db = raw_open(project);
  snprintf(sql, sizeof sql,
           "INSERT INTO jobs (id, seq, project, pipeline, run, queue, status) VALUES"
           " ('%s', 0, '%s', 'alpha', '{}', 'default', 'queued')", id, project);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  /* Bad ids in the other states maintenance fails, and one that ended (left alone). */
  snprintf(sql, sizeof sql,
           "INSERT INTO jobs (id, seq, project, pipeline, run, queue, status, run_at,"
           " lease_until, worker) VALUES"
           " ('sched uled', 1, '%s', 'alpha', '{}', 'default', 'scheduled', 4e9, NULL, NULL),"
           " ('star/ted', 2, '%s', 'alpha', '{}', 'default', 'started', NULL, 4e9, 'w2'),"
           " ('end ed', 3, '%s', 'alpha', '{}', 'default', 'finished', NULL, NULL, NULL),"
           " (NULL, 4, '%s', 'alpha', '{}', 'default', 'queued', NULL, NULL, NULL)",
           project, project, project, project);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  const char *const queues[] = {"default"};
  fpq_job *taken = NULL;
  assert_int_equal(fpq_take(q, "w", queues, 1, 30, 0, &taken), 0);
  assert_string_equal(taken->id, good->id); /* the bad row (seq 0, first) is skipped */
  fpq_job_free(taken);
  int moved = 0;
  assert_int_equal(fpq_maintain(q, &moved), 0);
  assert_int_equal(moved, 4);
  assert_int_equal(raw_int(project, "SELECT status = 'failed' FROM jobs WHERE id IS NULL"), 1);
  char *status = status_in(db, "sched uled");
  assert_string_equal(status, "failed");
  free(status);
  status = status_in(db, "star/ted");
  assert_string_equal(status, "failed");
  free(status);
  status = status_in(db, "end ed");
  assert_string_equal(status, "finished");
  free(status);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT status, error FROM jobs WHERE id = ?1", -1,
                                      &st, NULL), SQLITE_OK);
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "failed");
  assert_non_null(strstr((const char *)sqlite3_column_text(st, 1), "InvalidJob"));
  sqlite3_finalize(st);
  sqlite3_close(db);
  fpq_job_free(good);
  fpq_close(q);
  test_rmdir(project);
}

/* An empty file, or another program's SQLite database, at the queue's path is refused as
 * not a queue, and left as it was. */
static void a_file_that_is_not_a_queue_is_refused(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/.flowerpower", project);
  mkdir(dir, 0700);
  snprintf(path, sizeof path, "%s/queue.db", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
  struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0); /* not one being created now */
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_EFORMAT);
  assert_non_null(strstr(fpq_errmsg(q), "is an empty file, not a queue database"));
  fpq_close(q);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 0);
  unlink(path);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes (t TEXT)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  q = NULL;
  assert_int_equal(fpq_open(&q, &o), FPQ_EFORMAT);
  assert_non_null(strstr(fpq_errmsg(q), "is an SQLite database of something else"));
  fpq_close(q);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st2;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master", -1, &st2, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st2), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st2, 0), 1); /* nothing of ours was added */
  sqlite3_finalize(st2);
  sqlite3_close(db);
  test_rmdir(project);
}


/* A queue on a new project's default database (the caller closes both). */
static fpq_queue *fresh_queue(char **project) {
  *project = test_project(pipelines);
  fpq_options o = {.project_dir = *project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  return q;
}

/* The loop's step leaves the once-a-second look for a replaced file to a waiting call:
 * a read now makes that look if it is due, so the next step is not refused for it. */
static void fresh_file_check(fpq_queue *q) {
  fpq_job *none = NULL;
  assert_int_equal(fpq_get(q, "no-such-job", &none), FPQ_ENOTFOUND);
}

#define ALL_OF(q)                                                                       \
  (const char *const[]) {                                                               \
    fpq_queue_for(q, FPQ_PRIORITY_HIGH), fpq_queue_for(q, FPQ_PRIORITY_MEDIUM),         \
        fpq_queue_for(q, FPQ_PRIORITY_LOW)                                              \
  }

/* One step as the worker makes it: from the loop, else (returned 1) the waiting call.
 * Returns the step's answer; *waited counts the steps left to the waiting call. */
static int worker_step(fpq_queue *q, fpq_job *job, fpq_job **next, int *take_rc, int *waited) {
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  int rc = fpq__finish_take(q, job, "w", &ok, NULL, ALL_OF(q), 3, 30, 1, next, take_rc);
  if (rc != 1) return rc;
  ++*waited;
  return fpq__finish_take(q, job, "w", &ok, NULL, ALL_OF(q), 3, 30, 0, next, take_rc);
}

/* A commit from the loop never checkpoints the WAL (pages written back, an fsync): the
 * step after the WAL passed SQLite's checkpoint size (1,000 pages) is left to the waiting
 * call, which checkpoints, as is the step after that (the WAL starts over, with a sync).
 * Without that the WAL would grow by every step's pages. */
static void the_loops_steps_leave_checkpoints_to_the_waiting_call(void **state) {
  (void)state;
  char *project = NULL;
  fpq_queue *q = fresh_queue(&project);
  char wal[4200];
  put_jobs(q, "alpha", "ckpt", 800);
  snprintf(wal, sizeof wal, "%s/.flowerpower/queue.db-wal", project);
  fpq_job *job = NULL, *next = NULL;
  assert_int_equal(fpq_take(q, "w", ALL_OF(q), 3, 30, 0, &job), 0);
  int take_rc = 0, waited = 0, steps = 0;
  off_t largest = 0;
  while (job) {
    fresh_file_check(q);
    assert_int_equal(worker_step(q, job, &next, &take_rc, &waited), 0);
    fpq_job_free(job);
    job = next;
    next = NULL;
    steps++;
    struct stat st;
    if (stat(wal, &st) == 0 && st.st_size > largest) largest = st.st_size;
  }
  assert_int_equal(take_rc, FPQ_EEMPTY);
  assert_int_equal(steps, 800);
  assert_true(waited >= 2 && waited < steps / 4); /* most at once, the checkpoints not */
  assert_true(largest < 1500 * (4096 + 24)); /* 800 steps write well over 1,500 pages */
  fpq_close(q);
  test_rmdir(project);
}

/* A finished job's outcome looks at every deferred job for ones it releases: with many
 * waiting (64 or more) the step is left to the waiting call, which releases them. */
static void a_step_releasing_among_many_deferred_jobs_is_left_to_the_waiting_call(
    void **state) {
  (void)state;
  char *project = NULL;
  fpq_queue *q = fresh_queue(&project);
  put_job(q, "alpha", "parent");
  for (int i = 0; i < 70; i++) {
    fpq_job *child = fpq_job_new();
    fpq_job_set(&child->pipeline, "alpha");
    fpq_job_set(&child->depends_on, "[\"parent\"]");
    assert_int_equal(fpq_enqueue(q, child), 0);
    fpq_job_free(child);
  }
  fpq_job *job = NULL, *next = NULL;
  assert_int_equal(fpq_take(q, "w", ALL_OF(q), 3, 30, 0, &job), 0);
  assert_string_equal(job->id, "parent");
  int take_rc = -1, waited = 0;
  fresh_file_check(q);
  assert_int_equal(worker_step(q, job, &next, &take_rc, &waited), 0);
  assert_int_equal(waited, 1);
  assert_int_equal(take_rc, 0);
  assert_non_null(next); /* a released child */
  fpq_job_free(job);
  fpq_job_free(next);
  fpq_close(q);
  test_rmdir(project);
}

/* The worker's step from its loop thread (finish_take_nowait) never waits for a lock:
 * while another program holds the write lock it answers "not at once" with nothing
 * written (it would otherwise wait up to the busy timeout, 60 s), and once the lock is
 * free it records the outcome and takes the next job at once. */
static void the_step_from_the_loop_never_waits_for_a_lock(void **state) {
  (void)state;
  char *project = NULL;
  fpq_queue *q = fresh_queue(&project);
  put_job(q, "alpha", "step-a");
  put_job(q, "alpha", "step-b");
  const char *const *queues = ALL_OF(q);
  fpq_job *job = NULL, *next = NULL;
  assert_int_equal(fpq_take(q, "w", queues, 3, 30, 0, &job), 0);
  assert_string_equal(job->id, "step-a");
  sqlite3 *other = raw_open(project);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  fpq_outcome ok = {.kind = FPQ_OUTCOME_SUCCESS, .result_json = "1"};
  fpq_status final = FPQ_STATUS_QUEUED;
  int take_rc = -1;
  fresh_file_check(q);
  double started = fpq__monotonic();
  assert_int_equal(fpq__finish_take(q, job, "w", &ok, &final, queues, 3, 30, 1, &next, &take_rc),
                   1);
  assert_true(fpq__monotonic() - started < 5);
  assert_null(next);
  assert_int_equal(final, FPQ_STATUS_QUEUED);
  assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  char *status = status_in(other, "step-a");
  assert_string_equal(status, "started"); /* nothing written */
  free(status);
  fresh_file_check(q);
  assert_int_equal(fpq__finish_take(q, job, "w", &ok, &final, queues, 3, 30, 1, &next, &take_rc),
                   0);
  assert_int_equal(final, FPQ_STATUS_FINISHED);
  assert_int_equal(take_rc, 0);
  assert_string_equal(next->id, "step-b");
  status = status_in(other, "step-a");
  assert_string_equal(status, "finished");
  free(status);
  sqlite3_close(other);
  fpq_job_free(job);
  fpq_job_free(next);
  fpq_close(q);
  test_rmdir(project);
}

/* Maintenance looks for bad ids among the jobs that may still run, through their
 * partial indexes: never by a scan of the whole table, which holds every ended job kept
 * for its retention (seconds of the write lock, every 2 s, on a large queue). */
static void maintenance_finds_bad_ids_without_reading_ended_jobs(void **state) {
  (void)state;
  char *project = NULL;
  fpq_queue *q = fresh_queue(&project);
  put_job(q, "alpha", "creates-the-file");
  sqlite3 *db = raw_open(project);
  char sql[2048];
  snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", fpq__sqlite_fail_bad_ids_sql);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  int steps = 0, index_scans = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *detail = (const char *)sqlite3_column_text(st, 3);
    steps++;
    assert_string_not_equal(detail, "SCAN jobs"); /* the whole table */
    index_scans += strstr(detail, "USING INDEX") != NULL;
  }
  assert_true(steps > 0);
  assert_int_equal(index_scans, 3); /* jobs_ready, jobs_lease, jobs_due */
  sqlite3_finalize(st);
  sqlite3_close(db);
  fpq_close(q);
  test_rmdir(project);
}

/* ---- one write per WAL frame (wal_writes.c) ---- */

/* Opens PATH-wal through the queue's VFS, as SQLite opens a WAL (its database must exist). */
static sqlite3_file *open_wal(const char *db_path, char *wal_path, size_t len) {
  sqlite3_vfs *vfs = sqlite3_vfs_find(fpq__sqlite_vfs());
  assert_non_null(vfs);
  FILE *db = fopen(db_path, "w");
  assert_non_null(db);
  fclose(db);
  snprintf(wal_path, len, "%s-wal", db_path);
  sqlite3_file *f = calloc(1, (size_t)vfs->szOsFile);
  int out = 0;
  assert_int_equal(vfs->xOpen(vfs, wal_path, f,
                              SQLITE_OPEN_WAL | SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE,
                              &out),
                   SQLITE_OK);
  return f;
}

/* What the file holds at off, read by another descriptor (as another process would). */
static void assert_bytes_on_disk(const char *path, long off, char byte, size_t n) {
  char buf[256];
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, off, SEEK_SET), 0);
  assert_int_equal(fread(buf, 1, n, f), n);
  fclose(f);
  for (size_t i = 0; i < n; i++) assert_int_equal(buf[i], byte);
}

static void write_bytes(sqlite3_file *f, char byte, int n, sqlite3_int64 off) {
  char buf[256];
  memset(buf, byte, sizeof buf);
  assert_int_equal(f->pMethods->xWrite(f, buf, n, off), SQLITE_OK);
}

/* A frame header (24 bytes) appended to the WAL is held back for its page, and is on
 * disk before anything else happens to the file: a size, a read, a write elsewhere, a
 * sync, a close. Each one of these would otherwise see a file without it. A header
 * written over an earlier one (SQLite rewrites them at a commit, with nothing after) is
 * not held at all. */
static void a_held_frame_header_is_written_before_anything_else_touches_the_file(
    void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  char db_path[4096], wal_path[4200];
  snprintf(db_path, sizeof db_path, "%s/q.db", dir);
  sqlite3_file *f = open_wal(db_path, wal_path, sizeof wal_path);
  const sqlite3_io_methods *m = f->pMethods;
  sqlite3_int64 size = 0;
  write_bytes(f, 'A', 32, 0); /* the WAL header: not held */
  write_bytes(f, 'H', 24, 32);
  assert_int_equal(m->xFileSize(f, &size), SQLITE_OK);
  assert_int_equal(size, 56);
  assert_bytes_on_disk(wal_path, 32, 'H', 24);
  /* A header and its page: one write, read back whole. */
  write_bytes(f, 'I', 24, 56);
  write_bytes(f, 'P', 100, 80);
  char back[124];
  assert_int_equal(m->xRead(f, back, sizeof back, 56), SQLITE_OK);
  for (int i = 0; i < 124; i++) assert_int_equal(back[i], i < 24 ? 'I' : 'P');
  /* A header rewritten in place: on disk at once. */
  write_bytes(f, 'R', 24, 56);
  assert_bytes_on_disk(wal_path, 56, 'R', 24);
  /* An appended header whose next write goes elsewhere is written first. */
  write_bytes(f, 'P', 100, 180);
  write_bytes(f, 'J', 24, 280);
  write_bytes(f, 'Q', 10, 400);
  assert_bytes_on_disk(wal_path, 280, 'J', 24);
  /* Before a sync, and at the close. */
  write_bytes(f, 'K', 24, 410);
  assert_int_equal(m->xSync(f, SQLITE_SYNC_NORMAL), SQLITE_OK);
  assert_bytes_on_disk(wal_path, 410, 'K', 24);
  write_bytes(f, 'P', 100, 434);
  write_bytes(f, 'L', 24, 534);
  assert_int_equal(m->xClose(f), SQLITE_OK);
  assert_bytes_on_disk(wal_path, 534, 'L', 24);
  free(f);
  test_rmdir(dir);
}

/* Copies a file byte for byte (what a crash leaves on disk is what was written). */
static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  fclose(out);
}

/* A transaction larger than the page cache spills pages to the WAL before its commit;
 * changing one of them again rewrites it in place, and the commit then rewrites the frame
 * headers from there on, the last one with nothing after it (synchronous=NORMAL). What
 * is on disk right after COMMIT, copied as a crash would leave it, holds the whole
 * transaction: no header of it waits in memory. */
static void a_commit_that_rewrote_frame_headers_is_whole_on_disk(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  char path[4096], copy[4096], from[4200], to[4200];
  snprintf(path, sizeof path, "%s/spill.db", dir);
  snprintf(copy, sizeof copy, "%s/after-crash.db", dir);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                   fpq__sqlite_vfs()),
                   SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                                " PRAGMA cache_size = 10; CREATE TABLE t (x);"
                                " BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT"
                                " i + 1 FROM n WHERE i < 400) INSERT INTO t SELECT"
                                " randomblob(900) FROM n;"
                                " UPDATE t SET x = zeroblob(900) WHERE rowid <= 3; COMMIT;",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  /* Copied while the connection is still open: nothing of it is flushed by a close. */
  copy_file(path, copy);
  snprintf(from, sizeof from, "%s-wal", path);
  snprintf(to, sizeof to, "%s-wal", copy);
  copy_file(from, to);
  sqlite3 *after = NULL;
  assert_int_equal(sqlite3_open_v2(copy, &after, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(after, "SELECT count(*), sum(x = zeroblob(900)) FROM t",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 400);
  assert_int_equal(sqlite3_column_int(st, 1), 3);
  sqlite3_finalize(st);
  sqlite3_close(after);
  sqlite3_close(db);
  test_rmdir(dir);
}

/* What the engine commits through its VFS is what SQLite's own VFS reads: every frame's
 * checksum holds (a frame written wrong would end the WAL there, and its jobs would be
 * missing), and the file is sound. */
static void jobs_written_a_frame_at_a_time_are_read_by_sqlites_own_vfs(void **state) {
  (void)state;
  char *project = NULL;
  fpq_queue *q = fresh_queue(&project);
  put_jobs(q, "alpha", "frame", 300);
  assert_int_equal(raw_int(project, "SELECT COUNT(*) FROM jobs"), 300);
  fpq_close(q);
  assert_int_equal(raw_int(project, "SELECT COUNT(*) FROM jobs"), 300);
  assert_int_equal(raw_int(project, "SELECT integrity_check = 'ok' FROM pragma_integrity_check"),
                   1);
  test_rmdir(project);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_default_database_is_private_in_the_project_and_made_by_a_write),
      cmocka_unit_test(reading_does_not_create_a_database),
      cmocka_unit_test(durability_full_syncs_every_commit_and_a_bad_value_writes_nothing),
      cmocka_unit_test(a_newer_schema_is_refused),
      cmocka_unit_test(a_relative_url_is_refused),
      cmocka_unit_test(an_older_project_index_is_dropped_and_find_still_lists_the_project),
      cmocka_unit_test(a_version_1_database_gains_schedules_and_keeps_its_jobs),
      cmocka_unit_test(a_refused_schedule_creates_no_database),
      cmocka_unit_test(a_deleted_or_replaced_database_is_noticed_and_reopened),
      cmocka_unit_test(a_row_with_an_id_too_long_is_failed_not_run),
      cmocka_unit_test(a_file_that_is_not_a_queue_is_refused),
      cmocka_unit_test(the_step_from_the_loop_never_waits_for_a_lock),
      cmocka_unit_test(the_loops_steps_leave_checkpoints_to_the_waiting_call),
      cmocka_unit_test(a_step_releasing_among_many_deferred_jobs_is_left_to_the_waiting_call),
      cmocka_unit_test(maintenance_finds_bad_ids_without_reading_ended_jobs),
      cmocka_unit_test(a_held_frame_header_is_written_before_anything_else_touches_the_file),
      cmocka_unit_test(jobs_written_a_frame_at_a_time_are_read_by_sqlites_own_vfs),
      cmocka_unit_test(a_commit_that_rewrote_frame_headers_is_whole_on_disk),
  };
  int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
  backend_contract c = {.backend = "sqlite", .fenced = 1, .steps_at_once = 1};
  return failed + backend_contract_run(&c);
}
