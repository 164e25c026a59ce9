/* backend.c (rq): the `rq` backend: jobs on Redis in RQ 2.x's own wire format.
 *
 * Everything RQ's tools read is written as Python rq writes it with serializer="json"
 * (rq-wire.md): rq:job:ID hashes, rq:queue:Q lists, the wip/finished/failed/scheduled/
 * canceled registries, rq:results:ID streams, rq:worker:NAME hashes and the
 * rq:pubsub:NAME command channel. So `rq info`, `Job.fetch(..., serializer="json")` and
 * `rq worker --serializer json` work on our jobs, and our worker runs JSON jobs Python rq
 * enqueued.
 *
 * Where RQ is weak this backend is stronger while staying readable by RQ:
 * - no lost jobs: each state change is one Lua script (scripts.c), so a job is always
 *   in a queue list or a registry whatever instant a worker dies at;
 * - leases: a taken job's rq:wip:Q score is its lease (now + lease, whole seconds, rounded
 *   up); the worker renews it every lease/3; maintenance retries or fails entries whose
 *   score passed, as fpq_retry_decision says. RQ's own cleanup fails entries whose score
 *   is below now, so it never touches a live worker's job either. A dead worker's job is
 *   handled within lease + 1 s (rounding) + the maintenance period of any live worker
 *   (2 s): 18 s with the default 15 s lease;
 * - waking: an idle take sleeps on a tracking connection (watch.c) and wakes within
 *   a millisecond of a write to any queue;
 * - reconnecting: every connection comes back with backoff (conn.c); calls made while
 *   Redis is away fail fast with FPQ_EUNAVAIL and a message saying so.
 *
 * Extra keys (not RQ's): fpq:pipeline:NAME:PROJECT (the project's name; older jobs: its
 * directory), a zset of job ids by creation time per pipeline, which find reads newest
 * first (a project's: its pipelines' merged; older fpq also wrote fpq:project:PROJECT,
 * still read); fpq:indexes names them all. Ids whose hash expired are pruned when met,
 * and a bounded sweep in maintenance prunes the rest. */
#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "backend.h"
#include "builtin_backends.h"
#include "clock.h"
#include "conn.h"
#include "format.h"
#include "job.h"
#include "random.h"
#include "scripts.h"
#include "watch.h"

#define SWEEP_EVERY 60.0

/* ---- requests ---- */

int fpq__rq_ready(rq_backend *r) {
  char err[256];
  if (r->step_pending) { /* never read (the step's waiting call did not come): no later
                          * reply may be taken for another call's */
    r->step_pending = 0;
    fpq__rq_link_lost(&r->link);
  }
  int rc = fpq__rq_link_open(&r->link, &r->t, err, sizeof err);
  return rc ? fpq_backend_fail(&r->base, rc, "%s", err) : 0;
}

int fpq__rq_io_fail(rq_backend *r, const char *doing) {
  const char *why = r->link.c && r->link.c->errstr[0] ? r->link.c->errstr : "connection closed";
  fpq_backend_fail(&r->base, FPQ_EUNAVAIL, "lost the connection to Redis at %s while %s: %s",
                   r->t.display, doing, why);
  fpq__rq_link_lost(&r->link);
  return FPQ_EUNAVAIL;
}

int fpq__rq_reply_fail(rq_backend *r, const char *reply, const char *doing) {
  int code = fpq__rq_error_code(reply);
  /* Plain words only for "try later" (LOADING, BUSY, MASTERDOWN): the connect-time
   * words for NOAUTH or NOPERM speak of the URL, and mid-command Redis's own text names
   * what it refused. */
  const char *words = code == FPQ_EUNAVAIL ? fpq__rq_refusal_words(reply) : NULL;
  if (words)
    return fpq_backend_fail(&r->base, code, "%s refused: Redis at %s %s", doing, r->t.display,
                            words);
  return fpq_backend_fail(&r->base, code, "Redis at %s, %s: %.180s", r->t.display, doing, reply);
}

