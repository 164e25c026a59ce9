/* lease_keeper.h: the worker's leases, kept by threads of their own (lease_keeper.c).
 *
 * Why a thread: the worker's loop decodes and records results, and a 200 MB result keeps
 * it busy for seconds; leases renewed by the loop lapsed meanwhile and other workers ran
 * the same jobs again. The keeper renews every job the worker holds on its own queue
 * handle, by elapsed monotonic time, whatever the loop is doing, and fences the worker
 * itself: a run whose lease it cannot renew is stopped (SIGTERM, then SIGKILL to its
 * executor's process group) before the lease runs out, so by the time another worker may
 * take the job, this one no longer runs it. */
#ifndef FPQ_LEASE_KEEPER_H
#define FPQ_LEASE_KEEPER_H

#include "fpq.h"

/* Fractions of the lease, counted from the start of the last renewal that succeeded:
 * renew every third, stop the run with SIGTERM at TERM_AT and SIGKILL at KILL_AT. Both
 * are well before 1, so the run is dead before its lease (now + lease at that renewal,
 * by the backend's clock) ends. */
#define FPQ__LEASE_RENEW_AT 0.33
#define FPQ__LEASE_TERM_AT 0.7
#define FPQ__LEASE_KILL_AT 0.85

typedef struct fpq__lease_keeper fpq__lease_keeper;

/* Starts the keeper's thread with its own handle on the queue (open, as the worker's).
 * worker is the name leases are held under; lease in seconds. Returns NULL with one line
 * in err. */
fpq__lease_keeper *fpq__lease_keeper_start(const fpq_options *open, const char *worker,
                                           double lease, char *err, size_t errlen);
/* Stops the thread and frees everything (NULL is fine). */
void fpq__lease_keeper_stop(fpq__lease_keeper *k);

/* Holds a job just taken (job as fpq_take returned it; copied): its lease is renewed from
 * now on. Any thread. Returns 0 or FPQ_ENOMEM. */
int fpq__lease_keeper_hold(fpq__lease_keeper *k, const fpq_job *job);
/* The process group running the job (0: none, e.g. the run ended and its outcome waits
 * to be recorded): the group the keeper stops when the lease cannot be kept. */
void fpq__lease_keeper_set_group(fpq__lease_keeper *k, const fpq_job *job, int pgid);
/* No longer held: recorded, given back or dropped. */
void fpq__lease_keeper_release(fpq__lease_keeper *k, const fpq_job *job);
/* 1 when this run of the job lost its lease (refused by the backend, or stopped by the
 * keeper because it could not renew in time): its outcome must not be recorded. */
int fpq__lease_keeper_lost(fpq__lease_keeper *k, const fpq_job *job);
/* After the process was stopped (SIGTSTP) and continued: every run whose lease may have
 * ended meanwhile is killed (SIGKILL, still stopped) and marked lost before the caller
 * continues the others. Returns how many were killed. */
int fpq__lease_keeper_after_stop(fpq__lease_keeper *k);

#endif /* FPQ_LEASE_KEEPER_H */
