/* schedules.c (sqlite): schedules and named leases in the embedded SQLite backend.
 *
 * Tables `schedules` and `leases` live in the queue's own file (schema version 2). Each
 * change is one statement, hence atomic across the processes sharing the file: the
 * scheduler's compare-and-set on next_fire (advance) and the leader lease (an upsert
 * that only overwrites an expired lease or one the caller holds) need nothing more.
 * The core validated and merged every record before it gets here. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "job.h"

/* Prepares a one-off statement; schedules change rarely, so they need no cache. */
static int prepare(sqlite_backend *s, const char *sql, sqlite3_stmt **st, const char *doing) {
  int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  return rc == SQLITE_OK ? 0 : fpq__sqlite_fail(s, rc, doing);
}

#define COLUMNS                                                                         \
  "id, project, pipeline, run, priority, trigger_text, timezone, max_retries,"          \
  " retry_delay, jitter_factor, timeout, misfire_grace, coalesce_fires, paused,"        \
  " next_fire, last_fire, created_at, fired, skipped"

/* Builds a schedule from the current row of a SELECT COLUMNS. */
static int row_to_schedule(sqlite_backend *s, sqlite3_stmt *st, fpq_schedule **out) {
  fpq_schedule *r = fpq_schedule_new();
  if (r == NULL) return fpq_backend_fail(&s->base, FPQ_ENOMEM, "out of memory");
  const char *id = (const char *)sqlite3_column_text(st, 0);
  const char *priority = (const char *)sqlite3_column_text(st, 4);
  snprintf(r->id, sizeof r->id, "%s", id ? id : "");
  if (priority == NULL || fpq_priority_parse(priority, &r->priority)) {
    fpq_schedule_free(r);
    return fpq_backend_fail(&s->base, FPQ_EFORMAT, "schedule '%s' has unknown priority '%.40s'",
                            id ? id : "", priority ? priority : "");
  }
  int oom = fpq_job_set(&r->project, (const char *)sqlite3_column_text(st, 1)) |
            fpq_job_set(&r->pipeline, (const char *)sqlite3_column_text(st, 2)) |
            fpq_job_set(&r->run_json, (const char *)sqlite3_column_text(st, 3)) |
            fpq_job_set(&r->trigger, (const char *)sqlite3_column_text(st, 5)) |
            fpq_job_set(&r->timezone, (const char *)sqlite3_column_text(st, 6));
  if (oom) {
    fpq_schedule_free(r);
    return fpq_backend_fail(&s->base, FPQ_ENOMEM, "out of memory");
  }
  r->max_retries = sqlite3_column_int(st, 7);
  r->retry_delay = sqlite3_column_double(st, 8);
  r->jitter_factor = sqlite3_column_double(st, 9);
  r->timeout = sqlite3_column_double(st, 10);
  r->misfire_grace = sqlite3_column_double(st, 11);
  r->coalesce = sqlite3_column_int(st, 12);
  r->paused = sqlite3_column_int(st, 13);
  r->next_fire = sqlite3_column_int64(st, 14);
  r->last_fire = sqlite3_column_int64(st, 15);
  r->created_at = sqlite3_column_double(st, 16);
  r->fired = sqlite3_column_int64(st, 17);
  r->skipped = sqlite3_column_int64(st, 18);
  *out = r;
  return 0;
}

