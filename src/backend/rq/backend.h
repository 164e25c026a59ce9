/* backend.h (rq): the rq backend's handle and the few helpers its files share
 * (backend.c: jobs and workers; schedules.c: schedules and leases; stats.c: ended runs).
 * Like every file of this folder it sees include/, src/shared/ and this folder only. */
#ifndef FPQ_BACKEND_RQ_H
#define FPQ_BACKEND_RQ_H

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
} rq_backend;

static inline rq_backend *as_rq(fpq_backend *b) { return (rq_backend *)b; }

/* Runs a script on the request connection. Returns the reply (caller frees) or NULL with
 * *rc and the handle's error set; idempotent scripts are retried once on a fresh
 * connection when the connection broke under them. */
redisReply *fpq__rq_backend_eval(rq_backend *r, fpq__rq_script s, int argc,
                                 const char *const *argv, const size_t *lens, int idempotent,
                                 int *rc);
/* An integer reply (or a string holding one) as a number; 0 otherwise. */
long long fpq__rq_int_of(const redisReply *reply);

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