/* An error reply becomes the handle's error; returns its code. Frees the reply. */
static int error_reply(rq_backend *r, redisReply *reply, const char *doing) {
  int rc = fpq__rq_reply_fail(r, reply->str, doing);
  freeReplyObject(reply);
  return rc;
}

/* Runs a script. Returns the reply (caller frees) or NULL with *rc and the handle's error
 * set. Idempotent (read-only) scripts are retried once on a fresh connection when the
 * connection broke under them. */
static redisReply *eval(rq_backend *r, fpq__rq_script s, int argc, const char *const *argv,
                        const size_t *lens, int idempotent, int *rc) {
  for (int attempt = 0;; attempt++) {
    if ((*rc = fpq__rq_ready(r))) return NULL;
    redisReply *reply = fpq__rq_eval(r->link.c, &r->shas, s, argc, argv, lens);
    if (reply == NULL) {
      *rc = fpq__rq_io_fail(r, fpq__rq_script_name(s));
      if (idempotent && attempt == 0) continue;
      return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      *rc = error_reply(r, reply, fpq__rq_script_name(s));
      return NULL;
    }
    return reply;
  }
}


void fpq__rq_batch_add(batch *bt, int argc, const char *const *argv, const size_t *lens) {
  assert(bt->n < 64 && argc <= 24);
  for (int i = 0; i < argc; i++) {
    bt->argv[bt->n][i] = argv[i];
    bt->lens[bt->n][i] = lens ? lens[i] : strlen(argv[i]);
  }
  bt->argc[bt->n++] = argc;
}

/* Sends the batch; fills replies[0..n) (caller frees each) or returns an error with all
 * freed. Read-only batches are retried once on a fresh connection. */
int fpq__rq_run_batch(rq_backend *r, batch *bt, redisReply **replies, const char *doing,
                     int idempotent) {
  for (int attempt = 0;; attempt++) {
    int rc = fpq__rq_ready(r);
    if (rc) return rc;
    int got = 0;
    for (int i = 0; i < bt->n; i++)
      if (redisAppendCommandArgv(r->link.c, bt->argc[i], bt->argv[i], bt->lens[i]) != REDIS_OK)
        goto broken;
    for (; got < bt->n; got++) {
      void *reply = NULL;
      if (fpq__rq_get_reply(r->link.c, &reply) != REDIS_OK || reply == NULL) goto broken;
      replies[got] = reply;
    }
    for (int i = 0; i < bt->n; i++) {
      if (replies[i]->type == REDIS_REPLY_ERROR) {
        rc = fpq__rq_reply_fail(r, replies[i]->str, doing);
        for (int j = 0; j < bt->n; j++) freeReplyObject(replies[j]);
        return rc;
      }
    }
    return 0;
  broken:
    for (int i = 0; i < got; i++) freeReplyObject(replies[i]);
    rc = fpq__rq_io_fail(r, doing);
    if (!(idempotent && attempt == 0)) return rc;
  }
}

/* ---- open and close ---- */

static int rq_open(fpq_backend *b, const char *url, const fpq_backend_settings *s) {
  rq_backend *r = as_rq(b);
  char err[256];
  r->t.connect_timeout = s->connect_timeout;
  if (fpq__rq_parse_url(url, &r->t, err, sizeof err))
    return fpq_backend_fail(b, FPQ_ECONFIG, "%s", err);
  return fpq__rq_ready(r);
}

static void rq_close(fpq_backend *b) {
  rq_backend *r = as_rq(b);
  fpq__rq_link_close(&r->link);
  fpq__rq_watch_close(&r->watch);
  fpq__rq_sub_close(&r->sub);
}

/* ---- helpers ---- */

char *fpq__rq_key_of(const char *prefix, const char *a, const char *b) {
  size_t n = strlen(prefix) + strlen(a) + (b ? strlen(b) + 1 : 0) + 1;
  char *k = fpq__malloc(n);
  if (k) snprintf(k, n, "%s%s%s%s", prefix, a, b ? ":" : "", b ? b : "");
  return k;
}

