/* backend.c (sqlite): the embedded default backend, one SQLite file per project.
 *
 * Many producer and worker processes on one machine share the file in WAL mode: readers
 * never block the writer, and every state change is one statement or one BEGIN IMMEDIATE
 * transaction, so it is atomic across processes. A worker owns a started job through a
 * lease (worker name + lease_until); every change a worker makes is conditional on still
 * owning it, so a job whose worker died and was handed on cannot be finished twice.
 *
 * Order: strict priority across a worker's queues, FIFO within a queue by `seq`, a
 * counter assigned inside the write transaction (commit order, not clock order). A retry
 * goes to the back; a job a stopping worker hands back goes to the front.
 *
 * `database is locked` never reaches a user: writers take the lock with BEGIN IMMEDIATE
 * (no read-to-write upgrade deadlock) and wait in a busy handler with short, growing
 * sleeps for up to busy_timeout. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "backend.h"
#include "builtin_backends.h"
#include "clock.h"
#include "job.h"

#define BUSY_TIMEOUT_S 60.0

/* A finished job's outcome looks at every deferred job (release_deferred): with more
 * than this many waiting, the step is left to the thread pool. */
#define LOOP_RELEASE_MAX 64
#define STR_(x) #x
#define STR(x) STR_(x)

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT] =
        "INSERT INTO jobs (id, seq, project, pipeline, run, queue, status, description, func,"
        " created_at, enqueued_at, run_at, attempts, max_retries, retry_delay, jitter_factor,"
        " timeout, result_ttl, failure_ttl, depends_on, on_success, on_failure, on_stopped)"
        /* seq: ?22 when a batch numbers its jobs itself (COALESCE stops at the first
         * value that is not NULL: no subquery then), else the next after the largest. */
        " VALUES (?1, COALESCE(?22, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs)), ?2, ?3, ?4,"
        " ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    /* A job past its retention is gone, whether or not maintenance has deleted it yet. */
    [ST_GET] = "SELECT * FROM jobs WHERE id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_READY] = "SELECT 1 FROM jobs WHERE status = 'queued' AND queue = ?1 LIMIT 1",
    [ST_DUE] = "SELECT MIN(run_at) FROM jobs WHERE status = 'scheduled'",
    [ST_CLAIM] =
        "UPDATE jobs SET status = 'started', worker = ?2, started_at = ?3, lease_until = ?4,"
        " attempts = attempts + 1, ended_at = NULL, execution = ?5 WHERE id = (SELECT id FROM jobs"
        " WHERE status = 'queued' AND queue = ?1 AND NOT " BAD_ID_SQL " ORDER BY seq LIMIT 1)"
        " RETURNING *",
    [ST_PROMOTE] =
        "UPDATE jobs SET status = 'queued', enqueued_at = ?1, run_at = NULL,"
        " seq = (SELECT COALESCE(MAX(seq), 0) FROM jobs) + rowid"
        " WHERE status = 'scheduled' AND run_at <= ?1",
    /* ?4 NULL: a caller without the run's token (worker name only). */
    [ST_EXTEND] = "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND status = 'started'"
                  " AND worker = ?2 AND (?4 IS NULL OR execution = ?4)",
    [ST_FINISH] =
        "UPDATE jobs SET status = ?3, run_at = ?4, attempts = attempts - ?5, result = ?6,"
        /* A finished job has no error: an earlier attempt's (a WorkerLost) is not its own. */
        " error = CASE WHEN ?3 = 'finished' THEN NULL ELSE COALESCE(?7, error) END,"
        " duration = ?8, lease_until = NULL,"
        " log = CASE WHEN ?5 = 1 THEN log ELSE ?12 END,"
        " ended_at = CASE WHEN ?3 IN ('finished', 'failed', 'stopped', 'canceled') THEN ?9"
        " ELSE NULL END,"
        " expires_at = ?10, enqueued_at = CASE WHEN ?3 = 'queued' THEN ?9 ELSE enqueued_at END,"
        " seq = CASE WHEN ?5 = 1 THEN (SELECT COALESCE(MIN(seq), 0) - 1 FROM jobs)"
        " WHEN ?3 = 'queued' THEN (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs)"
        " ELSE seq END WHERE id = ?1 AND status = 'started' AND worker = ?2"
        " AND (?11 IS NULL OR execution = ?11)",
    /* A parent that is not finished (failed, stopped, canceled or still to run) holds its
     * children, and so does one whose row is gone: a finished parent released them in
     * its own finish, so a missing one was pruned after failing, and maintenance runs
     * this statement again and again (a failed parent's child must not run once
     * retention deletes the parent). Enqueue refuses parents that do not exist. Queued
     * children go to the back of their queue in enqueue order. */
    [ST_RELEASE] =
        "UPDATE jobs SET status = 'queued', enqueued_at = ?1,"
        " seq = (SELECT COALESCE(MAX(seq), 0) FROM jobs) + rowid"
        " WHERE status = 'deferred' AND depends_on IS NOT NULL AND NOT EXISTS ("
        " SELECT 1 FROM json_each(jobs.depends_on) AS d LEFT JOIN jobs AS p ON p.id = d.value"
        " WHERE p.id IS NULL OR p.status != 'finished')",
    [ST_DEFERRED_MANY] = "SELECT count(*) >= " STR(LOOP_RELEASE_MAX) " FROM (SELECT 1 FROM jobs"
                         " WHERE status = 'deferred' LIMIT " STR(LOOP_RELEASE_MAX) ")",
    [ST_LAST_SEQ] = "SELECT COALESCE(MAX(seq), 0) FROM jobs",
};

