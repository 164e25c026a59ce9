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
 * Extra keys (not RQ's): fpq:project:PROJECT and fpq:pipeline:NAME:PROJECT (the project's name;
 * older jobs: its directory), zsets of job ids by
 * creation time, which find reads newest first; ids whose hash expired are pruned when
 * met, and a bounded sweep in maintenance prunes the rest. */
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

/* An idle take with tracking armed looks at the queues again after this long even when
 * no notification came: a safety net only (due times are tracked, writes notified). */
#define SAFETY_POLL 2.0
#define SWEEP_EVERY 60.0
#define MAX_QUEUES 16

/* ---- requests ---- */

static int ready(rq_backend *r) {
  char err[256];
  int rc = fpq__rq_link_open(&r->link, &r->t, err, sizeof err);
  return rc ? fpq_backend_fail(&r->base, rc, "%s", err) : 0;
}

static int io_fail(rq_backend *r, const char *doing) {
  const char *why = r->link.c && r->link.c->errstr[0] ? r->link.c->errstr : "connection closed";
  fpq_backend_fail(&r->base, FPQ_EUNAVAIL, "lost the connection to Redis at %s while %s: %s",
                   r->t.display, doing, why);
  fpq__rq_link_lost(&r->link);
  return FPQ_EUNAVAIL;
}

/* An error reply becomes the handle's error; returns its code. Frees the reply. */
static int error_reply(rq_backend *r, redisReply *reply, const char *doing) {
  int rc = fpq_backend_fail(&r->base, fpq__rq_error_code(reply->str), "Redis at %s, %s: %.180s",
                            r->t.display, doing, reply->str);
  freeReplyObject(reply);
  return rc;
}

/* Runs a script. Returns the reply (caller frees) or NULL with *rc and the handle's error
 * set. Idempotent (read-only) scripts are retried once on a fresh connection when the
 * connection broke under them. */