/* A pipeline's find index: fpq:pipeline:NAME:PROJECT (a pipeline name has no ':'). */
char *fpq__rq_pipeline_index(const char *project, const char *pipeline) {
  return fpq__rq_key_of("fpq:pipeline:", pipeline, project);
}

/* ---- producer side ---- */



/* Reads jobs by id: HGETALL + the newest result entry per job, all in one round trip.
 * jobs[i] is NULL for an id whose hash is gone. */
/* A job Python rq scheduled (enqueue_at, or its Retry with an interval) has no
 * fpq_run_at: its due time is its score in rq:scheduled:Q. One more round trip, only for
 * such jobs. Best effort: the time stays unset if it cannot be read. */
static void read_rq_due_times(rq_backend *r, fpq_job **jobs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    fpq_job *job = jobs[i];
    if (job == NULL || job->status != FPQ_STATUS_SCHEDULED || job->run_at > 0) continue;
    char *key = fpq__rq_key_of("rq:scheduled:", job->queue ? job->queue : "default", NULL);
    batch bt = {0};
    const char *z[] = {"ZSCORE", key ? key : "", job->id};
    fpq__rq_batch_add(&bt, 3, z, NULL);
    redisReply *score = NULL;
    if (fpq__rq_run_batch(r, &bt, &score, "reading a due time", 1) == 0) {
      if (score->type == REDIS_REPLY_STRING) job->run_at = strtod(score->str, NULL);
      freeReplyObject(score);
    }
    r->base.err = 0;
    r->base.errstr[0] = '\0';
    fpq__free(key);
  }
}

static int read_jobs(rq_backend *r, const char *const *ids, size_t n, fpq_job **jobs) {
  int rc = 0;
  /* 21 jobs a batch: three commands each, and a batch holds under 64. */
  for (size_t start = 0; start < n && rc == 0; start += 21) {
    size_t m = n - start < 21 ? n - start : 21;
    batch *bt = fpq__calloc(1, sizeof *bt);
    char *keys[64] = {0};
    redisReply *replies[64];
    if (bt == NULL) return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < m; i++) {
      keys[2 * i] = fpq__rq_key_of("rq:job:", ids[start + i], NULL);
      keys[2 * i + 1] = fpq__rq_key_of("rq:results:", ids[start + i], NULL);
      const char *h[] = {"HGETALL", keys[2 * i] ? keys[2 * i] : ""};
      const char *x[] = {"XREVRANGE", keys[2 * i + 1] ? keys[2 * i + 1] : "", "+", "-",
                         "COUNT", "1"};
      const char *l[] = {"XLEN", keys[2 * i + 1] ? keys[2 * i + 1] : ""};
      fpq__rq_batch_add(bt, 2, h, NULL);
      fpq__rq_batch_add(bt, 6, x, NULL);
      fpq__rq_batch_add(bt, 2, l, NULL);
    }
    rc = fpq__rq_run_batch(r, bt, replies, "reading jobs", 1);
    int sent = rc == 0;
    for (size_t i = 0; i < m && rc == 0; i++) {
      int one = fpq__rq_job_from_reply(ids[start + i], replies[3 * i], replies[3 * i + 1],
                                       &jobs[start + i]);
      if (one == FPQ_ENOMEM) rc = fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
      /* A job only Python rq enqueued and ran has no fpq_ fields: each of its runs left
       * one result entry (success, failure, stop or retry; RQ keeps about the last 10),
       * and a running one has none yet. Ours (fpq_max_retries) count in fpq_attempts,
       * absent until the first run: a stream left by an earlier job of the same id is
       * not theirs. */
      fpq_job *job = jobs[start + i];
      const redisReply *len = replies[3 * i + 2];
      if (job && len->type == REDIS_REPLY_INTEGER &&
          fpq__rq_hash_field(replies[3 * i], "fpq_attempts") == NULL &&
          fpq__rq_hash_field(replies[3 * i], "fpq_max_retries") == NULL) {
        long long runs = len->integer + (job->status == FPQ_STATUS_STARTED);
        if (runs > job->attempts) job->attempts = (int)(runs < 1000000 ? runs : 1000000);
      }
    }
    if (sent)
      for (int i = 0; i < bt->n; i++) freeReplyObject(replies[i]);
    for (int i = 0; i < 64; i++) fpq__free(keys[i]);
    fpq__free(bt);
  }
  if (rc == 0) read_rq_due_times(r, jobs, n);
  return rc;
}

