/* take_finish.c (rq): the worker's side of the rq backend: take (with its idle wait on
 * the watch), extend, finish, and the step between two jobs (finish_take), each one
 * script of scripts.c, their arguments built and their answers read here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
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

static int exec_id(char out[33]) {
  unsigned char b[16];
  if (fpq__random(b, sizeof b)) return FPQ_EIO;
  fpq__hex(out, b, sizeof b);
  return 0;
}

/* Fails a job this worker just took whose data we will not run (a pickle, other bytes):
 * failed at once, never retried, with the reason as its error. */
static int fail_unsupported(rq_backend *r, const char *id, const char *worker, const char *why);

/* A job another client (Python rq) enqueued is in no find index: add it when it is
 * first taken, so project.result(pipeline) finds it from then on. Best effort. */
static void index_foreign(rq_backend *r, const fpq_job *job) {
  if (job->project == NULL || job->pipeline == NULL || r->link.c == NULL) return;
  char *lidx = fpq__rq_pipeline_index(job->project, job->pipeline);
  char score[40];
  snprintf(score, sizeof score, "%.6f", job->created_at);
  if (lidx) {
    batch bt = {0};
    const char *a[] = {"ZADD", lidx, score, job->id};
    const char *c[] = {"SADD", "fpq:indexes", lidx};
    fpq__rq_batch_add(&bt, 4, a, NULL);
    fpq__rq_batch_add(&bt, 3, c, NULL);
    redisReply *replies[2];
    if (fpq__rq_run_batch(r, &bt, replies, "indexing a job", 0) == 0)
      for (int i = 0; i < 2; i++) freeReplyObject(replies[i]);
    r->base.err = 0;
    r->base.errstr[0] = '\0';
  }
  fpq__free(lidx);
}

/* The take script's arguments for one attempt at `now`; argv points into the struct. */
typedef struct take_argv {
  char now_s[40], now_text[FPQ_TIME_TEXT_MAX], score[32], ttl[32], nq[8], ex[33];
  const char *argv[7 + MAX_QUEUES];
  int argc;
} take_argv;

static int take_argv_fill(rq_backend *r, const fpq_take_args *a, double now, take_argv *t) {
  char *now_s = t->now_s, *now_text = t->now_text, *score = t->score, *ttl = t->ttl,
       *nq = t->nq, *ex = t->ex;
  snprintf(now_s, sizeof t->now_s, "%.6f", now);
  fpq_format_time(now, now_text, sizeof t->now_text);
  /* Whole seconds rounded up: RQ's cleanup compares against an integer now, and a lease
   * must never end before the time we promised. */
  snprintf(score, sizeof t->score, "%lld", (long long)ceil(now + a->lease_seconds));
  snprintf(ttl, sizeof t->ttl, "%lld", (long long)fmax(1, ceil(a->lease_seconds)));
  size_t nqueues = a->nqueues < MAX_QUEUES ? a->nqueues : MAX_QUEUES;
  snprintf(nq, sizeof t->nq, "%zu", nqueues);
  /* The core's fencing token when it gives one (hex, as RQ's uuid4().hex), else ours. */
  if (a->execution && *a->execution && strlen(a->execution) < sizeof t->ex &&
      strspn(a->execution, "0123456789abcdef") == strlen(a->execution))
    snprintf(ex, sizeof t->ex, "%s", a->execution);
  else if (exec_id(ex))
    return fpq_backend_fail(&r->base, FPQ_EIO, "cannot make an execution id: %s",
                            FPQ__RANDOM_FAILED);
  const char *head[7] = {now_s, now_text, score, ttl, a->worker, ex, nq};
  memcpy(t->argv, head, sizeof head);
  for (size_t i = 0; i < nqueues; i++) t->argv[7 + i] = a->queues[i];
  t->argc = 7 + (int)nqueues;
  return 0;
}

/* What the take script answered. Returns 0 with *out, FPQ_EEMPTY (with *due, the
 * earliest scheduled time of these queues, or 0), 1 to run again at once, or an error. */
