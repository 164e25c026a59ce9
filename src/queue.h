/* queue.h: what the rest of the engine (the scheduler, metrics) may ask of a queue
 * beyond fpq.h. Like every fpq_* call these go through the handle, never around it to
 * the backend: its insides are in queue_handle.h, which only the queue layer (queue.c,
 * schedule.c) includes. */
#ifndef FPQ_QUEUE_H
#define FPQ_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "fpq_backend.h"

/* Seconds to wait before the next attempt of a job that failed its attempts-th run:
 * retry_delay * 2^(attempts-1), scaled by a random factor in [1-jitter, 1+jitter]. */
double fpq__backoff(const fpq_job *job);

/* fpq_finish, then fpq_take without waiting, in one backend call where the backend can
 * (the worker's step between two jobs: one round trip, one transaction). Returns
 * finish's result (FPQ_ELEASE: the outcome was dropped, the take still ran); *take_rc is
 * take's (0 with *next, FPQ_EEMPTY, or an error), or finish's error when the take did
 * not run. The handle's error describes finish's failure, else take's. nowait (the
 * worker's loop thread): returns 1, with nothing to report yet, when the step did not
 * complete at once (a lock held, a slow server, a backend without finish_take_nowait,
 * an outcome that cannot be recorded); the caller then calls again with the same job and
 * outcome and nowait 0, on a thread that may wait, and that call completes the step. */
int fpq__finish_take(fpq_queue *q, const fpq_job *job, const char *worker,
                     const fpq_outcome *outcome, fpq_status *final_status,
                     const char *const *queues, size_t nqueues, double lease_seconds,
                     int nowait, fpq_job **next, int *take_rc);

/* Runs that ended at or after since, newest first, at most limit (fpq_backend_methods'
 * ended_since); *out freed by the caller with free(). A backend that keeps no record (a
 * version-1 plugin) answers FPQ_ENOTSUP. The handle's error is left alone: callers show
 * what they have without the runs rather than fail. */
int fpq__ended_since(fpq_queue *q, double since, int limit, fpq_run_record **out, size_t *n);

/* Ended jobs kept and their size (fpq_backend_methods' retention), for metrics. Like
 * fpq__ended_since, FPQ_ENOTSUP from an older backend and the handle's error left alone. */
int fpq__retention(fpq_queue *q, fpq_retention *out);

/* 1 when a job naming project (NULL allowed) is the handle's project's: its name, none,
 * or exactly its directory (older records); see fpq__config_serves. The worker runs only
 * such jobs. */
int fpq__project_serves(const fpq_queue *q, const char *project);

/* ---- what the scheduler asks (schedule.c); errors are on the handle (fpq_errmsg) ---- */

/* Unpaused schedules of the handle's project (by name, then those stored with its
 * directory before names) with 0 < next_fire <= due, soonest first, at most
 * limit. Caller frees with fpq_schedules_free(*out, *n). */
int fpq__schedules_due(fpq_queue *q, int64_t due, int limit, fpq_schedule ***out, size_t *n);
/* Moves a schedule on after its fires, only if its next_fire is still a->expect_next:
 * FPQ_ESTATE when another scheduler got there first, FPQ_ENOTFOUND when it was removed. */
int fpq__schedule_advance(fpq_queue *q, const fpq_schedule_advance_args *a);
/* Takes or renews the named lease for owner until now + ttl: 0 when owner holds it, or
 * FPQ_ELEASE with the holder's name in holder. */
int fpq__lease_acquire(fpq_queue *q, const char *name, const char *owner, double now,
                       double ttl, char *holder, size_t holder_len);
/* Gives the lease up if owner holds it. */
int fpq__lease_release(fpq_queue *q, const char *name, const char *owner);

#endif /* FPQ_QUEUE_H */