/* Maps a SQLite result to our codes, keeping SQLite's words as the detail. */
static int db_fail(sqlite_backend *s, int rc, const char *doing) {
  int code = FPQ_EBACKEND;
  if (rc == SQLITE_NOMEM) code = FPQ_ENOMEM;
  else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) code = FPQ_EUNAVAIL;
  else if (rc == SQLITE_CANTOPEN || rc == SQLITE_IOERR || rc == SQLITE_FULL ||
           rc == SQLITE_READONLY || rc == SQLITE_PERM)
    code = FPQ_EIO;
  else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
    code = FPQ_EFORMAT;
  return fpq_backend_fail(&s->base, code, "sqlite %s (%.200s): %s", doing, s->path,
                          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}


/* Runs SQL that takes locks (BEGIN IMMEDIATE, COMMIT, the journal-mode switch). SQLite
 * skips the busy handler in a few cases (switching to WAL while another process creates
 * the file; a lock upgrade it judges a deadlock), so it returns SQLITE_BUSY at once:
 * these statements are safe to repeat, so repeat them rather than let "database is
 * locked" reach a user. */
#define WOULD_WAIT 1 /* finish_take_nowait's "not at once" */
static int exec(sqlite_backend *s, const char *sql, const char *doing) {
  if (s->nowait) {
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return WOULD_WAIT;
    return rc == SQLITE_OK ? 0 : db_fail(s, rc, doing);
  }
  const double deadline = fpq__monotonic() + BUSY_TIMEOUT_S;
  double pause = 0.001;
  int rc;
  while ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) == SQLITE_BUSY ||
         rc == SQLITE_LOCKED) {
    if (fpq__monotonic() > deadline) break;
    fpq__sleep(pause);
    pause = pause < 0.01 ? pause * 2 : 0.01;
  }
  return rc == SQLITE_OK ? 0 : db_fail(s, rc, doing);
}

static sqlite3_stmt *stmt(sqlite_backend *s, enum stmt_id id) {
  sqlite3_stmt *st = s->stmts[id];
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}

/* SQLite's default busy handler sleeps up to 100 ms between tries, which stalls a busy
 * queue; many short tries keep the lock moving between processes. */
static int busy_handler(void *arg, int tries) {
  const sqlite_backend *s = arg;
  if (s->nowait) return 0;
  double wait = 50e-6 * (1 << (tries < 6 ? tries : 6)); /* 50 us .. 3.2 ms */
  if (tries * 0.0032 > BUSY_TIMEOUT_S) return 0;
  fpq__sleep(wait);
  return 1;
}

static int parse_url(sqlite_backend *s, const char *url) {
  if (strncmp(url, "sqlite://", 9) != 0 || url[9] != '/' || strlen(url + 9) >= sizeof s->path)
    return fpq_backend_fail(&s->base, FPQ_ECONFIG,
                            "sqlite URL '%.200s' is not valid: expected sqlite:///abs/path.db",
                            url);
  snprintf(s->path, sizeof s->path, "%s", url + 9);
  char *query = strchr(s->path, '?');
  if (query) *query = '\0';
  return 0;
}

/* Creates the directory and the file with owner-only permissions before SQLite opens
 * it, so the jobs (which may hold credentials in their inputs) are private by default;
 * SQLite gives its -wal and -shm files the same mode. */
static int create_private(sqlite_backend *s) {
  char dir[sizeof s->path];
  snprintf(dir, sizeof dir, "%s", s->path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
      return fpq_backend_fail(&s->base, FPQ_EIO, "cannot create directory %.300s: %s", dir,
                              strerror(errno));
  }
  int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return fpq_backend_fail(&s->base, FPQ_EIO, "cannot create %.300s: %s", s->path,
                            strerror(errno));
  close(fd);
  return 0;
}

static void sqlite_close(fpq_backend *b) {
  sqlite_backend *s = as_sqlite(b);
  for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->stmts[i]);
  sqlite3_close_v2(s->db);
  s->db = NULL;
}

/* A file at the queue's path that is not a queue: an empty file (SQLite would take it as
 * an empty database and fpq would silently start a new queue in it) or another
 * program's SQLite database (fpq would add its tables and switch it to WAL). Checked
 * before anything is written. An empty file younger than a few seconds is a queue being
 * created by another process (create_private, then its schema), not refused. */
#define BEING_CREATED_S 5
static int refuse_a_foreign_file(sqlite_backend *s, const struct stat *st) {
  fpq_backend *b = &s->base;
  if (st->st_size == 0) {
    if (time(NULL) - st->st_mtime <= BEING_CREATED_S) return 0;
    return fpq_backend_fail(b, FPQ_EFORMAT,
                            "%.300s is an empty file, not a queue database: fpq creates that "
                            "file itself; remove it, or point the url at the queue", s->path);
  }
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT COUNT(*), COUNT(*) FILTER (WHERE name = 'jobs') FROM"
                         " sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"
                         " ESCAPE '\\'",
                         -1, &q, NULL) != SQLITE_OK)
    return db_fail(s, sqlite3_errcode(s->db), "read schema");
  int step = sqlite3_step(q);
  int tables = step == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
  int jobs = step == SQLITE_ROW ? sqlite3_column_int(q, 1) : 0;
  sqlite3_finalize(q);
  if (step != SQLITE_ROW) return db_fail(s, step, "read schema");
  if (tables > 0 && jobs == 0)
    return fpq_backend_fail(b, FPQ_EFORMAT,
                            "%.300s is an SQLite database of something else (%d table(s), "
                            "none of fpq's): not a queue database", s->path, tables);
  return 0;
}

/* SQLite's automatic checkpoint (a passive one once the WAL holds WAL_CHECKPOINT_FRAMES
 * pages, as its default), except in a commit that must not wait: there the checkpoint
 * (writing pages back, an fsync) is left to the next commit that may wait. */
#define WAL_CHECKPOINT_FRAMES 1000
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames) {
  sqlite_backend *s = arg;
  if (!s->nowait) s->checkpoint_due = s->restart_due = 0;
  if (frames < WAL_CHECKPOINT_FRAMES) return SQLITE_OK;
  if (s->nowait) {
    s->checkpoint_due = 1;
    return SQLITE_OK;
  }
  int in_wal = 0, copied = 0;
  sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &in_wal, &copied);
  /* Everything copied back: the next commit starts the WAL over and syncs its header. */
  s->restart_due = in_wal > 0 && copied == in_wal;
  return SQLITE_OK;
}