static int take_reply(rq_backend *r, const fpq_take_args *a, const redisReply *reply,
                      fpq_job **out, double *due) {
  int rc = 0;
  long long what = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
                       ? fpq__rq_int_of(reply->element[0]) : -1;
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
  return rc;
}

/* One run of the take script; answers as take_reply. */
static int take_once(rq_backend *r, const fpq_take_args *a, double now, fpq_job **out,
                     double *due) {
  take_argv t;
  int rc = take_argv_fill(r, a, now, &t);
  if (rc) return rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_TAKE, t.argc, t.argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  rc = take_reply(r, a, reply, out, due);
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

int fpq__rq_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out) {
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

int fpq__rq_extend_execution(fpq_backend *b, const char *id, const char *worker,
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
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_EXTEND, 7, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  long long held = fpq__rq_int_of(reply);
  freeReplyObject(reply);
  if (!held) return fpq__not_held(b, id, worker, execution);
  return 0;
}

int fpq__rq_extend(fpq_backend *b, const char *id, const char *worker, double until) {
  return fpq__rq_extend_execution(b, id, worker, NULL, until);
}

/* The finish script's 17 arguments for one outcome; argv points into the struct, which
 * finish_argv_free releases. */
#define FINISH_ARGC 17
typedef struct finish_argv {
  char now_s[40], now_text[FPQ_TIME_TEXT_MAX], ttl[32], run_at[40], duration[40], started[40];
  char *exc, *ret;
  const char *argv[FINISH_ARGC];
} finish_argv;

static void finish_argv_free(finish_argv *f) {
  fpq__free(f->exc);
  fpq__free(f->ret);
}

static int finish_argv_fill(rq_backend *r, const fpq_finish_args *a, finish_argv *f) {
  f->exc = f->ret = NULL;
  snprintf(f->now_s, sizeof f->now_s, "%.6f", a->now);
  fpq_format_time(a->now, f->now_text, sizeof f->now_text);
  /* The retention of the record this outcome leaves: result_ttl for a result,
   * failure_ttl for a failure (a retry leaves none yet). */
  snprintf(f->ttl, sizeof f->ttl, "%lld",
           rq_ttl(a->status == FPQ_STATUS_FINISHED ? a->result_ttl : a->failure_ttl));
  snprintf(f->run_at, sizeof f->run_at, "%.6f", a->run_at);
  snprintf(f->duration, sizeof f->duration, "%.6f", a->duration);
  int has_return = a->status == FPQ_STATUS_FINISHED && a->result_json &&
                   strcmp(a->result_json, "null") != 0;
  if (has_return && fpq__rq_b64_encode(a->result_json, strlen(a->result_json), &f->ret, NULL))
    return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  if (a->status == FPQ_STATUS_FAILED || a->status == FPQ_STATUS_STOPPED) {
    char *text = fpq__rq_exc_text(a->error_json);
    f->exc = text ? fpq__rq_exc_encode(text) : NULL;
    fpq__free(text);
    if (f->exc == NULL) {
      finish_argv_free(f);
      return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
    }
  }
  /* '' when the job has no start (the script then reads the execution's own). */
  f->started[0] = '\0';
  if (a->started_at > 0) snprintf(f->started, sizeof f->started, "%.6f", a->started_at);
  const char *argv[FINISH_ARGC] = {
      a->id, a->worker, fpq_status_name(a->status), f->now_s, f->now_text, f->ttl, f->run_at,
      a->uncount_attempt ? "1" : "0", a->error_json ? a->error_json : "",
      f->exc ? f->exc : "", has_return ? "1" : "0", f->ret ? f->ret : "", f->duration,
      a->pipeline ? a->pipeline : "", f->started, a->execution ? a->execution : "",
      a->log ? a->log : ""};
  memcpy(f->argv, argv, sizeof argv);
  return 0;
}

/* Runs the finish script for one outcome. */
static int finish(rq_backend *r, const fpq_finish_args *a) {
  finish_argv f;
  int rc = finish_argv_fill(r, a, &f);
  if (rc) return rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_FINISH, FINISH_ARGC, f.argv, NULL, 0, &rc);
  finish_argv_free(&f);
  if (reply == NULL) return rc;
  long long held = fpq__rq_int_of(reply);
  freeReplyObject(reply);
  if (!held) return fpq__not_held(&r->base, a->id, a->worker, a->execution);
  return 0;
}