int fpq__sqlite_schedule_put(fpq_backend *b, const fpq_schedule *r) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 1);
  if (rc) return rc;
  sqlite3_stmt *st;
  if ((rc = prepare(s, "INSERT OR REPLACE INTO schedules (" COLUMNS ") VALUES (?1, ?2, ?3, ?4,"
                    " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                    &st, "store schedule")))
    return rc;
  bind_text(st, 1, r->id);
  bind_text(st, 2, r->project);
  bind_text(st, 3, r->pipeline);
  bind_text(st, 4, r->run_json ? r->run_json : "{}");
  bind_text(st, 5, fpq_priority_name(r->priority));
  bind_text(st, 6, r->trigger);
  bind_text(st, 7, r->timezone && r->timezone[0] ? r->timezone : NULL);
  sqlite3_bind_int(st, 8, r->max_retries);
  sqlite3_bind_double(st, 9, r->retry_delay);
  sqlite3_bind_double(st, 10, r->jitter_factor);
  sqlite3_bind_double(st, 11, r->timeout);
  sqlite3_bind_double(st, 12, r->misfire_grace);
  sqlite3_bind_int(st, 13, r->coalesce ? 1 : 0);
  sqlite3_bind_int(st, 14, r->paused ? 1 : 0);
  sqlite3_bind_int64(st, 15, r->next_fire);
  sqlite3_bind_int64(st, 16, r->last_fire);
  sqlite3_bind_double(st, 17, r->created_at);
  sqlite3_bind_int64(st, 18, r->fired);
  sqlite3_bind_int64(st, 19, r->skipped);
  return fpq__sqlite_run(s, st, "store schedule");
}

int fpq__sqlite_schedule_get(fpq_backend *b, const char *id, fpq_schedule **out) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 0);
  if (rc == FPQ__SQLITE_NO_DB)
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
  if (rc) return rc;
  sqlite3_stmt *st;
  if ((rc = prepare(s, "SELECT " COLUMNS " FROM schedules WHERE id = ?1", &st, "get schedule")))
    return rc;
  bind_text(st, 1, id);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW) rc = row_to_schedule(s, st, out);
  else if (step == SQLITE_DONE)
    rc = fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
  else rc = fpq__sqlite_fail(s, step, "get schedule");
  sqlite3_finalize(st);
  return rc;
}

int fpq__sqlite_schedule_list(fpq_backend *b, const char *project, int64_t due, int limit,
                              fpq_schedule ***out, size_t *n) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 0);
  if (rc == FPQ__SQLITE_NO_DB) return 0;
  if (rc) return rc;
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT " COLUMNS " FROM schedules WHERE %s%s %s",
           project ? "project = ?1" : "?1 IS NULL",
           due > 0 ? " AND paused = 0 AND next_fire != 0 AND next_fire <= ?2" : "",
           due > 0 ? "ORDER BY next_fire LIMIT ?3" : "ORDER BY id");
  sqlite3_stmt *st;
  if ((rc = prepare(s, sql, &st, "list schedules"))) return rc;
  bind_text(st, 1, project);
  sqlite3_bind_int64(st, 2, due);
  sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
  fpq_schedule **list = NULL;
  size_t len = 0, cap = 0;
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (len == cap) {
      cap = cap ? cap * 2 : 8;
      fpq_schedule **grown = fpq__realloc(list, cap * sizeof *grown);
      if (grown == NULL) {
        rc = fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
        break;
      }
      list = grown;
    }
    if ((rc = row_to_schedule(s, st, &list[len]))) break;
    len++;
  }
  if (rc == 0 && step != SQLITE_DONE) rc = fpq__sqlite_fail(s, step, "list schedules");
  sqlite3_finalize(st);
  if (rc) {
    fpq_schedules_free(list, len);
    return rc;
  }
  *out = list;
  *n = len;
  return 0;
}

/* A change that touched no row: the schedule is missing (ENOTFOUND) or, when `otherwise`
 * is given, it exists in another state. */
static int none_changed(sqlite_backend *s, const char *id, int otherwise) {
  fpq_schedule *r = NULL;
  int rc = fpq__sqlite_schedule_get(&s->base, id, &r);
  fpq_schedule_free(r);
  if (rc) return rc;
  return fpq_backend_fail(&s->base, otherwise, "schedule '%s' was changed meanwhile", id);
}

int fpq__sqlite_schedule_remove(fpq_backend *b, const char *id) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 0);
  if (rc == FPQ__SQLITE_NO_DB)
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
  if (rc) return rc;
  sqlite3_stmt *st;
  if ((rc = prepare(s, "DELETE FROM schedules WHERE id = ?1", &st, "remove schedule"))) return rc;
  bind_text(st, 1, id);
  if ((rc = fpq__sqlite_run(s, st, "remove schedule"))) return rc;
  return sqlite3_changes(s->db) == 1 ? 0
         : fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
}

