/* enqueue.c (rq): storing jobs in RQ's own format, one at a time or in batches (the
 * enqueue_many script, 256 jobs a call, one call in flight while the next is built). One
 * argument builder serves both, so a batch writes RQ's records exactly as enqueue does. */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "format.h"
#include "job.h"

/* RQ stores a callback as one dotted path (rq.utils.import_attribute resolves
 * "package.module.function" and attributes below it), so our "module:function" is written
 * with the ':' as a '.'; read back, the dotted form is a valid reference of its own. ref
 * is at most FPQ_CALLBACK_MAX (fpq_job_validate). */
static const char *rq_callback_name(const char *ref, char buf[FPQ_CALLBACK_MAX + 1]) {
  snprintf(buf, FPQ_CALLBACK_MAX + 1, "%s", ref);
  char *colon = strchr(buf, ':');
  if (colon) *colon = '.';
  return buf;
}

/* The shortest text that reads back as exactly v ("0.1", not "0.10000000000000001"). */
static void shortest_text(double v, char *out, size_t size) {
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(out, size, "%.*g", digits, v);
    if (strtod(out, NULL) == v) return;
  }
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
  char *lidx;
  json_t *parents;
  char created[FPQ_TIME_TEXT_MAX], enqueued[FPQ_TIME_TEXT_MAX], score[40], run_at[40],
      timeout[32], max_retries[16], delay[40], jitter[40], ttl[32], fttl[32],
      exact_timeout[40], intervals[2048];
  char on_success[FPQ_CALLBACK_MAX + 1], on_failure[FPQ_CALLBACK_MAX + 1],
      on_stopped[FPQ_CALLBACK_MAX + 1]; /* RQ's dotted names (rq_callback_name) */
} enqueue_args;

static void enqueue_args_free(enqueue_args *a) {
  json_decref(a->parents);
  fpq__free(a->data);
  fpq__free(a->lidx);
}