int fpq__rq_finish(fpq_backend *b, const fpq_finish_args *a) { return finish(as_rq(b), a); }

/* The step's arguments: finish's, then take's; argv points into the struct, which
 * finish_argv_free(&s->f) releases. */
typedef struct step_argv {
  finish_argv f;
  take_argv k;
  const char *argv[FINISH_ARGC + 7 + MAX_QUEUES];
  int argc;
} step_argv;

static int step_argv_fill(rq_backend *r, const fpq_finish_args *a, const fpq_take_args *t,
                          step_argv *s) {
  int rc = finish_argv_fill(r, a, &s->f);
  if (rc) return rc;
  if ((rc = take_argv_fill(r, t, t->now, &s->k))) {
    finish_argv_free(&s->f);
    return rc;
  }
  memcpy(s->argv, s->f.argv, sizeof s->f.argv);
  memcpy(s->argv + FINISH_ARGC, s->k.argv, (size_t)s->k.argc * sizeof *s->argv);
  s->argc = FINISH_ARGC + s->k.argc;
  return 0;
}

/* What the step script answered (reply freed here). A take answer that asks to run again
 * (dead ids dropped, a payload we cannot run failed) goes on with plain takes, unless
 * the caller cannot wait (nowait): then the take found nothing, and the worker's own
 * take, on a thread that may wait, looks again. */
static int step_reply(rq_backend *r, const fpq_finish_args *a, const fpq_take_args *t,
                      redisReply *reply, int nowait, int *take_rc, fpq_job **out) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
    freeReplyObject(reply);
    return fpq_backend_fail(&r->base, FPQ_EBACKEND, "the finish_take script answered unexpectedly");
  }
  int held = fpq__rq_int_of(reply->element[0]) != 0;
  double due = 0;
  r->idle_valid = 0;
  const redisReply *tr = reply->element[1];
  int taken;
  if (tr->type == REDIS_REPLY_ARRAY && tr->elements == 2 && fpq__rq_int_of(tr->element[0]) == -1 &&
      tr->element[1]->type == REDIS_REPLY_STRING) {
    taken = fpq__rq_reply_fail(r, tr->element[1]->str, "take");
  } else {
    taken = take_reply(r, t, tr, out, &due);
  }
  freeReplyObject(reply);
  if (taken == 1 && nowait) taken = FPQ_EEMPTY;
  while (taken == 1) taken = take_once(r, t, fpq__now(), out, &due);
  *take_rc = taken;
  if (held) return 0;
  /* finish's message wins: the take's failure, if any, is in *take_rc. */
  return fpq__not_held(&r->base, a->id, a->worker, a->execution);
}

/* The worker's step between two jobs in one script call (finish_take): one round trip
 * and one script's fixed cost where finish and take pay two. After a finish_take_nowait
 * that sent the step, this reads its answer. */
int fpq__rq_finish_take(fpq_backend *b, const fpq_finish_args *a, const fpq_take_args *t,
                          int *take_rc, fpq_job **out) {
  rq_backend *r = as_rq(b);
  int rc;
  if (r->step_pending) {
    r->step_pending = 0;
    void *pending = NULL;
    if (fpq__rq_get_reply(r->link.c, &pending) != REDIS_OK || pending == NULL)
      return fpq__rq_io_fail(r, "finish_take");
    redisReply *reply = pending;
    if (!fpq__rq_noscript(reply)) {
      if (reply->type != REDIS_REPLY_ERROR) return step_reply(r, a, t, reply, 0, take_rc, out);
      rc = fpq__rq_reply_fail(r, reply->str, "finish_take");
      freeReplyObject(reply);
      return rc;
    }
    freeReplyObject(reply); /* not run: the server forgot the script; sent again below */
    r->shas.sha[FPQ_RQ_FINISH_TAKE][0] = '\0';
  }
  step_argv s;
  if ((rc = step_argv_fill(r, a, t, &s))) return rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_FINISH_TAKE, s.argc, s.argv, NULL, 0, &rc);
  finish_argv_free(&s.f);
  return reply ? step_reply(r, a, t, reply, 0, take_rc, out) : rc;
}