static int rq_get(fpq_backend *b, const char *id, fpq_job **out) {
  rq_backend *r = as_rq(b);
  fpq_job *job = NULL;
  int rc = read_jobs(r, &id, 1, &job);
  if (rc) return rc;
  if (job == NULL) return fpq_backend_fail(b, FPQ_ENOTFOUND, "job '%s' not found", id);
  *out = job;
  return 0;
}

/* One id of a find index: its score (the job's creation time) and the index it is in. */
typedef struct indexed_id {
  const char *id;
  double score;
  const char *index;
} indexed_id;

static int newest_first(const void *a, const void *b) {
  const indexed_id *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? 1 : -1;
  return strcmp(y->id, x->id);
}

/* A project's find indexes: its pipelines' (fpq:pipeline:NAME:PROJECT, every job is in
 * one), and fpq:project:PROJECT, which older fpq also wrote. Pipeline names have
 * no ':', so the project is what follows the first ':' after the prefix. */
static int project_indexes(rq_backend *r, const char *project, redisReply **members,
                           const char ***out, size_t *n) {
  static const char prefix[] = "fpq:pipeline:";
  batch bt = {0};
  const char *smembers[] = {"SMEMBERS", "fpq:indexes"};
  fpq__rq_batch_add(&bt, 2, smembers, NULL);
  int rc = fpq__rq_run_batch(r, &bt, members, "finding jobs", 1);
  if (rc) return rc;
  const char **keys = fpq__calloc((*members)->elements + 1, sizeof *keys);
  if (keys == NULL) return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  size_t k = 0;
  for (size_t i = 0; i < (*members)->elements; i++) {
    const char *key = (*members)->element[i]->str;
    const char *colon = strncmp(key, prefix, sizeof prefix - 1) == 0
                            ? strchr(key + sizeof prefix - 1, ':') : NULL;
    if ((colon && strcmp(colon + 1, project) == 0) ||
        (strncmp(key, "fpq:project:", 12) == 0 && strcmp(key + 12, project) == 0))
      keys[k++] = key;
  }
  *out = keys;
  *n = k;
  return 0;
}

/* The newest `window` ids of each index, merged newest first (an id in two indexes, as
 * in an old fpq:project one and its pipeline's, once). Only the first *safe of them are
 * known to be the newest overall: an index that returned a whole window may hold more
 * ids older than its last one but newer than what other indexes returned past it, so
 * the merge stops at the newest such last id. *full: some index returned a whole window
 * (a larger window may find more). */