static int open_db(sqlite_backend *s) {
  /* Only when missing: close() of any descriptor of the file drops every POSIX lock this
   * process holds on it, including those of SQLite connections already open here (the
   * worker has several), after which other processes read stale data. */
  int created = access(s->path, F_OK) != 0;
  int rc = created ? create_private(s) : 0;
  if (rc) return rc;
  rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                       fpq__sqlite_vfs());
  if (rc != SQLITE_OK) return db_fail(s, rc, "open");
  sqlite3_busy_handler(s->db, busy_handler, s); /* first: the check below reads */
  sqlite3_wal_hook(s->db, wal_hook, s);
  struct stat st;
  if (stat(s->path, &st) == 0) {
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    if (!created && (rc = refuse_a_foreign_file(s, &st))) return rc;
  }
  s->checked_at = fpq__monotonic();
  /* synchronous=NORMAL in WAL: a commit survives any process crash (the point of "no
   * lost jobs"); only a power loss or OS crash can roll back the last commits, since the
   * WAL is synced at checkpoints only. durability: full syncs the WAL at every commit,
   * so a commit also survives those, at the price of an fsync per write.
   * cache_size 8 MiB (SQLite's default is 2): job ids are random, so each insert lands on
   * a random page of the id index; with the default cache a large queue reads most of
   * them back from the OS (batch enqueue: about 25% more jobs a second with 8 MiB). The
   * cache grows only as pages are read. */
  char setup[128];
  snprintf(setup, sizeof setup,
           "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA cache_size = -8192;",
           s->durability_full ? "FULL" : "NORMAL");
  if ((rc = exec(s, setup, "setup"))) return rc;
  if ((rc = fpq__sqlite_schema_up_to_date(s))) return rc;
  for (int i = 0; i < ST_COUNT; i++) {
    if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i],
                           NULL) != SQLITE_OK)
      return db_fail(s, sqlite3_errcode(s->db), "prepare");
  }
  return 0;
}

/* A database that does not exist yet is created by the first write, not by open: input
 * refused before any write (an unknown pipeline, a bad option) leaves no file behind.
 * Returns 0 when the database is open, NO_DB for a read of one not created yet (the
 * caller answers "empty"), or an error. A reader looks again each time: another process
 * (a worker, a producer) may have created the database since this handle was opened. */
#define NO_DB 1
static void close_db(sqlite_backend *s) {
  for (int i = 0; i < ST_COUNT; i++) {
    sqlite3_finalize(s->stmts[i]);
    s->stmts[i] = NULL;
  }
  sqlite3_close_v2(s->db);
  s->db = NULL;
}

/* A queue.db deleted or replaced (a restore, a `mv`) while open: this connection would
 * go on with the unlinked file, where no producer writes any more, and its jobs would
 * stay queued forever. Checked at most once a second (a stat). */
static int file_replaced(sqlite_backend *s) {
  double now = fpq__monotonic();
  if (now - s->checked_at < 1.0) return 0;
  s->checked_at = now;
  struct stat st;
  if (stat(s->path, &st) != 0) return errno == ENOENT;
  return st.st_dev != s->dev || st.st_ino != s->ino;
}

static int need_db(sqlite_backend *s, int writing) {
  if (s->db && file_replaced(s)) {
    /* Closing the last connection would checkpoint and then delete "PATH-wal" by name,
     * which may be the new file's WAL by now: leave both alone. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    close_db(s); /* and open what is at the path now, below */
    s->replaced = 1;
    s->next_due = -1;
    s->data_version = 0;
  }
  if (s->db) return 0;
  if (!writing && access(s->path, F_OK) != 0) return NO_DB;
  int rc = open_db(s);
  if (rc) close_db(s);
  return rc;
}

/* What schedules.c and stats.c borrow (backend.h). */
int fpq__sqlite_need_db(sqlite_backend *s, int writing) { return need_db(s, writing); }
int fpq__sqlite_exec(sqlite_backend *s, const char *sql, const char *doing) {
  return exec(s, sql, doing);
}
int fpq__sqlite_fail(sqlite_backend *s, int rc, const char *doing) { return db_fail(s, rc, doing); }

/* backends.sqlite.durability: normal (default) or full. Read before the database is
 * opened, so a bad value writes nothing. */
static int read_durability(sqlite_backend *s, const fpq_backend_settings *set) {
  for (const char *const *o = set->options; o && o[0]; o += 2) {
    if (strcmp(o[0], "durability") != 0) continue;
    if (strcasecmp(o[1], "normal") == 0) s->durability_full = 0;
    else if (strcasecmp(o[1], "full") == 0) s->durability_full = 1;
    else {
      char q[80];
      fpq__quote(o[1], q, sizeof q);
      return fpq_backend_fail(&s->base, FPQ_ECONFIG,
                              "backends.sqlite.durability '%s' is not valid: expected normal "
                              "or full", q);
    }
  }
  return 0;
}

static int sqlite_open(fpq_backend *b, const char *url, const fpq_backend_settings *set) {
  sqlite_backend *s = as_sqlite(b);
  s->next_due = -1; /* unknown: look on the first poll */
  int rc = parse_url(s, url);
  if (rc == 0) rc = read_durability(s, set);
  if (rc) return rc;
  if (access(s->path, F_OK) != 0) {
    if (!set->create)
      return fpq_backend_fail(b, FPQ_ENOTFOUND,
                              "no queue database at %.300s: nothing was enqueued in this "
                              "project yet", s->path);
    return 0; /* created by the first write */
  }
  return need_db(s, 1);
}

/* ---- binding and reading rows ---- */