/* The step for the worker's loop thread: sent at once on an open connection and its
 * answer waited for STEP_NOWAIT at most; a later answer is finish_take's to read
 * (step_pending). Returns 1 (the method's "not at once") also when nothing was sent: no
 * connection yet, a script to load first, arguments that cannot be built or are larger
 * than the write can take without waiting. */
#define STEP_NOWAIT 0.005
#define STEP_NOWAIT_MORE 0.05
/* The write never waits: every earlier command was answered, so the socket's send
 * buffer is empty, and the smallest a TCP one starts at is 16 KiB. */
#define STEP_NOWAIT_SEND_MAX 12288
int fpq__rq_finish_take_nowait(fpq_backend *b, const fpq_finish_args *a,
                               const fpq_take_args *t, int *take_rc, fpq_job **out) {
  rq_backend *r = as_rq(b);
  if (r->link.c == NULL || r->step_pending) return 1;
  step_argv s;
  if (step_argv_fill(r, a, t, &s)) return 1;
  size_t bytes = 0;
  for (int i = 0; i < s.argc; i++) bytes += strlen(s.argv[i]);
  if (bytes > STEP_NOWAIT_SEND_MAX) {
    finish_argv_free(&s.f);
    return 1;
  }
  int sent = fpq__rq_eval_send(r->link.c, &r->shas, FPQ_RQ_FINISH_TAKE, s.argc, s.argv, NULL);
  finish_argv_free(&s.f);
  if (sent < 0) fpq__rq_io_fail(r, "finish_take"); /* the waiting call connects again */
  if (sent != 0) return 1;
  void *answer = NULL;
  int got = fpq__rq_reply_within(r->link.c, STEP_NOWAIT, &answer);
  if (got == 0) {
    r->step_pending = 1;
    return 1;
  }
  if (got < 0) { /* sent, then the link broke: as when a waiting step loses it */
    fpq__rq_io_fail(r, "finish_take");
    return 1;
  }
  redisReply *reply = answer;
  if (fpq__rq_noscript(reply)) {
    freeReplyObject(reply);
    r->shas.sha[FPQ_RQ_FINISH_TAKE][0] = '\0';
    return 1;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    int rc = fpq__rq_reply_fail(r, reply->str, "finish_take");
    freeReplyObject(reply);
    return rc;
  }
  /* A foreign job's first take indexes it and a payload we cannot run is failed: a round
   * trip each, bounded as the step's own answer was, more loosely (a Redis slower than
   * that loses the link, as at a timeout: the indexing is best effort, and a job whose
   * failure was not written is taken again when its lease ends). */
  double was = fpq__rq_bound_replies(STEP_NOWAIT_MORE);
  int rc = step_reply(r, a, t, reply, 1, take_rc, out);
  fpq__rq_bound_replies(was);
  return rc;
}

static int fail_unsupported(rq_backend *r, const char *id, const char *worker, const char *why) {
  char *error = fpq__error_json("UnsupportedPayload", why);
  fpq_finish_args a = {.id = id, .worker = worker, .status = FPQ_STATUS_FAILED,
                       .error_json = error ? error : "{\"type\": \"UnsupportedPayload\"}",
                       .now = fpq__now(), .failure_ttl = FPQ_TTL_DEFAULT_SECONDS};
  int rc = finish(r, &a);
  free(error);
  return rc == FPQ_ELEASE ? 0 : rc;
}
