/* schema.c (sqlite): the queue file's tables and indexes, and bringing a file an older fpq
 * wrote up to them on open (tables created, columns added, an index no longer used
 * dropped), so that files of older and newer versions keep working both ways. */
#include <sqlite3.h>
#include <stdio.h>

#include "backend.h"

/* 2 added schedules and leases, 3 the index of ended runs (metrics). Every statement of
 * schema_sql is CREATE ... IF NOT EXISTS, so running it on an older file is the
 * migration. */
#define SCHEMA_VERSION 3

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id TEXT PRIMARY KEY, seq INTEGER NOT NULL, project TEXT NOT NULL,"
    " pipeline TEXT NOT NULL, run TEXT NOT NULL, queue TEXT NOT NULL, status TEXT NOT NULL,"
    " description TEXT, func TEXT, created_at REAL, enqueued_at REAL, started_at REAL,"
    " ended_at REAL, run_at REAL, attempts INTEGER NOT NULL DEFAULT 0,"
    " max_retries INTEGER NOT NULL DEFAULT 0, retry_delay REAL NOT NULL DEFAULT 0,"
    " jitter_factor REAL NOT NULL DEFAULT 0, timeout REAL NOT NULL DEFAULT 0,"
    " result_ttl REAL NOT NULL DEFAULT 0, worker TEXT, lease_until REAL, result TEXT,"
    " error TEXT, duration REAL, expires_at REAL, execution TEXT,"
    " failure_ttl REAL NOT NULL DEFAULT -2, log TEXT, depends_on TEXT,"
    " on_success TEXT, on_failure TEXT, on_stopped TEXT);"
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(queue, seq) WHERE status = 'queued';"
    "CREATE INDEX IF NOT EXISTS jobs_seq ON jobs(seq);"
    "CREATE INDEX IF NOT EXISTS jobs_due ON jobs(run_at) WHERE status = 'scheduled';"
    "CREATE INDEX IF NOT EXISTS jobs_lease ON jobs(lease_until) WHERE status = 'started';"
    "CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs(expires_at) WHERE expires_at IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS jobs_pipeline ON jobs(project, pipeline, created_at);"
    "CREATE INDEX IF NOT EXISTS jobs_ended ON jobs(ended_at) WHERE ended_at IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS jobs_deferred ON jobs(seq) WHERE status = 'deferred';"
    "CREATE TABLE IF NOT EXISTS workers ("
    " name TEXT PRIMARY KEY, hostname TEXT, pid INTEGER, state TEXT, queues TEXT,"
    " current_job TEXT, birth REAL, last_heartbeat REAL, expires_at REAL,"
    " successful INTEGER, failed INTEGER, busy_seconds REAL);"
    "CREATE TABLE IF NOT EXISTS commands ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, worker TEXT NOT NULL, command TEXT NOT NULL,"
    " created_at REAL);"
    "CREATE TABLE IF NOT EXISTS schedules ("
    " id TEXT PRIMARY KEY, project TEXT NOT NULL, pipeline TEXT NOT NULL, run TEXT NOT NULL,"
    " priority TEXT NOT NULL, trigger_text TEXT NOT NULL, timezone TEXT,"
    " max_retries INTEGER NOT NULL, retry_delay REAL NOT NULL, jitter_factor REAL NOT NULL,"
    " timeout REAL NOT NULL, misfire_grace REAL NOT NULL, coalesce_fires INTEGER NOT NULL,"
    " paused INTEGER NOT NULL, next_fire INTEGER NOT NULL, last_fire INTEGER NOT NULL,"
    " created_at REAL NOT NULL, fired INTEGER NOT NULL, skipped INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS schedules_due ON schedules(next_fire)"
    " WHERE paused = 0 AND next_fire != 0;"
    "CREATE INDEX IF NOT EXISTS schedules_project ON schedules(project, id);"
    "CREATE TABLE IF NOT EXISTS leases ("
    " name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL);"
    "PRAGMA user_version = 3;";

/* Columns added after schema version 3, each with a default, so a database written by an
 * older fpq gains them on open and an older fpq still reads and writes a newer one (it
 * names its columns). Append here; never bump SCHEMA_VERSION for a new column.
 * Invariant: every entry is also in schema_sql, so new databases have it from the start. */