static int column_index(sqlite3_stmt *st, const char *name) {
  int n = sqlite3_column_count(st);
  for (int i = 0; i < n; i++)
    if (strcmp(sqlite3_column_name(st, i), name) == 0) return i;
  return -1;
}

static int read_text(sqlite3_stmt *st, const char *name, char **field) {
  int i = column_index(st, name);
  const char *v = i >= 0 ? (const char *)sqlite3_column_text(st, i) : NULL;
  return fpq_job_set(field, v);
}

static double read_real(sqlite3_stmt *st, const char *name) {
  int i = column_index(st, name);
  return i >= 0 ? sqlite3_column_double(st, i) : 0;
}

/* Builds a job from the current row (SELECT * or RETURNING *). */
static int row_to_job(sqlite_backend *s, sqlite3_stmt *st, fpq_job **out) {
  fpq_job *job = fpq_job_new();
  if (job == NULL) return fpq_backend_fail(&s->base, FPQ_ENOMEM, "out of memory");
  const char *id = (const char *)sqlite3_column_text(st, column_index(st, "id"));
  const char *status = (const char *)sqlite3_column_text(st, column_index(st, "status"));
  snprintf(job->id, sizeof job->id, "%s", id ? id : "");
  if (status == NULL || fpq_status_parse(status, &job->status)) {
    char qid[80], qstatus[80]; /* someone else's row: its bytes may be anything */
    fpq__quote(job->id, qid, sizeof qid);
    fpq__quote(status, qstatus, sizeof qstatus);
    int rc = fpq_backend_fail(&s->base, FPQ_EFORMAT, "job '%s' has unknown status '%s'", qid,
                              qstatus);
    fpq_job_free(job); /* after the message: it names job->id */
    return rc;
  }
  int oom = read_text(st, "project", &job->project) | read_text(st, "pipeline", &job->pipeline) |
            read_text(st, "run", &job->run_json) | read_text(st, "queue", &job->queue) |
            read_text(st, "description", &job->description) |
            read_text(st, "func", &job->func) | read_text(st, "worker", &job->worker) |
            read_text(st, "result", &job->result_json) |
            read_text(st, "error", &job->error_json) |
            read_text(st, "execution", &job->execution) | read_text(st, "log", &job->log) |
            read_text(st, "depends_on", &job->depends_on) |
            read_text(st, "on_success", &job->on_success) |
            read_text(st, "on_failure", &job->on_failure) |
            read_text(st, "on_stopped", &job->on_stopped);
  if (oom) {
    fpq_job_free(job);
    return fpq_backend_fail(&s->base, FPQ_ENOMEM, "out of memory");
  }
  int rank = fpq__queue_priority(job->queue);
  job->priority = rank < FPQ_PRIORITY_COUNT ? (fpq_priority)rank : FPQ_PRIORITY_LOW;
  job->created_at = read_real(st, "created_at");
  job->enqueued_at = read_real(st, "enqueued_at");
  job->started_at = read_real(st, "started_at");
  job->ended_at = read_real(st, "ended_at");
  job->run_at = read_real(st, "run_at");
  job->attempts = (int)read_real(st, "attempts");
  job->max_retries = (int)read_real(st, "max_retries");
  job->retry_delay = read_real(st, "retry_delay");
  job->jitter_factor = read_real(st, "jitter_factor");
  job->timeout = read_real(st, "timeout");
  job->result_ttl = read_real(st, "result_ttl");
  job->failure_ttl = column_index(st, "failure_ttl") >= 0 ? read_real(st, "failure_ttl")
                                                          : FPQ_TTL_DEFAULT;
  /* Rows written before retention existed stored result_ttl 0 for "the default"; fpq_enqueue
   * now always stores a resolved failure_ttl, so its column default marks such rows. */
  if (job->failure_ttl == FPQ_TTL_DEFAULT && job->result_ttl == 0)
    job->result_ttl = FPQ_TTL_DEFAULT;
  *out = job;
  return 0;
}

/* ---- producer side ---- */

static int release_deferred(sqlite_backend *s, double now) {
  sqlite3_stmt *st = stmt(s, ST_RELEASE);
  sqlite3_bind_double(st, 1, now);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : db_fail(s, rc, "release deferred jobs");
}
int fpq__sqlite_release_deferred(sqlite_backend *s, double now) { return release_deferred(s, now); }

/* Inserts one job; the caller has the database open (and, for a batch, the transaction).
 * seq: the job's place, or NULL for the next after the largest (what a batch's own
 * numbering gives too, one subquery cheaper per job). */
static int insert_job(sqlite_backend *s, const fpq_job *job, const sqlite3_int64 *seq) {
  fpq_backend *b = &s->base;
  sqlite3_stmt *st = stmt(s, ST_INSERT);
  /* The job's strings outlive the step: bound in place, cleared right after it. */
  bind_text_held(st, 1, job->id);
  bind_text_held(st, 2, job->project);
  bind_text_held(st, 3, job->pipeline);
  bind_text_held(st, 4, job->run_json ? job->run_json : "{}");
  bind_text_held(st, 5, job->queue);
  bind_text_held(st, 6, fpq_status_name(job->status));
  bind_text_held(st, 7, job->description);
  bind_text_held(st, 8, job->func);
  bind_time(st, 9, job->created_at);
  bind_time(st, 10, job->enqueued_at);
  bind_time(st, 11, job->run_at);
  sqlite3_bind_int(st, 12, job->max_retries);
  sqlite3_bind_double(st, 13, job->retry_delay);
  sqlite3_bind_double(st, 14, job->jitter_factor);
  sqlite3_bind_double(st, 15, job->timeout);
  sqlite3_bind_double(st, 16, job->result_ttl);
  sqlite3_bind_double(st, 17, job->failure_ttl);
  bind_text_held(st, 18, job->depends_on);
  bind_text_held(st, 19, job->on_success);
  bind_text_held(st, 20, job->on_failure);
  bind_text_held(st, 21, job->on_stopped);
  if (seq) sqlite3_bind_int64(st, 22, *seq);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  /* Its parents may all have finished already: queue it now. A parent finishing after the
   * insert releases it itself (sqlite_finish), so it is never missed. */
  if (rc == SQLITE_DONE)
    return job->status == FPQ_STATUS_DEFERRED ? release_deferred(s, job->created_at) : 0;
  if (rc == SQLITE_CONSTRAINT)
    return fpq_backend_fail(b, FPQ_EEXIST, "job id '%s' is already taken", job->id);
  return db_fail(s, rc, "enqueue");
}