static int newest_ids(rq_backend *r, const char *const *indexes, size_t nidx, long window,
                      redisReply **replies, indexed_id **out, size_t *n, size_t *safe,
                      int *full) {
  char to[24];
  snprintf(to, sizeof to, "%ld", window - 1);
  for (size_t start = 0; start < nidx; start += 64) {
    size_t m = nidx - start < 64 ? nidx - start : 64;
    batch bt = {0};
    for (size_t i = 0; i < m; i++) {
      const char *range[] = {"ZREVRANGE", indexes[start + i], "0", to, "WITHSCORES"};
      fpq__rq_batch_add(&bt, 5, range, NULL);
    }
    int rc = fpq__rq_run_batch(r, &bt, replies + start, "finding jobs", 1);
    if (rc) {
      for (size_t i = 0; i < start; i++) freeReplyObject(replies[i]);
      return rc;
    }
  }
  size_t total = 0;
  for (size_t i = 0; i < nidx; i++) total += replies[i]->elements / 2;
  indexed_id *ids = fpq__calloc(total ? total : 1, sizeof *ids);
  if (ids == NULL) {
    for (size_t i = 0; i < nidx; i++) freeReplyObject(replies[i]);
    return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  }
  size_t k = 0;
  indexed_id cut = {0};
  *full = 0;
  for (size_t i = 0; i < nidx; i++) {
    const redisReply *z = replies[i];
    for (size_t e = 0; e + 1 < z->elements; e += 2)
      ids[k++] = (indexed_id){z->element[e]->str, strtod(z->element[e + 1]->str, NULL),
                              indexes[i]};
    if ((long)(z->elements / 2) >= window) {
      indexed_id last = ids[k - 1];
      if (!*full || newest_first(&last, &cut) < 0) cut = last;
      *full = 1;
    }
  }
  qsort(ids, k, sizeof *ids, newest_first);
  size_t u = 0;
  *safe = 0;
  for (size_t i = 0; i < k; i++) {
    if (u > 0 && strcmp(ids[u - 1].id, ids[i].id) == 0) continue;
    ids[u++] = ids[i];
    if (!*full || newest_first(&ids[i], &cut) <= 0) *safe = u;
  }
  *out = ids;
  *n = u;
  return 0;
}

/* Takes an id whose hash expired out of its index: the page's ZREMs in one round trip.
 * Best effort: what is missed now is pruned when met again, or by maintenance's sweep. */
static void prune_expired(rq_backend *r, const indexed_id *gone, size_t n) {
  for (size_t start = 0; start < n && r->link.c; start += 64) {
    size_t m = n - start < 64 ? n - start : 64;
    batch bt = {0};
    for (size_t i = 0; i < m; i++) {
      const char *zrem[] = {"ZREM", gone[start + i].index, gone[start + i].id};
      fpq__rq_batch_add(&bt, 3, zrem, NULL);
    }
    redisReply *replies[64];
    if (fpq__rq_run_batch(r, &bt, replies, "pruning an index", 0) == 0)
      for (size_t i = 0; i < m; i++) freeReplyObject(replies[i]);
    r->base.err = 0;
    r->base.errstr[0] = '\0';
  }
}

/* Reads ids[0..n) in order until `limit` jobs are found; ids whose hash expired are
 * pruned from their index (one round trip per page). */
static int read_newest(rq_backend *r, const indexed_id *ids, size_t n, int limit,
                       fpq_job **found, size_t *got) {
  int rc = 0;
  for (size_t at = 0; at < n && (int)*got < limit && rc == 0;) {
    size_t m = (size_t)limit - *got;
    if (m > n - at) m = n - at;
    const char **idv = fpq__calloc(m, sizeof *idv);
    fpq_job **jobs = fpq__calloc(m, sizeof *jobs);
    indexed_id *gone = fpq__calloc(m, sizeof *gone);
    size_t ngone = 0;
    if (idv == NULL || jobs == NULL || gone == NULL)
      rc = fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < m && rc == 0; i++) idv[i] = ids[at + i].id;
    if (rc == 0) rc = read_jobs(r, idv, m, jobs);
    for (size_t i = 0; i < m && rc == 0; i++) {
      if (jobs[i]) {
        found[(*got)++] = jobs[i];
        jobs[i] = NULL;
      } else {
        gone[ngone++] = ids[at + i];
      }
    }
    if (rc == 0) prune_expired(r, gone, ngone);
    for (size_t i = 0; jobs && i < m; i++) fpq_job_free(jobs[i]);
    fpq__free(gone);
    fpq__free(jobs);
    fpq__free(idv);
    at += m;
  }
  return rc;
}

/* Newest first across the indexes: the newest `window` ids of each are merged; when
 * expired ones leave fewer than `limit` jobs among the ids known to be the newest and an
 * index holds more, again with twice the window (the expired ones met were pruned; an id
 * also in an old fpq:project index is met there once more and pruned then). */
