/* stats.c (sqlite): the SQLite backend's record of ended runs, for metrics (throughput and
 * run-time percentiles). The jobs table is the record: an index on ended_at makes the
 * last minutes' runs one range scan. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"

int fpq__sqlite_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                            size_t *n) {
  sqlite_backend *s = as_sqlite(b);
  if (fpq__sqlite_need_db(s, 0)) return 0; /* no database yet: nothing ended */
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db,
                              "SELECT pipeline, queue, status, started_at, ended_at FROM jobs"
                              " WHERE ended_at >= ?1 AND status IN ('finished', 'failed',"
                              " 'stopped') ORDER BY ended_at DESC LIMIT ?2",
                              -1, &st, NULL);
  if (rc != SQLITE_OK) return fpq__sqlite_fail(s, rc, "read ended runs");
  sqlite3_bind_double(st, 1, since);
  sqlite3_bind_int(st, 2, limit);
  fpq_run_record *list = NULL;
  size_t len = 0, cap = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (len == cap) {
      cap = cap ? cap * 2 : 256;
      fpq_run_record *grown = fpq__realloc(list, cap * sizeof *grown);
      if (grown == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      list = grown;
    }
    fpq_run_record *r = &list[len];
    memset(r, 0, sizeof *r);
    const char *pipeline = (const char *)sqlite3_column_text(st, 0);
    const char *queue = (const char *)sqlite3_column_text(st, 1);
    snprintf(r->pipeline, sizeof r->pipeline, "%s", pipeline ? pipeline : "");
    snprintf(r->queue, sizeof r->queue, "%s", queue ? queue : "");
    if (fpq_status_parse((const char *)sqlite3_column_text(st, 2), &r->status)) continue;
    r->started_at = sqlite3_column_double(st, 3);
    r->ended_at = sqlite3_column_double(st, 4);
    len++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    fpq__free(list);
    return fpq__sqlite_fail(s, rc, "read ended runs");
  }
  *out = list;
  *n = len;
  return 0;
}