static int sqlite_enqueue(fpq_backend *b, const fpq_job *job) {
  sqlite_backend *s = as_sqlite(b);
  int opened = need_db(s, 1);
  return opened ? opened : insert_job(s, job, NULL);
}

/* *seq: the largest seq, 0 in an empty table. */
static int last_seq(sqlite_backend *s, sqlite3_int64 *seq) {
  sqlite3_stmt *st = stmt(s, ST_LAST_SEQ);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *seq = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : db_fail(s, rc, "enqueue a batch");
}

/* Batch enqueue: one BEGIN IMMEDIATE ... COMMIT around the prepared insert, so the batch
 * costs one lock, one WAL commit and one fsync (per durability) instead of n, and is
 * stored whole or not at all. */
static int sqlite_enqueue_many(fpq_backend *b, const fpq_job *const *jobs, size_t n,
                               size_t *failed) {
  sqlite_backend *s = as_sqlite(b);
  int rc = need_db(s, 1);
  if (rc) return rc;
  if ((rc = exec(s, "BEGIN IMMEDIATE", "enqueue a batch"))) return rc;
  /* Numbered here, under the write lock, as n single inserts would number them; a
   * deferred job released at once takes a seq past them (release_deferred), so the
   * numbering goes on from the largest after it. */
  sqlite3_int64 seq = 0;
  rc = last_seq(s, &seq);
  for (size_t i = 0; i < n && rc == 0; i++) {
    seq++;
    rc = insert_job(s, jobs[i], &seq);
    if (rc == 0 && jobs[i]->status == FPQ_STATUS_DEFERRED) rc = last_seq(s, &seq);
    if (rc) *failed = i;
  }
  if (rc) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  if ((rc = exec(s, "COMMIT", "enqueue a batch"))) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  return 0;
}

static int sqlite_get(fpq_backend *b, const char *id, fpq_job **out) {
  sqlite_backend *s = as_sqlite(b);
  if (need_db(s, 0)) return fpq_backend_fail(b, FPQ_ENOTFOUND, "job '%s' not found", id);
  sqlite3_stmt *st = stmt(s, ST_GET);
  bind_text(st, 1, id);
  sqlite3_bind_double(st, 2, fpq__now());
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) rc = row_to_job(s, st, out);
  else if (rc == SQLITE_DONE) rc = fpq_backend_fail(b, FPQ_ENOTFOUND, "job '%s' not found", id);
  else rc = db_fail(s, rc, "get");
  sqlite3_reset(st);
  return rc;
}

/* Runs a prepared statement that returns job rows and collects them. */
static int collect_jobs(sqlite_backend *s, sqlite3_stmt *st, fpq_job ***out, size_t *n) {
  size_t cap = 0;
  fpq_job **jobs = NULL;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      fpq_job **grown = fpq__realloc(jobs, cap * sizeof *grown);
      if (grown == NULL) {
        rc = fpq_backend_fail(&s->base, FPQ_ENOMEM, "out of memory");
        goto fail;
      }
      jobs = grown;
    }
    rc = row_to_job(s, st, &jobs[*n]);
    /* A row someone else wrote with a status we do not know: left out of lists (fpq_get
     * still names it), so one bad row cannot hide every other job. */
    if (rc == FPQ_EFORMAT) continue;
    if (rc) goto fail;
    (*n)++;
  }
  if (rc != SQLITE_DONE) {
    rc = db_fail(s, rc, "find");
    goto fail;
  }
  *out = jobs;
  return 0;
fail:
  fpq_jobs_free(jobs, *n);
  *n = 0;
  return rc;
}
int fpq__sqlite_collect_jobs(sqlite_backend *s, sqlite3_stmt *st, fpq_job ***out, size_t *n) {
  return collect_jobs(s, st, out, n);
}

/* A project's newest jobs from the pipelines' index alone, jobs_pipeline(project,
 * pipeline, created_at): its pipeline names one index seek each (names), the newest
 * `limit` of each pipeline, then the newest `limit` of those. A few index seeks per
 * pipeline, however many jobs the project keeps. */
static const char find_in_project[] =
    "WITH RECURSIVE names(p) AS ("
    " SELECT MIN(pipeline) FROM jobs WHERE project = ?1"
    " UNION ALL SELECT (SELECT MIN(pipeline) FROM jobs WHERE project = ?1 AND pipeline > p)"
    " FROM names WHERE p IS NOT NULL)"
    " SELECT j.* FROM names, jobs AS j WHERE names.p IS NOT NULL AND j.rowid IN ("
    " SELECT rowid FROM jobs WHERE project = ?1 AND pipeline = names.p"
    " AND (expires_at IS NULL OR expires_at > ?4) ORDER BY created_at DESC, seq DESC LIMIT ?3)"
    " ORDER BY j.created_at DESC, j.seq DESC LIMIT ?3";

