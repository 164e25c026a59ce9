/* scheduler.h: turns due schedules into jobs. Runs alone (`fpq scheduler`, through
 * fpq_scheduler_run in fpq_worker.h) or inside a worker (`fpq worker start
 * --with-scheduler`, from the worker's 1 s tick); any number may run against one backend.
 * This is the engine's (and the tests') side: one scheduler ticked by its owner. */
#ifndef FPQ_SCHEDULER_H
#define FPQ_SCHEDULER_H

#include <stdint.h>

#include "fpq.h"
#include "fpq_worker.h" /* fpq_scheduler_options, fpq_scheduler_run */

#define FPQ__SCHEDULER_LEASE "scheduler" /* the leader lease's name in the backend */

/* What ticks did. Counters count this scheduler's own actions. */
typedef struct fpq__scheduler_stats {
  int leader;          /* held the leader lease (at the end of the last tick) */
  int64_t ticks;
  int64_t enqueued;    /* jobs this scheduler enqueued */
  int64_t duplicates;  /* fires whose job id was taken already: another scheduler's */
  int64_t skipped;     /* fires dropped: later than the misfire grace, or coalesced */
  int64_t errors;      /* fires that could not become jobs (e.g. the pipeline is gone) */
} fpq__scheduler_stats;

typedef struct fpq__scheduler fpq__scheduler;

/* Opens the backend. NULL with one line in err on failure; *code (may be NULL) is then
 * the exit code: 2 bad settings, 3 backend unreachable, 1 otherwise. */
fpq__scheduler *fpq__scheduler_new(const fpq_scheduler_options *o, char *err, size_t errlen,
                                   int *code);
/* Gives the leader lease up (a clean stop hands over at once) and frees. NULL is fine. */
void fpq__scheduler_free(fpq__scheduler *s);
/* One pass at fpq__schedule_now(): takes or renews the leader lease and, as leader, turns
 * every due fire into a job. Adds to the totals; *tick (may be NULL) gets this tick's
 * numbers. Returns 0, or the backend's error (the next tick tries again). */
int fpq__scheduler_tick(fpq__scheduler *s, fpq__scheduler_stats *tick);
/* Gives the lease up now if held (a worker that starts stopping calls it each tick). */
void fpq__scheduler_resign(fpq__scheduler *s);
/* Fires what is due at `now` without looking at the lease: what a leader does in a tick.
 * Exposed so tests can make two schedulers both act as leader. */
int fpq__scheduler_fire_due(fpq__scheduler *s, double now, fpq__scheduler_stats *tick);
const fpq__scheduler_stats *fpq__scheduler_totals(const fpq__scheduler *s);

#endif /* FPQ_SCHEDULER_H */
