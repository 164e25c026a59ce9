/* backend.h (sqlite): the SQLite backend's handle and the few helpers its files share
 * (backend.c: jobs and workers; schema.c: tables and upgrades; schedules.c: schedules and
 * leases; stats.c: ended runs; wal_writes.c: the VFS that joins a WAL frame's writes).
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
  ST_DEFERRED_MANY, /* are there more deferred jobs than the loop's step releases? */
  ST_LAST_SEQ, /* the largest seq: a batch numbers its jobs from it */
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
  /* The step without waiting (finish_take_nowait): while set, a lock held elsewhere
   * answers at once and a commit leaves the WAL's checkpoint (its fsync) to a call that
   * may wait, which checkpoint_due sends there, as restart_due sends the commit after a
   * checkpoint this connection made. */
  int nowait;
  int checkpoint_due;
  int restart_due; /* a checkpoint emptied the WAL: the next commit restarts it (an fsync) */
} sqlite_backend;

/* The database is created by the first write: returns 0 when it is open,
 * FPQ__SQLITE_NO_DB for a read of one not created yet (answer "empty"), or an error. */
#define FPQ__SQLITE_NO_DB 1
int fpq__sqlite_need_db(sqlite_backend *s, int writing);
/* The VFS to open the queue file with (wal_writes.c: one write per WAL frame), registered
 * on the first call; NULL (SQLite's default) if it could not be. */
const char *fpq__sqlite_vfs(void);
/* Maps a SQLite result code to an FPQ_E* code with SQLite's words as the detail. */
int fpq__sqlite_fail(sqlite_backend *s, int rc, const char *doing);

static inline sqlite_backend *as_sqlite(fpq_backend *b) { return (sqlite_backend *)b; }

/* backend.c's helpers that maintain.c shares: a transaction statement with the busy
 * wait, release of deferred jobs whose parents finished, due scheduled jobs made queued,
 * a statement's rows as jobs. */
int fpq__sqlite_exec(sqlite_backend *s, const char *sql, const char *doing);
int fpq__sqlite_release_deferred(sqlite_backend *s, double now);
int fpq__sqlite_promote_due(sqlite_backend *s, double now, int *moved);
int fpq__sqlite_collect_jobs(sqlite_backend *s, sqlite3_stmt *st, fpq_job ***out, size_t *n);
/* schema.c: creates the tables, or brings an older file's up to date; 0 or an error (a
 * file of a newer schema version is refused). */
int fpq__sqlite_schema_up_to_date(sqlite_backend *s);
/* Maintenance, retention and its count (maintain.c), for the methods table. */
int fpq__sqlite_maintain(fpq_backend *b, double now, int *moved);
/* Maintenance's statement failing queued, started and scheduled rows with bad ids (below). */
extern const char fpq__sqlite_fail_bad_ids_sql[];
int fpq__sqlite_prune(fpq_backend *b, double now, int64_t *removed);
int fpq__sqlite_retention(fpq_backend *b, double now, fpq_retention *out);

/* A row whose id the engine cannot carry (written by hand or by another program: none,
 * longer than FPQ_ID_MAX, or characters outside [A-Za-z0-9_-]). It is never claimed (run
 * under a cut id, its outcome and the reaper would never match it and it would stay
 * started forever); maintenance fails it with the reason instead. A NULL id is the first
 * term: without it the test is NULL for such a row, which is then neither claimed nor
 * failed, and stays queued forever. */
#define ID_LIMIT_TEXT(x) #x
#define ID_LIMIT(x) ID_LIMIT_TEXT(x)
#define BAD_ID_SQL \
  "(id IS NULL OR length(CAST(id AS BLOB)) NOT BETWEEN 1 AND " ID_LIMIT(FPQ_ID_MAX) \
  " OR id GLOB '*[^A-Za-z0-9_-]*')"


/* Binds a time, or NULL for 0 (none). */
static inline void bind_time(sqlite3_stmt *st, int i, double t) {
  if (t > 0) sqlite3_bind_double(st, i, t);
  else sqlite3_bind_null(st, i);
}

/* Binds text, or NULL for a NULL value. */
static inline void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
  else sqlite3_bind_null(st, i);
}

/* Binds text, or NULL, that the caller keeps unchanged until it clears the binding (or
 * binds again): SQLite reads it in place instead of copying it (a malloc and a copy). */
static inline void bind_text_held(sqlite3_stmt *st, int i, const char *v) {
  if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
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
/* The registry of live workers and their commands (workers.c). */
int fpq__sqlite_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now);
int fpq__sqlite_worker_gone(fpq_backend *b, const char *name, double now);
int fpq__sqlite_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n);
int fpq__sqlite_worker_command(fpq_backend *b, const char *name, const char *command);
int fpq__sqlite_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len);
/* The record of ended runs (stats.c). */
int fpq__sqlite_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                            size_t *n);

#endif /* FPQ_BACKEND_SQLITE_H */
