/* maintain.c (sqlite): what a worker's maintenance does to the jobs table besides moving
 * due jobs (backend.c): started jobs whose lease ran out are retried or failed, rows
 * whose id the engine cannot carry are failed, ended jobs past their retention are
 * deleted (also `fpq prune`), and what is kept is counted for `fpq metrics`. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "job.h"

/* A started job whose lease ran out lost its worker: retry it or fail it with the reason,
 * as the core's retry rule says. */
static int reap_expired(sqlite_backend *s, double now, int *moved) {
  sqlite3_stmt *sel;
  int rc = sqlite3_prepare_v2(s->db,
                              "SELECT * FROM jobs WHERE status = 'started' AND lease_until < ?1",
                              -1, &sel, NULL);
  if (rc != SQLITE_OK) return fpq__sqlite_fail(s, rc, "find expired leases");
  sqlite3_bind_double(sel, 1, now);
  fpq_job **jobs = NULL;
  size_t n = 0;
  rc = fpq__sqlite_collect_jobs(s, sel, &jobs, &n);
  sqlite3_finalize(sel);
  if (rc) return rc;
  sqlite3_stmt *upd = NULL;
  if (n && sqlite3_prepare_v2(s->db,
                              "UPDATE jobs SET status = ?2, run_at = ?3, error = ?4,"
                              " ended_at = ?5, expires_at = CASE WHEN ?2 = 'failed' AND"
                              " failure_ttl >= 0 THEN ?5 + failure_ttl END,"
                              " lease_until = NULL, enqueued_at = CASE WHEN"
                              " ?2 = 'queued' THEN ?6 ELSE enqueued_at END, seq = CASE WHEN"
                              " ?2 = 'queued' THEN (SELECT COALESCE(MAX(seq), 0) + 1 FROM"
                              " jobs) ELSE seq END WHERE id = ?1 AND status = 'started'",
                              -1, &upd, NULL) != SQLITE_OK) {
    rc = fpq__sqlite_fail(s, sqlite3_errcode(s->db), "reap");
    n = 0;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    double run_at = 0;
    fpq_status next = fpq_retry_decision(jobs[i], now, &run_at);
    char message[512]; /* a worker name is under 128 bytes; a foreign one is cut */
    snprintf(message, sizeof message,
             "worker '%.300s' stopped renewing its lease (it died or lost the database); %s",
             jobs[i]->worker ? jobs[i]->worker : "?",
             next == FPQ_STATUS_FAILED ? "no attempts left" : "retrying");
    char *error = fpq__error_json("WorkerLost", message);
    sqlite3_reset(upd);
    bind_text(upd, 1, jobs[i]->id);
    bind_text(upd, 2, fpq_status_name(next));
    bind_time(upd, 3, run_at);
    bind_text(upd, 4, error ? error : "{\"type\": \"WorkerLost\"}");
    free(error);
    if (next == FPQ_STATUS_FAILED) sqlite3_bind_double(upd, 5, now);
    else sqlite3_bind_null(upd, 5);
    sqlite3_bind_double(upd, 6, now);
    int step = sqlite3_step(upd);
    if (step != SQLITE_DONE) rc = fpq__sqlite_fail(s, step, "reap");
    else *moved += sqlite3_changes(s->db);
  }
  sqlite3_finalize(upd);
  fpq_jobs_free(jobs, n);
  return rc;
}

/* Each status through its own partial index (jobs_ready, jobs_lease, jobs_due): written
 * as one WHERE status IN (...), SQLite scanned the whole table, every ended job kept for
 * its retention included, under the write lock, every 2 s (43 ms for 200,000 kept jobs;
 * now a fraction of a millisecond). */
const char fpq__sqlite_fail_bad_ids_sql[] =
    "UPDATE jobs SET status = 'failed', ended_at = ?1, lease_until = NULL, error = ?2"
    " WHERE rowid IN ("
    "SELECT rowid FROM jobs WHERE status = 'queued' AND " BAD_ID_SQL " UNION ALL "
    "SELECT rowid FROM jobs WHERE status = 'started' AND " BAD_ID_SQL " UNION ALL "
    "SELECT rowid FROM jobs WHERE status = 'scheduled' AND " BAD_ID_SQL ")";

