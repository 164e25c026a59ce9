/* scripts.h (rq): the Lua scripts that make each rq-backend state change one atomic step
 * on the Redis server, and EVALSHA with reloading. */
#ifndef FPQ_RQ_SCRIPTS_H
#define FPQ_RQ_SCRIPTS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef enum {
  FPQ_RQ_ENQUEUE,     /* id taken? else hash + queue/scheduled + indexes */
  FPQ_RQ_TAKE,        /* promote due, pop first of first non-empty queue, register it */
  FPQ_RQ_EXTEND,      /* refresh a lease (rq:wip score) we still hold */
  FPQ_RQ_FINISH,      /* record an outcome of a job we hold */
  FPQ_RQ_MAINTAIN,    /* promote due, trim registries, list expired rq:wip entries */
  FPQ_RQ_REAP,        /* retry or fail one expired entry, if still expired */
  FPQ_RQ_CANCEL,
  FPQ_RQ_REQUEUE,
  FPQ_RQ_COUNTS,
  FPQ_RQ_WORKERS,     /* live worker hashes; drops names whose hash expired */
  FPQ_RQ_WORKER_GONE,
  FPQ_RQ_SWEEP,       /* prune find-index entries whose job hash expired */
  /* Schedules and leases; their sources live in schedules.c, beside their callers. */
  FPQ_RQ_SCHEDULE_PUT,
  FPQ_RQ_SCHEDULE_GET,
  FPQ_RQ_SCHEDULE_LIST,   /* all of them, or the due ones soonest first */
  FPQ_RQ_SCHEDULE_REMOVE,
  FPQ_RQ_SCHEDULE_PAUSE,
  FPQ_RQ_SCHEDULE_ADVANCE, /* compare-and-set on next_fire */
  FPQ_RQ_LEASE_ACQUIRE,
  FPQ_RQ_LEASE_RELEASE,
  FPQ_RQ_ENDED,        /* the record of ended runs, newest first (metrics) */
  FPQ_RQ_PRUNE,        /* registry entries of expired ended jobs */
  FPQ_RQ_RETENTION,    /* ended jobs kept, and a sample of their size */
  FPQ_RQ_ENQUEUE_MANY, /* enqueue's writes for several jobs, all or none */
  FPQ_RQ_FINISH_TAKE,  /* finish, then take: the worker's step between two jobs */
  FPQ_RQ_SCRIPT_COUNT
} fpq__rq_script;

extern const char fpq__rq_schedule_put_lua[], fpq__rq_schedule_get_lua[],
    fpq__rq_schedule_list_lua[], fpq__rq_schedule_remove_lua[], fpq__rq_schedule_pause_lua[],
    fpq__rq_schedule_advance_lua[], fpq__rq_lease_acquire_lua[], fpq__rq_lease_release_lua[];

/* SHA1s of loaded scripts, per connection owner ("" = not loaded yet). */
typedef struct fpq__rq_shas {
  char sha[FPQ_RQ_SCRIPT_COUNT][41];
} fpq__rq_shas;

/* Runs a script: EVALSHA with no KEYS and argv as ARGV, loading the script with SCRIPT
 * LOAD on first use and again on NOSCRIPT (the server restarted or ran SCRIPT FLUSH).
 * Returns the reply (possibly an error reply; caller frees it), or NULL when the
 * connection failed (c->err says why) or out of memory. lens may be NULL. */
/* The script's sha, loading it first when the server has not got it (for callers that
 * pipeline EVALSHA themselves). NULL when the connection failed or the load was refused. */
const char *fpq__rq_script_sha(redisContext *c, fpq__rq_shas *shas, fpq__rq_script which);
redisReply *fpq__rq_eval(redisContext *c, fpq__rq_shas *shas, fpq__rq_script which, int argc,
                         const char *const *argv, const size_t *lens);
/* Sends EVALSHA of a script the server has loaded (as far as shas knows) without reading
 * the reply (fpq__rq_get_reply or fpq__rq_reply_within reads it). Returns 0 sent, 1 not
 * loaded yet (nothing sent: fpq__rq_eval loads it), -1 the connection failed. */
int fpq__rq_eval_send(redisContext *c, const fpq__rq_shas *shas, fpq__rq_script which, int argc,
                      const char *const *argv, const size_t *lens);
/* Whether a reply is NOSCRIPT: the script did not run, the server has to load it again. */
int fpq__rq_noscript(const redisReply *r);

/* The script's name for messages ("take", ...). */
const char *fpq__rq_script_name(fpq__rq_script which);

#endif /* FPQ_RQ_SCRIPTS_H */
