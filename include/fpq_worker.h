/* fpq_worker.h: running a worker or a scheduler from C, as `fpq worker start` and
 * `fpq scheduler` do. Each call takes over the calling process until it is stopped: it
 * installs SIGTERM/SIGINT handlers, logs to stderr and returns an exit code, so it is
 * meant for a program's main (the fpq command line, or your own supervisor), not for a
 * library call inside a bigger program.
 *
 * Options structs are zero-initialized by the caller and only ever appended to: a zero
 * field means the default said beside it. Strings are borrowed for the call. */
#ifndef FPQ_WORKER_API_H
#define FPQ_WORKER_API_H

#include "fpq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- workers ------------------------------------------------------------------------ */

typedef struct fpq_worker_options {
  fpq_options open;        /* where the queue is */
  int count;               /* slots, each with its own executor; 0 = 1 */
  const char *queues;      /* comma-joined, strict order; NULL = the project's three
                              (fpq_queue_for: "NAME.high,NAME.default,NAME.low" on rq) */
  int burst;               /* exit when nothing is left to do */
  const char *isolation;   /* "fork" (default) or "none" */
  const char *name;        /* NULL = "<hostname>.<pid>.<6 random hex digits>" */
  double lease;            /* seconds a taken job is ours without a heartbeat; 0 = 15 */
  double default_timeout;  /* seconds for jobs without their own; 0 = none */
  double kill_grace;       /* seconds between SIGTERM and SIGKILL; 0 = 5 */
  double stop_grace;       /* graceful stop: seconds to let running jobs finish; 0 = no limit */
  const char *python;      /* executors' interpreter; NULL = $FPQ_PYTHON, else python3
                              beside this program, else python3 from PATH */
  int quiet;               /* log only warnings and errors */
  int metrics_port;        /* > 0: serve GET /metrics (Prometheus) on this port */
  const char *metrics_host;/* address to listen on; NULL = 127.0.0.1 */
  int with_scheduler;      /* also fire schedules from this worker's tick */
} fpq_worker_options;

/* Runs a worker until it is stopped (signal, `fpq worker stop`, or burst running dry).
 * Returns the process exit code: 0 after a requested stop, 1 when it could not work (bad
 * settings, executors that cannot start), 3 when the backend is unreachable at start. */
FPQ_EXPORT int fpq_worker_run(const fpq_worker_options *opts);

/* ---- schedulers --------------------------------------------------------------------- */

/* Any number of schedulers may run against one backend: a leader lease picks the one
 * that fires, and each fire's job id makes a second enqueue of it impossible. */
#define FPQ_SCHEDULER_TICK 1.0       /* default seconds between ticks */
#define FPQ_SCHEDULER_LEASE_TTL 10.0 /* default seconds a leader's lease lasts unrenewed */

typedef struct fpq_scheduler_options {
  fpq_options open;  /* where the schedules are */
  const char *name;  /* the lease owner's name; NULL = "<hostname>.<pid>" */
  double tick;       /* seconds between ticks; 0 = FPQ_SCHEDULER_TICK */
  double lease_ttl;  /* seconds; 0 = FPQ_SCHEDULER_LEASE_TTL. Failover takes at most
                        lease_ttl + tick; the leader renews once a tick, so keep
                        lease_ttl at least two ticks */
  int max_fires;     /* jobs one schedule may make per tick (catch-up); 0 = 1000 */
  int quiet;         /* log only leadership changes and problems */
  int json;          /* one JSON line per tick on stdout */
} fpq_scheduler_options;

/* Fires due schedules until SIGTERM/SIGINT (once: a single tick). Returns the exit code:
 * 0 after a requested stop (or a good single tick), 2 bad settings, 3 unreachable at
 * start, 1 otherwise. */
FPQ_EXPORT int fpq_scheduler_run(const fpq_scheduler_options *opts, int once);

/* For an executor (or a job process it forked): die with SIGKILL when the process
 * supervisor_pid, its parent, dies, so no run outlives a SIGKILLed worker and overlaps
 * the retry. Sets PR_SET_PDEATHSIG, then checks that the parent is still supervisor_pid
 * (it may have died before the call) and kills the caller at once if not. Returns 0, or
 * FPQ_ENOTSUP where the system has no parent-death signal (then only the check runs). */
FPQ_EXPORT int fpq_die_with_parent(int supervisor_pid);

#ifdef __cplusplus
}
#endif
#endif /* FPQ_WORKER_API_H */