static int sqlite_find(fpq_backend *b, const char *project, const char *pipeline, int limit,
                       fpq_job ***out, size_t *n) {
  sqlite_backend *s = as_sqlite(b);
  if (need_db(s, 0)) return 0;
  const char *sql = pipeline ? "SELECT * FROM jobs WHERE project = ?1 AND pipeline = ?2"
                               " AND (expires_at IS NULL OR expires_at > ?4)"
                               " ORDER BY created_at DESC, seq DESC LIMIT ?3"
                             : find_in_project;
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) return db_fail(s, rc, "find");
  bind_text(st, 1, project);
  bind_text(st, 2, pipeline);
  sqlite3_bind_int(st, 3, limit);
  sqlite3_bind_double(st, 4, fpq__now());
  rc = collect_jobs(s, st, out, n);
  sqlite3_finalize(st);
  return rc;
}

/* Runs a one-row state change; 0 changed rows means the job is missing or in a state the
 * change does not apply to, which the caller tells apart. */
static int change_one(sqlite_backend *s, const char *sql, const char *id, double now,
                      const char *doing) {
  if (need_db(s, 0)) return fpq_backend_fail(&s->base, FPQ_ENOTFOUND, "job '%s' not found", id);
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) return db_fail(s, rc, doing);
  bind_text(st, 1, id);
  sqlite3_bind_double(st, 2, now);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return db_fail(s, rc, doing);
  if (sqlite3_changes(s->db) == 1) return 0;
  fpq_job *job = NULL;
  rc = sqlite_get(&s->base, id, &job);
  fpq_job_free(job);
  return rc ? rc : fpq_backend_fail(&s->base, FPQ_ESTATE, "job '%s' cannot be %s now", id, doing);
}

static int sqlite_cancel(fpq_backend *b, const char *id, double now) {
  return change_one(as_sqlite(b),
                    "UPDATE jobs SET status = 'canceled', ended_at = ?2, run_at = NULL,"
                    " expires_at = CASE WHEN failure_ttl >= 0 THEN ?2 + failure_ttl END"
                    " WHERE id = ?1 AND status IN ('queued', 'scheduled', 'deferred')",
                    id, now, "canceled");
}

static int sqlite_requeue(fpq_backend *b, const char *id, double now) {
  return change_one(as_sqlite(b),
                    "UPDATE jobs SET status = 'queued', attempts = 0, enqueued_at = ?2,"
                    " started_at = NULL, ended_at = NULL, run_at = NULL, worker = NULL,"
                    " result = NULL, error = NULL, duration = NULL, expires_at = NULL,"
                    " seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs)"
                    " WHERE id = ?1 AND status IN ('failed', 'stopped', 'canceled')",
                    id, now, "requeued");
}

static int sqlite_counts(fpq_backend *b, fpq_queue_counts **out, size_t *n) {
  sqlite_backend *s = as_sqlite(b);
  if (need_db(s, 0)) return 0;
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db,
                              "SELECT queue, status, COUNT(*), MIN(enqueued_at) FROM jobs"
                              " GROUP BY queue, status ORDER BY queue",
                              -1, &st, NULL);
  if (rc != SQLITE_OK) return db_fail(s, rc, "counts");
  fpq_queue_counts *counts = NULL;
  size_t len = 0, cap = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *queue = (const char *)sqlite3_column_text(st, 0);
    fpq_status status;
    if (queue == NULL || fpq_status_parse((const char *)sqlite3_column_text(st, 1), &status))
      continue;
    if (len == 0 || strcmp(counts[len - 1].queue, queue) != 0) {
      if (len == cap) {
        cap = cap ? cap * 2 : 4;
        fpq_queue_counts *grown = fpq__realloc(counts, cap * sizeof *grown);
        if (grown == NULL) {
          rc = SQLITE_NOMEM;
          break;
        }
        counts = grown;
      }
      memset(&counts[len], 0, sizeof counts[len]);
      snprintf(counts[len].queue, sizeof counts[len].queue, "%s", queue);
      len++;
    }
    counts[len - 1].count[status] = sqlite3_column_int64(st, 2);
    if (status == FPQ_STATUS_QUEUED) counts[len - 1].oldest_queued_at = sqlite3_column_double(st, 3);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    fpq__free(counts);
    return db_fail(s, rc, "counts");
  }
  *out = counts;
  *n = len;
  return 0;
}

/* ---- worker side ---- */

/* Due scheduled jobs become queued; `seq` keeps them behind what is already waiting. */
static int promote_due(sqlite_backend *s, double now, int *moved) {
  sqlite3_stmt *st = stmt(s, ST_PROMOTE);
  sqlite3_bind_double(st, 1, now);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return db_fail(s, rc, "promote scheduled jobs");
  if (moved) *moved += sqlite3_changes(s->db);
  return 0;
}
int fpq__sqlite_promote_due(sqlite_backend *s, double now, int *moved) {
  return promote_due(s, now, moved);
}

static int read_next_due(sqlite_backend *s, double *due) {
  sqlite3_stmt *st = stmt(s, ST_DUE);
  int rc = sqlite3_step(st);
  *due = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
             ? sqlite3_column_double(st, 0)
             : INFINITY;
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : db_fail(s, rc, "read due time");
}

/* Has anything changed that could make a job takeable? PRAGMA data_version (other
 * connections' commits) and the connection's own change count cost no disk access, so
 * idle workers can poll every few milliseconds. */
static int worth_looking(sqlite_backend *s, double now) {
  sqlite3_stmt *st = stmt(s, ST_DATA_VERSION);
  sqlite_int64 version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  sqlite_int64 own = sqlite3_total_changes64(s->db);
  int changed = version != s->data_version || own != s->own_changes || version < 0 ||
                s->next_due < 0;
  s->data_version = version;
  s->own_changes = own;
  return changed || now >= s->next_due;
}

static int any_ready(sqlite_backend *s, const fpq_take_args *a, int *ready) {
  *ready = 0;
  for (size_t i = 0; i < a->nqueues && !*ready; i++) {
    sqlite3_stmt *st = stmt(s, ST_READY);
    bind_text(st, 1, a->queues[i]);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) *ready = 1;
    else if (rc != SQLITE_DONE) return db_fail(s, rc, "look for jobs");
  }
  return 0;
}