static redisReply *eval(rq_backend *r, fpq__rq_script s, int argc, const char *const *argv,
                        const size_t *lens, int idempotent, int *rc) {
  for (int attempt = 0;; attempt++) {
    if ((*rc = ready(r))) return NULL;
    redisReply *reply = fpq__rq_eval(r->link.c, &r->shas, s, argc, argv, lens);
    if (reply == NULL) {
      *rc = io_fail(r, fpq__rq_script_name(s));
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

/* A batch of commands sent in one write and read back in order (one round trip). */
typedef struct batch {
  int n;
  int argc[64];
  const char *argv[64][24];
  size_t lens[64][24];
} batch;

static void add(batch *bt, int argc, const char *const *argv, const size_t *lens) {
  assert(bt->n < 64 && argc <= 24);
  for (int i = 0; i < argc; i++) {
    bt->argv[bt->n][i] = argv[i];
    bt->lens[bt->n][i] = lens ? lens[i] : strlen(argv[i]);
  }
  bt->argc[bt->n++] = argc;
}

/* Sends the batch; fills replies[0..n) (caller frees each) or returns an error with all
 * freed. Read-only batches are retried once on a fresh connection. */
static int run_batch(rq_backend *r, batch *bt, redisReply **replies, const char *doing,
                     int idempotent) {
  for (int attempt = 0;; attempt++) {
    int rc = ready(r);
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
        rc = fpq_backend_fail(&r->base, fpq__rq_error_code(replies[i]->str),
                              "Redis at %s, %s: %.180s", r->t.display, doing, replies[i]->str);
        for (int j = 0; j < bt->n; j++) freeReplyObject(replies[j]);
        return rc;
      }
    }
    return 0;
  broken:
    for (int i = 0; i < got; i++) freeReplyObject(replies[i]);
    rc = io_fail(r, doing);
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
  return ready(r);
}

static void rq_close(fpq_backend *b) {
  rq_backend *r = as_rq(b);
  fpq__rq_link_close(&r->link);
  fpq__rq_watch_close(&r->watch);
  fpq__rq_sub_close(&r->sub);
}

/* ---- helpers ---- */

static char *key_of(const char *prefix, const char *a, const char *b) {
  size_t n = strlen(prefix) + strlen(a) + (b ? strlen(b) + 1 : 0) + 1;
  char *k = fpq__malloc(n);
  if (k) snprintf(k, n, "%s%s%s%s", prefix, a, b ? ":" : "", b ? b : "");
  return k;
}

/* Find indexes: fpq:project:PROJECT and fpq:pipeline:NAME:PROJECT (a pipeline name has no ':',
 * so the two never collide whatever the directory holds). */
static char *project_index(const char *project) { return key_of("fpq:project:", project, NULL); }
static char *pipeline_index(const char *project, const char *pipeline) {
  return key_of("fpq:pipeline:", pipeline, project);
}

static int exec_id(char out[33]) {
  unsigned char b[16];
  if (fpq__random(b, sizeof b)) return FPQ_EIO;
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
  return 0;
}


/* ---- producer side ---- */

/* Whole seconds for RQ's integer fields (timeout, result_ttl). */
static long long whole(double s) { return (long long)ceil(s); }

/* A resolved retention in RQ's form: -1 forever, 0 none, else whole seconds. */
static long long rq_ttl(double ttl) { return ttl < 0 ? -1 : whole(ttl); }


/* RQ stores a callback as one dotted path (rq.utils.import_attribute resolves
 * "package.module.function" and attributes below it), so our "module:function" is written
 * with the ':' as a '.'; read back, the dotted form is a valid reference of its own. ""
 * for none, as RQ writes it. ref is at most FPQ_CALLBACK_MAX (fpq_job_validate). */
static const char *rq_callback_name(const char *ref, char buf[FPQ_CALLBACK_MAX + 1]) {
  snprintf(buf, FPQ_CALLBACK_MAX + 1, "%s", ref ? ref : "");
  char *colon = strchr(buf, ':');
  if (colon) *colon = '.';
  return buf;
}

/* The enqueue script's arguments for one job: single and batch enqueue send the very
 * same bytes, so a batch writes RQ's records exactly as one enqueue does. argv points
 * into the struct itself: build it where it stays (the caller's stack) and free it with
 * enqueue_args_free. */
typedef struct enqueue_args {
  int n;
  const char *argv[80];
  size_t lens[80];
  unsigned char *data;
  char *pidx, *lidx;
  json_t *parents;
  char created[FPQ_TIME_TEXT_MAX], enqueued[FPQ_TIME_TEXT_MAX], score[40], run_at[40],
      timeout[32], retries[16], max_retries[16], delay[40], jitter[40], ttl[32], fttl[32],
      exact_timeout[40], intervals[2048];
  char on_success[FPQ_CALLBACK_MAX + 1], on_failure[FPQ_CALLBACK_MAX + 1],
      on_stopped[FPQ_CALLBACK_MAX + 1]; /* RQ's dotted names (rq_callback_name) */
} enqueue_args;

static void enqueue_args_free(enqueue_args *a) {
  json_decref(a->parents);
  fpq__free(a->data);
  fpq__free(a->pidx);
  fpq__free(a->lidx);
}

/* Fills a (always to be freed with enqueue_args_free); returns 0 or an error set on b. */
static int enqueue_args_build(fpq_backend *b, const fpq_job *job, enqueue_args *a) {
  memset(a, 0, offsetof(enqueue_args, created));
  size_t data_len = 0;
  int rc = fpq__rq_data_encode(job, &a->data, &data_len);
  if (rc) return fpq_backend_fail(b, rc, "job '%s': cannot encode its data", job->id);
  a->pidx = project_index(job->project);
  a->lidx = pipeline_index(job->project, job->pipeline);
  if (a->pidx == NULL || a->lidx == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  fpq_format_time(job->created_at, a->created, sizeof a->created);
  fpq_format_time(job->status == FPQ_STATUS_QUEUED ? job->enqueued_at : 0, a->enqueued,
                  sizeof a->enqueued);
  snprintf(a->score, sizeof a->score, "%.6f", job->created_at);
  snprintf(a->run_at, sizeof a->run_at, "%.6f", job->run_at);
  /* RQ's timeout is whole seconds and -1 means none; ours 0 means the worker's default,
   * which for a Python rq worker is best said as "none" rather than rq's 180 s. */
  snprintf(a->timeout, sizeof a->timeout, "%lld", job->timeout > 0 ? whole(job->timeout) : -1LL);
  int max = job->max_retries > 0 ? job->max_retries : 0;
  snprintf(a->retries, sizeof a->retries, "%d", max);
  snprintf(a->max_retries, sizeof a->max_retries, "%d", max);
  snprintf(a->delay, sizeof a->delay, "%.17g", job->retry_delay > 0 ? job->retry_delay : 0);
  snprintf(a->jitter, sizeof a->jitter, "%.17g", job->jitter_factor > 0 ? job->jitter_factor : 0);
  /* RQ's retention fields, whole seconds, -1 forever, 0 none: a Python rq worker that
   * runs the job keeps it as we would. The core resolved the defaults. */
  snprintf(a->ttl, sizeof a->ttl, "%lld", rq_ttl(job->result_ttl));
  snprintf(a->fttl, sizeof a->fttl, "%lld", rq_ttl(job->failure_ttl));
  snprintf(a->exact_timeout, sizeof a->exact_timeout, "%.17g", job->timeout);
  /* RQ's Retry(max, interval=[...]): retry k waits intervals[k-1], which is our backoff
   * without jitter (retry_delay * 2^(k-1)), so a Python worker retries our jobs alike. */
  size_t o = 0;
  char *intervals = a->intervals;
  const size_t isize = sizeof a->intervals;
  intervals[0] = '\0';
  if (job->retry_delay > 0 && max > 0) {
    o += (size_t)snprintf(intervals, isize, "[");
    for (int k = 0; k < max && k < 64 && o < isize - 40; k++)
      o += (size_t)snprintf(intervals + o, isize - o, "%s%.6g", k ? ", " : "",
                            fmin(job->retry_delay * pow(2, k), 1e12));
    snprintf(intervals + o, isize - o, "]");
  }
  const char *status = fpq_status_name(job->status);
  int n = 0;
  const char **argv = a->argv;
  size_t *lens = a->lens;
#define ARG(v) (argv[n] = (v), lens[n] = strlen(argv[n]), n++)
#define FIELD(k, v) (ARG(k), ARG(v))
  ARG(job->id);
  ARG(job->queue);
  ARG(status);
  ARG(a->run_at);
  ARG(a->score);
  ARG(a->pidx);
  ARG(a->lidx);
  FIELD("status", status);
  FIELD("created_at", a->created);
  ARG("data");
  argv[n] = (const char *)a->data, lens[n] = data_len, n++;
  FIELD("origin", job->queue);
  FIELD("description", job->description ? job->description : "");
  FIELD("enqueued_at", a->enqueued);
  FIELD("timeout", a->timeout);
  FIELD("success_callback_name", rq_callback_name(job->on_success, a->on_success));
  FIELD("failure_callback_name", rq_callback_name(job->on_failure, a->on_failure));
  FIELD("stopped_callback_name", rq_callback_name(job->on_stopped, a->on_stopped));
  FIELD("started_at", "");
  FIELD("ended_at", "");
  FIELD("last_heartbeat", "");
  FIELD("worker_name", "");
  FIELD("group_id", "");
  FIELD("retries_left", a->retries);
  if (intervals[0]) FIELD("retry_intervals", intervals);
  if (job->result_ttl != FPQ_TTL_DEFAULT) FIELD("result_ttl", a->ttl);
  if (job->failure_ttl != FPQ_TTL_DEFAULT) FIELD("failure_ttl", a->fttl);
  FIELD("fpq_attempts", "0");
  FIELD("fpq_max_retries", a->max_retries);
  FIELD("fpq_retry_delay", a->delay);
  FIELD("fpq_jitter", a->jitter);
  if (job->timeout > 0 && job->timeout != floor(job->timeout))
    FIELD("fpq_timeout", a->exact_timeout);
  if (job->status == FPQ_STATUS_SCHEDULED) FIELD("fpq_run_at", a->run_at);
  /* RQ's depends_on: the list, and its first id alone as older RQ reads it. */
  a->parents = job->depends_on ? json_loads(job->depends_on, 0, NULL) : NULL;
  const char *first = json_string_value(json_array_get(a->parents, 0));
  if (first) {
    FIELD("dependency_ids", job->depends_on);
    FIELD("dependency_id", first);
  }
#undef FIELD
#undef ARG
  a->n = n;
  return 0;
}

static int rq_enqueue(fpq_backend *b, const fpq_job *job) {
  rq_backend *r = as_rq(b);
  enqueue_args a;
  int rc = enqueue_args_build(b, job, &a);
  redisReply *reply = rc ? NULL : eval(r, FPQ_RQ_ENQUEUE, a.n, a.argv, a.lens, 0, &rc);
  if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
    rc = fpq_backend_fail(b, FPQ_EEXIST, "job id '%s' is already taken", job->id);
  if (reply) freeReplyObject(reply);
  enqueue_args_free(&a);
  return rc;
}

/* Commands written before their replies are read: enough to hide the round trip, few
 * enough that hiredis's output buffer stays a few megabytes whatever the batch size. */
#define ENQUEUE_PIPELINE 512

/* Pipelines `EXISTS rq:job:ID` over the batch: an id already stored refuses the whole
 * batch before anything is written (the enqueue script would refuse that job alone). */
static int ids_free(rq_backend *r, const fpq_job *const *jobs, size_t n, size_t *failed) {
  for (size_t start = 0; start < n; start += ENQUEUE_PIPELINE) {
    size_t end = start + ENQUEUE_PIPELINE < n ? start + ENQUEUE_PIPELINE : n;
    for (size_t i = start; i < end; i++)
      if (redisAppendCommand(r->link.c, "EXISTS rq:job:%s", jobs[i]->id) != REDIS_OK)
        return io_fail(r, "checking the batch's ids");
    size_t taken = n;
    for (size_t i = start; i < end; i++) {
      redisReply *reply = NULL;
      if (fpq__rq_get_reply(r->link.c, (void **)&reply) != REDIS_OK || reply == NULL)
        return io_fail(r, "checking the batch's ids");
      if (reply->type == REDIS_REPLY_ERROR && taken == n) {
        *failed = n;
        int rc = fpq_backend_fail(&r->base, fpq__rq_error_code(reply->str),
                                  "Redis at %s, checking the batch's ids: %.180s",
                                  r->t.display, reply->str);
        freeReplyObject(reply);
        /* The rest of this chunk's replies are read and dropped so the link stays usable. */
        for (size_t k = i + 1; k < end; k++) {
          if (fpq__rq_get_reply(r->link.c, (void **)&reply) != REDIS_OK || reply == NULL)
            return io_fail(r, "checking the batch's ids");
          freeReplyObject(reply);
        }
        return rc;
      }
      if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1 && taken == n) taken = i;
      freeReplyObject(reply);
    }
    if (taken < n) {
      *failed = taken;
      return fpq_backend_fail(&r->base, FPQ_EEXIST,
                              "job id '%s' is already taken: nothing of the batch was stored",
                              jobs[taken]->id);
    }
  }
  return 0;
}

/* The connection failed half way through a batch: say what is known to be stored. */
static int partly_stored(rq_backend *r, size_t stored, size_t n, size_t at) {
  int rc = io_fail(r, "enqueueing a batch");
  char why[sizeof r->base.errstr];
  snprintf(why, sizeof why, "%s", r->base.errstr);
  return fpq_backend_fail(&r->base, rc, "%.200s; %zu of the batch's %zu jobs were stored "
                          "before jobs[%zu], it and later ones may have been", why, stored,
                          n, at);
}

/* Jobs per call of the enqueue_many script: enough that Redis's per-call cost of a script
 * is small per job, few enough that one call holds Redis for a few milliseconds only. */
#define ENQUEUE_CHUNK 256

/* One call of the enqueue_many script being built: its argv points into args. */
typedef struct enqueue_chunk {
  size_t first, count;
  enqueue_args args[ENQUEUE_CHUNK];
  char counts[ENQUEUE_CHUNK][8];
  char k[16];
  const char *argv[4 + ENQUEUE_CHUNK * 81];
  size_t lens[4 + ENQUEUE_CHUNK * 81];
  int argc;
} enqueue_chunk;

static void chunk_free(enqueue_chunk *c) {
  for (size_t i = 0; i < c->count; i++) enqueue_args_free(&c->args[i]);
  c->count = 0;
}

/* Builds the script call for jobs[first .. first + count) and appends it to the link's
 * output (sent with the next read). Returns 0, or an error with *bad the job at fault. */
static int chunk_send(rq_backend *r, enqueue_chunk *c, const char *sha,
                      const fpq_job *const *jobs, size_t first, size_t count, size_t *bad) {
  c->first = first;
  c->count = 0;
  c->argc = 0;
#define PUT(v, l) (c->argv[c->argc] = (v), c->lens[c->argc] = (l), c->argc++)
  PUT("EVALSHA", 7);
  PUT(sha, 40);
  PUT("0", 1);
  snprintf(c->k, sizeof c->k, "%zu", count);
  PUT(c->k, strlen(c->k));
  for (size_t i = 0; i < count; i++) {
    enqueue_args *a = &c->args[i];
    int rc = enqueue_args_build(&r->base, jobs[first + i], a);
    c->count++;
    if (rc) {
      *bad = first + i;
      chunk_free(c);
      return rc;
    }
    snprintf(c->counts[i], sizeof c->counts[i], "%d", a->n);
    PUT(c->counts[i], strlen(c->counts[i]));
    for (int k = 0; k < a->n; k++) PUT(a->argv[k], a->lens[k]);
  }
#undef PUT
  int appended = redisAppendCommandArgv(r->link.c, c->argc, c->argv, c->lens);
  chunk_free(c);
  return appended == REDIS_OK ? 0 : io_fail(r, "enqueueing a batch");
}

/* Batch enqueue: the ids are checked first (pipelined EXISTS), then the enqueue_many
 * script stores ENQUEUE_CHUNK jobs per call, each call all or nothing, with one call in
 * flight while the next is built. Redis has no transaction that could refuse half way
 * through the whole batch: only another writer taking an id between the check and the
 * write, or the connection failing, can leave part of a batch stored, and the message
 * then says how much. */
static int rq_enqueue_many(fpq_backend *b, const fpq_job *const *jobs, size_t n,
                           size_t *failed) {
  rq_backend *r = as_rq(b);
  int rc = ready(r);
  if (rc) return rc;
  if ((rc = ids_free(r, jobs, n, failed))) return rc;
  const char *sha = fpq__rq_script_sha(r->link.c, &r->shas, FPQ_RQ_ENQUEUE_MANY);
  if (sha == NULL) {
    if (r->link.c->err) return io_fail(r, "loading the enqueue script");
    return fpq_backend_fail(b, FPQ_EBACKEND, "Redis at %s refused to load the enqueue script "
                            "(SCRIPT LOAD)", r->t.display);
  }
  enqueue_chunk *c = fpq__malloc(sizeof *c);
  if (c == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  size_t stored = 0, bad = n, next = 0, sent = 0, read = 0;
  size_t starts[2] = {0, 0}, counts[2] = {0, 0}; /* the calls in flight, oldest first */
  char why[300] = "";
  rc = 0;
  for (;;) {
    /* Up to two calls in flight: reading the older one's reply sends the newer, which
     * Redis runs while the next is built here. Nothing more is sent after a refusal. */
    while (next < n && rc == 0 && bad == n && sent - read < 2) {
      size_t count = n - next < ENQUEUE_CHUNK ? n - next : ENQUEUE_CHUNK;
      rc = chunk_send(r, c, sha, jobs, next, count, &bad);
      if (rc == FPQ_EUNAVAIL) {
        fpq__free(c);
        *failed = next;
        return partly_stored(r, stored, n, next);
      }
      if (rc) {
        snprintf(why, sizeof why, "%.200s", b->errstr);
        break;
      }
      starts[sent % 2] = next;
      counts[sent % 2] = count;
      sent++;
      next += count;
    }
    if (read == sent) break;
    redisReply *reply = NULL;
    size_t at = starts[read % 2], count = counts[read % 2];
    if (fpq__rq_get_reply(r->link.c, (void **)&reply) != REDIS_OK || reply == NULL) {
      fpq__free(c);
      *failed = at;
      return partly_stored(r, stored, n, at);
    }
    read++;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
      stored += count;
    } else if (bad == n) {
      if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 1 &&
          (size_t)reply->integer <= count) {
        bad = at + (size_t)reply->integer - 1;
        rc = FPQ_EEXIST;
        snprintf(why, sizeof why, "job id '%s' is already taken", jobs[bad]->id);
      } else {
        bad = at;
        rc = reply->type == REDIS_REPLY_ERROR ? fpq__rq_error_code(reply->str) : FPQ_EBACKEND;
        /* NOSCRIPT: the server forgot the script mid-batch (SCRIPT FLUSH): the sha is
         * dropped so the next call loads it again. */
        if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0)
          r->shas.sha[FPQ_RQ_ENQUEUE_MANY][0] = '\0';
        snprintf(why, sizeof why, "Redis at %.80s, enqueue_many: %.180s", r->t.display,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "an unexpected reply");
      }
    }
    freeReplyObject(reply);
  }
  fpq__free(c);
  if (bad == n && rc == 0) return 0;
  *failed = bad;
  return fpq_backend_fail(b, rc ? rc : FPQ_EBACKEND, "%.200s (%zu other jobs of the batch "
                          "were stored)", why, stored);
}

