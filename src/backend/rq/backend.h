/* backend.h (rq): the rq backend's handle and the few helpers its files share
 * (backend.c: jobs, take and finish; enqueue.c: storing jobs; workers.c: the worker
 * registry; schedules.c: schedules and leases; stats.c: ended runs).
 * Like every file of this folder it sees include/, src/shared/ and this folder only. */
#ifndef FPQ_BACKEND_RQ_H
#define FPQ_BACKEND_RQ_H

#include <math.h>

#include "fpq_backend.h"
#include "conn.h"
#include "scripts.h"
#include "watch.h"

typedef struct rq_backend {
  fpq_backend base; /* first: the core casts */
  fpq__rq_target t;
  fpq__rq_link link; /* requests */
  fpq__rq_shas shas;
  fpq__rq_watch watch; /* take's wake-ups (opened by the first waiting take) */
  fpq__rq_sub sub;     /* a worker's commands (opened by its first heartbeat) */
  char ip[64];         /* our address as Redis sees it, for the worker hash */
  int ip_known;
  double next_sweep; /* monotonic */
  /* The last look that found nothing while the watch was armed. Until a notification
   * arrives, the watch reconnects (epoch), the earliest due time passes or SAFETY_POLL
   * passes, looking again would find nothing, so an idle worker's repeated takes cost
   * Redis nothing but the wait. */
  int idle_valid;
  unsigned idle_epoch;
  double idle_at;  /* monotonic */
  double idle_due; /* wall clock; 0: nothing scheduled */
  char idle_queues[256];
  /* finish_take_nowait sent the step and its answer did not come within STEP_NOWAIT:
   * the next finish_take reads that answer instead of sending the step again. */
  int step_pending;
} rq_backend;

static inline rq_backend *as_rq(fpq_backend *b) { return (rq_backend *)b; }

#define MAX_QUEUES 16 /* queues one take or one worker names */

/* Whole seconds for RQ's integer fields (timeout, result_ttl). */
static inline long long rq_whole(double s) { return (long long)ceil(s); }
/* A resolved retention in RQ's form: -1 forever, 0 none, else whole seconds. */
static inline long long rq_ttl(double ttl) { return ttl < 0 ? -1 : rq_whole(ttl); }

/* The request connection broke while doing `doing`: the handle's error, FPQ_EUNAVAIL. */
int fpq__rq_io_fail(rq_backend *r, const char *doing);
/* Redis refused a command with `reply` while doing `doing`: the handle's error (a
 * passing refusal such as LOADING or BUSY in plain words, as at connect; any other in
 * Redis's own words), its FPQ_E* code. */
int fpq__rq_reply_fail(rq_backend *r, const char *reply, const char *doing);
/* A pipeline's find index, fpq:pipeline:NAME:PROJECT (malloc'd). */
char *fpq__rq_pipeline_index(const char *project, const char *pipeline);
/* Storing jobs (enqueue.c), for the methods table. */
int fpq__rq_enqueue(fpq_backend *b, const fpq_job *job);
int fpq__rq_enqueue_many(fpq_backend *b, const fpq_job *const *jobs, size_t n,
                          size_t *failed);

/* Runs a script on the request connection. Returns the reply (caller frees) or NULL with
 * *rc and the handle's error set; idempotent scripts are retried once on a fresh
 * connection when the connection broke under them. */
redisReply *fpq__rq_backend_eval(rq_backend *r, fpq__rq_script s, int argc,
                                 const char *const *argv, const size_t *lens, int idempotent,
                                 int *rc);
/* An integer reply (or a string holding one) as a number; 0 otherwise. */
long long fpq__rq_int_of(const redisReply *reply);

/* A batch of commands sent in one write and read back in order (one round trip). */
typedef struct batch {
  int n;
  int argc[64];
  const char *argv[64][24];
  size_t lens[64][24];
} batch;
void fpq__rq_batch_add(batch *bt, int argc, const char *const *argv, const size_t *lens);
/* Sends the batch; fills replies[0..n) (caller frees each) or returns an error with all
 * freed. Read-only batches are retried once on a fresh connection. */
int fpq__rq_run_batch(rq_backend *r, batch *bt, redisReply **replies, const char *doing,
                      int idempotent);
/* Opens the request connection if it is not; 0 or an error set on the handle. */
int fpq__rq_ready(rq_backend *r);
/* "PREFIXa" or "PREFIXa:b", malloc'd (NULL when out of memory). */
char *fpq__rq_key_of(const char *prefix, const char *a, const char *b);

/* The worker registry and commands (workers.c), for the methods table. */
/* The worker's side (take_finish.c): fpq_backend_methods' take, extend, finish and
 * finish_take. */
int fpq__rq_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out);
int fpq__rq_extend_execution(fpq_backend *b, const char *id, const char *worker,
                             const char *execution, double until);
int fpq__rq_extend(fpq_backend *b, const char *id, const char *worker, double until);
int fpq__rq_finish(fpq_backend *b, const fpq_finish_args *a);
int fpq__rq_finish_take_nowait(fpq_backend *b, const fpq_finish_args *a,
                               const fpq_take_args *t, int *take_rc, fpq_job **out);
int fpq__rq_finish_take(fpq_backend *b, const fpq_finish_args *a, const fpq_take_args *t,
                        int *take_rc, fpq_job **out);

int fpq__rq_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now);
int fpq__rq_worker_gone(fpq_backend *b, const char *name, double now);
int fpq__rq_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n);
int fpq__rq_worker_command(fpq_backend *b, const char *name, const char *command);
int fpq__rq_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len);

/* Schedules and the leader lease (schedules.c), for the methods table. */
int fpq__rq_schedule_put(fpq_backend *b, const fpq_schedule *s);
int fpq__rq_schedule_get(fpq_backend *b, const char *id, fpq_schedule **out);
int fpq__rq_schedule_list(fpq_backend *b, const char *project, int64_t due, int limit,
                          fpq_schedule ***out, size_t *n);
int fpq__rq_schedule_remove(fpq_backend *b, const char *id);
int fpq__rq_schedule_set_paused(fpq_backend *b, const char *id, int paused, int64_t next_fire);
int fpq__rq_schedule_advance(fpq_backend *b, const fpq_schedule_advance_args *a);
int fpq__rq_lease_acquire(fpq_backend *b, const char *name, const char *owner, double now,
                          double ttl, char *holder, size_t holder_len);
int fpq__rq_lease_release(fpq_backend *b, const char *name, const char *owner);
/* The record of ended runs (stats.c). */
int fpq__rq_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                        size_t *n);

#endif /* FPQ_BACKEND_RQ_H */