static const struct column_addition {
  const char *table, *column, *definition;
} column_additions[] = {
    /* The fencing token of the run that holds a started job (fpq_job.execution). */
    {"jobs", "execution", "TEXT"},
    /* -2 (FPQ_TTL_DEFAULT) marks rows an older fpq wrote: see row_to_job. */
    {"jobs", "failure_ttl", "REAL NOT NULL DEFAULT -2"},
    {"jobs", "log", "TEXT"},
    {"jobs", "depends_on", "TEXT"}, /* JSON array of parent ids; NULL: none */
    /* Callback references (fpq_job.on_*); NULL: none. */
    {"jobs", "on_success", "TEXT"},
    {"jobs", "on_failure", "TEXT"},
    {"jobs", "on_stopped", "TEXT"},
    {NULL, NULL, NULL},
};

/* 1: table has column; 0: not; -code: SQLite's error. */
static int has_column(sqlite_backend *s, const char *table, const char *column) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &q,
                         NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, column, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  sqlite3_finalize(q);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -rc; /* -rc: the step's error code */
}

/* Applies column_additions that the open database lacks, in one write transaction;
 * reads only when none is missing (the common case: one cheap query per column). */
static int add_missing_columns(sqlite_backend *s) {
  int began = 0, rc = 0;
  for (const struct column_addition *c = column_additions; c->table; c++) {
    int has = has_column(s, c->table, c->column);
    if (has < 0) {
      rc = fpq__sqlite_fail(s, -has, "read schema");
      break;
    }
    if (has) continue;
    if (sqlite3_db_readonly(s->db, "main") == 1) { /* no write lock to take: say why */
      rc = fpq_backend_fail(&s->base, FPQ_EIO,
                            "%.300s was written by an older fpq and is read-only here: open "
                            "it once with write access (any fpq command) to add column %s",
                            s->path, c->column);
      break;
    }
    if (!began && (rc = fpq__sqlite_exec(s, "BEGIN IMMEDIATE", "add columns"))) return rc;
    began = 1;
    /* Another process may have added it while this one waited for the write lock. */
    if ((has = has_column(s, c->table, c->column)) != 0) {
      if (has < 0) rc = fpq__sqlite_fail(s, -has, "read schema");
      if (rc) break;
      continue;
    }
    char sql[512];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", c->table, c->column,
             c->definition);
    if ((rc = fpq__sqlite_exec(s, sql, "add columns"))) break;
  }
  if (began) {
    if (rc) fpq__sqlite_exec(s, "ROLLBACK", "rollback");
    else rc = fpq__sqlite_exec(s, "COMMIT", "add columns");
  }
  return rc;
}

/* An index an older fpq made that no statement needs any more: jobs_project cost every
 * enqueue a B-tree write (a tenth to a fifth of its time) for `status` without a pipeline,
 * which now merges the pipelines' index (find_in_project). Dropped on the first open with
 * write access; an older fpq reading the file still works (its project find sorts). */
static int drop_obsolete_index(sqlite_backend *s) {
  static const char exists_sql[] =
      "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'jobs_project'";
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, exists_sql, -1, &st, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "read schema");
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE || sqlite3_db_readonly(s->db, "main") == 1) return 0;
  if (rc != SQLITE_ROW) return fpq__sqlite_fail(s, rc, "read schema");
  return fpq__sqlite_exec(s, "DROP INDEX IF EXISTS jobs_project", "drop an old index");
}

int fpq__sqlite_schema_up_to_date(sqlite_backend *s) {
  sqlite3_stmt *ver;
  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &ver, NULL) != SQLITE_OK)
    return fpq__sqlite_fail(s, sqlite3_errcode(s->db), "read schema version");
  int version = sqlite3_step(ver) == SQLITE_ROW ? sqlite3_column_int(ver, 0) : 0;
  sqlite3_finalize(ver);
  if (version > SCHEMA_VERSION)
    return fpq_backend_fail(&s->base, FPQ_EFORMAT,
                            "%.300s has schema version %d; this version of fpq reads up to %d",
                            s->path, version, SCHEMA_VERSION);
  int rc;
  if (version < SCHEMA_VERSION) {
    if ((rc = fpq__sqlite_exec(s, "BEGIN IMMEDIATE", "create schema"))) return rc;
    if ((rc = fpq__sqlite_exec(s, schema_sql, "create schema"))) {
      fpq__sqlite_exec(s, "ROLLBACK", "rollback");
      return rc;
    }
    if ((rc = fpq__sqlite_exec(s, "COMMIT", "create schema"))) return rc;
  }
  if ((rc = add_missing_columns(s))) return rc;
  return drop_obsolete_index(s);
}
