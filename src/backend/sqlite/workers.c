/* workers.c (sqlite): the registry of live workers (their beats, expiry and the commands
 * sent to them), a table of its own beside the jobs: `fpq worker list`, `worker stop`. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "clock.h"

int fpq__sqlite_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now) {
  sqlite_backend *s = as_sqlite(b);
  int opened = fpq__sqlite_need_db(s, 1);
  if (opened) return opened;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT OR REPLACE INTO workers (name, hostname, pid, state, queues,"
                         " current_job, birth, last_heartbeat, expires_at, successful, failed,"
                         " busy_seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                         " ?12)",
                         -1, &st, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "register worker");
  bind_text(st, 1, w->name);
  bind_text(st, 2, w->hostname);
  sqlite3_bind_int(st, 3, w->pid);
  bind_text(st, 4, w->state);
  bind_text(st, 5, w->queues);
  bind_text(st, 6, w->current_job[0] ? w->current_job : NULL);
  sqlite3_bind_double(st, 7, w->birth);
  sqlite3_bind_double(st, 8, now);
  sqlite3_bind_double(st, 9, now + ttl);
  sqlite3_bind_int64(st, 10, w->successful);
  sqlite3_bind_int64(st, 11, w->failed);
  sqlite3_bind_double(st, 12, w->busy_seconds);
  return fpq__sqlite_run(s, st, "register worker");
}

int fpq__sqlite_worker_gone(fpq_backend *b, const char *name, double now) {
  sqlite_backend *s = as_sqlite(b);
  if (fpq__sqlite_need_db(s, 0)) return 0;
  (void)now;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM workers WHERE name = ?1", -1, &st, NULL) !=
      SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "unregister worker");
  bind_text(st, 1, name);
  return fpq__sqlite_run(s, st, "unregister worker");
}

static void copy_column(sqlite3_stmt *st, int i, char *buf, size_t len) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  snprintf(buf, len, "%s", v ? v : "");
}

int fpq__sqlite_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n) {
  sqlite_backend *s = as_sqlite(b);
  if (fpq__sqlite_need_db(s, 0)) return 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT name, hostname, pid, state, queues, current_job, birth,"
                         " last_heartbeat, successful, failed, busy_seconds FROM workers"
                         " WHERE expires_at >= ?1 ORDER BY birth",
                         -1, &st, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "list workers");
  sqlite3_bind_double(st, 1, now);
  fpq_worker_info *list = NULL;
  size_t len = 0, cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4;
      fpq_worker_info *grown = fpq__realloc(list, cap * sizeof *grown);
      if (grown == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      list = grown;
    }
    fpq_worker_info *w = &list[len++];
    memset(w, 0, sizeof *w);
    copy_column(st, 0, w->name, sizeof w->name);
    copy_column(st, 1, w->hostname, sizeof w->hostname);
    w->pid = sqlite3_column_int(st, 2);
    copy_column(st, 3, w->state, sizeof w->state);
    copy_column(st, 4, w->queues, sizeof w->queues);
    copy_column(st, 5, w->current_job, sizeof w->current_job);
    w->birth = sqlite3_column_double(st, 6);
    w->last_heartbeat = sqlite3_column_double(st, 7);
    w->successful = sqlite3_column_int64(st, 8);
    w->failed = sqlite3_column_int64(st, 9);
    w->busy_seconds = sqlite3_column_double(st, 10);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    fpq__free(list);
    return fpq__sqlite_fail(s, rc, "list workers");
  }
  *out = list;
  *n = len;
  return 0;
}

int fpq__sqlite_worker_command(fpq_backend *b, const char *name, const char *command) {
  sqlite_backend *s = as_sqlite(b);
  int opened = fpq__sqlite_need_db(s, 1);
  if (opened) return opened;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO commands (worker, command, created_at)"
                         " SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM workers WHERE name = ?1"
                         " AND expires_at >= ?3)",
                         -1, &st, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "send command");
  bind_text(st, 1, name);
  bind_text(st, 2, command);
  sqlite3_bind_double(st, 3, fpq__now());
  int rc = fpq__sqlite_run(s, st, "send command");
  if (rc == 0 && sqlite3_changes(s->db) == 0)
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "no live worker named '%.100s'", name);
  return rc;
}

int fpq__sqlite_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len) {
  sqlite_backend *s = as_sqlite(b);
  if (fpq__sqlite_need_db(s, 0)) return FPQ_EEMPTY;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db,
                         "DELETE FROM commands WHERE id = (SELECT MIN(id) FROM commands"
                         " WHERE worker = ?1) RETURNING command",
                         -1, &st, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "read commands");
  bind_text(st, 1, name);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) copy_column(st, 0, buf, len);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) return 0;
  return rc == SQLITE_DONE ? FPQ_EEMPTY : fpq__sqlite_fail(s, rc, "read commands");
}