/* Inside a write transaction: promotes what is due and claims the first queued job.
 * Returns 0 with *out, FPQ_EEMPTY, or an error (the caller rolls back). */
static int claim_in(sqlite_backend *s, const fpq_take_args *a, double now, fpq_job **out) {
  int rc = promote_due(s, now, NULL);
  if (rc) return rc;
  for (size_t i = 0; i < a->nqueues; i++) {
    sqlite3_stmt *st = stmt(s, ST_CLAIM);
    bind_text(st, 1, a->queues[i]);
    bind_text(st, 2, a->worker);
    sqlite3_bind_double(st, 3, now);
    sqlite3_bind_double(st, 4, now + a->lease_seconds);
    bind_text(st, 5, a->execution);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
      rc = row_to_job(s, st, out);
      sqlite3_reset(st);
      return rc;
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) return db_fail(s, step, "take");
  }
  return FPQ_EEMPTY;
}

/* Ends a write transaction: COMMIT when rc is 0 or one of the answers in keep (which
 * changed nothing that must be undone), else ROLLBACK. A failed COMMIT frees *out.
 * Returns rc, or the COMMIT's error. */
static int end_write(sqlite_backend *s, int rc, int keep, const char *doing, fpq_job **out) {
  if (rc == 0 || rc == keep) {
    int committed = exec(s, "COMMIT", doing);
    if (committed == 0) return rc;
    rc = committed;
  }
  if (out && *out) {
    fpq_job_free(*out);
    *out = NULL;
  }
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* One attempt: promote what is due and claim the first queued job, in one transaction. */
static int claim(sqlite_backend *s, const fpq_take_args *a, double now, fpq_job **out) {
  int rc = exec(s, "BEGIN IMMEDIATE", "take");
  if (rc) return rc;
  return end_write(s, claim_in(s, a, now, out), FPQ_EEMPTY, "take", out);
}

static int sqlite_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out) {
  sqlite_backend *s = as_sqlite(b);
  int opened = need_db(s, 1);
  if (opened) return opened;
  const double start = fpq__monotonic();
  double pause = 0.001;
  for (;;) {
    double now = a->now + (fpq__monotonic() - start);
    if (worth_looking(s, now)) {
      int ready = 0, rc;
      if ((rc = read_next_due(s, &s->next_due))) return rc;
      if ((rc = any_ready(s, a, &ready))) return rc;
      if (ready || now >= s->next_due) {
        rc = claim(s, a, now, out);
        if (rc != FPQ_EEMPTY) return rc;
        if ((rc = read_next_due(s, &s->next_due))) return rc;
      }
      pause = 0.001;
    }
    double waited = fpq__monotonic() - start;
    if (waited >= a->wait_seconds) return FPQ_EEMPTY;
    /* 1 ms right after a change, backing off to 5 ms: an idle worker notices a new job
     * within a few ms at a few hundred cheap polls per second. */
    double left = a->wait_seconds - waited;
    fpq__sleep(pause < left ? pause : left);
    pause = pause * 1.25 < 0.005 ? pause * 1.25 : 0.005;
  }
}

static int sqlite_extend_execution(fpq_backend *b, const char *id, const char *worker,
                                   const char *execution, double until) {
  sqlite_backend *s = as_sqlite(b);
  if (need_db(s, 0)) return fpq_backend_fail(b, FPQ_ELEASE, "job '%s' is not held", id);
  sqlite3_stmt *st = stmt(s, ST_EXTEND);
  bind_text(st, 1, id);
  bind_text(st, 2, worker);
  sqlite3_bind_double(st, 3, until);
  bind_text(st, 4, execution);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return db_fail(s, rc, "extend lease");
  if (sqlite3_changes(s->db) != 1) return fpq__not_held(b, id, worker, execution);
  return 0;
}

static int sqlite_extend(fpq_backend *b, const char *id, const char *worker, double until) {
  return sqlite_extend_execution(b, id, worker, NULL, until);
}

/* Records an outcome (one statement, then the release of dependents when it finished). */
static int record_outcome(sqlite_backend *s, const fpq_finish_args *a) {
  fpq_backend *b = &s->base;
  sqlite3_stmt *st = stmt(s, ST_FINISH);
  bind_text(st, 1, a->id);
  bind_text(st, 2, a->worker);
  bind_text(st, 3, fpq_status_name(a->status));
  bind_time(st, 4, a->status == FPQ_STATUS_SCHEDULED ? a->run_at : 0);
  sqlite3_bind_int(st, 5, a->uncount_attempt ? 1 : 0);
  bind_text(st, 6, a->result_json);
  bind_text(st, 7, a->error_json);
  sqlite3_bind_double(st, 8, a->duration);
  sqlite3_bind_double(st, 9, a->now);
  double ttl = a->status == FPQ_STATUS_FINISHED ? a->result_ttl
               : a->status == FPQ_STATUS_FAILED || a->status == FPQ_STATUS_STOPPED
                   ? a->failure_ttl
                   : FPQ_TTL_FOREVER;
  /* expires_at = now for ttl 0: gone to readers at once (ST_GET hides it), deleted by the
   * next maintenance; NULL keeps the row. */
  if (ttl >= 0) sqlite3_bind_double(st, 10, a->now + ttl);
  else sqlite3_bind_null(st, 10);
  bind_text(st, 11, a->execution);
  bind_text(st, 12, a->log);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return db_fail(s, rc, "finish");
  if (sqlite3_changes(s->db) != 1) return fpq__not_held(b, a->id, a->worker, a->execution);
  if (a->status == FPQ_STATUS_SCHEDULED && a->run_at < s->next_due) s->next_due = a->run_at;
  /* A separate statement: if this process dies between the two, maintenance releases. */
  return a->status == FPQ_STATUS_FINISHED ? release_deferred(s, a->now) : 0;
}