int fpq__sqlite_schedule_set_paused(fpq_backend *b, const char *id, int paused,
                                    int64_t next_fire) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 0);
  if (rc == FPQ__SQLITE_NO_DB)
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
  if (rc) return rc;
  sqlite3_stmt *st;
  if ((rc = prepare(s, "UPDATE schedules SET paused = ?2, next_fire = CASE WHEN ?3 >= 0"
                    " THEN ?3 ELSE next_fire END WHERE id = ?1", &st, "pause schedule")))
    return rc;
  bind_text(st, 1, id);
  sqlite3_bind_int(st, 2, paused ? 1 : 0);
  sqlite3_bind_int64(st, 3, next_fire);
  if ((rc = fpq__sqlite_run(s, st, "pause schedule"))) return rc;
  return sqlite3_changes(s->db) == 1 ? 0
         : fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
}

int fpq__sqlite_schedule_advance(fpq_backend *b, const fpq_schedule_advance_args *a) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 0);
  if (rc == FPQ__SQLITE_NO_DB)
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", a->id);
  if (rc) return rc;
  sqlite3_stmt *st;
  if ((rc = prepare(s, "UPDATE schedules SET next_fire = ?3, last_fire = MAX(last_fire, ?4),"
                    " fired = fired + ?5, skipped = skipped + ?6"
                    " WHERE id = ?1 AND next_fire = ?2", &st, "advance schedule")))
    return rc;
  bind_text(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->expect_next);
  sqlite3_bind_int64(st, 3, a->next_fire);
  sqlite3_bind_int64(st, 4, a->last_fire);
  sqlite3_bind_int64(st, 5, a->fired);
  sqlite3_bind_int64(st, 6, a->skipped);
  if ((rc = fpq__sqlite_run(s, st, "advance schedule"))) return rc;
  return sqlite3_changes(s->db) == 1 ? 0 : none_changed(s, a->id, FPQ_ESTATE);
}

int fpq__sqlite_lease_acquire(fpq_backend *b, const char *name, const char *owner, double now,
                              double ttl, char *holder, size_t holder_len) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 1);
  if (rc) return rc;
  sqlite3_stmt *st;
  /* One statement: two schedulers racing for a free lease cannot both win it. */
  if ((rc = prepare(s, "INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?4)"
                    " ON CONFLICT(name) DO UPDATE SET owner = excluded.owner,"
                    " expires_at = excluded.expires_at"
                    " WHERE leases.owner = excluded.owner OR leases.expires_at <= ?3",
                    &st, "take lease")))
    return rc;
  bind_text(st, 1, name);
  bind_text(st, 2, owner);
  sqlite3_bind_double(st, 3, now);
  sqlite3_bind_double(st, 4, now + ttl);
  if ((rc = fpq__sqlite_run(s, st, "take lease"))) return rc;
  if (sqlite3_changes(s->db) == 1) {
    snprintf(holder, holder_len, "%s", owner);
    return 0;
  }
  if ((rc = prepare(s, "SELECT owner FROM leases WHERE name = ?1", &st, "read lease"))) return rc;
  bind_text(st, 1, name);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *who = (const char *)sqlite3_column_text(st, 0);
    snprintf(holder, holder_len, "%s", who ? who : "");
  }
  sqlite3_finalize(st);
  return fpq_backend_fail(b, FPQ_ELEASE, "lease '%s' is held by '%.100s'", name, holder);
}

int fpq__sqlite_lease_release(fpq_backend *b, const char *name, const char *owner) {
  sqlite_backend *s = as_sqlite(b);
  int rc = fpq__sqlite_need_db(s, 0);
  if (rc == FPQ__SQLITE_NO_DB) return 0;
  if (rc) return rc;
  sqlite3_stmt *st;
  if ((rc = prepare(s, "DELETE FROM leases WHERE name = ?1 AND owner = ?2", &st,
                    "give up lease")))
    return rc;
  bind_text(st, 1, name);
  bind_text(st, 2, owner);
  return fpq__sqlite_run(s, st, "give up lease");
}