static int fail_bad_ids(sqlite_backend *s, double now, int *moved) {
  char *error = fpq__error_json(
      "InvalidJob", "the job's id is not one fpq can carry (1-" ID_LIMIT(FPQ_ID_MAX)
      " of A-Z a-z 0-9 _ -): the record was not written by fpq; it was not run");
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, fpq__sqlite_fail_bad_ids_sql, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    free(error);
    return fpq__sqlite_fail(s, rc, "fail jobs with bad ids");
  }
  sqlite3_bind_double(st, 1, now);
  bind_text(st, 2, error ? error : "{\"type\": \"InvalidJob\"}");
  int step = sqlite3_step(st);
  sqlite3_finalize(st);
  free(error);
  if (step != SQLITE_DONE) return fpq__sqlite_fail(s, step, "fail jobs with bad ids");
  *moved += sqlite3_changes(s->db);
  return 0;
}

/* Deletes ended jobs whose retention passed (expires_at, set when they ended). */
static int delete_expired(sqlite_backend *s, double now, int64_t *removed) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                         -1, &st, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "expire results");
  sqlite3_bind_double(st, 1, now);
  int step = sqlite3_step(st);
  sqlite3_finalize(st);
  if (step != SQLITE_DONE) return fpq__sqlite_fail(s, step, "expire results");
  *removed = sqlite3_changes(s->db);
  return 0;
}

int fpq__sqlite_prune(fpq_backend *b, double now, int64_t *removed) {
  sqlite_backend *s = as_sqlite(b);
  if (fpq__sqlite_need_db(s, 0)) return 0; /* no file yet: nothing kept */
  int rc = fpq__sqlite_exec(s, "BEGIN IMMEDIATE", "prune");
  if (rc) return rc;
  if ((rc = delete_expired(s, now, removed))) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  return fpq__sqlite_exec(s, "COMMIT", "prune");
}

/* One scan of the ended jobs: cheap next to what an operator's metrics page costs anyway,
 * and exact. Jobs past their retention but not yet deleted are not counted. */
int fpq__sqlite_retention(fpq_backend *b, double now, fpq_retention *out) {
  sqlite_backend *s = as_sqlite(b);
  if (fpq__sqlite_need_db(s, 0)) return 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(result AS BLOB))), 0) +"
                         " COALESCE(SUM(LENGTH(CAST(error AS BLOB))), 0) FROM jobs WHERE status"
                         " IN ('finished', 'failed', 'stopped', 'canceled') AND"
                         " (expires_at IS NULL OR expires_at > ?1)",
                         -1, &st, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "count results");
  sqlite3_bind_double(st, 1, now);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    out->kept = sqlite3_column_int64(st, 0);
    out->bytes = sqlite3_column_int64(st, 1);
    rc = 0;
  } else {
    rc = fpq__sqlite_fail(s, rc, "count results");
  }
  sqlite3_finalize(st);
  return rc;
}

int fpq__sqlite_maintain(fpq_backend *b, double now, int *moved) {
  sqlite_backend *s = as_sqlite(b);
  int opened = fpq__sqlite_need_db(s, 1);
  if (opened) return opened;
  *moved = 0;
  if (s->replaced) { /* once, so the worker says it in its log */
    s->replaced = 0;
    return fpq_backend_fail(b, FPQ_EIO,
                            "the queue database %.120s was deleted or replaced while open; "
                            "reopened what is at that path now (jobs of the old file are "
                            "not seen any more)", s->path);
  }
  int rc = fpq__sqlite_exec(s, "BEGIN IMMEDIATE", "maintain");
  if (rc) return rc;
  if ((rc = fail_bad_ids(s, now, moved)) || (rc = fpq__sqlite_promote_due(s, now, moved)) ||
      (rc = reap_expired(s, now, moved)) || (rc = fpq__sqlite_release_deferred(s, now)))
    goto rollback;
  int64_t removed = 0;
  if ((rc = delete_expired(s, now, &removed))) goto rollback;
  return fpq__sqlite_exec(s, "COMMIT", "maintain");
rollback:
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* ---- workers and their commands ---- */