/* Fills a (always to be freed with enqueue_args_free); returns 0 or an error set on b. */
static int enqueue_args_build(fpq_backend *b, const fpq_job *job, enqueue_args *a) {
  /* Only what is freed is cleared: argv and lens are filled as far as n says. */
  a->n = 0;
  a->data = NULL;
  a->lidx = NULL;
  a->parents = NULL;
  size_t data_len = 0;
  int rc = fpq__rq_data_encode(job, &a->data, &data_len);
  if (rc) return fpq_backend_fail(b, rc, "job '%s': cannot encode its data", job->id);
  a->lidx = fpq__rq_pipeline_index(job->project, job->pipeline);
  if (a->lidx == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  fpq_format_time(job->created_at, a->created, sizeof a->created);
  if (job->status == FPQ_STATUS_QUEUED && job->enqueued_at == job->created_at)
    memcpy(a->enqueued, a->created, sizeof a->enqueued);
  else
    fpq_format_time(job->status == FPQ_STATUS_QUEUED ? job->enqueued_at : 0, a->enqueued,
                    sizeof a->enqueued);
  snprintf(a->score, sizeof a->score, "%.6f", job->created_at);
  /* The script reads run_at for a scheduled job only. */
  if (job->status == FPQ_STATUS_SCHEDULED)
    snprintf(a->run_at, sizeof a->run_at, "%.6f", job->run_at);
  else
    memcpy(a->run_at, "0", 2);
  /* RQ's timeout is whole seconds and -1 means none; ours 0 means the worker's default,
   * which for a Python rq worker is best said as "none" rather than rq's 180 s. */
  snprintf(a->timeout, sizeof a->timeout, "%lld", job->timeout > 0 ? rq_whole(job->timeout) : -1LL);
  int max = job->max_retries > 0 ? job->max_retries : 0;
  snprintf(a->max_retries, sizeof a->max_retries, "%d", max);
  /* RQ's Retry(max, interval=[...]): retry k waits intervals[k-1], which is our backoff
   * without jitter (retry_delay * 2^(k-1)), so a Python worker retries our jobs alike. */
  size_t o = 0;
  char *intervals = a->intervals;
  const size_t isize = sizeof a->intervals;
  intervals[0] = '\0';
  if (job->retry_delay > 0 && max > 0) {
    o += (size_t)snprintf(intervals, isize, "[");
    for (int k = 0; k < max && k < 64 && o < isize - 40; k++) {
      char each[32];
      shortest_text(fmin(job->retry_delay * pow(2, k), 1e12), each, sizeof each);
      o += (size_t)snprintf(intervals + o, isize - o, "%s%s", k ? ", " : "", each);
    }
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
  ARG(a->lidx);
  FIELD("status", status);
  FIELD("created_at", a->created);
  ARG("data");
  argv[n] = (const char *)a->data, lens[n] = data_len, n++;
  FIELD("origin", job->queue);
  FIELD("description", job->description ? job->description : "");
  FIELD("enqueued_at", a->enqueued);
  FIELD("timeout", a->timeout);
  /* What RQ writes as '' (no callback, not started, no worker, no group) is left out:
   * every RQ reader (2.x and 3.x Job.restore, rq info, rq-dashboard) takes a missing
   * field as unset, and each one costs a queued job about 50 bytes of Redis. */
  if (job->on_success)
    FIELD("success_callback_name", rq_callback_name(job->on_success, a->on_success));
  if (job->on_failure)
    FIELD("failure_callback_name", rq_callback_name(job->on_failure, a->on_failure));
  if (job->on_stopped)
    FIELD("stopped_callback_name", rq_callback_name(job->on_stopped, a->on_stopped));
  if (max > 0) FIELD("retries_left", a->max_retries);
  if (intervals[0]) FIELD("retry_intervals", intervals);
  /* RQ's retention fields, whole seconds, -1 forever, 0 none: a Python rq worker that
   * runs the job keeps it as we would. The core resolved the defaults. */
  if (job->result_ttl != FPQ_TTL_DEFAULT) {
    snprintf(a->ttl, sizeof a->ttl, "%lld", rq_ttl(job->result_ttl));
    FIELD("result_ttl", a->ttl);
  }
  if (job->failure_ttl != FPQ_TTL_DEFAULT) {
    snprintf(a->fttl, sizeof a->fttl, "%lld", rq_ttl(job->failure_ttl));
    FIELD("failure_ttl", a->fttl);
  }
  /* Ours: fpq_max_retries marks the job as written by fpq (index_foreign) and keeps the
   * policy for requeue; no fpq_attempts yet (read as 0); the delay only when
   * retry_intervals does not already say it (its first entry), the jitter when set. */
  FIELD("fpq_max_retries", a->max_retries);
  if (!intervals[0] && job->retry_delay > 0) {
    shortest_text(job->retry_delay, a->delay, sizeof a->delay);
    FIELD("fpq_retry_delay", a->delay);
  }
  if (job->jitter_factor > 0) {
    shortest_text(job->jitter_factor, a->jitter, sizeof a->jitter);
    FIELD("fpq_jitter", a->jitter);
  }
  if (job->timeout > 0 && job->timeout != floor(job->timeout)) {
    snprintf(a->exact_timeout, sizeof a->exact_timeout, "%.17g", job->timeout);
    FIELD("fpq_timeout", a->exact_timeout);
  }
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

int fpq__rq_enqueue(fpq_backend *b, const fpq_job *job) {
  rq_backend *r = as_rq(b);
  enqueue_args a;
  int rc = enqueue_args_build(b, job, &a);
  redisReply *reply = rc ? NULL : fpq__rq_backend_eval(r, FPQ_RQ_ENQUEUE, a.n, a.argv, a.lens, 0, &rc);
  if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
    rc = fpq_backend_fail(b, FPQ_EEXIST, "job id '%s' is already taken", job->id);
  if (reply) freeReplyObject(reply);
  enqueue_args_free(&a);
  return rc;
}

/* Commands written before their replies are read: enough to hide the round trip, few
 * enough that hiredis's output buffer stays a few megabytes whatever the batch size. */
#define ENQUEUE_PIPELINE 512

/* Pipelines `EXISTS rq:job:ID` over the batch and names the first id already stored:
 * the slow path of ids_free, taken only when some id is. */
static int first_taken(rq_backend *r, const fpq_job *const *jobs, size_t n, size_t *failed) {
  for (size_t start = 0; start < n; start += ENQUEUE_PIPELINE) {
    size_t end = start + ENQUEUE_PIPELINE < n ? start + ENQUEUE_PIPELINE : n;
    for (size_t i = start; i < end; i++)
      if (redisAppendCommand(r->link.c, "EXISTS rq:job:%s", jobs[i]->id) != REDIS_OK)
        return fpq__rq_io_fail(r, "checking the batch's ids");
    size_t taken = n;
    for (size_t i = start; i < end; i++) {
      redisReply *reply = NULL;
      if (fpq__rq_get_reply(r->link.c, (void **)&reply) != REDIS_OK || reply == NULL)
        return fpq__rq_io_fail(r, "checking the batch's ids");
      if (reply->type == REDIS_REPLY_ERROR && taken == n) {
        *failed = n;
        int rc = fpq__rq_reply_fail(r, reply->str, "checking the batch's ids");
        freeReplyObject(reply);
        /* The rest of this chunk's replies are read and dropped so the link stays usable. */
        for (size_t k = i + 1; k < end; k++) {
          if (fpq__rq_get_reply(r->link.c, (void **)&reply) != REDIS_OK || reply == NULL)
            return fpq__rq_io_fail(r, "checking the batch's ids");
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

/* Keys per EXISTS of ids_free: one command answers for this many ids. */
#define IDS_PER_EXISTS 512
/* EXISTS commands written before their replies are read: the round trip is hidden, and
 * what is buffered stays bounded (16 x 512 keys) whatever the batch size. */
#define EXISTS_IN_FLIGHT 16

/* An id already stored refuses the whole batch before anything is written (the enqueue
 * script would refuse that job alone). One `EXISTS rq:job:A rq:job:B ...` per
 * IDS_PER_EXISTS ids, pipelined EXISTS_IN_FLIGHT at a time: Redis counts the stored ones;
 * none is the rule, and only then (first_taken) is each id asked about, to name it. */
static int ids_free(rq_backend *r, const fpq_job *const *jobs, size_t n, size_t *failed) {
  static const char prefix[] = "rq:job:";
  const size_t plen = sizeof prefix - 1, round = IDS_PER_EXISTS * EXISTS_IN_FLIGHT;
  char *keys = fpq__malloc(round * (plen + FPQ_ID_MAX));
  const char **argv = fpq__malloc((IDS_PER_EXISTS + 1) * sizeof *argv);
  size_t *lens = fpq__malloc((IDS_PER_EXISTS + 1) * sizeof *lens);
  int rc = keys && argv && lens ? 0 : fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  int any = 0;
  for (size_t first = 0; rc == 0 && first < n; first += round) {
    size_t last = first + round < n ? first + round : n, sent = 0, at = 0;
    for (size_t start = first; rc == 0 && start < last; start += IDS_PER_EXISTS) {
      size_t end = start + IDS_PER_EXISTS < last ? start + IDS_PER_EXISTS : last;
      argv[0] = "EXISTS";
      lens[0] = 6;
      for (size_t i = start; i < end; i++) {
        size_t idlen = strlen(jobs[i]->id); /* <= FPQ_ID_MAX: validated */
        memcpy(keys + at, prefix, plen);
        memcpy(keys + at + plen, jobs[i]->id, idlen);
        argv[1 + i - start] = keys + at;
        lens[1 + i - start] = plen + idlen;
        at += plen + idlen;
      }
      if (redisAppendCommandArgv(r->link.c, (int)(1 + end - start), argv, lens) != REDIS_OK)
        rc = fpq__rq_io_fail(r, "checking the batch's ids");
      else
        sent++;
    }
    /* Every reply of what was sent is read, so the link stays in step, unless it failed
     * (then it is gone: nothing more is read). */
    for (size_t k = 0; k < sent && r->link.c; k++) {
      redisReply *reply = NULL;
      if (fpq__rq_get_reply(r->link.c, (void **)&reply) != REDIS_OK || reply == NULL) {
        rc = fpq__rq_io_fail(r, "checking the batch's ids");
        break;
      }
      if (reply->type == REDIS_REPLY_ERROR && rc == 0)
        rc = fpq__rq_reply_fail(r, reply->str, "checking the batch's ids");
      else if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 0)
        any = 1;
      freeReplyObject(reply);
    }
  }
  fpq__free(keys);
  fpq__free(argv);
  fpq__free(lens);
  if (rc) {
    *failed = n;
    return rc;
  }
  return any ? first_taken(r, jobs, n, failed) : 0;
}

/* The connection failed half way through a batch: say what is known to be stored.
 * failed: the failure was recorded already (the link is gone and errstr says why). */
static int partly_stored(rq_backend *r, size_t stored, size_t n, size_t at, int failed) {
  int rc = failed ? FPQ_EUNAVAIL : fpq__rq_io_fail(r, "enqueueing a batch");
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
  /* Sent at once, not with the next read: Redis runs this call while the next is built. */
  int sent = redisAppendCommandArgv(r->link.c, c->argc, c->argv, c->lens) == REDIS_OK &&
             fpq__rq_flush(r->link.c) == REDIS_OK;
  chunk_free(c);
  return sent ? 0 : fpq__rq_io_fail(r, "enqueueing a batch");
}

/* Batch enqueue: the ids are checked first (pipelined EXISTS), then the enqueue_many
 * script stores ENQUEUE_CHUNK jobs per call, each call all or nothing, with one call in
 * flight while the next is built. Redis has no transaction that could refuse half way
 * through the whole batch: only another writer taking an id between the check and the
 * write, or the connection failing, can leave part of a batch stored, and the message
 * then says how much. */
int fpq__rq_enqueue_many(fpq_backend *b, const fpq_job *const *jobs, size_t n,
                           size_t *failed) {
  rq_backend *r = as_rq(b);
  int rc = fpq__rq_ready(r);
  if (rc) return rc;
  if ((rc = ids_free(r, jobs, n, failed))) return rc;
  const char *sha = fpq__rq_script_sha(r->link.c, &r->shas, FPQ_RQ_ENQUEUE_MANY);
  if (sha == NULL) {
    if (r->link.c->err) return fpq__rq_io_fail(r, "loading the enqueue script");
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
        /* The first job whose fate is unknown: the oldest call not answered yet. */
        size_t unknown = read < sent ? starts[read % 2] : next;
        fpq__free(c);
        *failed = unknown;
        return partly_stored(r, stored, n, unknown, 1);
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
      return partly_stored(r, stored, n, at, 0);
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