static int sqlite_finish(fpq_backend *b, const fpq_finish_args *a) {
  sqlite_backend *s = as_sqlite(b);
  if (need_db(s, 0)) return fpq_backend_fail(b, FPQ_ELEASE, "job '%s' is not held", a->id);
  return record_outcome(s, a);
}

/* The worker's step between two jobs as one write transaction: the outcome (and the
 * dependents it releases), then the next job. One WAL commit where the two calls make
 * two or three, and the pages both touch are written once. A fenced outcome (FPQ_ELEASE)
 * changes nothing and the take still commits. */
static int sqlite_finish_take(fpq_backend *b, const fpq_finish_args *a, const fpq_take_args *t,
                              int *take_rc, fpq_job **out) {
  sqlite_backend *s = as_sqlite(b);
  if (need_db(s, 0)) return fpq_backend_fail(b, FPQ_ELEASE, "job '%s' is not held", a->id);
  int rc = exec(s, "BEGIN IMMEDIATE", "finish");
  if (rc) return rc;
  double next_due = s->next_due;
  int finished = record_outcome(s, a);
  if (finished != 0 && finished != FPQ_ELEASE) {
    s->next_due = next_due;
    return end_write(s, finished, 0, "finish", NULL);
  }
  char why[sizeof b->errstr];
  snprintf(why, sizeof why, "%s", b->errstr);
  int taken = claim_in(s, t, t->now, out);
  rc = end_write(s, taken, FPQ_EEMPTY, "finish", out);
  if (rc != 0 && rc != FPQ_EEMPTY) {
    /* The take (or the COMMIT) failed and the outcome went with it: the outcome is
     * recorded again on its own, so a take that cannot be done never costs one. */
    s->next_due = next_due;
    *take_rc = rc;
    snprintf(why, sizeof why, "%s", b->errstr);
    finished = record_outcome(s, a);
    if (finished == 0) fpq_backend_fail(b, rc, "%s", why);
    return finished;
  }
  *take_rc = rc;
  if (finished) fpq_backend_fail(b, finished, "%s", why);
  return finished;
}

/* Whether a finished job's outcome would look at more deferred jobs than the loop's
 * step should (1), or could not tell (1). */
static int many_deferred(sqlite_backend *s) {
  sqlite3_stmt *st = stmt(s, ST_DEFERRED_MANY);
  int many = sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 0;
  sqlite3_reset(st);
  return many;
}

/* The step on the worker's loop thread: only the plain path, at once. Another writer's
 * lock, a checkpoint due or just made (the commit after one syncs the new WAL's header),
 * a file to reopen, an fsync per commit (durability: full), a finished outcome with many
 * deferred jobs to look at, or anything unusual (a failed take half, a failed commit)
 * answers WOULD_WAIT with the transaction rolled back, and the waiting
 * sqlite_finish_take does it all. */
static int sqlite_finish_take_nowait(fpq_backend *b, const fpq_finish_args *a,
                                     const fpq_take_args *t, int *take_rc, fpq_job **out) {
  sqlite_backend *s = as_sqlite(b);
  if (s->db == NULL || s->checkpoint_due || s->restart_due || s->durability_full ||
      fpq__monotonic() - s->checked_at >= 1.0)
    return WOULD_WAIT;
  s->nowait = 1;
  int rc = exec(s, "BEGIN IMMEDIATE", "finish");
  if (rc == 0 && a->status == FPQ_STATUS_FINISHED && many_deferred(s)) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    rc = WOULD_WAIT;
  }
  if (rc == 0) {
    double next_due = s->next_due;
    int finished = record_outcome(s, a);
    char why[sizeof b->errstr];
    snprintf(why, sizeof why, "%s", b->errstr);
    int taken = finished == 0 || finished == FPQ_ELEASE ? claim_in(s, t, t->now, out) : finished;
    rc = end_write(s, taken, FPQ_EEMPTY, "finish", out);
    if (rc == 0 || rc == FPQ_EEMPTY) {
      s->nowait = 0;
      *take_rc = rc;
      if (finished) fpq_backend_fail(b, finished, "%s", why);
      return finished;
    }
    s->next_due = next_due;
  }
  s->nowait = 0;
  return WOULD_WAIT;
}

const struct fpq_backend_methods fpq__sqlite_methods = {
    .version = FPQ_BACKEND_VERSION,
    .name = "sqlite",
    .handle_size = sizeof(sqlite_backend),
    .open = sqlite_open,
    .close = sqlite_close,
    .enqueue = sqlite_enqueue,
    .get = sqlite_get,
    .find = sqlite_find,
    .cancel = sqlite_cancel,
    .requeue = sqlite_requeue,
    .counts = sqlite_counts,
    .take = sqlite_take,
    .extend = sqlite_extend,
    .finish = sqlite_finish,
    .maintain = fpq__sqlite_maintain,
    .worker_beat = fpq__sqlite_worker_beat,
    .worker_gone = fpq__sqlite_worker_gone,
    .workers = fpq__sqlite_workers,
    .worker_command = fpq__sqlite_worker_command,
    .worker_next_command = fpq__sqlite_worker_next_command,
    .schedule_put = fpq__sqlite_schedule_put,
    .schedule_get = fpq__sqlite_schedule_get,
    .schedule_list = fpq__sqlite_schedule_list,
    .schedule_remove = fpq__sqlite_schedule_remove,
    .schedule_set_paused = fpq__sqlite_schedule_set_paused,
    .schedule_advance = fpq__sqlite_schedule_advance,
    .lease_acquire = fpq__sqlite_lease_acquire,
    .lease_release = fpq__sqlite_lease_release,
    .ended_since = fpq__sqlite_ended_since,
    .extend_execution = sqlite_extend_execution,
    .prune = fpq__sqlite_prune,
    .retention = fpq__sqlite_retention,
    .enqueue_many = sqlite_enqueue_many,
    .finish_take = sqlite_finish_take,
    .finish_take_nowait = sqlite_finish_take_nowait,
};
