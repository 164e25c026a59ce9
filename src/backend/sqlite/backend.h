/* backend.h (sqlite): the SQLite backend's handle and the few helpers its files share
 * (backend.c: jobs and workers; schedules.c: schedules and leases; stats.c: ended runs).
 * Like every file of this folder it sees include/, src/shared/ and this folder only. */
#ifndef FPQ_BACKEND_SQLITE_H
#define FPQ_BACKEND_SQLITE_H

#include <sqlite3.h>
#include <sys/types.h>

#include "fpq_backend.h"

enum stmt_id {
  ST_INSERT,
  ST_GET,
  ST_READY,   /* any queued job in a queue? */
  ST_DUE,     /* earliest scheduled run_at */
  ST_CLAIM,   /* started <- first queued of a queue */
  ST_PROMOTE, /* scheduled -> queued when due */
  ST_EXTEND,
  ST_FINISH,
  ST_DATA_VERSION, /* other connections' commits, for the idle poll */
  ST_RELEASE, /* deferred -> queued once every parent has finished */
  ST_COUNT
};

typedef struct sqlite_backend {
  fpq_backend base; /* first: the core casts */
  sqlite3 *db;
  char path[4096];
  sqlite3_stmt *stmts[ST_COUNT];
  sqlite_int64 data_version; /* last seen PRAGMA data_version: skip polls when unchanged */
  sqlite_int64 own_changes;  /* sqlite3_total_changes at that time: data_version misses ours */
  double next_due;           /* earliest scheduled run_at seen, or INFINITY */
  /* The file the connection has open, to notice it deleted or replaced at the path
   * (checked at most once a second, by need_db): */
  dev_t dev;
  ino_t ino;
  double checked_at;  /* monotonic */
  int replaced;       /* reopened after that: maintain reports it once */
  int durability_full;       /* backends.sqlite.durability: full -> synchronous=FULL */
} sqlite_backend;

/* The database is created by the first write: returns 0 when it is open,
 * FPQ__SQLITE_NO_DB for a read of one not created yet (answer "empty"), or an error. */
#define FPQ__SQLITE_NO_DB 1
int fpq__sqlite_need_db(sqlite_backend *s, int writing);
/* Maps a SQLite result code to an FPQ_E* code with SQLite's words as the detail. */
int fpq__sqlite_fail(sqlite_backend *s, int rc, const char *doing);

static inline sqlite_backend *as_sqlite(fpq_backend *b) { return (sqlite_backend *)b; }

/* Binds text, or NULL for a NULL value. */
static inline void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
  else sqlite3_bind_null(st, i);
}

/* Steps a one-off statement that returns no rows we need, and finalizes it. */
static inline int fpq__sqlite_run(sqlite_backend *s, sqlite3_stmt *st, const char *doing) {
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fpq__sqlite_fail(s, rc, doing);
}

/* Schedules and the leader lease (schedules.c), for the methods table. */
int fpq__sqlite_schedule_put(fpq_backend *b, const fpq_schedule *s);
int fpq__sqlite_schedule_get(fpq_backend *b, const char *id, fpq_schedule **out);
int fpq__sqlite_schedule_list(fpq_backend *b, const char *project, int64_t due, int limit,
                              fpq_schedule ***out, size_t *n);
int fpq__sqlite_schedule_remove(fpq_backend *b, const char *id);
int fpq__sqlite_schedule_set_paused(fpq_backend *b, const char *id, int paused,
                                    int64_t next_fire);
int fpq__sqlite_schedule_advance(fpq_backend *b, const fpq_schedule_advance_args *a);
int fpq__sqlite_lease_acquire(fpq_backend *b, const char *name, const char *owner, double now,
                              double ttl, char *holder, size_t holder_len);
int fpq__sqlite_lease_release(fpq_backend *b, const char *name, const char *owner);
/* The record of ended runs (stats.c). */
int fpq__sqlite_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                            size_t *n);

#endif /* FPQ_BACKEND_SQLITE_H */