/* Reads jobs by id: HGETALL + the newest result entry per job, all in one round trip.
 * jobs[i] is NULL for an id whose hash is gone. */
/* A job Python rq scheduled (enqueue_at, or its Retry with an interval) has no
 * fpq_run_at: its due time is its score in rq:scheduled:Q. One more round trip, only for
 * such jobs. Best effort: the time stays unset if it cannot be read. */
static void read_rq_due_times(rq_backend *r, fpq_job **jobs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    fpq_job *job = jobs[i];
    if (job == NULL || job->status != FPQ_STATUS_SCHEDULED || job->run_at > 0) continue;
    char *key = key_of("rq:scheduled:", job->queue ? job->queue : "default", NULL);
    batch bt = {0};
    const char *z[] = {"ZSCORE", key ? key : "", job->id};
    add(&bt, 3, z, NULL);
    redisReply *score = NULL;
    if (run_batch(r, &bt, &score, "reading a due time", 1) == 0) {
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
      keys[2 * i] = key_of("rq:job:", ids[start + i], NULL);
      keys[2 * i + 1] = key_of("rq:results:", ids[start + i], NULL);
      const char *h[] = {"HGETALL", keys[2 * i] ? keys[2 * i] : ""};
      const char *x[] = {"XREVRANGE", keys[2 * i + 1] ? keys[2 * i + 1] : "", "+", "-",
                         "COUNT", "1"};
      const char *l[] = {"XLEN", keys[2 * i + 1] ? keys[2 * i + 1] : ""};
      add(bt, 2, h, NULL);
      add(bt, 6, x, NULL);
      add(bt, 2, l, NULL);
    }
    rc = run_batch(r, bt, replies, "reading jobs", 1);
    int sent = rc == 0;
    for (size_t i = 0; i < m && rc == 0; i++) {
      int one = fpq__rq_job_from_reply(ids[start + i], replies[3 * i], replies[3 * i + 1],
                                       &jobs[start + i]);
      if (one == FPQ_ENOMEM) rc = fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
      /* A job only Python rq ran has no fpq_attempts: each of its runs left one result
       * entry (success, failure, stop or retry; RQ keeps about the last 10), and a
       * running one has none yet. */
      fpq_job *job = jobs[start + i];
      const redisReply *len = replies[3 * i + 2];
      if (job && len->type == REDIS_REPLY_INTEGER &&
          fpq__rq_hash_field(replies[3 * i], "fpq_attempts") == NULL) {
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

static int rq_find(fpq_backend *b, const char *project, const char *pipeline, int limit,
                   fpq_job ***out, size_t *n) {
  rq_backend *r = as_rq(b);
  char *index = pipeline ? pipeline_index(project, pipeline) : project_index(project);
  fpq_job **found = fpq__calloc((size_t)limit, sizeof *found);
  if (index == NULL || found == NULL) {
    fpq__free(index);
    fpq__free(found);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  size_t got = 0;
  long offset = 0;
  int rc = 0;
  while ((int)got < limit && rc == 0) {
    long want = limit - (long)got;
    char from[24], to[24];
    snprintf(from, sizeof from, "%ld", offset);
    snprintf(to, sizeof to, "%ld", offset + want - 1);
    batch bt = {0};
    const char *range[] = {"ZREVRANGE", index, from, to};
    add(&bt, 4, range, NULL);
    redisReply *ids = NULL;
    if ((rc = run_batch(r, &bt, &ids, "finding jobs", 1))) break;
    size_t m = ids->elements;
    const char **idv = fpq__calloc(m ? m : 1, sizeof *idv);
    const char **zrem = fpq__calloc(m + 2, sizeof *zrem); /* ZREM index id... */
    fpq_job **jobs = fpq__calloc(m ? m : 1, sizeof *jobs);
    if (idv == NULL || zrem == NULL || jobs == NULL)
      rc = fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < m && rc == 0; i++) idv[i] = ids->element[i]->str;
    if (rc == 0) rc = read_jobs(r, idv, m, jobs);
    int expired = 0;
    for (size_t i = 0; i < m && rc == 0; i++) {
      if (jobs[i]) {
        found[got++] = jobs[i];
        jobs[i] = NULL;
      } else { /* the job's hash expired: pruned from the index below */
        zrem[2 + expired++] = idv[i];
        offset--;
      }
    }
    if (expired && r->link.c) { /* one round trip for the page's expired ids */
      zrem[0] = "ZREM";
      zrem[1] = index;
      redisReply *gone = fpq__rq_command(r->link.c, 2 + expired, zrem, NULL);
      if (gone) freeReplyObject(gone);
    }
    fpq__free(zrem);
    for (size_t i = 0; i < m; i++) fpq_job_free(jobs[i]);
    fpq__free(jobs);
    fpq__free(idv);
    freeReplyObject(ids);
    offset += (long)m;
    if ((long)m < want) break;
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

/* ---- worker side: take, extend, finish ---- */

/* Fails a job this worker just took whose data we will not run (a pickle, other bytes):
 * failed at once, never retried, with the reason as its error. */
static int fail_unsupported(rq_backend *r, const char *id, const char *worker, const char *why);

/* A job another client (Python rq) enqueued is in no find index: add it when it is
 * first taken, so project.result(pipeline) finds it from then on. Best effort. */
static void index_foreign(rq_backend *r, const fpq_job *job) {
  if (job->project == NULL || job->pipeline == NULL || r->link.c == NULL) return;
  char *pidx = project_index(job->project), *lidx = pipeline_index(job->project, job->pipeline);
  char score[40];
  snprintf(score, sizeof score, "%.6f", job->created_at);
  if (pidx && lidx) {
    batch bt = {0};
    const char *a[] = {"ZADD", pidx, score, job->id};
    const char *b[] = {"ZADD", lidx, score, job->id};
    const char *c[] = {"SADD", "fpq:indexes", pidx, lidx};
    add(&bt, 4, a, NULL);
    add(&bt, 4, b, NULL);
    add(&bt, 4, c, NULL);
    redisReply *replies[3];
    if (run_batch(r, &bt, replies, "indexing a job", 0) == 0)
      for (int i = 0; i < 3; i++) freeReplyObject(replies[i]);
    r->base.err = 0;
    r->base.errstr[0] = '\0';
  }
  fpq__free(pidx);
  fpq__free(lidx);
}

/* One run of the take script. Returns 0 with *out, FPQ_EEMPTY (with *due, the earliest
 * scheduled time of these queues, or 0), 1 to run again at once, or an error. */
static int take_once(rq_backend *r, const fpq_take_args *a, double now, fpq_job **out,
                     double *due) {
  char now_s[40], now_text[FPQ_TIME_TEXT_MAX], score[32], ttl[32], nq[8], ex[33];
  snprintf(now_s, sizeof now_s, "%.6f", now);
  fpq_format_time(now, now_text, sizeof now_text);
  /* Whole seconds rounded up: RQ's cleanup compares against an integer now, and a lease
   * must never end before the time we promised. */
  snprintf(score, sizeof score, "%lld", (long long)ceil(now + a->lease_seconds));
  snprintf(ttl, sizeof ttl, "%lld", (long long)fmax(1, ceil(a->lease_seconds)));
  size_t nqueues = a->nqueues < MAX_QUEUES ? a->nqueues : MAX_QUEUES;
  snprintf(nq, sizeof nq, "%zu", nqueues);
  /* The core's fencing token when it gives one (hex, as RQ's uuid4().hex), else ours. */
  if (a->execution && *a->execution && strlen(a->execution) < sizeof ex &&
      strspn(a->execution, "0123456789abcdef") == strlen(a->execution))
    snprintf(ex, sizeof ex, "%s", a->execution);
  else if (exec_id(ex))
    return fpq_backend_fail(&r->base, FPQ_EIO, "cannot make an execution id: %s",
                            FPQ__RANDOM_FAILED);
  const char *argv[7 + MAX_QUEUES] = {now_s, now_text, score, ttl, a->worker, ex, nq};
  for (size_t i = 0; i < nqueues; i++) argv[7 + i] = a->queues[i];
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_TAKE, 7 + (int)nqueues, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  long long what = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
                       ? int_of(reply->element[0]) : -1;
  *due = 0;
  if (what == 1 && reply->elements == 4) {
    const char *id = reply->element[2]->str;
    const redisReply *hash = reply->element[3];
    rc = fpq__rq_job_from_reply(id, hash, NULL, out);
    char why[256] = "", idmsg[200];
    int bad = 0;
    if (*out == NULL || (*out)->func == NULL) { /* data did not decode: decode again for why */
      const redisReply *data = fpq__rq_hash_field(hash, "data");
      fpq_job *probe = fpq_job_new();
      bad = probe && data ? fpq__rq_data_decode(data->str, data->len, probe, why, sizeof why)
                          : FPQ_ENOMEM;
      fpq_job_free(probe);
    }
    /* Another client may push any string: an id we cannot carry (too long, or characters
     * outside [A-Za-z0-9_-]) is failed with the reason, not run under a cut-down id. */
    if (rc == 0 && fpq_validate_id(id, idmsg, sizeof idmsg)) {
      bad = FPQ_EFORMAT;
      snprintf(why, sizeof why, "not a valid job id: %s", idmsg);
    }
    const redisReply *odd = fpq__rq_hash_field(hash, "fpq_bad_status");
    if (rc == 0 && bad == 0 && odd) {
      char q[80];
      fpq__quote(odd->str, q, sizeof q);
      bad = FPQ_EFORMAT;
      snprintf(why, sizeof why, "status '%s' is not one RQ writes: not run", q);
    }
    if (rc == 0 && bad == 0 && fpq__rq_hash_field(hash, "fpq_max_retries") == NULL)
      index_foreign(r, *out);
    if (rc == 0 && bad == FPQ_EFORMAT) {
      fpq_job_free(*out);
      *out = NULL;
      rc = fail_unsupported(r, id, a->worker, why);
      if (rc == 0) rc = 1;
    } else if (rc) {
      rc = fpq_backend_fail(&r->base, rc, "job '%s': cannot read its hash", id);
    }
  } else if (what == 2) {
    rc = 1;
  } else if (what == 0) {
    if (reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING &&
        reply->element[1]->len)
      *due = strtod(reply->element[1]->str, NULL);
    rc = FPQ_EEMPTY;
  } else {
    rc = fpq_backend_fail(&r->base, FPQ_EBACKEND, "the take script answered unexpectedly");
  }
  freeReplyObject(reply);
  return rc;
}

static void queue_key(const fpq_take_args *a, char *buf, size_t len) {
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < a->nqueues && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s\n", a->queues[i]);
}

static int still_idle(rq_backend *r, const fpq_take_args *a, double now) {
  char key[sizeof r->idle_queues];
  if (!r->idle_valid || r->watch.epoch != r->idle_epoch ||
      fpq__monotonic() - r->idle_at >= SAFETY_POLL || (r->idle_due > 0 && now >= r->idle_due))
    return 0;
  queue_key(a, key, sizeof key);
  return strcmp(key, r->idle_queues) == 0;
}

static int rq_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out) {
  rq_backend *r = as_rq(b);
  const double start = fpq__monotonic();
  double pause = 0.002; /* polling fallback: 2 ms growing to 50 ms */
  int woken = 0;
  for (;;) {
    double now = a->now + (fpq__monotonic() - start);
    /* Drain before looking: a write after the look then always wakes the wait below,
     * and one before it is seen by the look itself. No wake-up can fall in between. */
    int armed = a->wait_seconds > 0 && fpq__rq_watch_arm(&r->watch, &r->t);
    int changed = armed ? fpq__rq_watch_drain(&r->watch) | woken : 1;
    armed = armed && r->watch.armed;
    woken = 0;
    if (changed || !armed || !still_idle(r, a, now)) {
      double due = 0;
      int rc = take_once(r, a, now, out, &due);
      if (rc == 1) continue;
      r->idle_valid = 0;
      if (rc != FPQ_EEMPTY) return rc;
      if (armed) {
        r->idle_valid = 1;
        r->idle_epoch = r->watch.epoch;
        r->idle_at = fpq__monotonic();
        r->idle_due = due;
        queue_key(a, r->idle_queues, sizeof r->idle_queues);
      }
    }
    double left = a->wait_seconds - (fpq__monotonic() - start);
    if (left <= 0) return FPQ_EEMPTY;
    double nap = fmin(left, SAFETY_POLL);
    if (r->idle_valid && r->idle_due > 0) nap = fmin(nap, fmax(r->idle_due - fpq__now(), 0.001));
    if (armed) {
      int got = fpq__rq_watch_wait(&r->watch, nap);
      woken = got != 0;
      if (got >= 0) continue;
    }
    fpq__sleep(fmin(nap, pause));
    pause = fmin(pause * 1.5, 0.05);
  }
}

static int rq_extend_execution(fpq_backend *b, const char *id, const char *worker,
                               const char *execution, double until) {
  rq_backend *r = as_rq(b);
  double now = fpq__now();
  char score[32], ttl[32], now_s[40], now_text[FPQ_TIME_TEXT_MAX];
  snprintf(score, sizeof score, "%lld", (long long)ceil(until));
  snprintf(ttl, sizeof ttl, "%lld", (long long)fmax(1, ceil(until - now)));
  snprintf(now_s, sizeof now_s, "%.6f", now);
  fpq_format_time(now, now_text, sizeof now_text);
  const char *argv[] = {id, worker, score, ttl, now_s, now_text, execution ? execution : ""};
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_EXTEND, 7, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  long long held = int_of(reply);
  freeReplyObject(reply);
  if (!held) return fpq__not_held(b, id, worker, execution);
  return 0;
}

static int rq_extend(fpq_backend *b, const char *id, const char *worker, double until) {
  return rq_extend_execution(b, id, worker, NULL, until);
}

/* Runs the finish script for one outcome. */
static int finish(rq_backend *r, const fpq_finish_args *a) {
  char now_s[40], now_text[FPQ_TIME_TEXT_MAX], ttl[32], run_at[40], duration[40];
  snprintf(now_s, sizeof now_s, "%.6f", a->now);
  fpq_format_time(a->now, now_text, sizeof now_text);
  /* The retention of the record this outcome leaves: result_ttl for a result,
   * failure_ttl for a failure (a retry leaves none yet). */
  snprintf(ttl, sizeof ttl, "%lld",
           rq_ttl(a->status == FPQ_STATUS_FINISHED ? a->result_ttl : a->failure_ttl));
  snprintf(run_at, sizeof run_at, "%.6f", a->run_at);
  snprintf(duration, sizeof duration, "%.6f", a->duration);
  char *exc = NULL, *ret = NULL;
  int has_return = a->status == FPQ_STATUS_FINISHED && a->result_json &&
                   strcmp(a->result_json, "null") != 0;
  if (has_return && fpq__rq_b64_encode(a->result_json, strlen(a->result_json), &ret, NULL))
    return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  if (a->status == FPQ_STATUS_FAILED || a->status == FPQ_STATUS_STOPPED) {
    char *text = fpq__rq_exc_text(a->error_json);
    exc = text ? fpq__rq_exc_encode(text) : NULL;
    fpq__free(text);
    if (exc == NULL) {
      fpq__free(ret);
      return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
    }
  }
  char started[40];
  snprintf(started, sizeof started, "%.6f", a->started_at);
  const char *argv[] = {a->id, a->worker, fpq_status_name(a->status), now_s, now_text, ttl,
                        run_at, a->uncount_attempt ? "1" : "0",
                        a->error_json ? a->error_json : "", exc ? exc : "",
                        has_return ? "1" : "0", ret ? ret : "", duration,
                        a->pipeline ? a->pipeline : "", started,
                        a->execution ? a->execution : "", a->log ? a->log : ""};
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_FINISH, 17, argv, NULL, 0, &rc);
  fpq__free(exc);
  fpq__free(ret);
  if (reply == NULL) return rc;
  long long held = int_of(reply);
  freeReplyObject(reply);
  if (!held) return fpq__not_held(&r->base, a->id, a->worker, a->execution);
  return 0;
}

static int rq_finish(fpq_backend *b, const fpq_finish_args *a) { return finish(as_rq(b), a); }

static int fail_unsupported(rq_backend *r, const char *id, const char *worker, const char *why) {
  char *error = fpq__error_json("UnsupportedPayload", why);
  fpq_finish_args a = {.id = id, .worker = worker, .status = FPQ_STATUS_FAILED,
                       .error_json = error ? error : "{\"type\": \"UnsupportedPayload\"}",
                       .now = fpq__now(), .failure_ttl = FPQ_TTL_DEFAULT_SECONDS};
  int rc = finish(r, &a);
  free(error);
  return rc == FPQ_ELEASE ? 0 : rc;
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

static void channel_of(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "rq:pubsub:%s", name);
}

/* Our address as Redis sees it (RQ's ip_address, from CLIENT LIST in Python). */
static void learn_ip(rq_backend *r) {
  if (r->ip_known) return;
  r->ip_known = 1;
  const char *info[] = {"CLIENT", "INFO"};
  redisReply *reply = fpq__rq_command(r->link.c, 2, info, NULL);
  if (reply && reply->type == REDIS_REPLY_STRING) {
    const char *addr = strstr(reply->str, "addr=");
    if (addr) snprintf(r->ip, sizeof r->ip, "%.*s", (int)strcspn(addr + 5, " \n"), addr + 5);
  }
  if (reply) freeReplyObject(reply);
}

static int rq_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now) {
  rq_backend *r = as_rq(b);
  int rc = ready(r);
  if (rc) return rc;
  learn_ip(r);
  char *key = key_of("rq:worker:", w->name, NULL);
  if (key == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  char birth[FPQ_TIME_TEXT_MAX], beat[FPQ_TIME_TEXT_MAX], pid[16], ok[24], failed[24], busy[40],
      expire[24], version[64];
  fpq_format_time(w->birth > 0 ? w->birth : now, birth, sizeof birth);
  fpq_format_time(now, beat, sizeof beat);
  snprintf(pid, sizeof pid, "%d", w->pid);
  snprintf(ok, sizeof ok, "%lld", (long long)w->successful);
  snprintf(failed, sizeof failed, "%lld", (long long)w->failed);
  snprintf(busy, sizeof busy, "%.6f", w->busy_seconds);
  snprintf(expire, sizeof expire, "%lld", (long long)fmax(1, ceil(ttl)));
  snprintf(version, sizeof version, "fpq-%s", fpq_version());
  batch *bt = fpq__calloc(1, sizeof *bt);
  char queues[sizeof w->queues];
  char *qkeys[MAX_QUEUES] = {0};
  size_t nq = 0;
  if (bt == NULL) {
    fpq__free(key);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  const char *multi[] = {"MULTI"};
  add(bt, 1, multi, NULL);
  const char *hset[] = {"HSET", key, "birth", birth, "last_heartbeat", beat, "queues", w->queues,
                        "pid", pid, "hostname", w->hostname, "ip_address", r->ip, "version",
                        version, "python_version", "fpq", "state", w->state,
                        "successful_job_count", ok, "failed_job_count", failed,
                        "total_working_time", busy, "current_job", w->current_job};
  add(bt, w->current_job[0] ? 24 : 22, hset, NULL);
  const char *hdel[] = {"HDEL", key, "death", "shutdown_requested_date", "current_job"};
  add(bt, w->current_job[0] ? 4 : 5, hdel, NULL);
  const char *exp[] = {"EXPIRE", key, expire};
  add(bt, 3, exp, NULL);
  const char *all[] = {"SADD", "rq:workers", key};
  add(bt, 3, all, NULL);
  /* rq info lists a worker only under rq:workers:QUEUE, so it must be in each. */
  snprintf(queues, sizeof queues, "%s", w->queues);
  for (char *save = NULL, *q = strtok_r(queues, ",", &save); q && nq < MAX_QUEUES;
       q = strtok_r(NULL, ",", &save)) {
    if ((qkeys[nq] = key_of("rq:workers:", q, NULL)) == NULL) continue;
    const char *per[] = {"SADD", qkeys[nq++], key};
    add(bt, 3, per, NULL);
  }
  const char *exec[] = {"EXEC"};
  add(bt, 1, exec, NULL);
  redisReply *replies[64];
  rc = run_batch(r, bt, replies, "registering the worker", 0);
  if (rc == 0)
    for (int i = 0; i < bt->n; i++) freeReplyObject(replies[i]);
  for (size_t i = 0; i < nq; i++) fpq__free(qkeys[i]);
  fpq__free(bt);
  fpq__free(key);
  if (rc) return rc;
  /* Subscribe from the first heartbeat on, so commands sent to a started worker reach
   * it; later beats re-subscribe after a reconnect. */
  char channel[160], err[256];
  channel_of(w->name, channel, sizeof channel);
  rc = fpq__rq_sub_open(&r->sub, &r->t, channel, err, sizeof err);
  return rc ? fpq_backend_fail(b, rc, "%s", err) : 0;
}

static int rq_worker_gone(fpq_backend *b, const char *name, double now) {
  rq_backend *r = as_rq(b);
  char now_text[FPQ_TIME_TEXT_MAX], channel[160];
  fpq_format_time(now, now_text, sizeof now_text);
  channel_of(name, channel, sizeof channel);
  if (strcmp(r->sub.channel, channel) == 0) {
    fpq__rq_sub_close(&r->sub);
    r->sub.channel[0] = '\0';
  }
  const char *argv[] = {name, now_text};
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_WORKER_GONE, 2, argv, NULL, 0, &rc);
  if (reply) freeReplyObject(reply);
  return reply ? 0 : rc;
}

static int rq_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n) {
  rq_backend *r = as_rq(b);
  (void)now;
  int rc;
  redisReply *reply = eval(r, FPQ_RQ_WORKERS, 0, NULL, NULL, 1, &rc);
  if (reply == NULL) return rc;
  size_t count = reply->elements / 2;
  fpq_worker_info *list = fpq__calloc(count ? count : 1, sizeof *list);
  if (list == NULL) {
    freeReplyObject(reply);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < count; i++)
    fpq__rq_worker_from_reply(reply->element[2 * i]->str, reply->element[2 * i + 1], &list[i]);
  freeReplyObject(reply);
  *out = list;
  *n = count;
  return 0;
}

static int rq_worker_command(fpq_backend *b, const char *name, const char *command) {
  rq_backend *r = as_rq(b);
  char *payload = fpq__rq_command_encode(command);
  if (payload == NULL) return fpq_backend_fail(b, FPQ_EINVAL, "unknown command '%s'", command);
  char channel[160];
  channel_of(name, channel, sizeof channel);
  batch bt = {0};
  const char *pub[] = {"PUBLISH", channel, payload};
  add(&bt, 3, pub, NULL);
  redisReply *reply = NULL;
  int rc = run_batch(r, &bt, &reply, "sending the command", 0);
  fpq__free(payload);
  if (rc) return rc;
  long long receivers = int_of(reply);
  freeReplyObject(reply);
  if (receivers == 0)
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "no live worker named '%.100s' is listening on %s",
                            name, channel);
  return 0;
}

static int rq_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len) {
  rq_backend *r = as_rq(b);
  char channel[160], err[256];
  channel_of(name, channel, sizeof channel);
  int rc = strcmp(r->sub.channel, channel) == 0
               ? fpq__rq_sub_poll(&r->sub, &r->t, err, sizeof err)
               : fpq__rq_sub_open(&r->sub, &r->t, channel, err, sizeof err);
  if (rc) return fpq_backend_fail(b, rc, "%s", err);
  for (char *payload; (payload = fpq__rq_sub_pop(&r->sub)) != NULL;) {
    int known = fpq__rq_command_decode(payload, strlen(payload), buf, len) == 0;
    fpq__free(payload);
    if (known) return 0;
  }
  return FPQ_EEMPTY;
}

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
    .enqueue = rq_enqueue,
    .get = rq_get,
    .find = rq_find,
    .cancel = rq_cancel,
    .requeue = rq_requeue,
    .counts = rq_counts,
    .take = rq_take,
    .extend = rq_extend,
    .finish = rq_finish,
    .maintain = rq_maintain,
    .worker_beat = rq_worker_beat,
    .worker_gone = rq_worker_gone,
    .workers = rq_workers,
    .worker_command = rq_worker_command,
    .worker_next_command = rq_worker_next_command,
    .schedule_put = fpq__rq_schedule_put,
    .schedule_get = fpq__rq_schedule_get,
    .schedule_list = fpq__rq_schedule_list,
    .schedule_remove = fpq__rq_schedule_remove,
    .schedule_set_paused = fpq__rq_schedule_set_paused,
    .schedule_advance = fpq__rq_schedule_advance,
    .lease_acquire = fpq__rq_lease_acquire,
    .lease_release = fpq__rq_lease_release,
    .ended_since = fpq__rq_ended_since,
    .extend_execution = rq_extend_execution,
    .prune = rq_prune,
    .retention = rq_retention,
    .enqueue_many = rq_enqueue_many,
};