static int find_in(rq_backend *r, const char *const *indexes, size_t nidx, int limit,
                   fpq_job **found, size_t *got) {
  redisReply **replies = fpq__calloc(nidx ? nidx : 1, sizeof *replies);
  if (replies == NULL) return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  int rc = 0;
  for (long window = limit; nidx > 0 && rc == 0; window *= 2) {
    indexed_id *ids = NULL;
    size_t n = 0, safe = 0;
    int full = 0;
    if ((rc = newest_ids(r, indexes, nidx, window, replies, &ids, &n, &safe, &full))) break;
    rc = read_newest(r, ids, safe, limit, found, got);
    fpq__free(ids);
    for (size_t i = 0; i < nidx; i++) freeReplyObject(replies[i]);
    if (rc || (int)*got == limit || !full || window > (1L << 24)) break;
    for (size_t i = 0; i < *got; i++) fpq_job_free(found[i]);
    *got = 0;
  }
  fpq__free(replies);
  return rc;
}

static int rq_find(fpq_backend *b, const char *project, const char *pipeline, int limit,
                   fpq_job ***out, size_t *n) {
  rq_backend *r = as_rq(b);
  fpq_job **found = fpq__calloc((size_t)limit, sizeof *found);
  char *index = pipeline ? fpq__rq_pipeline_index(project, pipeline) : NULL;
  if (found == NULL || (pipeline && index == NULL)) {
    fpq__free(index);
    fpq__free(found);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  size_t got = 0;
  int rc;
  if (index) {
    const char *one[] = {index};
    rc = find_in(r, one, 1, limit, found, &got);
  } else {
    redisReply *members = NULL;
    const char **keys = NULL;
    size_t nkeys = 0;
    rc = project_indexes(r, project, &members, &keys, &nkeys);
    if (rc == 0) rc = find_in(r, keys, nkeys, limit, found, &got);
    fpq__free(keys);
    if (members) freeReplyObject(members);
  }
  fpq__free(index);
  if (rc) {
    fpq_jobs_free(found, got);
    return rc;
  }
  *out = found;
  *n = got;
  return 0;
}

/* Cancel and requeue: the script answers 1 done, 0 wrong state, -1 no such job. */
static int change(fpq_backend *b, fpq__rq_script s, const char *id, double now, const char *verb) {
  rq_backend *r = as_rq(b);
  char now_s[40], now_text[FPQ_TIME_TEXT_MAX];
  snprintf(now_s, sizeof now_s, "%.6f", now);
  fpq_format_time(now, now_text, sizeof now_text);
  const char *argv[] = {id, now_s, now_text};
  int rc;
  redisReply *reply = eval(r, s, 3, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  long long v = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 1;
  freeReplyObject(reply);
  if (v < 0) return fpq_backend_fail(b, FPQ_ENOTFOUND, "job '%s' not found", id);
  if (v == 0) return fpq_backend_fail(b, FPQ_ESTATE, "job '%s' cannot be %s now", id, verb);
  return 0;
}

static int rq_cancel(fpq_backend *b, const char *id, double now) {
  return change(b, FPQ_RQ_CANCEL, id, now, "canceled");
}

static int rq_requeue(fpq_backend *b, const char *id, double now) {
  return change(b, FPQ_RQ_REQUEUE, id, now, "requeued");
}

static long long int_of(const redisReply *r) {
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

static int rq_counts(fpq_backend *b, fpq_queue_counts **out, size_t *n) {
  rq_backend *r = as_rq(b);
  char now[40];
  snprintf(now, sizeof now, "%.6f", fpq__now());
  const char *argv[] = {now};
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_COUNTS, 1, argv, NULL, 1, &rc);
  if (reply == NULL) return rc;
  fpq_queue_counts *c = fpq__calloc(reply->elements ? reply->elements : 1, sizeof *c);
  if (c == NULL) {
    freeReplyObject(reply);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  static const fpq_status order[] = {FPQ_STATUS_QUEUED,    FPQ_STATUS_STARTED,
                                     FPQ_STATUS_FINISHED,  FPQ_STATUS_FAILED,
                                     FPQ_STATUS_SCHEDULED, FPQ_STATUS_CANCELED,
                                     FPQ_STATUS_DEFERRED};
  size_t len = 0;
  for (size_t i = 0; i < reply->elements; i++) {
    const redisReply *q = reply->element[i];
    if (q->type != REDIS_REPLY_ARRAY || q->elements != 9) continue;
    snprintf(c[len].queue, sizeof c[len].queue, "%s", q->element[0]->str);
    for (size_t k = 0; k < 7; k++) c[len].count[order[k]] = int_of(q->element[k + 1]);
    if (q->element[8]->type == REDIS_REPLY_STRING && q->element[8]->len)
      fpq__parse_rq_time(q->element[8]->str, &c[len].oldest_queued_at);
    len++;
  }
  freeReplyObject(reply);
  *out = c;
  *n = len;
  return 0;
}

/* ---- maintenance ---- */

/* Decides and applies what becomes of one expired rq:wip entry. */
static int reap(rq_backend *r, const char *queue, const char *member, double now, int *moved) {
  const char *colon = strrchr(member, ':');
  char id[FPQ_ID_MAX + 1];
  snprintf(id, sizeof id, "%.*s", colon ? (int)(colon - member) : (int)strlen(member), member);
  const char *ids[] = {id};
  fpq_job *job = NULL;
  int rc = read_jobs(r, ids, 1, &job);
  if (rc) return rc;
  double run_at = 0;
  fpq_status next = FPQ_STATUS_FAILED;
  if (job && job->status == FPQ_STATUS_STARTED) next = fpq_retry_decision(job, now, &run_at);
  char message[300];
  snprintf(message, sizeof message,
           "worker '%.100s' stopped renewing its lease (it died or lost Redis); %s",
           job && job->worker ? job->worker : "?",
           next == FPQ_STATUS_FAILED ? "no attempts left (AbandonedJobError)" : "retrying");
  /* The job's own failure_ttl; one rq enqueued without it gets the built-in default (the
   * project's setting is the core's to read, and maintenance runs without a job). */
  double fttl = job && job->failure_ttl != FPQ_TTL_DEFAULT ? job->failure_ttl
                                                           : FPQ_TTL_DEFAULT_SECONDS;
  fpq_job_free(job);
  char fttl_s[32];
  snprintf(fttl_s, sizeof fttl_s, "%lld", rq_ttl(fttl));
  char *error = fpq__error_json("WorkerLost", message);
  char *text = error ? fpq__rq_exc_text(error) : NULL;
  char *exc = text ? fpq__rq_exc_encode(text) : NULL;
  fpq__free(text);
  char now_s[40], now_text[FPQ_TIME_TEXT_MAX], run_s[40];
  snprintf(now_s, sizeof now_s, "%.6f", now);
  fpq_format_time(now, now_text, sizeof now_text);
  snprintf(run_s, sizeof run_s, "%.6f", run_at);
  const char *argv[] = {queue, member, now_s, now_text, fpq_status_name(next), run_s,
                        error ? error : "", exc ? exc : "", fttl_s};
  redisReply *reply = NULL;
  if (error && exc) reply = eval(r, FPQ_RQ_REAP, 9, argv, NULL, 0, &rc);
  else rc = fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  free(error);
  fpq__free(exc);
  if (reply) {
    *moved += (int)int_of(reply);
    freeReplyObject(reply);
  }
  return rc;
}

static int rq_maintain(fpq_backend *b, double now, int *moved) {
  rq_backend *r = as_rq(b);
  char now_s[40], now_text[FPQ_TIME_TEXT_MAX];
  snprintf(now_s, sizeof now_s, "%.6f", now);
  fpq_format_time(now, now_text, sizeof now_text);
  const char *argv[] = {now_s, now_text};
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_MAINTAIN, 2, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  *moved = reply->elements ? (int)int_of(reply->element[0]) : 0;
  for (size_t i = 1; i + 1 < reply->elements && rc == 0; i += 2)
    rc = reap(r, reply->element[i]->str, reply->element[i + 1]->str, now, moved);
  freeReplyObject(reply);
  if (rc == 0 && fpq__monotonic() >= r->next_sweep) {
    r->next_sweep = fpq__monotonic() + SWEEP_EVERY;
    redisReply *swept = eval(r, FPQ_RQ_SWEEP, 0, NULL, NULL, 0, &rc);
    if (swept) freeReplyObject(swept);
  }
  return rc;
}

static int rq_prune(fpq_backend *b, double now, int64_t *removed) {
  rq_backend *r = as_rq(b);
  char now_s[40];
  snprintf(now_s, sizeof now_s, "%.6f", now);
  const char *argv[] = {now_s};
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_PRUNE, 1, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  *removed = int_of(reply);
  freeReplyObject(reply);
  redisReply *swept = eval(r, FPQ_RQ_SWEEP, 0, NULL, NULL, 0, &rc);
  if (swept) freeReplyObject(swept);
  return rc;
}

#define RETENTION_SAMPLE 1000

static int rq_retention(fpq_backend *b, double now, fpq_retention *out) {
  rq_backend *r = as_rq(b);
  char now_s[40], sample[16];
  snprintf(now_s, sizeof now_s, "%.6f", now);
  snprintf(sample, sizeof sample, "%d", RETENTION_SAMPLE);
  const char *argv[] = {now_s, sample};
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_RETENTION, 2, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
    long long kept = int_of(reply->element[0]), sampled = int_of(reply->element[1]),
              bytes = int_of(reply->element[2]);
    out->kept = kept;
    /* Above the sample, scale its mean up: an estimate, and the docs say so. */
    out->bytes = sampled > 0 && kept > sampled ? (int64_t)((double)bytes / (double)sampled *
                                                           (double)kept)
                                               : bytes;
  }
  freeReplyObject(reply);
  return 0;
}

/* ---- workers and their commands ---- */

/* What schedules.c and stats.c borrow (backend.h). */
redisReply *fpq__rq_backend_eval(rq_backend *r, fpq__rq_script s, int argc,
                                 const char *const *argv, const size_t *lens, int idempotent,
                                 int *rc) {
  return eval(r, s, argc, argv, lens, idempotent, rc);
}

long long fpq__rq_int_of(const redisReply *reply) { return int_of(reply); }

const struct fpq_backend_methods fpq__rq_methods = {
    .version = FPQ_BACKEND_VERSION,
    .name = "rq",
    .handle_size = sizeof(rq_backend),
    .open = rq_open,
    .close = rq_close,
    .enqueue = fpq__rq_enqueue,
    .get = rq_get,
    .find = rq_find,
    .cancel = rq_cancel,
    .requeue = rq_requeue,
    .counts = rq_counts,
    .take = fpq__rq_take,
    .extend = fpq__rq_extend,
    .finish = fpq__rq_finish,
    .finish_take = fpq__rq_finish_take,
    .finish_take_nowait = fpq__rq_finish_take_nowait,
    .maintain = rq_maintain,
    .worker_beat = fpq__rq_worker_beat,
    .worker_gone = fpq__rq_worker_gone,
    .workers = fpq__rq_workers,
    .worker_command = fpq__rq_worker_command,
    .worker_next_command = fpq__rq_worker_next_command,
    .schedule_put = fpq__rq_schedule_put,
    .schedule_get = fpq__rq_schedule_get,
    .schedule_list = fpq__rq_schedule_list,
    .schedule_remove = fpq__rq_schedule_remove,
    .schedule_set_paused = fpq__rq_schedule_set_paused,
    .schedule_advance = fpq__rq_schedule_advance,
    .lease_acquire = fpq__rq_lease_acquire,
    .lease_release = fpq__rq_lease_release,
    .ended_since = fpq__rq_ended_since,
    .extend_execution = fpq__rq_extend_execution,
    .prune = rq_prune,
    .retention = rq_retention,
    .enqueue_many = fpq__rq_enqueue_many,
};
